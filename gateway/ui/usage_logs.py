"""The "Usage logs" tab: a namespace's audit log, newest first, for its administrators.

The same rows as ``GET /api/v1/organization/{org}/logs``, from the same ``Store.list_events``:
who did what and from where — robots logging in and being refused, tokens issued, what the
registry reports was pushed and pulled, and every change to robots and permissions. Each row
is told in words here (``describe``); refused logins and keyless exchanges show as refused,
with how many times (one row counts the repeats). The metadata never holds a secret.
"""

from dataclasses import dataclass

from aiohttp import web

from tokenstore import AuditEvent

from ..appkeys import OFFLOAD, STORE
from ..management.log_pages import PageTokenInvalid, decode_page, encode_page
from .errors import UiError
from .places import require_admin, resolve
from .render import render
from .sessions import page

PAGE_SIZE = 50

# What each kind of row says, as the page words it; other kinds show their name.
KIND_LABELS = {
    "push_repo": "Pushed", "pull_repo": "Pulled", "delete_tag": "Deleted a manifest",
    "issue_token": "Token issued", "login_success": "Logged in", "login_failure": "Login refused",
    "create_robot": "Robot created", "delete_robot": "Robot deleted", "regenerate_robot_token": "Token regenerated",
    "create_robot_federation": "Keyless login set up", "delete_robot_federation": "Keyless login removed",
    "federated_robot_token_exchange": "Keyless login",
    "change_repo_permission": "Permission changed", "delete_repo_permission": "Permission revoked",
    "change_namespace_permission": "Namespace permission changed",
    "delete_namespace_permission": "Namespace permission revoked",
    "create_repo": "Repository created", "delete_repo": "Repository deleted",
    "change_repo_visibility": "Visibility changed",
    "org_create": "Organization created", "org_set_member": "Member added", "org_remove_member": "Member removed",
}


@dataclass(frozen=True)
class LogRow:
    event: AuditEvent
    label: str
    details: str
    refused: bool


def describe(event: AuditEvent) -> LogRow:
    """Return the row for ``event``: its label and one line of details from its metadata."""
    meta = event.metadata
    if event.kind in ("push_repo", "pull_repo", "delete_tag"):
        where = f"{meta.get('namespace')}/{meta.get('repo')}"
        details = f"{where}:{meta['tag']}" if meta.get("tag") else f"{where}@{str(meta.get('manifest_digest'))[:19]}"
    elif event.kind == "issue_token":
        granted = [f"{a.get('name')}: {', '.join(a.get('actions') or []) or 'nothing'}"
                   for a in meta.get("access") or [] if isinstance(a, dict)]
        details = "; ".join(granted) or "no repository access (a login)"
    elif event.kind == "login_success":
        details = f"with {meta['useragent']}" if meta.get("useragent") else ""
    elif event.kind == "login_failure":
        details = {"expired": "the secret has expired"}.get(meta.get("reason"), "wrong name or secret") + _times(meta)
    elif event.kind == "federated_robot_token_exchange" and meta.get("success") is False:
        return LogRow(event, "Keyless login refused", f"{meta.get('reason') or 'refused'}{_times(meta)}", True)
    elif "role" in meta or "username" in meta:
        subject = meta.get("username") or meta.get("member") or ""
        target = meta.get("repo") or meta.get("namespace") or ""
        details = " ".join(part for part in (subject, meta.get("role") and f"→ {meta['role']}",
                                             target and f"on {target}") if part)
    else:
        details = meta.get("robot") or meta.get("repo") or ""
    return LogRow(event, KIND_LABELS.get(event.kind, event.kind), str(details), event.kind == "login_failure")


def _times(meta: dict) -> str:
    """Return how many refusals a counted row stands for, in words ("" for one)."""
    count = meta.get("count")
    return f" ({count} times)" if isinstance(count, int) and count > 1 else ""


@page
async def usage_logs(request: web.Request) -> web.Response:
    """A namespace's audit log, PAGE_SIZE rows a page, with a link to the older ones."""
    place = await resolve(request)
    require_admin(place)
    store = request.app[STORE]
    try:
        before = decode_page(request.query.get("before"))
    except PageTokenInvalid:
        raise UiError(400, "That page of the log does not exist. Start again from the newest entries.") from None
    events, cursor = await request.app[OFFLOAD].database(
        store.list_events, place.name, start=0.0, end=store.clock() + 1, before=before, limit=PAGE_SIZE,
    )
    return render(request, "usage_logs.html", {
        "place": place, "tab": "logs", "rows": [describe(event) for event in events],
        "older": encode_page(cursor) if cursor else None, "paged": before is not None,
    })
