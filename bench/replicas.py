"""Phases (h) and (i): regauth on PostgreSQL.

(h) runs warm and cold /token (and warm refresh-token grants, ``POST /token``, with one
replica) against one, two and three replicas (``regauth serve
--database URL``, each with its own data directory holding the same signing key) sharing one
PostgreSQL database, and against the single-host SQLite server, in the same run, alternating
between them; then measures where the write lock that serializes every write transaction
across replicas stands. (i) compares warm /token on a PostgreSQL database of 100,000 robots
with one of the base size, side by side, as (e) does on SQLite.

Several replicas are reached as a load balancer with one connection pool per host would:
wrk runs one thread per replica, and each thread keeps its connections to its replica.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import loadgen, pg_seed
from .pg_server import BenchPostgres, LockSampler, TokenTransactions, lock_ceiling
from .procs import connections_to, free_port, http_get, main_thread_cpu_seconds

if TYPE_CHECKING:
    from .run import Bench, Regauth

REPLICAS = 3
WARM_CONNECTIONS = (16, 64)
COLD_LEVELS = ((16, 48), (64, 128))  # (concurrency, robots) per set-up
WARM_UP_CONNECTIONS = 16
SHARED_DB = "regauth_shared"
SMALL_DB, LARGE_DB = "regauth_small", "regauth_large"
# Writers at once in the synthetic measurement of the write lock: one per worker of three
# replicas of two workers.
CEILING_WRITERS = 6
CEILING_SECONDS = 3.0


def cold_robots_needed() -> int:
    """Cold robots phase (h) uses: one per check, for SQLite and each replica count."""
    return (1 + REPLICAS) * sum(robots for _, robots in COLD_LEVELS)


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


@dataclass
class Measured:
    """One warm run and the CPU the servers spent on it."""

    run: loadgen.Run
    regauth_cpu: float
    postgres_cpu: float
    # Of regauth_cpu, what the event loops (the workers' main threads) spent; the rest is
    # their database, writer and bcrypt threads.
    loop_cpu: float


def _median(measured: list[Measured]) -> Measured:
    """Return the median run of ``measured`` by throughput."""
    return sorted(measured, key=lambda m: m.run.rate)[len(measured) // 2]


def _per_request_us(measured: list[Measured], seconds: Callable[[Measured], float]) -> float:
    """Return the CPU microseconds ``seconds`` gives each run, summed over ``measured`` and
    divided by all their requests."""
    return sum(map(seconds, measured)) / max(1, sum(m.run.requests for m in measured)) * 1e6


def _regauth(m: Measured) -> float:
    return m.regauth_cpu


def _postgres(m: Measured) -> float:
    return m.postgres_cpu


def _load_generator(m: Measured) -> float:
    return m.run.client_cpu_seconds


def _median_and_summary(name: str, measured: list[Measured]) -> tuple[Measured, str]:
    """Return the median run of ``measured`` (by throughput) and the table's words for it:
    rate, p50, p99, and the CPU per request over all the runs (PostgreSQL's too for a
    set-up ``name``d PostgreSQL)."""
    chosen = _median(measured)
    run_ = chosen.run
    cpu = (f"{_per_request_us(measured, _regauth):.0f} µs of regauth CPU per request "
           f"({_per_request_us(measured, lambda m: m.loop_cpu):.0f} on the event loops)")
    if name.startswith("PostgreSQL"):
        cpu += f" + {_per_request_us(measured, _postgres):.0f} µs of PostgreSQL's"
    cpu += f" + {_per_request_us(measured, _load_generator):.0f} µs of the load generator's"
    return chosen, (f"{run_.rate:,.0f} req/s, p50 {_ms(run_.p50_ms)}, p99 {_ms(run_.p99_ms)}, {cpu}"
                    f"{'' if not run_.failures else f', {run_.failures} failed'}")


def _machine_budget(measured: list[Measured], connections: int) -> str:
    """Return the words for what the whole machine spent per request in ``measured`` (regauth,
    PostgreSQL and the load generator: all share its cores), the rate those cores allow at
    that cost, the mean latency that rate means with ``connections`` always waiting (each
    connection sends its next request when the last is answered: mean = connections ÷ rate),
    and how the median run's p99 compares with its own mean."""
    parts = [_per_request_us(measured, part) for part in (_regauth, _postgres, _load_generator)]
    per_request_us = sum(parts)
    cores = len(os.sched_getaffinity(0))
    allowed = cores / per_request_us * 1e6 if per_request_us else 0.0
    allowed_mean_ms = connections / allowed * 1000 if allowed else 0.0
    chosen = _median(measured).run
    mean_ms = connections / chosen.rate * 1000 if chosen.rate else 0.0
    return (f"{per_request_us:.0f} µs ({' + '.join(f'{part:.0f}' for part in parts)}): "
            f"{cores} cores allow {allowed:,.0f} tokens/s, a mean of {allowed_mean_ms:.1f} ms; "
            f"measured {chosen.rate:,.0f} req/s, mean {mean_ms:.1f} ms, p99 {_ms(chosen.p99_ms)} "
            f"({chosen.p99_ms / mean_ms if mean_ms else 0:.1f}× the mean)")


