"""Several replicas of regauth on one PostgreSQL database, behind the shipped nginx.conf with
its replicas upstream uncommented, for the end-to-end tests.

A replica is one ``regauth serve`` on its own port with its own data directory, standing in
for a host. The first replica's ``regauth init`` makes the signing key and certificate; they
are copied into the other data directories before those are initialised, as the README's
"Running several replicas" says. Topology, all on 127.0.0.1 with free ports::

    client --> nginx --+-- /v2/ --> docker-registry (trusts replica a's certificate)
                       +-- /token, /api/, /, ... --> replica a | b | c --> PostgreSQL
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import http.client
import http.cookies
import json
import os
import re
import shutil
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest

from e2e_stack import (
    IMAGE_TAG,
    ISSUER,
    NGINX_CONF,
    REPO_ROOT,
    SERVICE,
    START_TIMEOUT,
    RegauthCli,
    Robot,
    regauth_env,
    with_test_ports,
    regauth_settings,
    registry_config,
)
from e2e_support import Daemon, HttpReply, free_port, http_request, http_status

REPLICA_NAMES = ("a", "b", "c")
# The signing key and its certificate: what every replica's data directory must share.
SHARED_KEY_FILES = ("signing-key.pem", "signing-cert.pem")
# The sketch's placeholder addresses in nginx.conf, replaced by the replicas' own.
_SKETCH_SERVER = re.compile(r"10\.0\.0\.1\d:5001")


def require(binary: str) -> str:
    """Return the path of ``binary``; skip the test when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (not found on PATH)")
    return path


# --------------------------------------------------------------------------- nginx.conf


def replicas_nginx_text(nginx_port: int, registry_port: int, replica_ports: list[int]) -> str:
    """Return the shipped nginx.conf as its comments say to run several replicas: the live
    single-server ``upstream regauth`` replaced by the commented sketch (its placeholder
    servers by ``replica_ports``), the two commented ``proxy_`` lines of the server turned
    on, and the test's ports. Raises AssertionError when the file no longer holds them."""
    text = NGINX_CONF.read_text()
    live = re.search(r"^    upstream regauth \{\n.*?^    \}\n", text, re.MULTILINE | re.DOTALL)
    sketch = re.search(r"^    # upstream regauth \{\n(?:    #.*\n)*?    # \}\n", text, re.MULTILINE)
    assert live and sketch, f"{NGINX_CONF} no longer holds the live regauth upstream and its replicas sketch"
    servers = _SKETCH_SERVER.findall(sketch.group(0))
    assert len(servers) == len(replica_ports), f"the sketch has {len(servers)} servers, not {len(replica_ports)}"
    ports = iter(replica_ports)
    block = "".join(line[:4] + line[6:] + "\n" for line in sketch.group(0).splitlines())
    block = _SKETCH_SERVER.sub(lambda _: f"127.0.0.1:{next(ports)}", block)
    text = text[:live.start()] + block + text[live.end():]
    for directive in ("proxy_next_upstream error timeout http_502;", "proxy_connect_timeout 2s;"):
        commented = f"        # {directive}\n"
        assert commented in text, f"{NGINX_CONF} no longer holds the commented `{directive}`"
        text = text.replace(commented, f"        {directive}\n", 1)
    # Each address whole: a replica's port put in above (50007, say) is not taken for 5000.
    return with_test_ports(text, {8080: nginx_port, 5000: registry_port})


def write_nginx_conf(prefix: Path, text: str) -> Path:
    """Write ``text`` as ``prefix``/nginx.conf with the logs/ and temp/ directories it expects."""
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


# --------------------------------------------------------------------------- replicas


@dataclass
class Replica:
    """One ``regauth serve`` on its own port and data directory."""

    name: str
    port: int
    cli: RegauthCli
    log_path: Path
    daemon: Daemon | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.cli.data_dir

    @property
    def running(self) -> bool:
        return self.daemon is not None and self.daemon.proc.poll() is None

    def launch(self) -> None:
        """Start ``regauth serve`` without waiting for it (see ``wait_ready``)."""
        self.daemon = Daemon(
            f"regauth {self.name}", self.cli.argv("serve", "--listen", f"127.0.0.1:{self.port}"), self.log_path,
            env=regauth_env(), cwd=REPO_ROOT,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Return once ``/readyz`` answers 200; raises RuntimeError (with the log) when the
        process exits or ``timeout`` passes first."""
        assert self.daemon is not None
        self.daemon.wait_ready(lambda: http_status(self.url + "/readyz") == 200, timeout)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def freeze(self) -> None:
        """SIGSTOP the replica's process group: it accepts nothing more and answers nothing
        in flight, as a host that hangs."""
        assert self.daemon is not None
        os.killpg(self.daemon.proc.pid, signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL the replica's process group (stopped or not), as a host that dies would;
        returns once it is gone."""
        assert self.daemon is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.daemon.proc.pid, signal.SIGKILL)
        self.daemon.proc.wait(timeout=10)
        self.daemon.stop()  # closes the log

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class ReplicaStack:
    """PostgreSQL, the replicas, nginx in front of them and (optionally) the registry."""

    database_url: str
    replicas: list[Replica]
    nginx_port: int
    registry_port: int
    base: Path

    @property
    def host(self) -> str:
        """What clients log in to and prefix image names with: nginx's host:port."""
        return f"127.0.0.1:{self.nginx_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str, tag: str = IMAGE_TAG) -> str:
        return f"{self.host}/{repository}:{tag}"

    @property
    def cli(self) -> RegauthCli:
        """The CLI of the first replica (every replica's works on the same database)."""
        return self.replicas[0].cli

    def by_name(self, name: str) -> Replica:
        return next(replica for replica in self.replicas if replica.name == name)

    def ensure_running(self) -> None:
        """Start again any replica a test killed, and wait until every one is ready."""
        stopped = [replica for replica in self.replicas if not replica.running]
        for replica in stopped:
            replica.launch()
        for replica in stopped:
            replica.wait_ready()

    def log_tails(self) -> str:
        return "\n".join(f"--- replica {r.name} log\n{r.log_tail()}" for r in self.replicas)


