"""The audit log, as Quay's ``/api/v1/organization/{orgname}/logs`` and ``/api/v1/user/logs``.

Query parameters as in Quay: ``starttime`` and ``endtime`` (``MM/DD/YYYY``, UTC, both days
included; ``YYYY-MM-DD`` works too; by default the last day), ``performer`` (a user or robot
name), ``next_page`` (the token of the previous page). Ours: ``kind`` (one or more kinds,
repeated or comma-separated). Newest first, 20 per page.
"""

import re
from datetime import datetime, timedelta, timezone

from aiohttp import web

from ..appkeys import OFFLOAD, STORE
from ..management.log_pages import PageTokenInvalid, decode_page, encode_page
from ..management.presenters import quay_date
from .auth import current_user, require_namespace_role
from .errors import invalid_request
from .views import audit_event_view

PAGE_SIZE = 20
MAX_KINDS = 20
_KIND_RE = re.compile(r"[a-z][a-z_]{0,63}")
_DAY = timedelta(days=1)


# The days a range may start or end on: the day after the last one must still be a date.
_FIRST_DAY = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST_DAY = datetime(9998, 12, 31, tzinfo=timezone.utc)


def _parse_day(text: str | None, name: str) -> datetime | None:
    """Return the UTC midnight of the day ``text`` names, None when empty; raises 400 for
    another format or a day outside 01/01/1970 to 12/31/9998."""
    if not text:
        return None
    for pattern in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime(text.strip(), pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if not _FIRST_DAY <= day <= _LAST_DAY:
            raise invalid_request(f"{name} must be a day from 01/01/1970 to 12/31/9998, written MM/DD/YYYY (UTC)")
        return day
    raise invalid_request(f"{name} must be a date written MM/DD/YYYY (UTC)")


def time_range(request: web.Request, now: float) -> tuple[float, float]:
    """Return [start, end) in UNIX seconds as Quay computes it: the end day is included;
    without dates, from a day ago to now. Raises 400 for a bad date or end before start."""
    today = datetime.fromtimestamp(now, timezone.utc)
    start = _parse_day(request.query.get("starttime"), "starttime") or today - _DAY
    end = (_parse_day(request.query.get("endtime"), "endtime") or today) + _DAY
    if end < start:
        raise invalid_request("endtime is before starttime")
    return start.timestamp(), end.timestamp()


def kinds_filter(request: web.Request) -> list[str] | None:
    """Return the ``kind`` filter (repeated or comma-separated), None for all; raises 400."""
    kinds = [kind.strip() for value in request.query.getall("kind", []) for kind in value.split(",") if kind.strip()]
    if len(kinds) > MAX_KINDS or not all(_KIND_RE.fullmatch(kind) for kind in kinds):
        raise invalid_request(f"kind must be up to {MAX_KINDS} log kinds such as create_robot,login_failure")
    return kinds or None


async def _logs(request: web.Request, namespace: str, kind: str) -> web.Response:
    caller = await require_namespace_role(request, namespace, admin=True, kind=kind)
    store = request.app[STORE]
    start, end = time_range(request, store.clock())
    kinds = kinds_filter(request)
    performer = request.query.get("performer") or None
    if performer is not None and len(performer) > 600:
        raise invalid_request("performer is too long")
    try:
        before = decode_page(request.query.get("next_page"))
    except PageTokenInvalid:
        raise invalid_request("next_page is not a page token from an earlier reply") from None
    events, cursor = await request.app[OFFLOAD].database(
        store.list_events, caller.namespace.name, start=start, end=end, kinds=kinds, performer=performer,
        before=before, limit=PAGE_SIZE,
    )
    body = {
        "start_time": quay_date(start),
        "end_time": quay_date(end),
        "logs": [audit_event_view(event) for event in events],
    }
    if cursor is not None:
        body["next_page"] = encode_page(cursor)
    return web.json_response(body)


async def organization_logs(request: web.Request) -> web.Response:
    """``GET /api/v1/organization/{orgname}/logs``: 200 ``{"start_time", "end_time", "logs",
    "next_page"?}``; the organization's admins (and superusers) only."""
    return await _logs(request, request.match_info["orgname"], "organization")


async def user_logs(request: web.Request) -> web.Response:
    """``GET /api/v1/user/logs``: the log of the caller's own namespace (their robots)."""
    user = await current_user(request)
    return await _logs(request, user.username, "user")
