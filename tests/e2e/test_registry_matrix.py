"""Robots, roles and secrets as the real clients see them, through nginx, against Debian's
docker-registry 2.8 with regauth as its token service.

Every case runs with skopeo, podman and docker (the ``client`` fixture), each with its own
credentials, in a namespace of its own. Where a test checks what the registry holds, it asks
through ``seeder`` (a separate skopeo logged in as a namespace writer), so the verdict does not
rest on the client under test.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from e2e_clients import Client, SkopeoClient
from e2e_stack import MakeRobot, RegauthCli, Seeder, Stack
from e2e_support import Result

# How the clients show the registry refusing a token that lacks the action (regauth issued
# it, downscoped): registry 2.8 answers 401 UNAUTHORIZED "authentication required" with the
# missing action in its detail, which docker and containers/image print for manifests and
# blobs as "denied: requested access to the resource is denied", and skopeo delete verbatim.
DENIED = re.compile(r"requested access to the resource is denied|authentication required")
# A tag that no longer exists.
NOT_FOUND = re.compile(r"manifest unknown|not found", re.IGNORECASE)
# The one message regauth gives for any failed login (tokenstore.InvalidCredentials); every
# client shows it when stored credentials stop working.
BAD_CREDENTIALS_MESSAGE = "invalid username or secret"
# What regauth says when docker's saved refresh token no longer works
# (gateway.token.grants.LOGIN_AGAIN_DETAILS).
LOGIN_AGAIN_MESSAGE = "Run `docker login` again"
# What ``login`` itself prints when refused. docker shows the ``details`` of regauth's 401;
# skopeo and podman (containers/common's auth.Login) replace whatever the server said with
# their own fixed text.
LOGIN_REFUSED_MESSAGE = {
    "docker": BAD_CREDENTIALS_MESSAGE,
    "skopeo": "invalid username/password",
    "podman": "invalid username/password",
}


def expect_ok(result: Result) -> Result:
    assert result.ok, result
    return result


def expect_denied(result: Result) -> Result:
    """The registry refused the action; the credentials themselves were accepted."""
    assert not result.ok, f"expected a refusal\n{result}"
    assert DENIED.search(result.output), f"refusal without a denial message\n{result}"
    assert BAD_CREDENTIALS_MESSAGE not in result.output, f"refused at login, not denied\n{result}"
    return result


def expect_login_refused(client: Client, result: Result) -> Result:
    """A refused login fails and says so in the client's words."""
    assert not result.ok, f"expected the login to fail\n{result}"
    assert LOGIN_REFUSED_MESSAGE[client.name] in result.output, result
    return result


def expect_bad_credentials(result: Result) -> Result:
    """A pull or push with a stored secret that does not work fails with regauth's
    message."""
    assert not result.ok, f"expected the credentials to be refused\n{result}"
    assert BAD_CREDENTIALS_MESSAGE in result.output, result
    return result


def expect_stale_login(client: Client, host: str, result: Result) -> Result:
    """A pull or push with a login saved before the secret changed fails, and regauth's
    message tells the user what to do: for a saved secret the bad-credentials message, for
    docker's saved refresh token the advice to log in again."""
    if not client.holds_refresh_token(host):
        return expect_bad_credentials(result)
    assert not result.ok, f"expected the saved login to be refused\n{result}"
    assert LOGIN_AGAIN_MESSAGE in result.output, result
    return result


