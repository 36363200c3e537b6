"""The calls other modules make to count what they do, one line at each place.

Each one makes this process's metrics on first use (``definitions.instruments``), so that
importing the gateway imports no prometheus_client (see ``multiprocess``).
"""

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, TypeVar

from tokenstore import InvalidCredentials

if TYPE_CHECKING:
    from .definitions import Instruments

T = TypeVar("T")

_made: "Instruments | None" = None


def instruments() -> "Instruments":
    """Return this process's metric objects, made (and prometheus_client imported) on first use."""
    global _made
    if _made is None:
        from .definitions import instruments as make

        _made = make()
    return _made


def token_request(outcome: str, seconds: float) -> None:
    """Count a token request answered with ``outcome`` (issued, refused, throttled, error)
    in ``seconds``."""
    counted, timed = instruments().token_outcomes[outcome]
    counted.inc()
    timed.observe(seconds)


def api_request(method: str, route: str, seconds: float) -> None:
    """Time a management API request to ``route`` (its template, never the path asked)."""
    instruments().api_duration.labels(method, route).observe(seconds)


def credential_cache_hit() -> None:
    """Count a robot login answered from the verified-credential cache."""
    instruments().credential_cache_hits.inc()


def credential_cache_miss() -> None:
    """Count a robot login the verified-credential cache could not answer."""
    instruments().credential_cache_misses.inc()


async def bcrypt_check(check: Awaitable[T]) -> T:
    """Await ``check`` (a bcrypt check of a robot's secret, queued or running) counting it
    pending meanwhile, then count its result; returns what it returned, raises what it
    raised."""
    made = instruments()
    made.bcrypt_pending.inc()
    result = "error"
    try:
        returned = await check
        result = "verified"
        return returned
    except InvalidCredentials:
        result = "refused"
        raise
    finally:
        made.bcrypt_pending.dec()
        made.bcrypt_results[result].inc()


def audit_write_failed() -> None:
    """Count an audit row that could not be written."""
    instruments().audit_write_failures.inc()


def collection_finished(removed: Mapping[str, int]) -> None:
    """Count a scheduled collector run that removed ``removed`` (rows per table)."""
    made = instruments()
    made.collector_runs_ok.inc()
    for table, rows in removed.items():
        made.collector_rows_removed.labels(table).inc(rows)


def collection_failed() -> None:
    """Count a scheduled collector run that failed."""
    instruments().collector_runs_failed.inc()
