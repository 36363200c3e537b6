"""Load generation from processes of their own: ``wrk`` for repeatable requests, the bench's
own client (``bench.client``) for cold checks, where each request needs another robot."""

from __future__ import annotations

import base64
import json
import math
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from .procs import REPO_ROOT, regauth_env
from .seed import Credentials

# wrk prints its own summary; this Lua ``done`` adds one machine-readable line.
_LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
"""

# Each request of ``prepare`` (a Lua function of i returning wrk.format's arguments), in turn.
_LUA_ROTATE = r"""
local count = %d
%s
local prepared = {}
local n = 0
init = function(args)
  for i = 1, count do
    prepared[i] = wrk.format(prepare(i))
  end
end
request = function()
  n = n %% #prepared + 1
  return prepared[n]
end
"""
_LUA_GETS = r"""
local headers = { %s }
local path = %s
local prepare = function(i) return "GET", path, { ["Authorization"] = headers[i] } end
"""
_LUA_POSTS = r"""
local bodies = { %s }
local prepare = function(i)
  return "POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" }, bodies[i]
end
"""


@dataclass(frozen=True)
class Run:
    """What one load run measured: completed requests, rate and latency."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failures: int
    # Connections wrk kept open (it gives each thread connections // threads); 0: not known.
    connections: int = 0
    # CPU seconds the load generator itself spent (user + system); 0: not measured.
    client_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


def write_scripts(workdir: Path, path: str, credentials: Credentials | None) -> Path:
    """Write the Lua script for wrk: rotate over the robots' Authorization headers (if any)."""
    script = workdir / ("wrk-rotate.lua" if credentials else "wrk-plain.lua")
    text = _LUA_DONE
    if credentials:
        headers = ", ".join(json.dumps(basic(name, credentials.secret)) for name in credentials.names)
        text = _LUA_ROTATE % (len(credentials.names), _LUA_GETS % (headers, json.dumps(path))) + text
    script.write_text(text)
    script.chmod(0o600)  # it holds secrets
    return script


def write_refresh_script(workdir: Path, name: str, service: str, scope: str, refresh_tokens: list[str]) -> Path:
    """Write the Lua script for wrk that rotates over ``refresh_tokens``, each a refresh-token
    grant (``POST /token``, as docker sends for each pull and push once logged in) for
    ``scope``; returns its path."""
    script = workdir / f"wrk-refresh-{name}.lua"
    bodies = ", ".join(json.dumps(urlencode({"grant_type": "refresh_token", "service": service, "scope": scope,
                                             "client_id": "bench", "refresh_token": token}))
                       for token in refresh_tokens)
    script.write_text(_LUA_ROTATE % (len(refresh_tokens), _LUA_POSTS % bodies) + _LUA_DONE)
    script.chmod(0o600)  # it holds refresh tokens
    return script


# Prepended to a script to point each wrk thread at one of several servers in turn (wrk
# calls ``setup`` once per thread before it connects; all of a thread's connections go to
# ``thread.addr``).
_LUA_SPREAD = r"""
local spread_ports = { %s }
local spread_next = 0
setup = function(thread)
  spread_next = spread_next %% #spread_ports + 1
  thread.addr = wrk.lookup("127.0.0.1", tostring(spread_ports[spread_next]))[1]
end
"""


def spread_script(script: Path, ports: list[int]) -> Path:
    """Write a copy of the wrk ``script`` that sends thread i's connections to
    ``ports[i % len(ports)]`` on 127.0.0.1; returns its path. Run it with ``threads`` a
    multiple of ``len(ports)``, so that every port gets as many connections."""
    spread = script.with_name(f"{script.stem}-{'-'.join(map(str, ports))}.lua")
    spread.write_text(_LUA_SPREAD % ", ".join(map(str, ports)) + script.read_text())
    spread.chmod(0o600)  # a copy of a script holding secrets
    return spread


def wrk(url: str, *, connections: int, seconds: float, script: Path, threads: int | None = None) -> Run:
    """Run wrk against ``url`` (loopback) for ``seconds`` (rounded up to whole seconds, all
    that wrk takes) with ``threads`` threads (default: two, or one per connection when
    fewer) and return what it measured. wrk opens ``connections // threads`` connections
    per thread."""
    threads = threads or min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, math.ceil(seconds))}s", "--timeout", "10s", "-s", str(script), url]
    spent_before = _children_cpu_seconds()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    # What this process's waited-for children spent: wrk alone, as nothing else ends meanwhile.
    client_cpu = _children_cpu_seconds() - spent_before
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout[-500:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return Run(
        requests=data["requests"], seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000, max_ms=data["max_us"] / 1000,
        failures=data["non2xx"] + data["socket_errors"], connections=connections // threads * threads,
        client_cpu_seconds=client_cpu,
    )


def _children_cpu_seconds() -> float:
    """CPU seconds (user + system) of every child this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ColdClient:
    """One run of ``python -m bench.client cold`` (or ``flood``) in its own process; a cold
    run given several URLs spreads its connections over them in turn."""

    def __init__(self, url: str | list[str], credentials: Credentials, *, concurrency: int, deadline: float,
                 mode: str = "cold", addresses: int = 1):
        self.mode = mode
        urls = [url] if isinstance(url, str) else list(url)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.client", mode, *(arg for each in urls for arg in ("--url", each)),
             "--concurrency", str(concurrency), "--deadline", str(deadline), "--addresses", str(addresses)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=REPO_ROOT, env=regauth_env(),
        )
        # Written now, so that the client starts at once: it reads all of stdin before it
        # sends anything (handing it over in ``result`` started the load only then).
        self.process.stdin.write(json.dumps({"names": list(credentials.names), "secret": credentials.secret}))
        self.process.stdin.close()
        self.process.stdin = None  # communicate() must not flush it again
        self._deadline = deadline
        self.statuses: dict[str, int] = {}

    def result(self) -> Run:
        """Wait for the client; returns the run (latencies of completed requests); the count
        of each status is left in ``statuses``."""
        out, err = self.process.communicate(timeout=self._deadline + 180)
        if self.process.returncode != 0:
            raise RuntimeError(f"{self.mode} client failed: {err.strip()[-800:]}")
        data = json.loads(out)
        self.statuses = data["statuses"]
        latencies = sorted(data["latencies_ms"])
        ok = data["statuses"].get("200", 0)
        return Run(
            requests=ok, seconds=data["wall_s"], p50_ms=percentile(latencies, 50),
            p99_ms=percentile(latencies, 99), max_ms=latencies[-1] if latencies else 0.0,
            failures=sum(count for status, count in data["statuses"].items() if status != "200"),
        )


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
