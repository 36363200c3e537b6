"""``regauth robot disable|enable|settings`` and ``robot create --secret-stdin``, run in-process."""

import pytest

from tests.api.test_cli import cli  # noqa: F401 - the fixture
from tests.api.test_robot_controls import MIGRATED
from tokenstore import InvalidCredentials, Store


def opened(cli):
    return Store(cli.store_path, bcrypt_cost=4)


def test_disable_and_enable(cli):
    cli("org", "create", "acme")
    status, created, _ = cli("robot", "create", "acme+ci")
    assert status == 0 and created["enabled"] is True
    status, body, _ = cli("robot", "disable", "acme+ci")
    assert status == 0 and body["enabled"] is False and "token" not in body
    store = opened(cli)
    with pytest.raises(InvalidCredentials) as refused:
        store.authenticate("acme+ci", created["token"])
    assert refused.value.reason == "disabled"
    assert [robot["enabled"] for robot in cli("robot", "list", "acme")[1]["robots"]] == [False]
    assert cli("robot", "show", "acme+ci")[1]["enabled"] is False
    assert cli("robot", "enable", "acme+ci")[1]["enabled"] is True
    assert store.authenticate("acme+ci", created["token"]).username == "acme+ci"
    events, _ = store.list_events("acme", start=0, end=store.clock() + 1, kinds=["disable_robot", "enable_robot"])
    assert [(event.kind, event.metadata) for event in events] == [
        ("enable_robot", {"robot": "ci", "via": "cli"}), ("disable_robot", {"robot": "ci", "via": "cli"}),
    ]
    store.close()


def test_disable_of_an_unknown_robot_is_a_one_line_error(cli):
    cli("org", "create", "acme")
    status, body, err = cli("robot", "disable", "acme+ghost")
    assert status == 1 and body is None and "does not exist" in err


def test_create_with_an_existing_secret_from_stdin(cli):
    cli("org", "create", "acme")
    status, body, err = cli("robot", "create", "acme+migrated", "--secret-stdin", stdin=MIGRATED + "\n")
    assert status == 0, err
    assert "token" not in body and body["name"] == "acme+migrated"
    store = opened(cli)
    assert store.authenticate("acme+migrated", MIGRATED).username == "acme+migrated"
    store.close()


@pytest.mark.parametrize("given", ["", MIGRATED[:-1], MIGRATED.lower(), MIGRATED + "A"])
def test_an_existing_secret_of_another_format_is_refused_without_showing_it(cli, given):
    cli("org", "create", "acme")
    status, body, err = cli("robot", "create", "acme+migrated", "--secret-stdin", stdin=given + "\n")
    assert status == 1 and body is None
    assert "64 characters" in err and (not given or given not in err)
    assert cli("robot", "list", "acme")[1] == {"robots": []}


def test_robot_settings(cli):
    cli("org", "create", "acme")
    assert cli("robot", "settings", "acme")[1] == {"namespace": "acme", "self_regenerate": False}
    assert cli("robot", "settings", "acme", "--self-regenerate", "on")[1]["self_regenerate"] is True
    assert cli("robot", "settings", "acme")[1]["self_regenerate"] is True
    assert cli("robot", "settings", "acme", "--self-regenerate", "off")[1]["self_regenerate"] is False
    status, _, err = cli("robot", "settings", "ghost")
    assert status == 1 and "does not exist" in err