class PostgresPhases:
    """Phases (h) and (i) of ``bench``, on a PostgreSQL server they start on first use;
    ``close`` stops it."""

    def __init__(self, bench: Bench):
        self.bench = bench
        self.pg: BenchPostgres | None = None
        self.per_check_ms: float | None = None

    # -- helpers -----------------------------------------------------------------------

    def postgres(self) -> BenchPostgres:
        """The server, started on first call (its version and durability go in the notes)."""
        if self.pg is None:
            self.pg = BenchPostgres()
            self.pg.start()
            settings = ", ".join(f"{name} {self.pg.setting(name)}" for name in
                                 ("fsync", "synchronous_commit", "full_page_writes", "max_connections",
                                  "shared_buffers"))
            self.bench.report.notes.append(
                f"(h), (i): PostgreSQL {self.pg.version()} on 127.0.0.1, started by the benchmark, durable as in "
                f"production ({settings}; the rest its defaults), data on the same disk as SQLite's"
            )
        return self.pg

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
            self.pg = None

    def replica(self, name: str, url: str) -> Regauth:
        """A ``regauth serve --database url`` with its own data directory holding the
        SQLite server's signing key and certificate (so every server signs alike), after
        ``regauth init``; not started."""
        from .run import UNBOUNDED_PENDING, Regauth

        bench = self.bench
        data_dir = bench.workdir / f"data-{name}"
        data_dir.mkdir()
        for pem in ("signing-key.pem", "signing-cert.pem"):
            shutil.copy2(bench.regauth.data_dir / pem, data_dir / pem)
        server = Regauth(bench.workdir, data_dir, port=free_port(),
                         realm=f"http://127.0.0.1:{bench.nginx_port}/token", workers=bench.args.workers,
                         bcrypt_cost=bench.args.bcrypt_cost, serve_flags=tuple(UNBOUNDED_PENDING), database=url)
        server.cli("init")
        return server

    def warm_up(self, server: Regauth) -> None:
        """Have every worker of ``server`` verify every warm robot (``Bench.warm_up``), at
        c=16: on PostgreSQL a warm request at c=64 can take as long as a bcrypt check, and
        the warm-up tells the two apart by time. Raises RuntimeError when it cannot."""
        if self.per_check_ms is None:
            self.per_check_ms = self.bench.bcrypt_alone()[0]
        # A request that needs a check takes at least the check; 100 ms floor as (a) uses.
        self.bench.warm_up(server, limit=60.0, connections=WARM_UP_CONNECTIONS,
                           settled_ms=max(100.0, 0.8 * self.per_check_ms))

    def warm(self, servers: list[Regauth], connections: int, seconds: float, script: Path | None = None) -> Measured:
        """One wrk run of warm /token (or ``script``'s requests, on one server) spread over
        ``servers`` (one wrk thread per server when several); returns it with the CPU the
        servers and PostgreSQL spent meanwhile."""
        bench = self.bench
        if len(servers) == 1:
            script, threads = script or bench.rotate_script, None
        else:
            script, threads = loadgen.spread_script(bench.rotate_script, [s.port for s in servers]), len(servers)
        loops = [pid for s in servers for pid in s.worker_pids()]
        cpu0 = sum(s.daemon.cpu_seconds() for s in servers)
        loop0 = sum(main_thread_cpu_seconds(pid) for pid in loops)
        pg0 = self.pg.cpu_seconds() if self.pg else 0.0
        run_ = loadgen.wrk(servers[0].url(bench.token_path), connections=connections, seconds=seconds,
                           script=script, threads=threads)
        return Measured(run_, sum(s.daemon.cpu_seconds() for s in servers) - cpu0,
                        (self.pg.cpu_seconds() - pg0) if self.pg else 0.0,
                        sum(main_thread_cpu_seconds(pid) for pid in loops) - loop0)

    # -- (h) ---------------------------------------------------------------------------

    def phase_replicas(self) -> None:
        bench, r = self.bench, self.bench.report
        pg = self.postgres()
        pg.create_database(SHARED_DB)
        began = time.monotonic()
        robots, grants = pg_seed.copy_sqlite(bench.regauth.data_dir / "regauth.db", pg.url(SHARED_DB))
        pg.track_statements(SHARED_DB)
        r.notes.append(f"(h) the SQLite database copied into PostgreSQL with COPY ({robots:,} robots, {grants:,} "
                       f"grants, every audit row of the phases before) in {time.monotonic() - began:.1f} s")
        count_max = bench.args.replicas
        replicas = [self.replica(f"replica{i + 1}", pg.url(SHARED_DB)) for i in range(count_max)]
        try:
            for server in replicas:
                server.start()
            at_start = [self.connections_per_process(server) for server in replicas]
            for server in (bench.regauth, *replicas):
                self.warm_up(server)
            setups = {"SQLite, one host": [bench.regauth]}
            for count in range(1, count_max + 1):
                setups[f"PostgreSQL, {count} replica{'s' if count > 1 else ''}"] = replicas[:count]
            parts = bench.args.replica_parts
            self.warm_table(setups)
            if "refresh" in parts:
                self.refresh_table({name: setups[name] for name in ("SQLite, one host", "PostgreSQL, 1 replica")})
            if "cold" in parts:
                self.cold_table(setups)
            if "connections" in parts:
                self.connections_rows(replicas, at_start)
            if "lock" in parts:
                self.write_lock_rows(setups)
        finally:
            for server in replicas:
                server.stop()

    def warm_table(self, setups: dict[str, list[Regauth]]) -> None:
        """Warm /token at each concurrency on each set-up, the set-ups taking turns run by
        run (so that the machine's other load falls on all alike); median of --repeat."""
        r, args = self.bench.report, self.bench.args
        runs: dict[tuple[str, int], list[Measured]] = {(name, c): [] for name in setups for c in WARM_CONNECTIONS}
        for _ in range(args.repeat):
            for name, servers in setups.items():
                for connections in WARM_CONNECTIONS:
                    runs[name, connections].append(self.warm(servers, connections, args.duration))
        median: dict[tuple[str, int], Measured] = {}
        for (name, connections), measured in runs.items():
            chosen, summary = _median_and_summary(name, measured)
            median[name, connections] = chosen
            run_ = chosen.run
            opened = f" ({run_.connections} connections)" if run_.connections != connections else ""
            target, met = ("p99 ≤ 25 ms", run_.p99_ms <= 25 and run_.failures == 0) \
                if connections == 64 and name.startswith("PostgreSQL") else ("", None)
            r.add("h", f"warm /token, c={connections}{opened}, {name}", summary, target, met)
        sqlite_name, one = "SQLite, one host", "PostgreSQL, 1 replica"
        for connections in WARM_CONNECTIONS:
            ratio = median[one, connections].run.rate / median[sqlite_name, connections].run.rate
            p50 = median[one, connections].run.p50_ms / median[sqlite_name, connections].run.p50_ms
            target, met = ("≥ 0.7", ratio >= 0.7) if connections == 64 else ("", None)
            r.add("h", f"warm /token c={connections}, PostgreSQL ÷ SQLite on one host: throughput (p50)",
                  f"{ratio:.2f} ({p50:.2f})", target, met)
        # Every process of the run shares this machine's cores: what a token costs all of them
        # bounds the rate, and at a fixed number of connections the rate sets the latency.
        for name in (sqlite_name, one):
            r.add("h", f"warm /token c=64, {name}: the machine's CPU per token (regauth + PostgreSQL + "
                       f"load generator), the rate and mean latency it allows, and what was measured",
                  _machine_budget(runs[name, 64], 64))

    def refresh_table(self, setups: dict[str, list[Regauth]]) -> None:
        """Warm refresh-token grants at c=64 on each set-up of one server (what docker sends
        for each pull and push once logged in): the warm robots' refresh tokens, each from
        its server, in turn; median of --repeat, the set-ups taking turns."""
        from .run import SCOPE, SERVICE

        bench, r, args = self.bench, self.bench.report, self.bench.args
        scripts = {name: loadgen.write_refresh_script(bench.workdir, str(servers[0].port), SERVICE, SCOPE,
                                                      self.refresh_tokens(servers[0]))
                   for name, servers in setups.items()}
        runs: dict[str, list[Measured]] = {name: [] for name in setups}
        for _ in range(args.repeat):
            for name, servers in setups.items():
                runs[name].append(self.warm(servers, 64, args.duration, script=scripts[name]))
        median = {}
        for name, measured in runs.items():
            median[name], summary = _median_and_summary(name, measured)
            r.add("h", f"warm refresh-token grant (POST /token), c=64, {name}", summary)
        sqlite_run, pg_run = (median[name].run for name in setups)
        r.add("h", "warm refresh-token grant c=64, PostgreSQL ÷ SQLite on one host: throughput (p50)",
              f"{pg_run.rate / sqlite_run.rate:.2f} ({pg_run.p50_ms / sqlite_run.p50_ms:.2f})")

    def refresh_tokens(self, server: Regauth) -> list[str]:
        """A refresh token of each warm robot, from ``server`` (``offline_token=true``).
        Raises RuntimeError when the server does not give one."""
        tokens = []
        for name in self.bench.seeded.warm.names:
            status, body = http_get(server.url(f"{self.bench.token_path}&offline_token=true&client_id=bench"),
                                    {"Authorization": loadgen.basic(name, self.bench.seeded.warm.secret)})
            if status != 200:  # an error's body names no secret
                raise RuntimeError(f"no refresh token for {name} from port {server.port}: {status} {body[:200]!r}")
            token = json.loads(body).get("refresh_token")
            if not token:  # the reply holds a bearer token: not shown
                raise RuntimeError(f"no refresh token for {name} from port {server.port} in its 200 reply")
            tokens.append(token)
        return tokens

    def cold_table(self, setups: dict[str, list[Regauth]]) -> None:
        """Cold /token on each set-up: every request a robot none of its servers has seen."""
        bench, r = self.bench, self.bench.report
        for name, servers in setups.items():
            for concurrency, robots in COLD_LEVELS:
                client = loadgen.ColdClient([s.url(bench.token_path) for s in servers], bench.take_cold(robots),
                                            concurrency=concurrency, deadline=min(60.0, bench.remaining() / 4))
                run_ = client.result()
                r.add("h", f"cold /token, c={concurrency}, {name}",
                      f"{run_.rate:.2f} checks/s, p50 {_ms(run_.p50_ms)}, p99 {_ms(run_.p99_ms)} "
                      f"({run_.requests} checks{'' if not run_.failures else f', {run_.failures} failed'})")

    def connections_rows(self, replicas: list[Regauth], at_start: list[list[int]]) -> None:
        """Connections each serving process of each replica holds to PostgreSQL, at start
        and now, after warm and cold load (when every thread that talks to the database
        has)."""
        r, pg = self.bench.report, self.pg
        now = [self.connections_per_process(server) for server in replicas]

        def shown(counts: list[list[int]]) -> str:
            return "; ".join(" + ".join(map(str, each)) for each in counts)

        r.add("h", f"PostgreSQL connections of each replica's serving processes (--workers {self.bench.args.workers}), "
                   f"replicas 1; 2; 3",
              f"{shown(at_start)} after start; {shown(now)} after warm and cold load; "
              f"{sum(map(sum, now))} in all of max_connections {pg.setting('max_connections')}")

    def connections_per_process(self, server: Regauth) -> list[int]:
        """Connections to PostgreSQL of each worker of ``server`` (the parent holds none
        while it serves)."""
        return [connections_to(pid, self.pg.server.port) for pid in server.worker_pids()]

    def write_lock_rows(self, setups: dict[str, list[Regauth]]) -> None:
        """Where the write lock stands at c=64, in one more run per replica count: the
        lock sampled every 10 ms, the statements counted by pg_stat_statements; and the
        lock's own ceiling measured without regauth."""
        bench, r, pg = self.bench, self.bench.report, self.pg
        for name, servers in setups.items():
            if not name.startswith("PostgreSQL"):
                continue
            pg.reset_statements(SHARED_DB)
            with LockSampler(pg, SHARED_DB) as sampler:
                run_ = self.warm(servers, 64, bench.args.duration).run
            tx, share = TokenTransactions.of(pg.statements(SHARED_DB)), sampler.share
            holder = ", ".join(f"{what} {part:.0%}" for what, part in share.holder_shares().items())
            hold_per_token = share.held_share * run_.seconds / max(1, run_.requests) * 1000
            r.add("h", f"write lock during warm /token c=64, {name}",
                  f"{run_.rate:,.0f} req/s; {tx.tokens / max(1, tx.commits):.1f} tokens per commit, "
                  f"{tx.statements_per_token:.1f} statements per token inside the transaction, planned in "
                  f"{tx.planning_us:.0f} µs and executed in {tx.executing_us:.0f} µs in all; the lock held "
                  f"{share.held_share:.0%} of the time ({hold_per_token:.2f} ms per token; holder "
                  f"{holder or 'none seen'}), {share.mean_waiting:.1f} transactions waiting for it on average, "
                  f"{tx.lock_wait_ms:.1f} ms each")
        rate, held_ms = lock_ceiling(pg, CEILING_SECONDS, CEILING_WRITERS)
        r.add("h", f"write lock alone: {CEILING_WRITERS} writers committing one row each under it, no regauth",
              f"{rate:,.0f} commits/s, lock held {held_ms:.2f} ms per commit")

    # -- (i) ---------------------------------------------------------------------------

    def phase_large(self) -> None:
        """The same warm load on two replicas at once, one on a PostgreSQL copy of the base
        database, one on a copy grown to --large-robots; runs alternate between them."""
        bench, r, args = self.bench, self.bench.report, self.bench.args
        pg = self.postgres()
        sqlite_db = bench.regauth.data_dir / "regauth.db"
        sizes = {}
        for dbname in (SMALL_DB, LARGE_DB):
            pg.create_database(dbname)
            sizes[dbname] = pg_seed.copy_sqlite(sqlite_db, pg.url(dbname))
        print(f"growing a PostgreSQL copy to {args.large_robots:,} robots with COPY ...", flush=True)
        began = time.monotonic()
        sizes[LARGE_DB] = pg_seed.grow(pg.url(LARGE_DB), total_robots=args.large_robots,
                                       total_permissions=args.large_permissions, bcrypt_cost=args.bcrypt_cost)
        r.notes.append(f"(i) seeding PostgreSQL to {sizes[LARGE_DB][0]:,} robots and {sizes[LARGE_DB][1]:,} grants "
                       f"with COPY (one transaction, then VACUUM ANALYZE) took {time.monotonic() - began:.0f} s")
        servers = {name: self.replica(name, pg.url(name)) for name in (SMALL_DB, LARGE_DB)}
        try:
            for server in servers.values():
                server.start()
            for server in servers.values():
                self.warm_up(server)
            runs: dict[str, list[Measured]] = {name: [] for name in servers}
            for _ in range(args.repeat):
                for name, server in servers.items():
                    runs[name].append(self.warm([server], 64, args.duration))
            rss = servers[LARGE_DB].rss()
        finally:
            for server in servers.values():
                server.stop()
        per_request, median = {}, {}
        for name, measured in runs.items():
            mine, theirs = _per_request_us(measured, _regauth), _per_request_us(measured, _postgres)
            per_request[name] = mine + theirs
            median[name] = _median(measured).run
            robots, grants = sizes[name]
            r.add("i", f"warm /token c=64 on PostgreSQL, {robots:,} robots / {grants:,} grants",
                  f"{median[name].rate:,.0f} req/s, p50 {_ms(median[name].p50_ms)}, p99 {_ms(median[name].p99_ms)}, "
                  f"{mine:.0f} µs of regauth CPU + {theirs:.0f} µs of PostgreSQL's per request")
        ratio = per_request[LARGE_DB] / per_request[SMALL_DB]
        r.add("i", "large ÷ small on PostgreSQL: server CPU per request, regauth + PostgreSQL "
                   "(time per request from throughput; p50)",
              f"{ratio:.2f} ({median[SMALL_DB].rate / median[LARGE_DB].rate:.2f}; "
              f"{median[LARGE_DB].p50_ms / median[SMALL_DB].p50_ms:.2f})", "≤ 1.2", ratio <= 1.2)
        r.add("i", f"resident memory per worker, PostgreSQL, {sizes[LARGE_DB][0]:,} robots",
              " / ".join(f"{v:.0f} MiB" for v in rss), "< 100 MB", max(rss) < 100)
