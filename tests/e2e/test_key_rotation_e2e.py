"""Signing-key rotation end to end, with no failed pull or push.

Two docker-registry processes (one storage directory, one ``http.secret``, different ports)
behind one nginx upstream, regauth in front of them as usual; skopeo and docker push and pull
in a loop in background threads while the procedure of docs/key-rotation.md runs: ``keys add``
-> rolling restart of the registries -> ``keys activate`` -> wait -> ``keys retire`` -> rolling
restart. nginx routes around the registry that restarts (``max_fails``,
``proxy_next_upstream``); each registry drains its requests on SIGTERM (``draintimeout``).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import pytest

from e2e_clients import Client, DockerClient, SkopeoClient
from e2e_stack import (
    REPO_ROOT,
    START_TIMEOUT,
    RegauthCli,
    RegauthCliError,
    Robot,
    regauth_env,
    regauth_settings,
    registry_config,
    render_nginx_conf,
)
from e2e_support import Daemon, free_port, http_status, wait_until
from replicas import require, token_request

pytestmark = pytest.mark.e2e

# The shortest token lifetime regauth takes: retire is allowed 60 + 60 + 5 s after activate.
TOKEN_TTL = 60
# Bounds of each client's loop: it stops at the end of the test, or at these.
MAX_ROUNDS = 400
MAX_LOOP_SECONDS = 420
# A pause between rounds: the clients keep coming through the whole procedure, not as fast
# as they can (skopeo would do a round in half a second).
ROUND_PAUSE = 0.5
# How long a registry stays down in a rolling restart: long enough for nginx to meet it.
DOWN_SECONDS = 2.0
# nginx leaves a server that refused a connection alone this long (``fail_timeout``): the
# next registry restarts only once nginx sends to the restarted one again.
FAIL_TIMEOUT = 2
# A second registry in the shipped config's upstream; the first keeps its 127.0.0.1:5000.
SECOND_REGISTRY = "127.0.0.1:SECOND_REGISTRY_PORT"


def two_registries_nginx_text() -> str:
    """The shipped nginx.conf with a second server in ``upstream registry`` and /v2/ passed
    to the next server when one refuses or fails, as a rolling restart needs."""
    text = (REPO_ROOT / "nginx.conf").read_text()
    one = "    upstream registry {\n        server 127.0.0.1:5000;\n"
    location = "        location /v2/ {\n            proxy_pass http://registry;\n"
    assert one in text and location in text, "nginx.conf no longer has the registry upstream this test extends"
    text = text.replace(one, (
        "    upstream registry {\n"
        f"        server 127.0.0.1:5000 max_fails=1 fail_timeout={FAIL_TIMEOUT}s;\n"
        f"        server {SECOND_REGISTRY} max_fails=1 fail_timeout={FAIL_TIMEOUT}s;\n"))
    return text.replace(location, location + (
        "            proxy_next_upstream error timeout http_502;\n"
        "            proxy_connect_timeout 2s;\n"))


@dataclass
class Registry:
    """One docker-registry process of the pair, restartable with the same config."""

    name: str
    port: int
    config: Path
    log: Path
    binary: str
    daemon: Daemon | None = field(default=None, repr=False)

    def start(self) -> None:
        self.daemon = Daemon(f"docker-registry {self.name}", [self.binary, "serve", str(self.config)], self.log)
        self.daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{self.port}/v2/") == 401, START_TIMEOUT)

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop(timeout=30)

    def served_since_start(self) -> int:
        """Requests this registry answered with a 2xx since it last started (its log)."""
        text = self.log.read_text(errors="replace")
        since = text[text.rfind("listening on"):]
        return len(re.findall(r'msg="response completed".*http\.response\.status=20\d', since))

    def restart(self) -> None:
        """SIGTERM (the registry drains what it serves), wait for the exit, stay down
        DOWN_SECONDS as a host's restart would (the clients keep coming), start again."""
        self.stop()
        time.sleep(DOWN_SECONDS)
        self.start()


