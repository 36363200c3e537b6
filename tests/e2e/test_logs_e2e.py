"""JSON logs and request ids through the real stack (whose regauth runs with
``--log-format json``): logins, pushes and pulls with skopeo, podman and docker, the API,
and refresh tokens; then every line regauth wrote parses as JSON and holds none of the
secrets, tokens and refresh tokens issued. X-Request-ID goes through nginx both ways."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import urlencode

from api_helpers import api, create_user
from e2e_clients import Client, DockerClient
from e2e_stack import SERVICE, MakeRobot, RegauthCli, Stack
from e2e_support import HttpReply, http_get, http_request, wait_until

# Whatever the run issued, in any form: a JWT, or one of regauth's prefixed credentials.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
PREFIXED = re.compile(r"rg(?:ref|api|fed)_[A-Za-z0-9_-]{8,}")
NGINX_ID = re.compile(r"[0-9a-f]{32}")


def basic(name: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


def token(stack: Stack, name: str, secret: str, repository: str, headers: dict[str, str] | None = None) -> HttpReply:
    query = urlencode({"service": SERVICE, "scope": f"repository:{repository}:pull,push"})
    return http_get(f"http://{stack.host}/token?{query}", {**basic(name, secret), **(headers or {})})


def offline_token(stack: Stack, name: str, secret: str, repository: str) -> dict:
    """POST /token as docker logs in: the password grant with access_type=offline."""
    form = urlencode({"grant_type": "password", "username": name, "password": secret, "service": SERVICE,
                      "client_id": "e2e", "access_type": "offline", "scope": f"repository:{repository}:pull"})
    reply = http_request("POST", f"http://{stack.host}/token", {"Content-Type": "application/x-www-form-urlencoded"},
                         form.encode())
    assert reply.status == 200, reply
    return json.loads(reply.body)


def regauth_lines(stack: Stack) -> list[dict]:
    """Every whole line regauth wrote this session (one still being written is left for the
    next read), parsed; fails on a line that is not JSON."""
    text = stack.regauth_log.read_text()
    lines = []
    for number, line in enumerate(text[:text.rfind("\n") + 1].splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"regauth log line {number} is not JSON: {line[:300]!r}") from None
        assert isinstance(lines[-1], dict) and {"time", "level", "logger", "event"} <= lines[-1].keys(), line
    return lines


def access_lines_of(stack: Stack, request_ids: set[str]) -> list[dict]:
    """Every line regauth wrote, once the access line of each of ``request_ids`` is there
    (aiohttp writes it after the reply has gone); fails after 10 s."""

    def read() -> list[dict] | None:
        lines = regauth_lines(stack)
        logged = {line.get("request_id") for line in lines if line["logger"] == "aiohttp.access"}
        return lines if request_ids <= logged else None

    return wait_until(read, 10, what=f"the access lines of requests {sorted(request_ids)}", ignore=())


def test_no_secret_or_token_reaches_a_json_log_line(
    stack: Stack, namespace: str, make_robot: MakeRobot, new_client: Callable[[str], Client],
    regauth_cli: RegauthCli, unique,
) -> None:
    issued: set[str] = set()
    robot = make_robot(f"{namespace}+ci", (namespace, "write"))
    issued.add(robot.secret)
    for name in ("skopeo", "podman", "docker"):
        client = new_client(name)
        assert client.login(stack.host, robot.name, robot.secret).ok
        ref = stack.ref(f"{namespace}/{name}")
        assert client.push(ref).ok
        assert client.pull(ref).ok
        if isinstance(client, DockerClient):
            saved = json.loads((client.config_dir / "config.json").read_text())["auths"][stack.host]
            assert saved["identitytoken"].startswith("rgref_")
            issued.add(saved["identitytoken"])

    admin = create_user(regauth_cli, unique("user"), superuser=True)
    issued.add(admin.token)
    base_url = f"http://{stack.host}"
    status, made = api(base_url, "PUT", f"/api/v1/organization/{namespace}/robots/api", admin, {"description": "x"})
    assert status == 201, made
    issued.add(made["token"])
    status, regenerated = api(base_url, "POST", f"/api/v1/organization/{namespace}/robots/api/regenerate", admin)
    assert status == 200, regenerated
    issued.add(regenerated["token"])
    regauth_cli("grant", f"{namespace}+api", namespace, "write")
    reply = token(stack, f"{namespace}+api", regenerated["token"], f"{namespace}/app")
    assert reply.status == 200, reply
    issued.add(json.loads(reply.body)["token"])
    offline = offline_token(stack, robot.name, robot.secret, f"{namespace}/skopeo")
    issued.update((offline["refresh_token"], offline["access_token"]))
    refused = token(stack, robot.name, "not-the-secret-" + robot.secret[:4], f"{namespace}/app")
    assert refused.status == 401

    lines = access_lines_of(stack, {refused.headers["X-Request-ID"], reply.headers["X-Request-ID"]})
    text = stack.regauth_log.read_text()
    for value in issued:
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    assert not JWT.search(text) and not PREFIXED.search(text)
    # The token flows' fields: the refusal and the issuances name the robot and the outcome.
    outcomes = {(line.get("robot"), line.get("outcome"), line.get("status")) for line in lines
                if line["logger"] == "aiohttp.access" and line.get("path") == "/token"}
    assert (robot.name, "refused", 401) in outcomes and (robot.name, "issued", 200) in outcomes
    assert all(line["client"] == "127.0.0.1" for line in lines if line["logger"] == "aiohttp.access")


def nginx_access_log(stack: Stack) -> str:
    return (stack.data_dir.parent / "nginx" / "logs" / "access.log").read_text()


def test_a_request_id_goes_through_nginx_to_regauth_and_back(stack: Stack, namespace: str,
                                                             make_robot: MakeRobot) -> None:
    robot = make_robot(f"{namespace}+ci", (namespace, "read"))
    given = f"e2e-{namespace}"[:120]
    reply = token(stack, robot.name, robot.secret, f"{namespace}/app", {"X-Request-ID": given})
    assert reply.status == 200 and reply.headers.get_all("X-Request-ID") == [given]
    # Without one, or with one that is not sane, nginx's own id is used by all three.
    made = token(stack, robot.name, robot.secret, f"{namespace}/app").headers.get_all("X-Request-ID")
    replaced = token(stack, robot.name, robot.secret, f"{namespace}/app",
                     {"X-Request-ID": "not sane; " + given}).headers.get_all("X-Request-ID")
    assert len(made) == len(replaced) == 1 and NGINX_ID.fullmatch(made[0]) and NGINX_ID.fullmatch(replaced[0])
    registry = http_get(f"http://{stack.host}/v2/", {"X-Request-ID": given + "-v2"})
    assert registry.status == 401 and registry.headers.get_all("X-Request-ID") == [given + "-v2"]
    access_lines_of(stack, {given, made[0], replaced[0]})
    access = nginx_access_log(stack)
    for request_id in (given, made[0], replaced[0], given + "-v2"):
        assert f"request_id={request_id}" in access
