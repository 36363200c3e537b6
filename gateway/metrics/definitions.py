"""Every metric regauth counts in its processes, made once per process (``instruments``).

Names follow Prometheus' conventions: ``regauth_`` prefix, ``_total`` for counters,
``_seconds`` for times. Labels take values from small fixed sets (outcomes, route
templates, table names): never a robot, a repository or anything a client sent.
docs/metrics.md lists every metric with its labels.
"""

import functools

from prometheus_client import Counter, Gauge, Histogram

# Token requests: a warm one takes about a millisecond, a cold one a bcrypt check (a quarter
# second at cost 12), a refused one at least the refusal delay (half a second).
TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TOKEN_OUTCOMES = ("issued", "refused", "throttled", "error")
BCRYPT_RESULTS = ("verified", "refused", "error")


class Instruments:
    """The metric objects, with their fixed label values bound in advance (a bound child is
    what the hot path increments)."""

    def __init__(self):
        self.token_requests = Counter(
            "regauth_token_requests", "Token requests answered, by outcome.", ["outcome"],
        )
        self.token_duration = Histogram(
            "regauth_token_request_duration_seconds", "Time taken to answer a token request, by outcome.",
            ["outcome"], buckets=TOKEN_BUCKETS,
        )
        self.token_outcomes = {
            outcome: (self.token_requests.labels(outcome), self.token_duration.labels(outcome))
            for outcome in TOKEN_OUTCOMES
        }
        self.api_duration = Histogram(
            "regauth_api_request_duration_seconds", "Time taken to answer a management API request.",
            ["method", "route"], buckets=API_BUCKETS,
        )
        self.bcrypt_checks = Counter(
            "regauth_bcrypt_checks", "bcrypt checks of robot secrets run for logins, by result.", ["result"],
        )
        self.bcrypt_results = {result: self.bcrypt_checks.labels(result) for result in BCRYPT_RESULTS}
        # livesum: what the live workers have pending, added up; a dead worker's are gone.
        self.bcrypt_pending = Gauge(
            "regauth_bcrypt_checks_pending", "bcrypt checks of robot logins queued or running.",
            multiprocess_mode="livesum",
        )
        self.credential_cache = Counter(
            "regauth_credential_cache_requests",
            "Robot logins looked up in the verified-credential cache, by result (hit: no bcrypt check).",
            ["result"],
        )
        self.credential_cache_hits = self.credential_cache.labels("hit")
        self.credential_cache_misses = self.credential_cache.labels("miss")
        self.audit_write_failures = Counter(
            "regauth_audit_write_failures", "Audit rows of refused logins that could not be written.",
        )
        self.collector_runs = Counter(
            "regauth_collector_runs", "Scheduled runs of the garbage collector, by result.", ["result"],
        )
        self.collector_runs_ok = self.collector_runs.labels("ok")
        self.collector_runs_failed = self.collector_runs.labels("failed")
        self.collector_rows_removed = Counter(
            "regauth_collector_rows_removed", "Rows the scheduled garbage collector removed, by table.", ["table"],
        )


@functools.cache
def instruments() -> Instruments:
    """Return this process's metric objects, made on first use."""
    return Instruments()