@dataclass
class RotationStack:
    cli: RegauthCli
    host: str
    regauth_url: str
    registries: list[Registry]


def registry_pair_configs(base: Path, auth_block: str, ports: list[int]) -> list[Path]:
    """Write one config per registry: the suite's config on one shared storage directory,
    with a shared ``http.secret`` (an upload begun on one is finished on the other) and a
    drain time on SIGTERM."""
    shared = base / "registry"
    shared.mkdir()
    first = registry_config(shared, ports[0], auth_block).read_text()
    addr = f"  addr: 127.0.0.1:{ports[0]}\n"
    assert addr in first
    configs = []
    for index, port in enumerate(ports):
        text = first.replace(addr, f"  addr: 127.0.0.1:{port}\n  secret: rotation-e2e-shared\n  draintimeout: 20s\n")
        path = base / f"registry-{index}.yml"
        path.write_text(text)
        configs.append(path)
    return configs


@contextlib.contextmanager
def rotation_stack(base: Path) -> Iterator[RotationStack]:
    """regauth (SQLite, one process, tokens valid TOKEN_TTL s), two registries and nginx."""
    registry_bin, nginx_bin = require("docker-registry"), require("nginx")
    nginx_port, regauth_port = free_port(), free_port()
    ports = [free_port(), free_port()]
    cli = RegauthCli(base / "regauth", (*regauth_settings(f"http://127.0.0.1:{nginx_port}/token"),
                                        "--token-ttl", str(TOKEN_TTL)))
    cli("init")
    auth_block = cli.text("registry-config", "--listen", f"127.0.0.1:{regauth_port}")
    configs = registry_pair_configs(base, auth_block, ports)
    registries = [Registry(name, port, config, base / f"registry-{name}.log", registry_bin)
                  for name, port, config in zip("ab", ports, configs, strict=True)]
    daemons: list[Daemon] = []
    try:
        for registry in registries:
            registry.start()
        regauth = Daemon("regauth", cli.argv("serve", "--listen", f"127.0.0.1:{regauth_port}"), base / "regauth.log",
                         env=regauth_env(), cwd=REPO_ROOT)
        daemons.append(regauth)
        regauth.wait_ready(lambda: http_status(f"http://127.0.0.1:{regauth_port}/healthz") == 200, START_TIMEOUT)
        prefix = base / "nginx"
        conf = render_nginx_conf(prefix, nginx_port, ports[0], regauth_port, two_registries_nginx_text())
        conf.write_text(conf.read_text().replace(SECOND_REGISTRY, f"127.0.0.1:{ports[1]}"))
        nginx = Daemon("nginx", [nginx_bin, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
                       base / "nginx.log")
        daemons.append(nginx)
        nginx.wait_ready(lambda: http_status(f"http://127.0.0.1:{nginx_port}/v2/") == 401, START_TIMEOUT)
        yield RotationStack(cli, f"127.0.0.1:{nginx_port}", f"http://127.0.0.1:{regauth_port}", registries)
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
        for registry in registries:
            registry.stop()


class ClientLoop(threading.Thread):
    """Push then pull with one client, over and over, until stopped (or MAX_ROUNDS, or
    MAX_LOOP_SECONDS); every failure is kept with its output."""

    def __init__(self, client: Client, host: str, repository: str) -> None:
        super().__init__(name=f"loop-{client.name}", daemon=True)
        self.client, self.host, self.repository = client, host, repository
        self.stopping = threading.Event()
        self.successes = 0
        self.failures: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + MAX_LOOP_SECONDS
        for round_ in range(MAX_ROUNDS):
            if self.stopping.is_set() or time.monotonic() > deadline:
                return
            ref = f"{self.host}/{self.repository}:r{round_ % 4}"
            for operation in (self.client.push, self.client.pull):
                result = operation(ref)
                if result.ok:
                    self.successes += 1
                else:
                    self.failures.append(f"{operation.__name__} {ref} at {time.strftime('%X')}: {result}")
            self.stopping.wait(ROUND_PAUSE)

    def wait_for_successes(self, more: int, timeout: float = 120) -> None:
        """Return once ``more`` further operations succeeded; fails after ``timeout``."""
        target = self.successes + more
        wait_until(lambda: self.successes >= target or not self.is_alive(), timeout, interval=0.2,
                   what=f"{more} more {self.client.name} operations")
        assert self.successes >= target, f"{self.client.name} loop ended early: {self.failures[-3:]}"


def signing_kid(stack: RotationStack, robot: Robot, repository: str) -> str:
    reply = token_request(stack.regauth_url, robot, f"repository:{repository}:pull")
    assert reply.status == 200, reply.body[:300]
    return jwt.get_unverified_header(json.loads(reply.body)["token"])["kid"]


def rolling_restart(stack: RotationStack, loops: list[ClientLoop]) -> None:
    """Restart the registries one at a time, the next only once nginx sends to the restarted
    one again and the clients got work done meanwhile (with both down at once, nginx has
    no live upstream and answers 502)."""
    for registry in stack.registries:
        registry.restart()
        time.sleep(FAIL_TIMEOUT + 0.5)  # until nginx tries the restarted registry again
        for loop in loops:
            loop.wait_for_successes(1)


def test_a_key_rotation_with_rolling_registry_restarts_fails_no_pull_or_push(tmp_path, new_client):
    skopeo, docker = new_client("skopeo"), new_client("docker")
    assert isinstance(skopeo, SkopeoClient) and isinstance(docker, DockerClient)
    with rotation_stack(tmp_path) as stack:
        stack.cli("org", "create", "rot")
        created = stack.cli("robot", "create", "rot+ci")
        stack.cli("grant", "rot+ci", "rot", "write")
        robot = Robot("rot+ci", created["token"])
        for client in (skopeo, docker):
            assert client.login(stack.host, robot.name, robot.secret).ok
        first_kid = signing_kid(stack, robot, "rot/skopeo")
        loops = [ClientLoop(skopeo, stack.host, "rot/skopeo"), ClientLoop(docker, stack.host, "rot/docker")]
        for loop in loops:
            loop.start()
        try:
            for loop in loops:
                loop.wait_for_successes(2)

            staged = stack.cli("keys", "add")
            assert staged["state"] == "next"
            rolling_restart(stack, loops)  # the registries now trust both keys

            activated = stack.cli("keys", "activate")
            assert activated["kid"] == staged["kid"] != first_kid
            wait_until(lambda: signing_kid(stack, robot, "rot/skopeo") == staged["kid"], 10, interval=0.2,
                       what="regauth signing with the new key")
            for loop in loops:
                loop.wait_for_successes(2)  # tokens of the new key work at both registries

            refused = stack.cli.run("keys", "retire")
            assert refused.returncode == 1 and "retire is allowed from" in refused.stderr

            def retired() -> bool:
                try:
                    return bool(stack.cli("keys", "retire")["retired"])
                except RegauthCliError:
                    return False

            wait_until(retired, TOKEN_TTL + 60 + 30, interval=2, what="keys retire being allowed")
            listed = stack.cli("keys", "list", "--json")["keys"]
            assert [(key["state"], key["kid"]) for key in listed] == [("active", staged["kid"])]
            rolling_restart(stack, loops)  # the registries no longer trust the first key
            for loop in loops:
                loop.wait_for_successes(2)
        finally:
            for loop in loops:
                loop.stopping.set()
            for loop in loops:
                loop.join(timeout=180)
        assert signing_kid(stack, robot, "rot/docker") == staged["kid"]
        # Both registries served the clients once they trusted the new key alone, and nginx
        # did route around a registry that was down.
        assert all(registry.served_since_start() > 0 for registry in stack.registries)
        assert "connect() failed" in (tmp_path / "nginx" / "logs" / "error.log").read_text()
        for loop in loops:
            assert not loop.is_alive()
            assert loop.failures == [], loop.failures
            assert loop.successes >= 10
