"""The filtered catalog through the shipped nginx.conf, with Debian's registry behind it:
two robots in two namespaces each see only what they may pull, anonymous callers the public
repositories, podman's search (a real client of ``/v2/_catalog``) the same, and thousands of
repositories page correctly.

The repositories of the paging test are made in the registry's storage directly (the
directory the registry lists for its catalog), not pushed: pushing thousands of images
would take minutes. Every other repository here is pushed with skopeo.
"""

import base64
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from e2e_stack import SERVICE, MakeRobot, RegauthCli, Robot, Seeder, Stack
from e2e_support import HttpReply, http_get

pytestmark = pytest.mark.e2e

# Repositories of the paging test: more than two of the registry's pages of 1000.
MANY = 2500
PAGE = 100


def basic(robot: Robot) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{robot.name}:{robot.secret}".encode()).decode()}


def catalog(stack: Stack, headers: dict[str, str] | None = None, query: dict | None = None) -> HttpReply:
    suffix = f"?{urlencode(query)}" if query else ""
    return http_get(f"http://{stack.host}/v2/_catalog{suffix}", headers, timeout=60)


def bearer(stack: Stack, robot: Robot | None) -> dict[str, str]:
    """The token a registry client fetches for the catalog (as ``robot``, or anonymously),
    as the header it then sends."""
    query = urlencode({"service": SERVICE, "scope": "registry:catalog:*"})
    reply = http_get(f"http://{stack.host}/token?{query}", basic(robot) if robot else None)
    assert reply.status == 200, reply
    return {"Authorization": f"Bearer {json.loads(reply.body)['token']}"}


def walk(stack: Stack, headers: dict[str, str] | None, n: int) -> tuple[list[str], int]:
    """Follow the Link headers from the first page; return every name and the page count."""
    names: list[str] = []
    path = f"/v2/_catalog?n={n}"
    for pages in range(1, 10_000):  # bounded: far more pages than any test makes
        reply = http_get(f"http://{stack.host}{path}", headers, timeout=60)
        assert reply.status == 200, reply
        page = json.loads(reply.body)["repositories"]
        assert len(page) <= n
        names += page
        link = reply.headers.get("Link")
        if link is None:
            return names, pages
        assert page, "a page with a Link is never empty"
        path = re.fullmatch(r'<(/v2/_catalog\?[^>]+)>; rel="next"', link).group(1)
    raise AssertionError("the catalog's links never ended")


def within(names: list[str], *namespaces: str) -> set[str]:
    return {name for name in names if name.split("/", 1)[0] in namespaces}


@pytest.fixture
def two_namespaces(make_namespace, seeder: Seeder, regauth_cli: RegauthCli, make_robot: MakeRobot):
    """Namespaces A (``app``, and ``site``, public) and B (``app``), each with a robot that
    may read the whole namespace."""
    a, b = make_namespace(), make_namespace()
    regauth_cli("repo", "create", f"{a}/site", "--public")
    for repository in (f"{a}/app", f"{a}/site", f"{b}/app"):
        seeder.push(repository)
    return a, b, make_robot(f"{a}+reader", (a, "read")), make_robot(f"{b}+reader", (b, "read"))


def test_two_robots_each_see_only_their_own(stack: Stack, two_namespaces) -> None:
    a, b, reader_a, reader_b = two_namespaces
    for robot, expected in ((reader_a, {f"{a}/app", f"{a}/site"}), (reader_b, {f"{a}/site", f"{b}/app"})):
        # With Basic credentials, and with the token a registry client fetches first.
        for headers in (basic(robot), bearer(stack, robot)):
            reply = catalog(stack, headers, {"n": 1000})
            assert reply.status == 200, reply
            assert within(json.loads(reply.body)["repositories"], a, b) == expected


def test_anonymous_callers_see_public_repositories_only(stack: Stack, two_namespaces) -> None:
    a, b, *_ = two_namespaces
    for headers in (None, bearer(stack, None)):
        names, _ = walk(stack, headers, 1000)
        assert within(names, a, b) == {f"{a}/site"}


def test_podman_search_lists_what_the_robot_may_pull(stack: Stack, two_namespaces, new_client) -> None:
    """podman 4.3 asks /token with no scope for its search, which an anonymous caller is
    refused (a login); logged in, it presents the token it got to the catalog."""
    a, b, reader_a, _ = two_namespaces
    podman = new_client("podman")
    assert podman.login(stack.host, reader_a.name, reader_a.secret).ok
    searched = podman.search(stack.host, 1000)
    assert searched.ok, searched
    shown = [line.split("/", 1)[1] for line in searched.stdout.split()]
    assert within(shown, a, b) == {f"{a}/app", f"{a}/site"}


def test_a_wrong_secret_is_refused_with_the_registrys_challenge(stack: Stack, namespace, make_robot) -> None:
    reader = make_robot(f"{namespace}+reader", (namespace, "read"))
    reply = catalog(stack, basic(Robot(reader.name, "X" * 64)))
    assert reply.status == 401, reply
    assert reply.headers["WWW-Authenticate"].startswith(f'Bearer realm="{stack.realm}"')
    assert 'scope="registry:catalog:*"' in reply.headers["WWW-Authenticate"]


def test_the_registry_refuses_a_catalog_token_from_token(stack: Stack, make_namespace, make_robot) -> None:
    """Past nginx, straight to the registry: the token /token gives even a namespace admin
    carries nothing on the catalog, so the registry's unfiltered catalog stays closed."""
    namespace = make_namespace()
    admin = make_robot(f"{namespace}+admin", (namespace, "admin"))
    reply = http_get(f"http://127.0.0.1:{stack.registry_port}/v2/_catalog", bearer(stack, admin))
    assert reply.status == 401, reply
    assert json.loads(reply.body)["errors"][0]["code"] == "UNAUTHORIZED"


def test_thousands_of_repositories_page_correctly(stack: Stack, make_namespace, make_robot) -> None:
    many, other = make_namespace(), make_namespace()
    repositories = registry_repositories(stack)
    expected = [f"{many}/r{i:05d}" for i in range(MANY)]
    for name in expected:
        # Registry 2.8 lists a directory holding _layers, 3.x one holding _manifests.
        for marker in ("_layers", "_manifests"):
            (repositories / name / marker).mkdir(parents=True)
    reader = make_robot(f"{many}+reader", (many, "read"))
    names, pages = walk(stack, basic(reader), PAGE)
    assert [name for name in names if name.startswith(f"{many}/")] == expected
    assert pages >= MANY // PAGE
    # Another namespace's robot walks the same catalog and sees none of them.
    stranger = make_robot(f"{other}+reader", (other, "read"))
    names, _ = walk(stack, bearer(stack, stranger), 1000)
    assert not within(names, many)


def registry_repositories(stack: Stack) -> Path:
    """The directory the stack's registry lists for its catalog (``registry_config`` puts
    its storage under the stack's base directory)."""
    path = stack.registry_log.parent / "registry" / "storage" / "docker" / "registry" / "v2" / "repositories"
    path.mkdir(parents=True, exist_ok=True)
    return path
