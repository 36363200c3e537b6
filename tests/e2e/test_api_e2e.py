"""The management API against a live ``regauth serve`` behind the shipped nginx.conf:

- the two ``curl`` commands of Quay's documentation for regenerating a robot's token, run
  verbatim, answer exactly the keys of Quay's robot object;
- a robot created and granted through the API pushes with skopeo; after a regenerate
  through the API the old secret no longer logs in and the new one pushes; the audit log
  shows the regeneration, the refused login and the client's address.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest

from api_helpers import ApiUser, api, create_user, curl
from e2e_clients import Client
from e2e_stack import RegauthCli, Stack
from e2e_support import Result

QUAY_REGENERATE_KEYS = {"name", "created", "last_accessed", "description", "token"}
RFC2822 = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000")
SECRET = re.compile(r"[A-Z0-9]{64}")
# What skopeo prints when the token service refuses a login or a push.
REFUSED = re.compile(r"invalid username|unauthorized|denied|authentication required", re.IGNORECASE)

@pytest.fixture
def base_url(stack: Stack) -> str:
    """Where clients reach the API: nginx, as in production."""
    return f"http://{stack.host}"


@pytest.fixture
def admin(regauth_cli: RegauthCli, unique) -> ApiUser:
    """A fresh user with an API token, made with the CLI."""
    return create_user(regauth_cli, unique("user"))


def expect_ok(result: Result) -> Result:
    assert result.ok, result
    return result


def expect_refused(result: Result) -> Result:
    assert not result.ok, f"expected a refusal\n{result}"
    assert REFUSED.search(result.output), f"refusal without a message\n{result}"
    return result


def create_org_with_robot(base_url: str, admin: ApiUser, org: str, short: str) -> str:
    """Create organization ``org`` and robot ``org+short`` through the API; return its secret."""
    assert api(base_url, "POST", "/api/v1/organization/", admin, {"name": org}) == (201, "Created")
    status, robot = api(base_url, "PUT", f"/api/v1/organization/{org}/robots/{short}", admin,
                        {"description": "made through the API"})
    assert status == 201, robot
    return robot["token"]


def test_quay_docs_curl_regenerates_an_organization_robot(base_url, admin, unique):
    org, short = unique("org"), "builder"
    old = create_org_with_robot(base_url, admin, org, short)

    # Verbatim from Quay's documentation, placeholders filled in.
    result = expect_ok(curl(
        "-X", "POST", "-H", f"Authorization: Bearer {admin.token}",
        f"{base_url}/api/v1/organization/{org}/robots/{short}/regenerate",
    ))

    body = json.loads(result.stdout)
    assert set(body) == QUAY_REGENERATE_KEYS
    assert body["name"] == f"{org}+{short}"
    assert RFC2822.fullmatch(body["created"])
    assert body["last_accessed"] is None
    assert body["description"] == "made through the API"
    assert SECRET.fullmatch(body["token"]) and body["token"] != old


def test_quay_docs_curl_regenerates_a_users_robot(base_url, admin):
    status, robot = api(base_url, "PUT", "/api/v1/user/robots/deployer", admin)
    assert status == 201, robot

    result = expect_ok(curl(
        "-X", "POST", "-H", f"Authorization: Bearer {admin.token}",
        f"{base_url}/api/v1/user/robots/deployer/regenerate",
    ))

    body = json.loads(result.stdout)
    assert set(body) == QUAY_REGENERATE_KEYS
    assert body["name"] == f"{admin.name}+deployer"
    assert SECRET.fullmatch(body["token"]) and body["token"] != robot["token"]


def test_curl_without_a_token_gets_quays_401(base_url):
    result = expect_ok(curl("-X", "POST", f"{base_url}/api/v1/user/robots/deployer/regenerate"))
    body = json.loads(result.stdout)
    assert body["status"] == 401 and body["error_type"] == "invalid_token"
    assert set(body) == {"detail", "error_message", "error_type", "title", "type", "status"}


def test_a_robot_made_through_the_api_pushes_and_a_regenerate_replaces_its_secret(
    stack: Stack, base_url: str, admin: ApiUser, unique, new_client: Callable[[str], Client],
):
    org = unique("org")
    old = create_org_with_robot(base_url, admin, org, "ci")
    repo = f"{org}/app"
    status, created = api(base_url, "POST", "/api/v1/repository", admin,
                          {"namespace": org, "repository": "app", "visibility": "private", "description": ""})
    assert status == 201, created
    status, granted = api(base_url, "PUT", f"/api/v1/repository/{repo}/permissions/user/{org}+ci", admin,
                          {"role": "write"})
    assert (status, granted["role"]) == (200, "write"), granted

    pusher = new_client("skopeo")
    expect_ok(pusher.login(stack.host, f"{org}+ci", old))
    expect_ok(pusher.push(stack.ref(repo)))

    status, regenerated = api(base_url, "POST", f"/api/v1/organization/{org}/robots/ci/regenerate", admin)
    assert status == 200, regenerated
    new = regenerated["token"]

    # The client still holding the old secret is refused at its next token request ...
    expect_refused(pusher.push(stack.ref(repo, "v2")))
    # ... and a fresh login with the old secret fails.
    expect_refused(new_client("skopeo").login(stack.host, f"{org}+ci", old))
    fresh = new_client("skopeo")
    expect_ok(fresh.login(stack.host, f"{org}+ci", new))
    expect_ok(fresh.push(stack.ref(repo, "v2")))
    expect_ok(fresh.pull(stack.ref(repo, "v2")))

    status, logs = api(base_url, "GET", f"/api/v1/organization/{org}/logs", admin)
    assert status == 200, logs
    kinds = [entry["kind"] for entry in logs["logs"]]
    assert "regenerate_robot_token" in kinds and "login_failure" in kinds and "issue_token" in kinds
    failure = next(entry for entry in logs["logs"] if entry["kind"] == "login_failure")
    assert failure["performer"]["name"] == f"{org}+ci" and failure["performer"]["is_robot"] is True
    # nginx (a trusted proxy) passed the client's address on in X-Forwarded-For.
    assert failure["ip"] == "127.0.0.1"
    issued = [entry for entry in logs["logs"] if entry["kind"] == "issue_token"]
    assert any({"type": "repository", "name": repo, "actions": ["pull", "push"]} in entry["metadata"]["access"]
               for entry in issued)
    assert old not in json.dumps(logs) and new not in json.dumps(logs)


def test_pushes_and_pulls_reach_the_audit_log_from_the_registry(
    stack: Stack, base_url: str, admin: ApiUser, unique, new_client: Callable[[str], Client],
):
    """The registry's own notifications (set up by ``regauth registry-config``) record what it
    served: push_repo and pull_repo by the robot whose token it checked, with the tag."""
    org = unique("org")
    secret = create_org_with_robot(base_url, admin, org, "ci")
    status, granted = api(base_url, "PUT", f"/api/v1/namespace/{org}/permissions/user/{org}+ci", admin,
                          {"role": "write"})
    assert status == 200, granted
    client = new_client("skopeo")
    expect_ok(client.login(stack.host, f"{org}+ci", secret))
    expect_ok(client.push(stack.ref(f"{org}/app", "v7")))
    expect_ok(client.pull(stack.ref(f"{org}/app", "v7")))

    # The registry sends its events a moment later, on a queue of its own.
    deadline = time.monotonic() + 30
    while True:
        status, logs = api(base_url, "GET", f"/api/v1/organization/{org}/logs?kind=push_repo,pull_repo", admin)
        assert status == 200, logs
        found = {entry["kind"]: entry for entry in logs["logs"]}
        if {"push_repo", "pull_repo"} <= set(found) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {"push_repo", "pull_repo"} <= set(found), logs
    for kind in ("push_repo", "pull_repo"):
        assert found[kind]["performer"]["name"] == f"{org}+ci", found[kind]
        assert found[kind]["metadata"]["repo"] == "app" and found[kind]["metadata"]["namespace"] == org
    assert found["push_repo"]["metadata"]["tag"] == "v7"
    assert secret not in json.dumps(logs)


def test_deleting_the_organization_stops_its_robot_at_once(
    stack: Stack, base_url: str, admin: ApiUser, unique, new_client: Callable[[str], Client],
):
    org = unique("org")
    secret = create_org_with_robot(base_url, admin, org, "ci")
    expect_ok(new_client("skopeo").login(stack.host, f"{org}+ci", secret))
    assert api(base_url, "DELETE", f"/api/v1/organization/{org}", admin) == (204, None)
    expect_refused(new_client("skopeo").login(stack.host, f"{org}+ci", secret))
