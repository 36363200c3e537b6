"""The credential lifecycle with the real clients, through nginx, against docker-registry 2.8:

- keyless robots: a CI job's OIDC token (from a local issuer) is exchanged for a one-hour
  credential, which skopeo, podman and docker log in with and push; once the federation
  setting is removed, the login is refused;
- docker with refresh tokens: after ``docker login`` config.json holds a refresh token and no
  secret; pulls keep working across a regauth restart; once the secret is regenerated, the
  next pull is refused with a message that says to log in again;
- rotation without an outage: during the grace period both secrets log in.

The keyless and rotation tests use the session's stack. The refresh token test needs to
restart regauth, so it builds a stack of its own whose regauth it can stop and start.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_clients import Client, DockerClient
from e2e_stack import (
    BCRYPT_COST,
    ISSUER,
    REPO_ROOT,
    SERVICE,
    START_TIMEOUT,
    MakeRobot,
    RegauthCli,
    Robot,
    Stack,
    regauth_env,
    registry_config,
    render_nginx_conf,
)
from e2e_support import Daemon, Result, free_port, http_status
from tests.lifecycle.oidc_issuer import IssuerThread, OIDCIssuer, SigningKey

SUBJECT = "repo:octo-org/app:ref:refs/heads/main"
AUDIENCE = "regauth-e2e"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def expect_ok(result: Result) -> Result:
    assert result.ok, result
    return result


# What the clients print for a refused login: skopeo and podman "invalid username/password",
# docker the ``details`` of regauth's 401 ("invalid username or secret: ...").
LOGIN_REFUSED = re.compile(r"invalid username|unauthorized|authentication required", re.IGNORECASE)


def expect_refused(result: Result) -> Result:
    assert not result.ok, f"expected a refusal\n{result}"
    assert LOGIN_REFUSED.search(result.output), f"refusal without a login message\n{result}"
    return result


def exchange(host: str, robot: str, oidc_token: str) -> tuple[int, dict]:
    """``GET /oauth2/federation/robot/token`` through nginx; returns (status, JSON body)."""
    basic = base64.b64encode(f"{robot}:{oidc_token}".encode()).decode()
    request = urllib.request.Request(
        f"http://{host}/oauth2/federation/robot/token", headers={"Authorization": f"Basic {basic}"}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def oidc_issuer() -> Iterator[OIDCIssuer]:
    """A CI system's OIDC issuer on 127.0.0.1, reachable by the regauth process."""
    with IssuerThread() as issuer:
        yield issuer


# --------------------------------------------------------------------------- keyless robots


@pytest.mark.parametrize("client_name", ["skopeo", "podman", "docker"])
def test_keyless_robot_logs_in_and_pushes(
    client_name: str, new_client: Callable[[str], Client], stack: Stack, namespace: str,
    regauth_cli: RegauthCli, oidc_issuer: OIDCIssuer,
) -> None:
    client = new_client(client_name)
    robot = f"{namespace}+ci"
    repo = f"{namespace}/app"
    regauth_cli("robot", "create", robot)
    regauth_cli("grant", robot, namespace, "write")
    setting = [{"issuer": oidc_issuer.url, "subject": SUBJECT, "audience": AUDIENCE}]
    assert regauth_cli("robot", "federation", robot, "--set", json.dumps(setting)) == setting

    status, body = exchange(stack.host, robot, oidc_issuer.mint(subject=SUBJECT, audience=AUDIENCE))
    assert status == 200, body
    assert body["expires_in"] == 3600
    credential = body["token"]

    expect_ok(client.login(stack.host, robot, credential))
    expect_ok(client.push(stack.ref(repo)))
    expect_ok(client.pull(stack.ref(repo)))

    # Removing the setting ends the credential at once: the next login is refused.
    assert regauth_cli("robot", "federation", robot, "--clear") == []
    client.logout(stack.host)
    expect_refused(client.login(stack.host, robot, credential))
    status, body = exchange(stack.host, robot, oidc_issuer.mint(subject=SUBJECT, audience=AUDIENCE))
    assert status == 401 and "no federation setting" in body["details"]


def test_forged_oidc_token_is_refused(stack: Stack, namespace: str, regauth_cli: RegauthCli,
                                      oidc_issuer: OIDCIssuer) -> None:
    robot = f"{namespace}+ci"
    regauth_cli("robot", "create", robot)
    regauth_cli("robot", "federation", robot, "--set", json.dumps([{"issuer": oidc_issuer.url, "subject": SUBJECT}]))
    impostor = SigningKey.generate("RS256", kid=oidc_issuer.keys[0].kid)
    status, body = exchange(stack.host, robot, oidc_issuer.mint(impostor, subject=SUBJECT))
    assert status == 401 and "signature" in body["details"]
    status, body = exchange(stack.host, robot, "not-a-jwt")
    assert status == 401 and "not a JWT" in body["details"]


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("client_name", ["skopeo", "docker"])
def test_rotation_with_grace_keeps_the_old_secret_working(
    client_name: str, new_client: Callable[[str], Client], stack: Stack, namespace: str,
    regauth_cli: RegauthCli, make_robot: MakeRobot,
) -> None:
    repo = f"{namespace}/app"
    robot = make_robot(f"{namespace}+ci", (namespace, "write"))
    old_client, new_client_ = new_client(client_name), new_client(client_name)
    expect_ok(old_client.login(stack.host, robot.name, robot.secret))
    expect_ok(old_client.push(stack.ref(repo)))

    rotated = regauth_cli("robot", "regenerate", robot.name, "--grace", "1h")
    assert [s["current"] for s in rotated["secrets"]] == [True, False]
    # The machine not yet updated keeps pushing; the updated one logs in with the new secret.
    expect_ok(old_client.push(stack.ref(repo, "v2")))
    expect_ok(new_client_.login(stack.host, robot.name, rotated["token"]))
    expect_ok(new_client_.pull(stack.ref(repo, "v2")))

    # Ending the overlap (a regeneration without grace) refuses the old secret.
    regauth_cli("robot", "regenerate", robot.name)
    expect_refused(old_client.login(stack.host, robot.name, robot.secret))


