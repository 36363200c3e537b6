"""regauth's benchmark suite: one command, a table out.

``python -m bench`` (or ``python bench/run.py``) starts real processes on loopback (regauth
with ``--workers N``, a bare aiohttp server, docker-registry, nginx), drives them from separate
load processes (``wrk``, and this package's own aiohttp client for credentials that must differ
on every request), prints a table and writes it to ``bench/results/latest.md``.
``docs/performance.md`` explains each figure and what limits it.
"""
