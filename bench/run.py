"""Run the whole benchmark and print one table: ``python -m bench`` or ``python bench/run.py``.

Every server is a real process on 127.0.0.1; every load generator is another process. The
run is bounded (each phase by request count and time; the whole by ``--budget``) and prints
the machine, the settings and the table, which it also writes to ``bench/results/latest.md``.
See docs/performance.md for what each figure means and what limits it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import bcrypt  # noqa: E402

from bench import catalog, loadgen, replicas, seed  # noqa: E402
from bench.procs import REPO_ROOT, Daemon, free_port, http_get, http_status, regauth_env, rss_mib, run  # noqa: E402
from bench.registry import RegistryBench  # noqa: E402

SERVICE = "regauth-bench"
ISSUER = "regauth-bench-issuer"
SCOPE = f"repository:{seed.WARM_NAMESPACE}/{seed.WARM_REPOSITORY}:pull,push"
COLD_LEVELS = ((1, 6), (16, 48), (64, 128))  # (concurrency, robots)
HEALTH_COLD_CONCURRENCY = 32
HEALTH_COLD_ROBOTS = 140
# (a) and (b) measure how many bcrypt checks the server gets through, so the server they run
# on lets every check queue; (g) runs the default bound.
UNBOUNDED_PENDING = ["--max-pending-bcrypt", "100000"]
# (g): the guessers' connections, the addresses of the many-address flood, and the fresh
# robots' first logins timed during each flood.
FLOOD_CONNECTIONS = 20
# The many-address flood has more connections than the workers' bounds on pending checks.
MANY_FLOOD_CONNECTIONS = 64
FLOOD_ADDRESSES = 5000
FRESH_LOGINS = 3
FRESH_ADDRESS = "198.51.100.7"
FRESH_TIMEOUT = 30.0
WARM_DURING_FLOOD = 16
THROTTLE_OFF = ["--login-failures-per-address", "1000000/second", "--login-failures-per-robot", "1000000/second",
                *UNBOUNDED_PENDING]


@dataclass
class Row:
    section: str
    measurement: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Report:
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, measurement: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(section, measurement, value, target, met))
        print(f"  {section:4} {measurement}: {value}" + (f"   [target {target}: {_verdict(met)}]" if target else ""),
              flush=True)

    def markdown(self) -> str:
        lines = [*self.header, "", "| | measurement | result | target | met |", "|---|---|---|---|---|"]
        for row in self.rows:
            lines.append(f"| {row.section} | {row.measurement} | {row.value} | {row.target} | {_verdict(row.met)} |")
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines) + "\n"


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def median_run(measure, times: int) -> loadgen.Run:
    """Measure ``times`` times and return the run with the median rate (the machine may be
    shared: one run can land on a busy moment either way)."""
    runs = sorted((measure() for _ in range(times)), key=lambda run_: run_.rate)
    return runs[len(runs) // 2]


class Regauth:
    """``regauth serve`` on a data directory, as a daemon."""

    def __init__(self, workdir: Path, data_dir: Path, *, port: int, realm: str, workers: int, bcrypt_cost: int,
                 serve_flags: tuple[str, ...] = (), database: str = ""):
        self.workdir, self.data_dir, self.port = workdir, data_dir, port
        self.settings = [
            "--data-dir", str(data_dir), "--service", SERVICE, "--issuer", ISSUER, "--realm", realm,
            "--bcrypt-cost", str(bcrypt_cost), *(("--database", database) if database else ()),
        ]
        self.serve_flags = list(serve_flags)
        self.workers = workers
        self.daemon: Daemon | None = None
        self.starts = 0

    def cli(self, *args: str) -> str:
        return run([sys.executable, "-m", "gateway", *args, *self.settings], env=regauth_env(), cwd=REPO_ROOT).stdout

    def start(self) -> None:
        self.starts += 1
        argv = [sys.executable, "-m", "gateway", "serve", *self.settings, *self.serve_flags,
                "--listen", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        self.daemon = Daemon("regauth", argv, self.workdir / f"regauth-{self.port}-{self.starts}.log",
                             env=regauth_env(), cwd=REPO_ROOT)
        self.daemon.wait_ready(
            lambda: http_status(self.url("/healthz")) == 200
            and len(self.daemon.children()) == (self.workers if self.workers > 1 else 0)
        )

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        """The processes answering requests: the forked workers, or the one process."""
        assert self.daemon is not None
        return self.daemon.children() if self.workers > 1 else [self.daemon.pid]

    def rss(self) -> list[float]:
        return [rss_mib(pid) for pid in self.worker_pids()]


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, report: Report):
        self.args, self.workdir, self.report = args, workdir, report
        self.started = time.monotonic()
        self.token_path = f"/token?service={SERVICE}&scope={SCOPE}"
        self.nginx_port = free_port()
        self.regauth = Regauth(
            workdir, workdir / "data", port=free_port(), realm=f"http://127.0.0.1:{self.nginx_port}/token",
            workers=args.workers, bcrypt_cost=args.bcrypt_cost, serve_flags=tuple(UNBOUNDED_PENDING),
        )
        self.cold_names: list[str] = []
        self.reply_bytes = 0
        self.postgres = replicas.PostgresPhases(self)

    # -- helpers -----------------------------------------------------------------------

    def remaining(self) -> float:
        return self.args.budget - (time.monotonic() - self.started)

    def take_cold(self, count: int) -> seed.Credentials:
        names, self.cold_names = self.cold_names[:count], self.cold_names[count:]
        if len(names) < count:
            raise RuntimeError("not enough cold robots seeded")
        return seed.Credentials(tuple(names), self.seeded.cold.secret)

    def warm_up(self, server: Regauth | None = None, limit: float = 40.0, connections: int = 64,
                settled_ms: float = 100.0) -> None:
        """Send warm-test requests until every (robot, worker) pair has been verified once:
        short wrk runs at ``connections`` until none of their requests took ``settled_ms``
        (less than a bcrypt check at the benchmark's cost). Raises RuntimeError after
        ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            run_ = self.warm(connections, 2, server)
            # wrk times only the requests that completed: a run where the checks outlasted
            # it has none, and a maximum of 0.
            if run_.requests >= connections and run_.failures == 0 and run_.max_ms < settled_ms:
                return
        raise RuntimeError(f"the warm robots were still not all verified after {limit:.0f} s")

    def warm(self, connections: int, seconds: float, server: Regauth | None = None) -> loadgen.Run:
        return loadgen.wrk((server or self.regauth).url(self.token_path), connections=connections, seconds=seconds,
                           script=self.rotate_script)

    # -- phases ------------------------------------------------------------------------

    def setup(self) -> None:
        print("setting up: regauth init, seeding, bcrypt hashes ...", flush=True)
        self.regauth.cli("init")
        self.seeded = seed.seed_base(
            self.regauth.data_dir / "regauth.db", bcrypt_cost=self.args.bcrypt_cost,
            warm_robots=self.args.warm_robots,
            cold_robots=sum(n for _, n in COLD_LEVELS) + HEALTH_COLD_ROBOTS + 5 * (FRESH_LOGINS + 1) + 10
            + (replicas.cold_robots_needed() if "h" in self.args.phases else 0),
            total_robots=self.args.robots, filler_permissions=self.args.robots * 10,
        )
        self.cold_names = list(self.seeded.cold.names)
        self.rotate_script = loadgen.write_scripts(self.workdir, self.token_path, self.seeded.warm)
        self.plain_script = loadgen.write_scripts(self.workdir, "/", None)

    def bcrypt_alone(self) -> tuple[float, float]:
        """bcrypt on this machine with nothing else: ms per check on one thread, and checks/s
        with one thread per core."""
        hashed = bcrypt.hashpw(b"x" * 64, bcrypt.gensalt(self.args.bcrypt_cost))
        times = []
        for _ in range(3):
            began = time.perf_counter()
            bcrypt.checkpw(b"x" * 64, hashed)
            times.append(time.perf_counter() - began)
        per_check = statistics.median(times) * 1000
        cores = os.cpu_count() or 1
        checks_each = 4

        def work():
            for _ in range(checks_each):
                bcrypt.checkpw(b"x" * 64, hashed)

        threads = [threading.Thread(target=work) for _ in range(cores)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rate = cores * checks_each / (time.perf_counter() - began)
        return per_check, rate

    def check_token(self) -> None:
        """One warm token request by hand: 200, and the token grants pull and push."""
        name = self.seeded.warm.names[0]
        status, body = http_get(self.regauth.url(self.token_path),
                                {"Authorization": loadgen.basic(name, self.seeded.warm.secret)})
        if status != 200:
            raise RuntimeError(f"token request answered {status}: {body[:300]!r}")
        self.reply_bytes = len(body)
        token = json.loads(body)["token"]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if claims["access"] != [{"type": "repository", "name": "ns/app", "actions": ["pull", "push"]}]:
            raise RuntimeError(f"unexpected grant {claims['access']}")

    def phase_warm(self) -> loadgen.Run:
        r = self.report
        self.warm_up()
        results = {}
        for connections in (1, 16, 64):
            served = []
            cpu0 = self.regauth.daemon.cpu_seconds()

            def measure(connections=connections):
                served.append(self.warm(connections, self.args.duration))
                return served[-1]

            results[connections] = run_ = median_run(measure, self.args.repeat if connections == 64 else 1)
            cpu = self.regauth.daemon.cpu_seconds() - cpu0
            per_request = cpu / max(1, sum(each.requests for each in served)) * 1e6
            extra = f", {per_request:.0f} µs of server CPU per request" if connections == 64 else ""
            target, met = ("p99 ≤ 25 ms", run_.p99_ms <= 25) if connections == 64 else ("", None)
            r.add("a", f"warm /token, c={connections}",
                  f"{run_.rate:,.0f} req/s, p50 {_ms(run_.p50_ms)}, p99 {_ms(run_.p99_ms)}"
                  f"{extra}{'' if not run_.failures else f', {run_.failures} failed'}", target, met)
        return results[64]

    def phase_cold(self, bcrypt_rate: float, per_check: float) -> None:
        r = self.report
        for concurrency, robots in COLD_LEVELS:
            client = loadgen.ColdClient(self.regauth.url(self.token_path), self.take_cold(robots),
                                        concurrency=concurrency, deadline=min(60.0, self.remaining() / 3))
            run_ = client.result()
            line = (f"{run_.rate:.2f} checks/s, p50 {_ms(run_.p50_ms)}, p99 {_ms(run_.p99_ms)} "
                    f"({run_.requests} checks{'' if not run_.failures else f', {run_.failures} failed'})")
            if concurrency == 64:
                share = run_.rate / bcrypt_rate
                r.add("a", f"cold /token, c={concurrency}", f"{line}; {share:.2f} of bcrypt alone",
                      "bound by bcrypt (≥ 0.85 of bcrypt alone)", share >= 0.85)
            elif concurrency == 1:
                r.add("a", f"cold /token, c={concurrency}", f"{line}; bcrypt alone {per_check:.0f} ms/check")
            else:
                r.add("a", f"cold /token, c={concurrency}", line)

    def phase_health(self) -> None:
        r = self.report
        url = self.regauth.url("/healthz")
        rest = loadgen.wrk(url, connections=2, seconds=3, script=self.plain_script)
        r.add("b", "/healthz at rest, c=2", f"p50 {_ms(rest.p50_ms)}, p99 {_ms(rest.p99_ms)}")
        client = loadgen.ColdClient(self.regauth.url(self.token_path), self.take_cold(HEALTH_COLD_ROBOTS),
                                    concurrency=HEALTH_COLD_CONCURRENCY, deadline=7)
        time.sleep(1.0)  # let the first 32 logins reach the bcrypt pools
        busy = loadgen.wrk(url, connections=2, seconds=5, script=self.plain_script)
        cold = client.result()
        r.add("b", f"/healthz while {HEALTH_COLD_CONCURRENCY} cold logins are in flight, c=2",
              f"p50 {_ms(busy.p50_ms)}, p99 {_ms(busy.p99_ms)}, max {_ms(busy.max_ms)} "
              f"({busy.requests:,} probes; {cold.requests} logins done meanwhile)",
              "p99 ≤ 10 ms", busy.p99_ms <= 10 and busy.failures == 0)

    def phase_bare(self, warm64: loadgen.Run) -> None:
        r = self.report
        results = []
        variants = (["16"], [str(self.reply_bytes)], ["signed", str(self.regauth.data_dir)])
        for number, variant in enumerate(variants):
            port = free_port()
            daemon = Daemon("bare", [sys.executable, "-m", "bench.bare", str(port), str(self.args.workers), *variant],
                            self.workdir / f"bare-{number}.log", env=regauth_env(), cwd=REPO_ROOT)
            try:
                daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/") == 200)
                time.sleep(0.5)
                loadgen.wrk(f"http://127.0.0.1:{port}/", connections=64, seconds=1, script=self.plain_script)
                results.append(median_run(lambda: loadgen.wrk(
                    f"http://127.0.0.1:{port}/", connections=64, seconds=self.args.duration, script=self.plain_script),
                    self.args.repeat))
            finally:
                daemon.stop()
        ceiling, sized, signing = results
        ratio = warm64.rate / ceiling.rate
        r.add("c", f"bare aiohttp handler, {self.args.workers} workers, c=64",
              f"{ceiling.rate:,.0f} req/s, p99 {_ms(ceiling.p99_ms)}")
        r.add("c", f"bare handler with a token-sized reply ({self.reply_bytes:,} B), c=64",
              f"{sized.rate:,.0f} req/s, p99 {_ms(sized.p99_ms)}")
        # What signing alone leaves of the ceiling: every token service that mints per request
        # pays it, so no /token can be faster than this handler.
        r.add("c", "handler that only signs a token per request (no credentials, database, audit or log), c=64",
              f"{signing.rate:,.0f} req/s, p99 {_ms(signing.p99_ms)}; {signing.rate / ceiling.rate:.2f} of the bare handler")
        r.add("c", "warm /token c=64 ÷ bare handler",
              f"{ratio:.2f} (÷ token-sized bare: {warm64.rate / sized.rate:.2f}; ÷ signing-only: {warm64.rate / signing.rate:.2f})",
              "≥ 0.5", ratio >= 0.5)

    def phase_flood(self, per_check: float) -> None:
        """Guessers flood /token while a fresh robot logs in for the first time from another
        address and warm robots keep asking for tokens; on a server with the default
        throttle and on one with the throttle off (limits far out of reach), one after the
        other, each on the same database."""
        seconds = self.args.flood_seconds
        for variant, flags in (("throttle on", ()), ("throttle off", tuple(THROTTLE_OFF))):
            server = Regauth(self.workdir, self.regauth.data_dir, port=free_port(),
                             realm=f"http://127.0.0.1:{self.nginx_port}/token", workers=self.args.workers,
                             bcrypt_cost=self.args.bcrypt_cost, serve_flags=flags)
            server.start()
            try:
                self.warm_up(server, connections=WARM_DURING_FLOOD)
                for addresses in (1, FLOOD_ADDRESSES):
                    self.flood_once(server, variant, addresses, seconds, per_check)
            finally:
                server.stop()
        self.fresh_under_warm_load(per_check)

    def fresh_under_warm_load(self, per_check: float) -> None:
        """Time fresh robots' first logins while the warm load of (g) runs and no one guesses:
        what that load alone does to a bcrypt check."""
        seconds = max(4.0, min(10.0, self.args.flood_seconds / 3))
        self.warm_up()
        warm: list[loadgen.Run] = []
        thread = threading.Thread(target=lambda: warm.append(self.warm(WARM_DURING_FLOOD, seconds)))
        thread.start()
        time.sleep(0.5)
        fresh_ms, fresh_status = self.fresh_logins(self.regauth, FRESH_LOGINS, time.monotonic() + seconds - 1)
        thread.join()
        self.report.add(
            "g", f"control, no flood: a fresh robot's first login while warm /token runs at c={WARM_DURING_FLOOD}",
            f"{', '.join(_ms(ms) for ms in fresh_ms)} ({', '.join(str(s) for s in fresh_status)}); "
            f"worst {max(fresh_ms) / per_check:.1f}× one bcrypt check; warm p99 {_ms(warm[0].p99_ms)}",
        )

    def fresh_logins(self, server: Regauth, count: int, until: float) -> tuple[list[float], list]:
        """Log ``count`` robots never verified before in, one after the other from
        FRESH_ADDRESS, spread over the first half of what is left until ``until``; returns
        each login's milliseconds and status ("no answer" after FRESH_TIMEOUT)."""
        gap = max(0.2, (until - time.monotonic()) / 2 / count)
        fresh_ms, fresh_status = [], []
        for _ in range(count):
            if fresh_ms and time.monotonic() >= until:
                break  # a login that waited out the flood: the next would not be timed during one
            fresh = self.take_cold(1)
            began = time.perf_counter()
            try:
                status, _ = http_get(server.url(self.token_path), {
                    "Authorization": loadgen.basic(fresh.names[0], fresh.secret), "X-Forwarded-For": FRESH_ADDRESS},
                    timeout=FRESH_TIMEOUT)
            except OSError:  # no answer within FRESH_TIMEOUT: a figure of its own
                status = "no answer"
            fresh_ms.append((time.perf_counter() - began) * 1000)
            fresh_status.append(status)
            time.sleep(max(0.0, gap - fresh_ms[-1] / 1000))
        return fresh_ms, fresh_status

    def flood_once(self, server: Regauth, variant: str, addresses: int, seconds: float, per_check: float) -> None:
        r = self.report
        target = self.take_cold(1)  # the robot whose secret the one-address flood guesses
        where = "one address" if addresses == 1 else f"{addresses:,} addresses, random names"
        connections = FLOOD_CONNECTIONS if addresses == 1 else MANY_FLOOD_CONNECTIONS
        flood = loadgen.ColdClient(server.url(self.token_path), target, concurrency=connections,
                                   deadline=seconds, mode="flood", addresses=addresses)
        flood_end = time.monotonic() + seconds
        lead = min(2.0, seconds / 4)
        time.sleep(lead)  # the guessing is under way
        # First the fresh robots' logins, then the warm load, both during the flood: a warm
        # load of c=16 keeps both cores busy by itself, and a bcrypt check under it takes
        # several times as long, flood or no flood (the last row of (g) shows it); timed
        # together, the two would measure the warm load, not the flood.
        fresh_ms, fresh_status = self.fresh_logins(server, FRESH_LOGINS, flood_end)
        warm_seconds = max(1.0, flood_end - time.monotonic() - 1)
        warm = [self.warm(WARM_DURING_FLOOD, warm_seconds, server)]
        guessed = flood.result()
        statuses = ", ".join(f"{count:,} × {status}" for status, count in sorted(flood.statuses.items()))
        total = sum(flood.statuses.values())
        r.add("g", f"flood of wrong secrets, {connections} connections, {where}, {seconds:g} s, {variant}",
              f"{total / guessed.seconds:,.0f} req/s ({statuses}), p50 {_ms(guessed.p50_ms)}")
        worst = max(fresh_ms)
        answered = ", ".join(str(status) for status in fresh_status)
        if "no answer" in fresh_status:
            answered += f" within {FRESH_TIMEOUT:g} s"
        one_address = addresses == 1
        target, met = ("≤ 2× one bcrypt check", worst <= 2 * per_check and set(fresh_status) == {200}) \
            if one_address and variant == "throttle on" else ("", None)
        r.add("g", f"meanwhile: a fresh robot's first login from another address ({where}, {variant})",
              f"{', '.join(_ms(ms) for ms in fresh_ms)} ({answered}); worst {worst / per_check:.1f}× one bcrypt check",
              target, met)
        run_ = warm[0]
        target, met = ("p99 ≤ 25 ms", run_.p99_ms <= 25 and run_.failures == 0) \
            if one_address and variant == "throttle on" else ("", None)
        r.add("g", f"meanwhile: warm /token, c={WARM_DURING_FLOOD} ({where}, {variant})",
              f"{run_.rate:,.0f} req/s, p50 {_ms(run_.p50_ms)}, p99 {_ms(run_.p99_ms)}"
              f"{'' if not run_.failures else f', {run_.failures} failed'}", target, met)

    def phase_registry(self) -> None:
        r = self.report
        self.warm_up()  # the robot pushing has been verified by every worker, as in a busy CI
        auth_block = self.regauth.cli("registry-config", "--listen", f"127.0.0.1:{self.regauth.port}")
        bench = RegistryBench(
            self.workdir, regauth_port=self.regauth.port, nginx_port=self.nginx_port, token_auth_block=auth_block,
            robot=self.seeded.warm.names[0], robot_secret=self.seeded.warm.secret,
        )
        log = self.regauth.daemon.log
        try:
            bench.start()
            bench.warm_up()
            offset = log.stat().st_size
            size = bench.measure(self.args.registry_iterations, layers=3, layer_bytes=10 * 1024 * 1024,
                                 slow_rounds=self.args.htpasswd_iterations)
        finally:
            bench.stop()
        targets = {t.key: t for t in bench.targets}
        base, proxied, token, htpasswd = targets["none"], targets["none_nginx"], targets["token"], targets["htpasswd"]
        for target in bench.targets:
            r.add("d", f"{target.label} ({size / 2**20:.0f} MB, 3 layers)",
                  f"{target.summary()}; ×{target.push / base.push:.2f} / ×{target.pull / base.pull:.2f}")
        for op in ("push", "pull"):
            mine, none, theirs = getattr(token, op), getattr(base, op), getattr(htpasswd, op)
            # Each iteration copies to every target back to back, so the ratio within an
            # iteration is the least disturbed by whatever else the machine does meanwhile;
            # the verdict is on the median of those, the ratio of the medians is shown too.
            ratios = [t / b for t, b in zip(getattr(token, f"{op}_s"), getattr(base, f"{op}_s"))]
            paired = statistics.median(ratios)
            quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [paired, paired, paired]
            same_proxy = statistics.median(
                t / p for t, p in zip(getattr(token, f"{op}_s"), getattr(proxied, f"{op}_s"))
            )
            r.add("d", f"{op}: nginx + regauth ÷ registry with no auth",
                  f"{paired:.2f} (median of {len(ratios)} paired runs, middle half {quartiles[0]:.2f} to "
                  f"{quartiles[2]:.2f}; ratio of medians {mine / none:.2f}); ÷ nginx + registry with no auth: "
                  f"{same_proxy:.2f}",
                  "≤ 1.10, < htpasswd", paired <= 1.10 and mine < theirs)
        # What regauth itself added: its token requests during the timed copies, from its log.
        with open(log, "rb") as handle:
            handle.seek(offset)
            took = [float(line.rsplit(b" ", 1)[1].rstrip(b"s\n")) * 1000
                    for line in handle if b'"GET /token' in line]
        copies = 2 * self.args.registry_iterations
        if took:
            r.add("d", "regauth's own part of those copies",
                  f"{len(took) / copies:.1f} token requests per push or pull, median {statistics.median(took):.1f} ms, "
                  f"max {max(took):.1f} ms")

    def phase_large(self) -> None:
        """The same warm load on two servers at once, one on the database as it is, one on a
        copy grown to 100,000 robots; runs alternate between them so that whatever else
        the machine does falls on both alike."""
        r = self.report
        self.regauth.stop()
        small_robots, small_permissions = self.counts(self.regauth.data_dir)
        large_dir = self.workdir / "data-large"
        shutil.copytree(self.regauth.data_dir, large_dir)
        print(f"growing a copy of the database to {self.args.large_robots:,} robots ...", flush=True)
        began = time.monotonic()
        robots, permissions = seed.grow(large_dir / "regauth.db", total_robots=self.args.large_robots,
                                        total_permissions=self.args.large_permissions, bcrypt_cost=self.args.bcrypt_cost)
        r.notes.append(f"seeding {robots:,} robots and {permissions:,} grants took {time.monotonic() - began:.0f} s")
        large = Regauth(self.workdir, large_dir, port=free_port(), realm=f"http://127.0.0.1:{self.nginx_port}/token",
                        workers=self.args.workers, bcrypt_cost=self.args.bcrypt_cost)
        self.regauth.start()
        large.start()
        try:
            servers = {"small": self.regauth, "large": large}
            runs: dict[str, list[loadgen.Run]] = {"small": [], "large": []}
            cpu = {"small": 0.0, "large": 0.0}
            for server in servers.values():
                self.warm_up(server)
            for _ in range(self.args.repeat):
                for name, server in servers.items():
                    cpu0 = server.daemon.cpu_seconds()
                    runs[name].append(self.warm(64, self.args.duration, server))
                    cpu[name] += server.daemon.cpu_seconds() - cpu0
            rss = large.rss()
        finally:
            large.stop()
        per_request = {name: cpu[name] / max(1, sum(run_.requests for run_ in runs[name])) * 1e6 for name in runs}
        median = {name: sorted(runs[name], key=lambda run_: run_.rate)[len(runs[name]) // 2] for name in runs}
        for name, robots_, grants in (("small", small_robots, small_permissions), ("large", robots, permissions)):
            r.add("e", f"warm /token c=64, {robots_:,} robots / {grants:,} grants",
                  f"{median[name].rate:,.0f} req/s, p99 {_ms(median[name].p99_ms)}, "
                  f"{per_request[name]:.0f} µs of server CPU per request")
        cpu_ratio = per_request["large"] / per_request["small"]
        r.add("e", "large ÷ small: server CPU per request (time per request from throughput)",
              f"{cpu_ratio:.2f} ({median['small'].rate / median['large'].rate:.2f})", "≤ 1.2", cpu_ratio <= 1.2)
        r.add("f", f"resident memory per worker after (e), {robots:,} robots", " / ".join(f"{v:.0f} MiB" for v in rss),
              "< 100 MB", max(rss) < 100)

    def counts(self, data_dir: Path) -> tuple[int, int]:
        conn = sqlite3.connect(data_dir / "regauth.db")
        try:
            return seed.counts(conn)
        finally:
            conn.close()

    def run_all(self) -> None:
        r, phases = self.report, self.args.phases
        self.setup()
        self.regauth.start()
        try:
            self.check_token()
            rest = self.regauth.rss()
            r.add("f", "resident memory per worker at rest", " / ".join(f"{v:.0f} MiB" for v in rest),
                  "< 100 MB", max(rest) < 100)
            if "a" in phases:
                print("(a) warm and cold token requests", flush=True)
                warm64 = self.phase_warm()
                per_check, bcrypt_rate = self.bcrypt_alone()
                r.notes.append(f"bcrypt alone (cost {self.args.bcrypt_cost}, measured just before the cold runs): "
                               f"{per_check:.0f} ms per check on one thread, {bcrypt_rate:.2f} checks/s on "
                               f"{os.cpu_count()} threads")
                self.phase_cold(bcrypt_rate, per_check)
                after = self.regauth.rss()
                r.add("f", "resident memory per worker after (a)", " / ".join(f"{v:.0f} MiB" for v in after),
                      "< 100 MB", max(after) < 100)
            if "b" in phases:
                print("(b) /healthz during cold logins", flush=True)
                self.phase_health()
            if "c" in phases and "a" in phases:
                print("(c) bare aiohttp ceiling", flush=True)
                self.phase_bare(warm64)
            for phase, what, needs, run_phase in (
                ("d", "skopeo push and pull through the registries", 75, self.phase_registry),
                ("e", f"{self.args.large_robots:,} robots", 50, self.phase_large),
                ("g", "guessing floods, throttle on and off", 4 * self.args.flood_seconds + 30,
                 lambda: self.phase_flood(per_check if "a" in phases else self.bcrypt_alone()[0])),
                ("h", "warm and cold /token on PostgreSQL with 1 to 3 replicas, beside SQLite",
                 (8 * self.args.repeat + 3) * self.args.duration + 120, self.postgres.phase_replicas),
                ("i", f"{self.args.large_robots:,} robots on PostgreSQL", 2 * self.args.repeat * self.args.duration + 40,
                 self.postgres.phase_large),
                ("j", "the filtered catalog over 10,000 repositories", 60, lambda: catalog.phase_catalog(self)),
            ):
                if phase not in phases:
                    continue
                if self.remaining() < needs:
                    r.notes.append(f"({phase}) skipped: out of time (--budget {self.args.budget:g} s)")
                    continue
                print(f"({phase}) {what}", flush=True)
                run_phase()
        finally:
            self.regauth.stop()
            self.postgres.close()


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "missing"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine_header(args: argparse.Namespace) -> list[str]:
    import aiohttp
    import cryptography
    import jwt

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return [
        f"# regauth benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "",
        f"- machine: {os.cpu_count()} cores ({model}), {mem_kib / 2**20:.0f} GiB, Linux {platform.release()}; "
        f"load average at start {os.getloadavg()[0]:.2f}",
        f"- software: Python {platform.python_version()}, aiohttp {aiohttp.__version__}, bcrypt {bcrypt.__version__}, "
        f"cryptography {cryptography.__version__}, PyJWT {jwt.__version__}; {_version(['wrk', '-v'])}; "
        f"{_version(['docker-registry', '--version'])}; {_version(['skopeo', '--version'])}; "
        f"{_version(['nginx', '-v'])}",
        f"- settings: regauth serve --workers {args.workers} --bcrypt-cost {args.bcrypt_cost} (ES256 tokens, other "
        f"settings default; {' '.join(UNBOUNDED_PENDING)} but in (g), whose throttle-off server has "
        f"{' '.join(THROTTLE_OFF[:4])}); (g) floods {args.flood_seconds:g} s each; warm runs {args.duration:g} s each (c=64 figures: median of {args.repeat} runs) with wrk "
        f"rotating {args.warm_robots} robots, scope "
        f"`{SCOPE}`; cold runs: every request a robot never verified before; {args.robots:,} robots at first, "
        f"{args.large_robots:,} robots and {args.large_permissions:,} grants for (e); "
        f"{args.registry_iterations} push/pull rounds of a 3-layer 30 MB image (median; htpasswd in the first "
        f"{min(args.htpasswd_iterations, args.registry_iterations)})",
    ]


def _at_least_one(text: str) -> int:
    """argparse type: an integer of at least 1 (every target needs one copy to compare)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bcrypt-cost", type=int, default=12)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each warm run")
    parser.add_argument("--warm-robots", type=int, default=16)
    parser.add_argument("--robots", type=int, default=1000)
    parser.add_argument("--large-robots", type=int, default=100_000)
    parser.add_argument("--large-permissions", type=int, default=1_000_000)
    parser.add_argument("--registry-iterations", type=_at_least_one, default=21)
    parser.add_argument("--htpasswd-iterations", type=_at_least_one, default=3,
                        help="of those rounds, how many also copy to the htpasswd registry (five times slower)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each c=64 throughput figure; the median run is reported")
    parser.add_argument("--phases", default="abcdeg",
                        help="which parts to run (default abcdeg; (c) needs (a); memory (f) is always reported; "
                             "h and i, on PostgreSQL, and j, the catalog, only when asked)")
    parser.add_argument("--flood-seconds", type=float, default=5.0,
                        help="length of each of (g)'s four floods (docs/performance.md reports 30)")
    parser.add_argument("--replicas", type=_at_least_one, default=3,
                        help="(h): the most PostgreSQL replicas measured (1 to this many)")
    parser.add_argument("--replica-parts", type=lambda text: set(text.split(",")),
                        default={"refresh", "cold", "connections", "lock"},
                        help="(h): what to measure beside warm /token, comma-separated (refresh, cold, "
                             "connections, lock)")
    parser.add_argument("--budget", type=float, default=330.0, help="seconds the whole run may take")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, databases)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "results" / "latest.md")
    args = parser.parse_args(argv)

    tools = ("wrk",) + (("docker-registry", "skopeo", "nginx", "htpasswd") if "d" in args.phases else ()) \
        + (("docker-registry",) if "j" in args.phases else ())
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        print(f"bench: missing {', '.join(missing)} (Debian: apt-get install wrk docker-registry skopeo nginx-light "
              "apache2-utils), or leave (d) out with --phases abceg", file=sys.stderr)
        return 2
    report = Report(header=machine_header(args))
    print("\n".join(report.header), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="regauth-bench-"))
    began = time.monotonic()
    status = 0
    try:
        Bench(args, workdir, report).run_all()
    except Exception as exc:  # noqa: BLE001 - report what was measured before the failure
        report.notes.append(f"run stopped early: {exc}")
        print(f"bench: {exc}", file=sys.stderr)
        status = 1
    finally:
        report.notes.append(f"whole run: {time.monotonic() - began:.0f} s; load average at end {os.getloadavg()[0]:.2f}")
        if args.keep:
            report.notes.append(f"working directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report.markdown()
    print("\n" + text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
