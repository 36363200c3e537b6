"""The token request's ``scope`` parameter (distribution token spec, "Token Scope").

Grammar: ``type[(class)]:name:actions``; the type runs to the first ':' and the actions
follow the last ':'. A repository name must follow the distribution spec's name grammar (the
registry strips the host before it asks, so ``host:port/`` never comes from a client), and
every action must be one the registry knows: a scope that breaks either is refused with a 400
naming it, rather than answered with a token that silently carries nothing.
"""

import functools
import re
from dataclasses import dataclass

from tokenstore import NameInvalid, Resource
from tokenstore.names import check_distribution_name

# Bounds that keep a hostile request cheap to refuse.
MAX_SCOPES = 32
MAX_SCOPE_LENGTH = 512

_TYPE_RE = re.compile(r"[a-z0-9]+(?:\([a-z0-9]+\))?")
_ACTION_RE = re.compile(r"[a-z]+|\*")
# The actions of distribution's registry/auth ("*" grants them all).
KNOWN_ACTIONS = ("pull", "push", "delete", "*")


class ScopeError(ValueError):
    """Raised when a scope parameter is malformed; the message says which part and why.

    ``code`` is the registry's error code for the reply: INVALID_REQUEST.
    """

    code = "INVALID_REQUEST"


class ScopeNameInvalid(ScopeError):
    """Raised when a repository scope's name breaks the distribution name grammar
    (code NAME_INVALID, as the registry says it)."""

    code = "NAME_INVALID"


@dataclass(frozen=True)
class Scope:
    """One requested scope: a resource and the actions asked for on it."""

    resource: Resource
    actions: tuple[str, ...]


# A CI fleet asks for the same few scopes over and over: each distinct one is parsed once.
# Bounded, so a stream of distinct scopes cannot grow it; a malformed scope raises and is
# not kept (lru_cache stores only results), and a Scope is immutable, so sharing it is safe.
@functools.lru_cache(maxsize=4096)
def parse_scope(text: str) -> Scope:
    """Parse one scope string; returns a Scope, raises ScopeError."""
    if len(text) > MAX_SCOPE_LENGTH:
        raise ScopeError(f"scope is longer than {MAX_SCOPE_LENGTH} characters")
    type_, sep, rest = text.partition(":")
    name, sep2, actions_text = rest.rpartition(":")
    if not sep or not sep2:
        raise ScopeError(f"malformed scope {text!r}: expected type:name:actions, e.g. repository:ns/app:pull")
    if not _TYPE_RE.fullmatch(type_):
        raise ScopeError(f"malformed scope {text!r}: bad resource type {type_!r}")
    if not name or any(ch.isspace() or ord(ch) < 32 for ch in name):
        raise ScopeError(f"malformed scope {text!r}: empty or invalid resource name")
    actions = tuple(dict.fromkeys(actions_text.split(",")))
    if not all(_ACTION_RE.fullmatch(action) for action in actions):
        raise ScopeError(f"malformed scope {text!r}: actions must be a comma-separated list such as pull,push")
    unknown = [action for action in actions if action not in KNOWN_ACTIONS]
    if unknown:
        raise ScopeError(
            f"scope {text!r}: unknown action {unknown[0]!r}: the registry knows {', '.join(KNOWN_ACTIONS)}"
        )
    # The class ("repository(plugin)") does not change what may be done: authorize by type.
    resource_type = type_.split("(")[0]
    if resource_type == "repository":
        try:
            check_distribution_name(name)
        except NameInvalid as exc:
            raise ScopeNameInvalid(f"scope {text!r}: {exc}") from None
    return Scope(Resource(resource_type, name), actions)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Parse every ``scope`` parameter; each may hold several space-separated scopes.

    Scopes on the same resource are merged (their actions united), in first-seen order.
    Returns the list; raises ScopeError for a malformed scope or more than MAX_SCOPES.
    """
    if len(values) == 1 and " " not in values[0] and values[0]:
        return [parse_scope(values[0])]  # what nearly every request sends: nothing to merge
    merged: dict[Resource, dict[str, None]] = {}
    count = 0
    for value in values:
        for text in value.split(" "):
            if not text:
                continue
            count += 1
            if count > MAX_SCOPES:
                raise ScopeError(f"too many scopes: at most {MAX_SCOPES} per request")
            scope = parse_scope(text)
            merged.setdefault(scope.resource, {}).update(dict.fromkeys(scope.actions))
    return [Scope(resource, tuple(actions)) for resource, actions in merged.items()]
