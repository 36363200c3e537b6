"""(j) The filtered catalog over 10,000 repositories: Debian's registry (token auth) holding
them, a regauth of its own reading the registry's catalog, and a reader walking every page
through the Link headers, as a mirroring tool does. The repositories are made in the
registry's storage directly (the directories it lists for its catalog): pushing 10,000
images would take the whole run's budget."""

from __future__ import annotations

import base64
import json
import statistics
import time
from pathlib import Path

from .procs import Daemon, free_port, http_get, http_status
from .registry import registry_config

NAMESPACE = "catalog-bench"
# A walk follows one Link per page: bounded far above 10,000 names at n=1.
MAX_PAGES = 20_000


def seed_repositories(storage: Path, count: int) -> None:
    """Make ``count`` repositories NAMESPACE/rNNNNN in the registry storage under ``storage``."""
    root = storage / "docker" / "registry" / "v2" / "repositories" / NAMESPACE
    for i in range(count):
        # Registry 2.8 lists a directory holding _layers, 3.x one holding _manifests.
        for marker in ("_layers", "_manifests"):
            (root / f"r{i:05d}" / marker).mkdir(parents=True)


def walk(base: str, headers: dict[str, str] | None, n: int) -> tuple[int, list[float]]:
    """Follow the Links from the first page; return the names seen and each page's seconds."""
    path, names, took = f"/v2/_catalog?n={n}", 0, []
    for _ in range(MAX_PAGES):
        began = time.perf_counter()
        status, body = http_get(base + path, headers, timeout=120)
        took.append(time.perf_counter() - began)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        names += len(json.loads(body)["repositories"])
        # http_get returns no headers: the next page starts after the last name (the Link's rule).
        page = json.loads(body)["repositories"]
        if len(page) < n:
            return names, took
        path = f"/v2/_catalog?n={n}&last={page[-1]}"
    raise RuntimeError("the catalog's pages never ended")


def catalog_token(regauth) -> dict[str, str]:
    """A ``registry:catalog:*`` token signed with ``regauth``'s key, as its header."""
    from gateway.token import keys
    from gateway.token.tokens import Access, mint

    from .run import ISSUER, SERVICE

    key = keys.load(regauth.data_dir / "signing-key.pem", regauth.data_dir / "signing-cert.pem")
    token = mint(key, issuer=ISSUER, service=SERVICE, subject="bench", access=[Access("registry", "catalog", ("*",))],
                 ttl=600).token
    return {"Authorization": f"Bearer {token}"}


def phase_catalog(bench, count: int = 10_000) -> None:
    """Time walks of the catalog of ``count`` repositories; adds rows (j) to the report."""
    from .run import Regauth  # the bench's regauth daemon; run imports this module

    r = bench.report
    base = bench.workdir / "catalog"
    registry_port = free_port()
    regauth = Regauth(base, base / "data", port=free_port(), realm="http://127.0.0.1:1/token", workers=bench.args.workers,
                      bcrypt_cost=bench.args.bcrypt_cost,
                      serve_flags=("--registry-url", f"http://127.0.0.1:{registry_port}"))
    base.mkdir(parents=True, exist_ok=True)
    regauth.cli("init")
    regauth.cli("org", "create", NAMESPACE)
    reader = json.loads(regauth.cli("robot", "create", f"{NAMESPACE}+reader"))
    regauth.cli("grant", f"{NAMESPACE}+reader", NAMESPACE, "read")
    auth = {"Authorization": "Basic " + base64.b64encode(f"{reader['name']}:{reader['token']}".encode()).decode()}
    began = time.monotonic()
    seed_repositories(base / "registry" / "storage", count)
    r.notes.append(f"(j) making {count:,} repositories in the registry's storage took {time.monotonic() - began:.1f} s")
    auth_block = regauth.cli("registry-config", "--listen", f"127.0.0.1:{regauth.port}")
    registry = Daemon("registry-catalog", ["docker-registry", "serve",
                                           str(registry_config(base / "registry", registry_port, auth_block))],
                      base / "registry.log")
    try:
        registry.wait_ready(lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401)
        regauth.start()
        url = regauth.url("")
        for n in (100, 1000):
            walk(url, auth, n)  # once to warm the credential cache and the registry's disk cache
            began = time.perf_counter()
            names, took = walk(url, auth, n)
            total = time.perf_counter() - began
            if names != count:
                raise RuntimeError(f"the reader saw {names} of {count} repositories at n={n}")
            r.add("j", f"catalog: {count:,} repositories, reader walks every page at n={n}",
                  f"{total:.2f} s for {len(took)} pages ({count / total:,.0f} names/s); per page p50 "
                  f"{statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")
        # The registry alone, with the token regauth would use: the part of each page that
        # is the registry reading its storage (it walks it from the start at every request).
        direct = f"http://127.0.0.1:{registry_port}"
        for n in (100, 1000):
            began = time.perf_counter()
            names, took = walk(direct, catalog_token(regauth), n)
            total = time.perf_counter() - began
            r.add("j", f"the same walk at n={n} from the registry itself (no filter, no regauth)",
                  f"{total:.2f} s for {len(took)} pages; per page p50 {statistics.median(took) * 1000:.0f} ms, "
                  f"max {max(took) * 1000:.0f} ms")
        # Anonymous: none of them is public, so one request reads the whole catalog to find none.
        began = time.perf_counter()
        names, took = walk(url, None, 100)
        r.add("j", f"catalog: anonymous caller, {count:,} private repositories (one request reads them all)",
              f"{(time.perf_counter() - began) * 1000:.0f} ms, {names} shown")
    finally:
        regauth.stop()
        registry.stop()
