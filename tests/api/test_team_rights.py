"""A robot's rights at /token through its teams: the union with its own grants, a creator
team's pushes creating repositories, an admin team's whole organization, and every removal
counting from the next request."""

import pytest

from tests.api.conftest import granted

PULL_PUSH = "pull,push"


@pytest.fixture
def ci(store, acme):
    """Robot ``acme+ci`` (its secret), repositories ``acme/app`` and ``acme/lib``, team ``devs``
    (role member) with the robot in it."""
    store.create_repository("acme/app")
    store.create_repository("acme/lib")
    secret = store.create_robot("acme+ci").secret
    store.create_team("acme", "devs")
    store.add_team_member("acme", "devs", "acme+ci")
    return secret


async def ask(api, secret, *repositories, actions=PULL_PUSH) -> dict:
    reply = await api.token("acme+ci", secret, *(f"repository:{name}:{actions}" for name in repositories))
    assert reply.status == 200, reply
    return granted(reply)


async def test_team_permission_alone_grants(api, store, ci):
    assert await ask(api, ci, "acme/app") == {"acme/app": []}
    store.set_team_permission("acme", "devs", "acme/app", "write")
    assert await ask(api, ci, "acme/app", "acme/lib") == {"acme/app": ["pull", "push"], "acme/lib": []}


async def test_rights_are_the_union_of_own_and_team_grants(api, store, ci):
    store.grant("acme+ci", "acme/lib", "read")
    store.set_team_permission("acme", "devs", "acme/app", "read")
    store.create_team("acme", "writers")
    store.add_team_member("acme", "writers", "acme+ci")
    store.set_team_permission("acme", "writers", "acme/lib", "write")
    assert await ask(api, ci, "acme/app", "acme/lib") == {"acme/app": ["pull"], "acme/lib": ["pull", "push"]}
    # The strongest wins whichever side holds it.
    store.grant("acme+ci", "acme/app", "admin")
    assert await ask(api, ci, "acme/app", actions="pull,push,delete") == {"acme/app": ["pull", "push", "delete"]}


async def test_an_admin_team_is_admin_on_every_repository_of_the_organization(api, store, ci):
    store.update_team("acme", "devs", role="admin")
    assert await ask(api, ci, "acme/app", "acme/lib", actions="pull,push,delete") == {
        "acme/app": ["pull", "push", "delete"], "acme/lib": ["pull", "push", "delete"],
    }
    # Lowering the role counts from the next request.
    store.update_team("acme", "devs", role="member")
    assert await ask(api, ci, "acme/app", "acme/lib") == {"acme/app": [], "acme/lib": []}


async def test_a_creator_teams_push_creates_the_repository_and_makes_the_robot_its_admin(api, store, ci):
    assert await ask(api, ci, "acme/new") == {"acme/new": []}  # member: no creation
    assert store.list_repositories("acme")[-1].name == "lib"
    store.update_team("acme", "devs", role="creator")
    assert await ask(api, ci, "acme/fresh", actions="pull") == {"acme/fresh": []}  # a pull creates nothing
    assert await ask(api, ci, "acme/new") == {"acme/new": ["pull", "push"]}
    created = store.get_repository("acme/new")
    assert not created.is_public
    assert store.get_permission("acme+ci", "acme/new").role.value == "admin"
    # Existing repositories stay out of reach, and the created one stays the robot's after
    # the team goes.
    assert await ask(api, ci, "acme/app") == {"acme/app": []}
    store.delete_team("acme", "devs")
    assert await ask(api, ci, "acme/new") == {"acme/new": ["pull", "push"]}


async def test_removal_deletion_and_revocation_count_from_the_next_request(api, store, ci):
    store.set_team_permission("acme", "devs", "acme/app", "write")
    assert await ask(api, ci, "acme/app") == {"acme/app": ["pull", "push"]}
    store.remove_team_member("acme", "devs", "acme+ci")
    assert await ask(api, ci, "acme/app") == {"acme/app": []}
    store.add_team_member("acme", "devs", "acme+ci")
    assert await ask(api, ci, "acme/app") == {"acme/app": ["pull", "push"]}
    store.remove_team_permission("acme", "devs", "acme/app")
    assert await ask(api, ci, "acme/app") == {"acme/app": []}
    store.set_team_permission("acme", "devs", "acme/app", "read")
    assert await ask(api, ci, "acme/app") == {"acme/app": ["pull"]}
    store.delete_team("acme", "devs")
    assert await ask(api, ci, "acme/app") == {"acme/app": []}


async def test_teams_count_only_in_the_robots_own_organization(api, store, ci):
    store.update_team("acme", "devs", role="admin")
    store.create_organization("other", admin="alice")
    store.create_repository("other/app")
    assert await ask(api, ci, "other/app", "other/new") == {"other/app": [], "other/new": []}
    assert not [r for r in store.list_repositories("other") if r.name == "new"]


def test_team_grant_takes_a_robot_or_a_user(store, acme, alice):
    """The team part of authorization, for robots and people alike."""
    store.create_repository("acme/app")
    robot = store.create_robot("acme+ci").robot
    app = store.get_repository("acme/app")
    bob = store.get_user("bob")
    store.create_team("acme", "devs", "creator")
    store.set_team_permission("acme", "devs", "acme/app", "write")
    assert store.team_grant(app.namespace_id, app.id, user_id=bob.id).role is None
    store.add_team_member("acme", "devs", "bob")
    store.add_team_member("acme", "devs", "acme+ci")
    for who in ({"user_id": bob.id}, {"robot_id": robot.id}):
        grant = store.team_grant(app.namespace_id, app.id, **who)
        assert (grant.role.value, grant.may_create) == ("write", True)
        assert store.team_grant(app.namespace_id, None, **who).role is None
    # A person's teams count only while they are a member of the organization.
    store.remove_member("acme", "bob")
    assert store.team_grant(app.namespace_id, app.id, user_id=bob.id).role is None
    with pytest.raises(ValueError):
        store.team_grant(app.namespace_id, app.id)
    with pytest.raises(ValueError):
        store.team_grant(app.namespace_id, app.id, user_id=bob.id, robot_id=robot.id)