def test_read_robot_pulls_but_cannot_push(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    ref = seeder.push(repo)
    reader = make_robot(f"{namespace}+reader", (repo, "read"))

    expect_ok(client.login(stack.host, reader.name, reader.secret))
    expect_ok(client.pull(ref))
    expect_denied(client.push(stack.ref(repo, "v2")))
    assert seeder.tags(repo) == ["v1"]


def test_write_robot_logs_in_pushes_and_pulls(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    writer = make_robot(f"{namespace}+writer", (repo, "write"))

    expect_ok(client.login(stack.host, writer.name, writer.secret))
    expect_ok(client.push(stack.ref(repo)))
    expect_ok(client.pull(stack.ref(repo)))
    assert seeder.tags(repo) == ["v1"]


def test_admin_robot_deletes_a_tag(
    client: Client, skopeo: SkopeoClient, stack: Stack, namespace: str,
    regauth_cli: RegauthCli, make_robot: MakeRobot, seeder: Seeder,
) -> None:
    """Of the three clients only skopeo deletes from a registry; the image it deletes was
    pushed by the client under test."""
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    admin = make_robot(f"{namespace}+admin", (repo, "admin"))
    ref = stack.ref(repo)

    expect_ok(client.login(stack.host, admin.name, admin.secret))
    expect_ok(client.push(ref))
    expect_ok(skopeo.login(stack.host, admin.name, admin.secret))
    expect_ok(skopeo.delete(ref))

    assert seeder.tags(repo) == []
    pulled = client.pull(ref)
    assert not pulled.ok and NOT_FOUND.search(pulled.output), pulled


def test_write_robot_cannot_delete_a_tag(
    skopeo: SkopeoClient, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    ref = seeder.push(repo)
    writer = make_robot(f"{namespace}+writer", (repo, "write"))

    expect_ok(skopeo.login(stack.host, writer.name, writer.secret))
    expect_denied(skopeo.delete(ref))
    assert seeder.tags(repo) == ["v1"]


def test_robot_of_another_namespace_is_refused(
    client: Client, stack: Stack, make_namespace: Callable[[], str], regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    owner, other = make_namespace(), make_namespace()
    repo = f"{owner}/app"
    regauth_cli("repo", "create", repo)
    ref = seeder.push(repo)
    # Admin on its whole namespace, which is not the one holding the repository.
    outsider = make_robot(f"{other}+bot", (other, "admin"))

    expect_ok(client.login(stack.host, outsider.name, outsider.secret))
    expect_denied(client.pull(ref))
    expect_denied(client.push(stack.ref(repo, "v2")))
    expect_denied(client.push(stack.ref(f"{owner}/new")))
    assert seeder.tags(repo) == ["v1"]
    assert seeder.tags(f"{owner}/new") == []


def test_grant_outside_the_robots_namespace_is_refused(
    make_namespace: Callable[[], str], regauth_cli: RegauthCli, make_robot: MakeRobot,
) -> None:
    owner, other = make_namespace(), make_namespace()
    regauth_cli("repo", "create", f"{owner}/app")
    outsider = make_robot(f"{other}+bot")

    for target in (f"{owner}/app", owner):
        granted = regauth_cli.run("grant", outsider.name, target, "read")
        assert not granted.ok, granted
        assert granted.stderr.strip(), granted


def test_namespace_write_grant_lets_a_push_create_a_repository(
    client: Client, new_client: Callable[[str], Client], stack: Stack, namespace: str,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/brand-new"
    writer = make_robot(f"{namespace}+ci", (namespace, "write"))

    expect_ok(client.login(stack.host, writer.name, writer.secret))
    expect_ok(client.push(stack.ref(repo)))
    expect_ok(client.pull(stack.ref(repo)))
    assert seeder.tags(repo) == ["v1"]
    # A repository created by a push is private.
    expect_denied(new_client("skopeo").pull(stack.ref(repo)))


def test_regenerate_refuses_the_old_secret_at_once(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    robot = make_robot(f"{namespace}+rotating", (repo, "write"))
    expect_ok(client.login(stack.host, robot.name, robot.secret))
    expect_ok(client.push(stack.ref(repo)))

    regenerated = regauth_cli("robot", "regenerate", robot.name)
    assert regenerated["name"] == robot.name
    new_secret = regenerated["token"]
    # Booleans only, so that a failure does not print a secret.
    well_formed = re.fullmatch(r"[A-Z0-9]{64}", new_secret) is not None
    unchanged = new_secret == robot.secret
    assert well_formed, "the new secret is not 64 characters of [A-Z0-9]"
    assert not unchanged, "regenerate returned the old secret"

    expect_login_refused(client, client.login(stack.host, robot.name, robot.secret))
    # The client still holds its first login (the old secret, or a refresh token docker got
    # for it): refused too.
    expect_stale_login(client, stack.host, client.pull(stack.ref(repo)))

    expect_ok(client.login(stack.host, robot.name, new_secret))
    expect_ok(client.push(stack.ref(repo, "v2")))
    expect_ok(client.pull(stack.ref(repo, "v2")))
    assert sorted(seeder.tags(repo)) == ["v1", "v2"]


def test_deleted_robot_is_refused(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    robot = make_robot(f"{namespace}+doomed", (repo, "write"))
    expect_ok(client.login(stack.host, robot.name, robot.secret))
    expect_ok(client.push(stack.ref(repo)))

    regauth_cli("robot", "delete", robot.name)

    expect_login_refused(client, client.login(stack.host, robot.name, robot.secret))
    expect_stale_login(client, stack.host, client.pull(stack.ref(repo)))
    expect_stale_login(client, stack.host, client.push(stack.ref(repo, "v2")))
    assert seeder.tags(repo) == ["v1"]


def test_anonymous_pull_works_on_public_and_is_refused_on_private(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli, seeder: Seeder,
) -> None:
    public, private = f"{namespace}/public", f"{namespace}/private"
    regauth_cli("repo", "create", public, "--public")
    regauth_cli("repo", "create", private)
    public_ref, private_ref = seeder.push(public), seeder.push(private)

    # ``client`` has never logged in.
    expect_ok(client.pull(public_ref))
    expect_denied(client.pull(private_ref))
    expect_denied(client.push(stack.ref(public, "v2")))
    assert seeder.tags(public) == ["v1"]


def test_wrong_secret_shows_regauths_message(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    repo = f"{namespace}/app"
    regauth_cli("repo", "create", repo)
    ref = seeder.push(repo)
    robot = make_robot(f"{namespace}+bot", (repo, "write"))
    wrong = "X" * 64

    expect_login_refused(client, client.login(stack.host, robot.name, wrong))
    # An unknown robot gets the very same answer: nothing tells which names exist.
    expect_login_refused(client, client.login(stack.host, f"{namespace}+nobody", wrong))

    # Credentials stored earlier that are wrong now: pull and push show regauth's message.
    client.save_credentials(stack.host, robot.name, wrong)
    expect_bad_credentials(client.pull(ref))
    expect_bad_credentials(client.push(stack.ref(repo, "v2")))
    client.save_credentials(stack.host, f"{namespace}+nobody", wrong)
    expect_bad_credentials(client.pull(ref))
    assert seeder.tags(repo) == ["v1"]


def test_login_succeeds_with_the_right_secret_and_fails_with_a_wrong_one(
    client: Client, stack: Stack, namespace: str, make_robot: MakeRobot,
) -> None:
    robot = make_robot(f"{namespace}+bot")

    expect_ok(client.login(stack.host, robot.name, robot.secret))
    # One character off; then longer than bcrypt's 72 bytes but starting with the secret.
    expect_login_refused(client, client.login(stack.host, robot.name, robot.secret[:-1] + "?"))
    expect_login_refused(client, client.login(stack.host, robot.name, robot.secret + "A" * 20))
    expect_ok(client.login(stack.host, robot.name, robot.secret))


# What each client prints when regauth throttles a login (429 with details): docker shows the
# details line; containers/image replaces it with its own text for a 429.
THROTTLED_MESSAGE = {
    "docker": "too many failed logins for",
    "skopeo": "too many requests to registry",
    "podman": "too many requests to registry",
}
# The default --login-failures-per-robot: 10 a minute.
ROBOT_FAILURES = 10


def test_failed_logins_are_throttled_as_each_client_shows_it(
    client: Client, stack: Stack, namespace: str, make_robot: MakeRobot,
) -> None:
    guessed, other = make_robot(f"{namespace}+guessed"), make_robot(f"{namespace}+other")
    for _ in range(ROBOT_FAILURES):
        expect_login_refused(client, client.login(stack.host, guessed.name, guessed.secret[:-1] + "?"))

    # Even the right secret waits for the window now: the name is being guessed.
    throttled = client.login(stack.host, guessed.name, guessed.secret)
    assert not throttled.ok, throttled
    assert THROTTLED_MESSAGE[client.name] in throttled.output, throttled
    # Another robot logs in from the same address at once.
    expect_ok(client.login(stack.host, other.name, other.secret))


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_role_without_repository_grant_gives_nothing(
    role: str, skopeo: SkopeoClient, stack: Stack, namespace: str, regauth_cli: RegauthCli,
    make_robot: MakeRobot, seeder: Seeder,
) -> None:
    """A grant on one repository says nothing about its neighbour."""
    granted, neighbour = f"{namespace}/granted", f"{namespace}/neighbour"
    regauth_cli("repo", "create", granted)
    regauth_cli("repo", "create", neighbour)
    neighbour_ref = seeder.push(neighbour)
    robot = make_robot(f"{namespace}+bot", (granted, role))

    expect_ok(skopeo.login(stack.host, robot.name, robot.secret))
    expect_denied(skopeo.pull(neighbour_ref))
    expect_denied(skopeo.push(stack.ref(neighbour, "v2")))
    expect_denied(skopeo.delete(neighbour_ref))
    assert seeder.tags(neighbour) == ["v1"]
