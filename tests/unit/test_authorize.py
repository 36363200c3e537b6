"""authorize(): the role x action matrix, deny by default, and the subset property."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenstore import ANONYMOUS, ROLE_ACTIONS, Resource, Role

ALL_ACTIONS = ["pull", "push", "delete", "*"]


@pytest.fixture
def org(store):
    store.create_namespace("myorg")
    store.create_namespace("other")
    store.create_repository("myorg/app")
    store.create_repository("myorg/public-app", "public")
    store.create_repository("other/app")
    return store


def robot(store, name, target=None, role=None):
    issued = store.create_robot(name)
    if target:
        store.grant(name, target, role)
    return store.authenticate(name, issued.secret)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("read", {"pull"}),
        ("write", {"pull", "push"}),
        ("admin", {"pull", "push", "delete", "*"}),
    ],
)
def test_role_action_matrix_on_a_repository(org, role, expected):
    principal = robot(org, "myorg+bot", "myorg/app", role)
    for action in ALL_ACTIONS:
        granted = org.authorize(principal, Resource("repository", "myorg/app"), [action])
        assert granted == ({action} & expected), (role, action)


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_namespace_grant_covers_every_repository(org, role):
    principal = robot(org, "myorg+bot", "myorg", role)
    granted = org.authorize(principal, Resource("repository", "myorg/app"), ALL_ACTIONS)
    assert granted == ROLE_ACTIONS[Role(role)]


def test_strongest_of_repository_and_namespace_grant_wins(org):
    principal = robot(org, "myorg+bot", "myorg/app", "admin")
    org.grant("myorg+bot", "myorg", "read")
    assert org.authorize(principal, Resource("repository", "myorg/app"), ["delete"]) == {"delete"}
    assert org.authorize(principal, Resource("repository", "myorg/public-app"), ["push"]) == set()


def test_no_grant_no_actions(org):
    principal = robot(org, "myorg+bot")
    assert org.authorize(principal, Resource("repository", "myorg/app"), ALL_ACTIONS) == set()


def test_other_namespace_is_refused_even_with_namespace_grant(org):
    principal = robot(org, "myorg+bot", "myorg", "admin")
    assert org.authorize(principal, Resource("repository", "other/app"), ALL_ACTIONS) == set()


def test_public_repository_pull_for_anyone(org):
    outsider = robot(org, "other+bot")
    assert org.authorize(outsider, Resource("repository", "myorg/public-app"), ALL_ACTIONS) == {"pull"}
    assert org.authorize(ANONYMOUS, Resource("repository", "myorg/public-app"), ALL_ACTIONS) == {"pull"}


def test_anonymous_gets_nothing_on_private(org):
    assert org.authorize(ANONYMOUS, Resource("repository", "myorg/app"), ["pull"]) == set()


def test_catalog_and_unknown_types_get_nothing(org):
    principal = robot(org, "myorg+bot", "myorg", "admin")
    assert org.authorize(principal, Resource("registry", "catalog"), ["*"]) == set()
    assert org.authorize(principal, Resource("blob", "myorg/app"), ["pull"]) == set()


def test_names_with_host_port_or_invalid_get_nothing(org):
    principal = robot(org, "myorg+bot", "myorg", "admin")
    assert org.authorize(principal, Resource("repository", "localhost:5000/myorg/app"), ["pull"]) == set()
    assert org.authorize(principal, Resource("repository", "myorg/App"), ["pull"]) == set()


def test_push_creates_missing_repository_with_namespace_write(org):
    principal = robot(org, "myorg+bot", "myorg", "write")
    granted = org.authorize(principal, Resource("repository", "myorg/team/new"), ["pull", "push"])
    assert granted == {"pull", "push"}
    created = org.get_repository("myorg/team/new")
    assert created.visibility == "private"


def test_push_does_not_create_with_namespace_read(org):
    principal = robot(org, "myorg+bot", "myorg", "read")
    assert org.authorize(principal, Resource("repository", "myorg/new"), ["pull", "push"]) == {"pull"}
    assert [r.name for r in org.list_repositories("myorg")] == ["app", "public-app"]


def test_push_does_not_create_with_only_repository_grant(org):
    principal = robot(org, "myorg+bot", "myorg/app", "admin")
    assert org.authorize(principal, Resource("repository", "myorg/new"), ["push"]) == set()


def test_deleted_repository_grants_stop(org):
    principal = robot(org, "myorg+bot", "myorg/app", "write")
    org.delete_repository("myorg/app")
    assert org.authorize(principal, Resource("repository", "myorg/app"), ["pull"]) == set()


def test_a_grant_does_not_carry_over_to_a_recreated_repository(org):
    principal = robot(org, "myorg+bot", "myorg/app", "write")
    org.delete_repository("myorg/app")
    org.create_repository("myorg/app", "public")
    # The new repository is public, so pull stays; the grant was on the deleted one.
    assert org.authorize(principal, Resource("repository", "myorg/app"), ["pull", "push"]) == {"pull"}


def test_a_deleted_namespace_gives_nothing_even_on_its_public_repository(org):
    principal = robot(org, "myorg+bot", "myorg", "admin")
    org.delete_namespace("myorg")
    assert org.authorize(principal, Resource("repository", "myorg/public-app"), ALL_ACTIONS) == set()
    assert org.authorize(ANONYMOUS, Resource("repository", "myorg/public-app"), ["pull"]) == set()


ROLES = st.sampled_from([None, "read", "write", "admin"])
REPOS = st.sampled_from(["myorg/app", "myorg/public-app", "other/app", "myorg/missing", "registry-junk", "myorg/a/b"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(repo_role=ROLES, ns_role=ROLES, repo=REPOS, requested=st.lists(st.sampled_from(ALL_ACTIONS + ["junk"]), max_size=5))
def test_granted_is_always_subset_of_requested_and_allowed(org, repo_role, ns_role, repo, requested):
    name = "myorg+prop"
    try:
        org.delete_robot(name)
    except Exception:
        pass
    principal = robot(org, name)
    if repo_role:
        org.grant(name, "myorg/app", repo_role)
    if ns_role:
        org.grant(name, "myorg", ns_role)
    granted = org.authorize(principal, Resource("repository", repo), requested)
    allowed = set()
    if repo.startswith("myorg/"):
        for role in (repo_role if repo == "myorg/app" else None, ns_role):
            if role:
                allowed |= ROLE_ACTIONS[Role(role)]
    if repo == "myorg/public-app":
        allowed |= {"pull"}
    assert granted <= set(requested)
    assert granted <= allowed
    assert granted == set(requested) & allowed
