"""The bearer token the registry presents at ``POST /registry/events``, and its rotation.

Derived from the signing key until the first ``rotate`` (or ``pin``, before a new signing
key becomes active), which writes ``registry-events-token``
(mode 0600) and keeps the previous token accepted until ``retire``. docs/architecture.md,
"Registry events", says why.
"""

import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..token.atomic_file import write_atomically
from ..token.keys import REGISTRY_EVENTS_PURPOSE, SigningKey, derived_secret

FILE_NAME = "registry-events-token"
TOKEN_PREFIX = "rg_"


class EventsTokenFileInvalid(Exception):
    """Raised when ``registry-events-token`` exists but is not what ``rotate`` writes."""


@dataclass(frozen=True)
class EventsTokens:
    """The token the registry should present (``current``) and the one it replaced, still
    accepted until retired (``previous``, None when there is none)."""

    current: str = field(repr=False)
    previous: str | None = field(repr=False, default=None)

    def accepts(self, presented: str) -> bool:
        """Return True when ``presented`` is one of the accepted tokens (constant time, both
        compared whatever the first gives)."""
        given = presented.encode("utf-8", "surrogateescape")
        results = [hmac.compare_digest(given, token.encode()) for token in (self.current, self.previous) if token]
        return any(results)


def token_path(data_dir: Path) -> Path:
    """Return where the rotated token is kept in ``data_dir``."""
    return Path(data_dir) / FILE_NAME


def load(data_dir: Path, signing_key: SigningKey) -> EventsTokens:
    """Return the accepted tokens: those of the file, else the one derived from the key.
    Raises EventsTokenFileInvalid for a file that cannot be read as tokens, OSError when
    it cannot be read at all."""
    path = token_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return EventsTokens(derived_secret(signing_key, REGISTRY_EVENTS_PURPOSE))
    return _parse(text, path)


def rotate(data_dir: Path, signing_key: SigningKey) -> EventsTokens:
    """Write a new random current token, keeping the present one as previous; returns the
    new EventsTokens. Raises as ``load`` does, and OSError when the file cannot be written."""
    now = load(data_dir, signing_key)
    rotated = EventsTokens(TOKEN_PREFIX + secrets.token_urlsafe(32), now.current)
    _write(token_path(data_dir), rotated)
    return rotated


def pin(data_dir: Path, signing_key: SigningKey) -> EventsTokens:
    """Write the token derived from ``signing_key`` to the file when there is none yet, so
    that a new signing key does not change it (``regauth keys activate`` calls this before the
    active key changes). Returns the accepted tokens; raises as ``rotate`` does."""
    now = load(data_dir, signing_key)
    if not token_path(data_dir).exists():
        _write(token_path(data_dir), now)
    return now


def retire(data_dir: Path, signing_key: SigningKey) -> EventsTokens:
    """Stop accepting the previous token; returns the EventsTokens left (the current one).
    Without a file (never rotated) there is nothing to retire and nothing is written."""
    now = load(data_dir, signing_key)
    if now.previous is None:
        return now
    retired = EventsTokens(now.current)
    _write(token_path(data_dir), retired)
    return retired


def _parse(text: str, path: Path) -> EventsTokens:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not _is_token(data.get("current")) or not (
            data.get("previous") is None or _is_token(data.get("previous"))):
        raise EventsTokenFileInvalid(
            f"{path} is not a registry events token file (JSON with \"current\" and \"previous\"); "
            "remove it and run `regauth events-token rotate` to write a new one"
        )
    return EventsTokens(data["current"], data.get("previous"))


def _is_token(value: object) -> bool:
    return isinstance(value, str) and 16 <= len(value) <= 256 and value.isascii() and value.isprintable()


def _write(path: Path, tokens: EventsTokens) -> None:
    """Replace ``path`` atomically with ``tokens``, mode 0600 from the first byte."""
    body = json.dumps({"current": tokens.current, "previous": tokens.previous}).encode() + b"\n"
    write_atomically(path, body, 0o600)


class EventsTokenReader:
    """What the server accepts, re-read only when the file changes (by its inode, size and
    modification time), so a rotation takes effect at once without a restart."""

    def __init__(self, data_dir: Path):
        self._path = token_path(data_dir)
        self._seen: tuple | None = None
        self._tokens: EventsTokens | None = None

    def tokens(self, signing_key: SigningKey) -> EventsTokens:
        """Return the accepted tokens. Raises as ``load`` does."""
        try:
            stat = self._path.stat()
            seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        if self._tokens is None or seen != self._seen:
            self._tokens = load(self._path.parent, signing_key)
            self._seen = seen
        return self._tokens
