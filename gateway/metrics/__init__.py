"""Prometheus metrics: what is counted (``definitions``), the calls the rest of the gateway
makes to count it (``hooks``), the timing middleware, the ``/metrics`` route, and the
directory the workers of ``regauth serve`` share their counts through (``multiprocess``), and
the removal of those killed servers left (``leftovers``).

prometheus_client is imported only once a metric is first used: by then ``regauth serve``
has pointed it at the workers' shared directory (docs/metrics.md).
"""

from .hooks import (
    audit_write_failed,
    bcrypt_check,
    collection_failed,
    collection_finished,
    credential_cache_hit,
    credential_cache_miss,
)

# Only the hooks here: the modules they are called from are imported by ``route``.
__all__ = [
    "audit_write_failed", "bcrypt_check", "collection_failed", "collection_finished",
    "credential_cache_hit", "credential_cache_miss",
]
