"""Reading lifetimes people type or send: grace periods and secret expiry times.

The one place that parses them, for the CLI (``--grace``, ``--expires``) and the API
(``?grace_seconds=``, ``"expiration"``). Each function raises ValueError with a message that
says what is accepted.
"""

import datetime
import re

_DURATION_RE = re.compile(r"(\d+)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Beyond this an "expiry" is not one (and float seconds lose meaning).
MAX_EXPIRY_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> int:
    """Return whole seconds from ``300``, ``90s``, ``15m``, ``2h``, ``7d`` or ``1w``."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use seconds or a number with s, m, h, d or w (e.g. 1h)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_timestamp(text: str) -> float:
    """Return UNIX seconds from an RFC 3339 time (``2030-01-31T12:00:00Z``) or a date (UTC midnight)."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            moment = datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.timezone.utc)
        else:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use RFC 3339, e.g. 2030-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z for UTC or an offset such as +02:00")
    return moment.timestamp()


def parse_cli_expiry(text: str, now: float) -> float:
    """Return the expiry time for ``--expires``: a duration from now (``90d``) or a time."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        try:
            return parse_timestamp(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is neither a duration (e.g. 90d, 12h) nor an RFC 3339 time (e.g. 2030-01-31T12:00:00Z)"
            ) from None
    if seconds > MAX_EXPIRY_SECONDS:
        raise ValueError(f"{text!r} is too far in the future")
    return now + seconds


def parse_api_expiration(value: object) -> float | None:
    """Return the expiry time of an API ``expiration``: UNIX seconds (a number) or an RFC 3339
    string; None (or absent) means never."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expiration must be UNIX seconds or an RFC 3339 time")
    if isinstance(value, (int, float)):
        if not 0 < value < 2**40:
            raise ValueError("expiration is out of range")
        return float(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError("expiration must be UNIX seconds or an RFC 3339 time")
