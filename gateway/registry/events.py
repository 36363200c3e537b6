"""``POST /registry/events``: the registry's notifications, into the audit log.

Manifest events become ``push_repo``, ``pull_repo`` and ``delete_tag`` rows; anything else is
acknowledged and dropped. Only what cannot be an envelope is refused: the registry holds back
every later event until one is acknowledged. The bearer token is ``events_token``'s.
docs/architecture.md, "Registry events", says why.
"""

import ipaddress
import logging

from aiohttp import web

from tokenstore import StoreUnavailable
from tokenstore.registry_activity import EVENT_KINDS, RepositoryEvent

from ..appkeys import CONFIG, OFFLOAD, STORE
from ..edge.errors import (
    UNAVAILABLE_RETRY_AFTER,
    TokenError,
    bad_request,
    retry_after_for,
)
from ..edge.text_input import TextInvalid, check_json_text
from ..token.live_keyring import signing_key
from .events_token import EventsTokenFileInvalid, EventsTokenReader, EventsTokens

log = logging.getLogger(__name__)

# distribution sends a few events per envelope; a bound on what a body may make us parse.
MAX_EVENTS = 1000
_MAX_FIELD = 1024


EVENTS_TOKENS = web.AppKey("events_tokens", EventsTokenReader)


def add_route(app: web.Application) -> None:
    """Add ``POST /registry/events`` to ``app``, with the reader of its accepted tokens."""
    app[EVENTS_TOKENS] = EventsTokenReader(app[CONFIG].data_dir)
    app.router.add_post("/registry/events", receive_events)


def _accepted_tokens(app: web.Application) -> EventsTokens:
    """Return the tokens accepted now; raises a 503 (the registry tries again) when the
    token file cannot be read, with the reason in the log."""
    try:
        return app[EVENTS_TOKENS].tokens(signing_key(app))
    except (EventsTokenFileInvalid, OSError) as exc:
        log.error("registry events refused: %s", exc)
        raise TokenError(503, "UNAVAILABLE", "the events token file cannot be read; the server log says why",
                         retry_after=int(UNAVAILABLE_RETRY_AFTER)) from None


async def receive_events(request: web.Request) -> web.Response:
    """Write the manifest events of one envelope to the audit log; returns 200 with how many
    events were received, written and dropped as malformed. Raises a 401 without the right
    bearer token, a 400 for a body that is not an envelope, a 503 when the database is
    unavailable."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not (_accepted_tokens(request.app).accepts(presented) and scheme == "Bearer"):
        raise TokenError(401, "UNAUTHORIZED", "registry events need the bearer token from `regauth registry-config`")
    try:
        envelope = await request.json()
    except ValueError:
        raise bad_request("the body must be a JSON envelope of registry events") from None
    try:
        check_json_text(envelope)
    except TextInvalid as exc:
        raise bad_request(str(exc)) from None
    events = envelope.get("events") if isinstance(envelope, dict) else None
    if not isinstance(events, list):
        raise bad_request('the body must be an object with an "events" list')
    if len(events) > MAX_EVENTS:
        raise bad_request(f"at most {MAX_EVENTS} events per envelope")
    parsed, dropped = [], 0
    for index, item in enumerate(events):
        try:
            event = _manifest_event(item)
        except _Malformed as exc:
            log.warning("dropped registry event %d of an envelope: %s", index, exc)
            dropped += 1
            continue
        if event is not None:
            parsed.append(event)
    written = 0
    if parsed:
        try:
            written = await request.app[OFFLOAD].write(request.app[STORE].record_repository_events, parsed)
        except StoreUnavailable as exc:
            cause = exc.cause
            log.warning("could not write %d registry events (the registry will send them again): %s (%s)",
                        len(parsed), cause, exc)
            raise TokenError(
                503, "UNAVAILABLE", f"the audit log could not be written ({cause}); send the events again",
                retry_after=int(retry_after_for(exc)),
            ) from None
    return web.json_response({"received": len(events), "written": written, "dropped": dropped})


class _Malformed(ValueError):
    """An event that is not what the registry sends."""


def _is_manifest(media_type: object) -> bool:
    # Image manifests and indexes (docker's "manifest list" says manifest too); never blobs.
    return isinstance(media_type, str) and ("manifest" in media_type or media_type.endswith(".index.v1+json"))


def _manifest_event(item: object) -> RepositoryEvent | None:
    """Return the RepositoryEvent of a manifest event, None for an event to leave out (a
    blob, an action we do not log, a repository outside any namespace). Raises _Malformed."""
    if not isinstance(item, dict):
        raise _Malformed("not an object")
    target, request, actor = (item.get(key) or {} for key in ("target", "request", "actor"))
    if not all(isinstance(part, dict) for part in (target, request, actor)):
        raise _Malformed("target, request and actor must be objects")
    event_id, repository = _text(item, "id"), _text(target, "repository")
    if item.get("action") not in EVENT_KINDS or not _is_manifest(target.get("mediaType")) or "/" not in repository:
        return None
    return RepositoryEvent(
        id=event_id, action=item["action"], repository=repository,
        tag=_optional_text(target, "tag"), digest=_optional_text(target, "digest"),
        actor=_optional_text(actor, "name"), address=_client_ip(_optional_text(request, "addr")),
        user_agent=_optional_text(request, "useragent"),
    )


def _client_ip(addr: str | None) -> str | None:
    """The registry reports the client as ``ip:port`` when it saw the connection itself and
    as a bare ip when a proxy named it (X-Forwarded-For); the audit log keeps addresses
    without ports, as for every other row."""
    if addr is None:
        return None
    for candidate in (addr, addr.rpartition(":")[0].strip("[]")):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return addr


def _text(part: dict, key: str) -> str:
    value = part.get(key)
    if not isinstance(value, str) or not value or len(value) > _MAX_FIELD:
        raise _Malformed(f"{key} must be a non-empty string of at most {_MAX_FIELD} characters")
    return value


def _optional_text(part: dict, key: str) -> str | None:
    if part.get(key) in (None, ""):
        return None
    return _text(part, key)
