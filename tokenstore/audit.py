"""The audit log: who did what in which namespace, and when.

One row per management action (``create_robot``, ``delete_robot``,
``regenerate_robot_token``, permission and repository changes, ...), per robot login
(``login_success``, ``login_failure``) and per registry token issued (``issue_token``, with
the scopes asked for and the actions granted). Each row belongs to the namespace it is about
and is read back per namespace, newest first.

A row never holds a secret: metadata keys that could carry one are dropped on the way in,
and client-supplied text is cut to a bounded length. Refused attempts (failed logins,
refused keyless exchanges) are counted rather than listed: one row per kind, name, address
and reason per ``REFUSAL_INTERVAL``, whose ``count`` grows (``record_refusal``).
"""

import json
from dataclasses import dataclass

from .names import ROBOT_SEPARATOR

# Keys never written into a row's metadata, whatever a caller passes.
_SECRET_KEYS = frozenset({"token", "secret", "password", "hash", "authorization"})
_MAX_TEXT = 512
_MAX_ITEMS = 50
# Refusals of one (kind, performer, address, reason) within this many seconds of the first
# share its row: a guesser adds to a count instead of writing a row per attempt.
REFUSAL_INTERVAL = 300.0
# What a refused client wrote (names, subjects, issuers, user agents) is cut to this many
# characters in its row; nobody has checked it, and it is kept for the retention period.
MAX_REFUSED_TEXT = 256
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class AuditEvent:
    """One row of the audit log."""

    id: int
    namespace: str
    kind: str
    performer: str | None
    performer_kind: str | None
    ip: str | None
    repository: str | None
    metadata: dict
    created: float


def bounded(value, depth: int = 0, max_text: int = _MAX_TEXT):
    """Return ``value`` made fit for a row: text longer than ``max_text`` cut, long lists
    shortened, keys that could carry a secret dropped, anything else turned into text."""
    if isinstance(value, str):
        return value if len(value) <= max_text else value[:max_text] + "..."
    if isinstance(value, dict):
        if depth > 4:
            return "..."
        return {
            str(key)[:max_text]: bounded(item, depth + 1, max_text)
            for key, item in list(value.items())[:_MAX_ITEMS]
            if str(key).lower() not in _SECRET_KEYS
        }
    if isinstance(value, (list, tuple)):
        if depth > 4:
            return "..."
        return [bounded(item, depth + 1, max_text) for item in value[:_MAX_ITEMS]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return bounded(str(value), depth, max_text)


def refusal_key(kind: str, performer: str, ip: str | None, reason: str) -> str:
    """Return the key under which refusals of one kind, performer, address and reason are
    counted in one row (its ``aggregate_key``)."""
    return json.dumps([kind, performer, ip, reason])


def claimed_namespace(username: object) -> str | None:
    """Return the namespace a robot name as a client sent it claims (the part before
    ``+``), or None when it has no ``+`` or nothing before it; the name is not checked
    further."""
    namespace, separator, _ = username.partition(ROBOT_SEPARATOR) if isinstance(username, str) else ("", "", "")
    return namespace if separator and namespace else None