# --------------------------------------------------------------------------- docker refresh tokens


@dataclass
class RestartableStack:
    """A stack like the session's, whose regauth can be restarted."""

    stack: Stack
    cli: RegauthCli
    argv: list[str]
    base: Path
    regauth: Daemon

    def restart_regauth(self) -> None:
        self.regauth.stop()
        self.regauth = _start_regauth(self.argv, self.base, self.stack.regauth_port)


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (not found on PATH)")
    return path


def _start_regauth(argv: list[str], base: Path, port: int) -> Daemon:
    daemon = Daemon("regauth", argv, base / "regauth.log", env=regauth_env(), cwd=REPO_ROOT)
    daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, START_TIMEOUT)
    return daemon


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableStack]:
    registry_bin, nginx_bin = _require("docker-registry"), _require("nginx")
    base = tmp_path_factory.mktemp("restartable")
    nginx_port, registry_port, regauth_port = free_port(), free_port(), free_port()
    data_dir = base / "regauth"
    realm = f"http://127.0.0.1:{nginx_port}/token"
    cli = RegauthCli(data_dir, ("--service", SERVICE, "--issuer", ISSUER, "--realm", realm,
                                "--bcrypt-cost", str(BCRYPT_COST)))
    cli("init")
    daemons: list[Daemon] = []
    regauth: Daemon | None = None
    holder: RestartableStack | None = None
    try:
        (base / "registry").mkdir()
        config = registry_config(base / "registry", registry_port, cli.text("registry-config", "--listen", f"127.0.0.1:{regauth_port}"))
        registry = Daemon("docker-registry", [registry_bin, "serve", str(config)], base / "registry.log")
        daemons.append(registry)
        registry.wait_ready(lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401, START_TIMEOUT)
        argv = cli.argv("serve", "--listen", f"127.0.0.1:{regauth_port}")
        regauth = _start_regauth(argv, base, regauth_port)
        conf = render_nginx_conf(base / "nginx", nginx_port, registry_port, regauth_port)
        nginx = Daemon("nginx", [nginx_bin, "-p", str(base / "nginx"), "-c", str(conf), "-e", "stderr",
                                 "-g", "daemon off;"], base / "nginx.log")
        daemons.append(nginx)
        nginx.wait_ready(lambda: http_status(f"http://127.0.0.1:{nginx_port}/healthz") == 200, START_TIMEOUT)
        stack = Stack(nginx_port=nginx_port, registry_port=registry_port, regauth_port=regauth_port,
                      data_dir=data_dir, registry_log=registry.log_path, regauth_log=base / "regauth.log")
        holder = RestartableStack(stack, cli, argv, base, regauth)
        yield holder
    finally:
        # The holder's regauth once there is one (a test may have restarted it); before that,
        # the first, which must not outlive a stack that failed to start.
        running = holder.regauth if holder is not None else regauth
        if running is not None:
            running.stop()
        for daemon in reversed(daemons):
            daemon.stop()


def _posts_to_token(log: Path) -> int:
    return log.read_text(errors="replace").count('"POST /token')


def test_docker_keeps_a_refresh_token_and_survives_a_restart(
    restartable: RestartableStack, new_client: Callable[[str], Client],
) -> None:
    stack, cli = restartable.stack, restartable.cli
    cli("org", "create", "refresh")
    created = cli("robot", "create", "refresh+ci")
    robot = Robot(created["name"], created["token"])
    cli("grant", robot.name, "refresh", "write")
    docker = new_client("docker")
    assert isinstance(docker, DockerClient)
    ref = stack.ref("refresh/app")

    expect_ok(docker.login(stack.host, robot.name, robot.secret))
    # config.json keeps the refresh token (identitytoken) and no secret.
    saved = (docker.config_dir / "config.json").read_text()
    entry = json.loads(saved)["auths"][stack.host]
    assert entry.get("identitytoken", "").startswith("rgref_"), "docker stored no refresh token"
    assert robot.secret not in saved
    assert robot.secret not in base64.b64decode(entry.get("auth", "") or "").decode(errors="replace")

    posts = _posts_to_token(stack.regauth_log)
    expect_ok(docker.push(ref))
    assert _posts_to_token(stack.regauth_log) > posts, "docker did not use its refresh token"

    restartable.restart_regauth()
    expect_ok(docker.pull(ref))

    cli("robot", "regenerate", robot.name)
    refused = expect_refused(docker.pull(ref))
    assert "docker login" in refused.output and "again" in refused.output, refused
