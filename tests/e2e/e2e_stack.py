"""The pieces of the end-to-end stack that are not fixtures: the regauth CLI wrapper, the
rendered nginx and registry configs, robots, and the seeder that prepares repositories."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2e_clients import SkopeoClient
from e2e_support import Result, run

REPO_ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO_ROOT / "nginx.conf"

SERVICE = "regauth-test"
ISSUER = "regauth-test-issuer"
# The lowest cost bcrypt accepts: hashing stays real but costs about a millisecond.
BCRYPT_COST = 4
START_TIMEOUT = 30.0
IMAGE_TAG = "v1"


# Failed logins the shared stack allows one address a minute: every client of the suite
# comes from 127.0.0.1, and its tests fail dozens of logins a minute on purpose. The
# per-robot limit stays the default (each test's robots are its own), and
# test_failed_logins_are_throttled_as_each_client_shows_it uses it.
ADDRESS_FAILURES = "1000/minute"


def regauth_settings(realm: str) -> tuple[str, ...]:
    """The settings flags every regauth command of the tests gets (the test OIDC issuer
    serves plain http on 127.0.0.1, which only allow_private_issuers permits)."""
    return ("--service", SERVICE, "--issuer", ISSUER, "--realm", realm,
            "--bcrypt-cost", str(BCRYPT_COST), "--allow-private-issuers", "true",
            "--login-failures-per-address", ADDRESS_FAILURES)


def regauth_env() -> dict[str, str | None]:
    """Environment for regauth processes: this checkout importable, and no ``REGAUTH_*``
    settings inherited from the caller's shell (the tests pass every setting as a flag)."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("REGAUTH_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


# --------------------------------------------------------------------------- regauth CLI


class RegauthCliError(AssertionError):
    """Raised when a regauth command exits non-zero; carries its stderr (never stdout,
    which may hold a secret)."""


@dataclass(frozen=True)
class RegauthCli:
    """Runs ``python -m gateway ARGS --data-dir D <settings>`` against the test data dir."""

    data_dir: Path
    settings: tuple[str, ...]

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gateway", *args, "--data-dir", str(self.data_dir),
                *self.settings]

    def run(self, *args: str) -> Result:
        """Run a command and return its ``Result`` whatever its exit status."""
        return run(self.argv(*args), env=regauth_env(), cwd=REPO_ROOT, timeout=60)

    def text(self, *args: str) -> str:
        """Run a command that prints plain text; return stdout. Raises RegauthCliError."""
        result = self.run(*args)
        if not result.ok:
            raise RegauthCliError(
                f"regauth {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def __call__(self, *args: str) -> dict:
        """Run a command and return its JSON output. Raises RegauthCliError on failure."""
        out = self.text(*args)
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            raise RegauthCliError(f"regauth {' '.join(args)} printed no JSON") from None


# --------------------------------------------------------------------------- the stack


@dataclass(frozen=True)
class Stack:
    """Addresses of the running stack."""

    nginx_port: int
    registry_port: int
    regauth_port: int
    data_dir: Path
    registry_log: Path
    regauth_log: Path

    @property
    def host(self) -> str:
        """What clients log in to and prefix image names with: nginx's host:port."""
        return f"127.0.0.1:{self.nginx_port}"

    @property
    def realm(self) -> str:
        return f"http://{self.host}/token"

    def ref(self, repository: str, tag: str = IMAGE_TAG) -> str:
        return f"{self.host}/{repository}:{tag}"


def with_test_ports(text: str, ports: dict[int, int]) -> str:
    """Return the shipped nginx.conf ``text`` with each loopback address of a shipped port
    (the keys of ``ports``: 127.0.0.1:8080, say) replaced by its test port, all in one pass
    and each address whole, so that no test port is taken for a shipped one (50009 begins
    like 5000). Raises AssertionError when ``text`` lacks one of those addresses."""
    shipped = re.compile(r"127\.0\.0\.1:(" + "|".join(map(str, ports)) + r")(?!\d)")
    missing = set(ports) - {int(port) for port in shipped.findall(text)}
    assert not missing, f"{NGINX_CONF} no longer contains " + ", ".join(f"127.0.0.1:{p}" for p in sorted(missing))
    return shipped.sub(lambda match: f"127.0.0.1:{ports[int(match.group(1))]}", text)


def render_nginx_conf(
    prefix: Path, nginx_port: int, registry_port: int, regauth_port: int, text: str | None = None
) -> Path:
    """Write the shipped nginx.conf (or ``text``, a variant of it) with the test's ports into
    ``prefix``, with the logs/ and temp/ directories it expects; return its path.

    Raises AssertionError when the file lacks one of the addresses it must carry.
    """
    if text is None:
        text = NGINX_CONF.read_text()
    text = with_test_ports(text, {8080: nginx_port, 5000: registry_port, 5001: regauth_port})
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


def registry_config(root: Path, port: int, auth_block: str) -> Path:
    """Write a docker-registry config with filesystem storage under ``root`` and the
    ``auth:`` block printed by ``regauth registry-config``; return its path."""
    assert auth_block.startswith("auth:"), f"unexpected registry-config output: {auth_block!r}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n"
        "  level: info\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {root / 'storage'}\n"
        "  delete:\n"
        "    enabled: true\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
        + auth_block.rstrip("\n")
        + "\n"
    )
    return config


@dataclass(frozen=True)
class Robot:
    """A robot account and its secret (kept out of reprs and assertion messages)."""

    name: str
    secret: str = field(repr=False)


MakeRobot = Callable[..., Robot]


class Seeder:
    """Prepares and inspects repositories as ``NS+seeder``, a robot with write on the whole
    namespace, through its own skopeo client: the view of the registry that does not depend
    on the client under test."""

    def __init__(self, stack: Stack, make_robot: MakeRobot, skopeo: SkopeoClient) -> None:
        self.stack = stack
        self.make_robot = make_robot
        self.skopeo = skopeo
        self.robots: dict[str, Robot] = {}

    def _login(self, repository: str) -> None:
        ns = repository.split("/", 1)[0]
        if ns not in self.robots:
            self.robots[ns] = self.make_robot(f"{ns}+seeder", (ns, "write"))
        robot = self.robots[ns]
        # The auth file holds one login per host: log in again in case another namespace's
        # seeder was the last one.
        login = self.skopeo.login(self.stack.host, robot.name, robot.secret)
        assert login.ok, login

    def push(self, repository: str, tag: str = IMAGE_TAG) -> str:
        """Push the test image to ``repository:tag``; return the reference."""
        self._login(repository)
        ref = self.stack.ref(repository, tag)
        pushed = self.skopeo.push(ref)
        assert pushed.ok, pushed
        return ref

    def tags(self, repository: str) -> list[str]:
        """Return the tags of ``repository`` ([] when the registry does not know it)."""
        self._login(repository)
        listed = self.skopeo.list_tags(self.stack.host, repository)
        if not listed.ok:
            # NAME_UNKNOWN, which skopeo 1.9 reports only as the bare status.
            assert re.search(r"name unknown|404", listed.output, re.IGNORECASE), listed
            return []
        return json.loads(listed.stdout)["Tags"] or []