def init_replicas(base: Path, settings: tuple[str, ...], names=REPLICA_NAMES) -> list[Replica]:
    """Initialise one data directory per replica under ``base``: the first with ``regauth
    init`` (key, certificate, database schema), the others with the first one's key and
    certificate copied in before their own ``regauth init``. Returns the replicas, not
    started, on free ports. Raises AssertionError when a replica ends up with another key."""
    replicas = [
        Replica(name, free_port(), RegauthCli(base / name, settings), base / f"regauth-{name}.log") for name in names
    ]
    first, others = replicas[0], replicas[1:]
    made = first.cli("init")
    assert made["created"] is True, made
    for replica in others:
        replica.data_dir.mkdir(mode=0o700)
        for name in SHARED_KEY_FILES:
            shutil.copy2(first.data_dir / name, replica.data_dir / name)  # keeps the key's mode 0600
    with concurrent.futures.ThreadPoolExecutor(len(others)) as pool:
        for replica, result in zip(others, pool.map(lambda replica: replica.cli("init"), others), strict=True):
            assert (result["created"], result["kid"]) == (False, made["kid"]), (replica.name, result)
    return replicas


@contextlib.contextmanager
def replica_stack(
    base: Path, database_url: str, *, registry: bool = True, extra_settings: tuple[str, ...] = (),
) -> Iterator[ReplicaStack]:
    """Run three replicas on ``database_url``, nginx in front of them with the shipped
    nginx.conf's replicas upstream, and with ``registry`` Debian's docker-registry trusting
    the shared certificate; yields the stack and stops every process at the end.

    ``extra_settings`` are flags for every regauth command, after the suite's own (a later
    flag wins)."""
    nginx_bin = require("nginx")
    registry_bin = require("docker-registry") if registry else None
    nginx_port, registry_port = free_port(), free_port()
    realm = f"http://127.0.0.1:{nginx_port}/token"
    settings = (*regauth_settings(realm), "--database", database_url, *extra_settings)
    replicas = init_replicas(base, settings)
    daemons: list[Daemon] = []
    try:
        if registry_bin is not None:
            # The registry posts its events to one replica's own address, as to a single regauth.
            auth_block = replicas[0].cli.text("registry-config", "--listen", f"127.0.0.1:{replicas[0].port}")
            root = base / "registry"
            root.mkdir()
            config = registry_config(root, registry_port, auth_block)
            daemon = Daemon("docker-registry", [registry_bin, "serve", str(config)], base / "registry.log")
            daemons.append(daemon)
            daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401, START_TIMEOUT)
        for replica in replicas:
            replica.launch()
        for replica in replicas:
            replica.wait_ready()
        prefix = base / "nginx"
        conf = write_nginx_conf(prefix, replicas_nginx_text(nginx_port, registry_port, [r.port for r in replicas]))
        nginx = Daemon("nginx", [nginx_bin, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
                       base / "nginx.log")
        daemons.append(nginx)
        nginx.wait_ready(lambda: http_status(f"http://127.0.0.1:{nginx_port}/readyz") == 200, START_TIMEOUT)
        yield ReplicaStack(database_url, replicas, nginx_port, registry_port, base)
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
        for replica in replicas:
            replica.stop()


# --------------------------------------------------------------------------- requests


def basic(robot: Robot, secret: str | None = None) -> dict[str, str]:
    """The Basic ``Authorization`` header of ``robot`` (with ``secret`` instead of its own)."""
    encoded = base64.b64encode(f"{robot.name}:{secret or robot.secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def token_request(base_url: str, robot: Robot, *scopes: str, secret: str | None = None,
                  timeout: float = 10.0) -> HttpReply:
    """``GET /token`` at ``base_url`` as ``robot`` for ``scopes`` (none: what a login sends)."""
    query = urlencode([("service", SERVICE), ("account", robot.name), *(("scope", scope) for scope in scopes)])
    return http_request("GET", f"{base_url}/token?{query}", basic(robot, secret), timeout=timeout)


def granted(reply: HttpReply, jwks: Mapping) -> dict[str, list[str]]:
    """Return the actions per repository of the token in ``reply``, after checking its
    signature against ``jwks`` (the replicas' shared key set)."""
    assert reply.status == 200, (reply.status, reply.body[:300])
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(json.loads(reply.body)["token"], key, algorithms=["ES256", "RS256"], audience=SERVICE,
                        issuer=ISSUER)
    return {entry["name"]: entry["actions"] for entry in claims["access"]}


def source_request(source: str, port: int, method: str, path: str, headers: Mapping[str, str] | None = None,
                   timeout: float = 10.0) -> HttpReply:
    """Send ``method path`` to 127.0.0.1:``port`` from the loopback address ``source`` (e.g.
    127.0.0.2: another client address, without leaving the machine)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, headers=dict(headers or {}))
        response = conn.getresponse()
        return HttpReply(response.status, response.headers, response.read())
    finally:
        conn.close()


class Browser:
    """A cookie jar for the web UI, sent to whichever replica is asked: what a browser holds
    when a balancer sends its requests to one replica after another."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, base_url: str, method: str, path: str, form: Mapping[str, str] | None = None) -> HttpReply:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        reply = http_request(method, base_url + path, headers, body)
        for header in reply.headers.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return reply


def csrf_token(page: bytes) -> str:
    """Return the first CSRF token a UI page carries in a form."""
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1).decode()
