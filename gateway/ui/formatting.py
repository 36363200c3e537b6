"""How the web UI shows things: dates for people, and the login commands for a robot.

Dates appear as "10 May 2024, 17:46 UTC" with the exact ISO time in the ``datetime``
attribute and Quay's RFC 2822 form (``gateway.management.presenters.quay_date``) as the tooltip.
"""

import shlex
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ..management.presenters import quay_date

TOOLS = ("docker", "podman")

__all__ = ["clock", "day", "human_date", "iso_date", "login_commands", "quay_date", "registry_host"]


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def day(timestamp: float) -> str:
    """Return the UTC day of ``timestamp``: "10 May 2024"."""
    moment = _utc(timestamp)
    return f"{moment.day} {moment:%b %Y}"


def clock(timestamp: float) -> str:
    """Return the UTC time of day of ``timestamp``: "17:46 UTC"."""
    return f"{_utc(timestamp):%H:%M} UTC"


def human_date(timestamp: float | None, never: str = "Never") -> str:
    """Return ``timestamp`` as "10 May 2024, 17:46 UTC", or ``never`` when None."""
    if timestamp is None:
        return never
    return f"{day(timestamp)}, {clock(timestamp)}"


def iso_date(timestamp: float | None) -> str:
    """Return ``timestamp`` as RFC 3339 in UTC ("2024-05-10T17:46:02Z"), or "" when None."""
    return "" if timestamp is None else _utc(timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def registry_host(realm: str) -> str:
    """Return the ``host[:port]`` clients log in to: the address of the token realm, which
    is the registry's public address (nginx serves both)."""
    return urlsplit(realm).netloc


def login_commands(username: str, host: str, secret: str | None = None) -> dict[str, str]:
    """Return the docker and podman login commands for ``username``, by tool name.

    Without ``secret`` they ask for it; with it they read it from standard input
    (``--password-stdin``), which keeps it out of the process list.
    """
    user, target = shlex.quote(username), shlex.quote(host)
    if secret is None:
        return {tool: f"{tool} login --username {user} {target}" for tool in TOOLS}
    return {
        tool: f"echo {shlex.quote(secret)} | {tool} login --username {user} --password-stdin {target}"
        for tool in TOOLS
    }
