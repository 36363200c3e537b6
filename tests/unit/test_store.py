"""tokenstore: names, robots, secrets, authenticate, deletion."""

import re

import bcrypt
import pytest

from tokenstore import (
    AlreadyExists,
    GrantOutsideNamespace,
    InvalidCredentials,
    NameInvalid,
    NamespaceNotFound,
    PermissionNotFound,
    RobotNotFound,
    Store,
)
from tokenstore import hashing
from tokenstore.names import parse_repository_name, parse_robot_name
from tests.stores import every_value


@pytest.fixture
def org(store):
    store.create_namespace("myorg")
    return store


@pytest.mark.parametrize("name", ["ab", "my-org", "my.org", "my_org", "a1", "x" * 255, "a-b.c_d"])
def test_valid_namespace_names(store, name):
    assert store.create_namespace(name).name == name


@pytest.mark.parametrize("name", ["a", "", "MyOrg", "-ab", "ab-", "a--b", "a..b", "a b", "x" * 256, "a+b", "a/b", "ä"])
def test_invalid_namespace_names(store, name):
    with pytest.raises(NameInvalid):
        store.create_namespace(name)


@pytest.mark.parametrize("name", ["myorg+ci", "ab+cd"])
def test_robot_names_parse(name):
    assert str(parse_robot_name(name)) == name


@pytest.mark.parametrize("name", ["myorg", "myorg+", "+ci", "myorg+ci+x", "myorg+C", "myorg+c"])
def test_bad_robot_names(name):
    with pytest.raises(NameInvalid):
        parse_robot_name(name)


@pytest.mark.parametrize("name", ["myorg/app", "myorg/team/app", "myorg/a__b", "myorg/a-b--c", "myorg/a.b"])
def test_repository_names(name):
    assert str(parse_repository_name(name)) == name


@pytest.mark.parametrize("name", ["myorg", "myorg/", "myorg//app", "myorg/App", "myorg/-app", "My/app", "myorg/" + "a" * 260])
def test_bad_repository_names(name):
    with pytest.raises(NameInvalid):
        parse_repository_name(name)


@pytest.mark.parametrize("name", [["myorg/app"], 7, None, b"myorg/app"])
def test_a_repository_name_that_is_not_text_is_refused(name):
    # Names are parsed through a cache keyed by the name: what cannot be a key is refused first.
    with pytest.raises(NameInvalid):
        parse_repository_name(name)


def test_secret_format(org):
    issued = org.create_robot("myorg+ci", "builds")
    assert re.fullmatch(r"[A-Z0-9]{64}", issued.secret)
    assert issued.secret not in repr(issued)
    assert issued.robot.description == "builds"


def test_a_new_secret_made_ahead_shows_neither_secret_nor_hash():
    made = hashing.new_secret(4)
    assert re.fullmatch(r"[A-Z0-9]{64}", made.secret) and hashing.verify_secret(made.secret, made.hashed, 4)
    assert made.secret not in repr(made) and made.hashed not in repr(made) and made.secret not in str(made)


def test_only_a_bcrypt_hash_is_stored(org, tmp_path):
    issued = org.create_robot("myorg+ci")
    assert issued.secret not in every_value(org)
    (hashed,) = org.db.execute("SELECT hash FROM robot_secrets").fetchone()
    assert hashed.startswith("$2b$04$")


def test_robot_needs_existing_namespace(store):
    with pytest.raises(NamespaceNotFound):
        store.create_robot("nowhere+ci")


def test_duplicate_robot_refused(org):
    org.create_robot("myorg+ci")
    with pytest.raises(AlreadyExists):
        org.create_robot("myorg+ci")


def test_description_limit(org):
    with pytest.raises(NameInvalid, match="at most 255"):
        org.create_robot("myorg+ci", "x" * 256)


def test_authenticate_success_and_failures_look_alike(org):
    issued = org.create_robot("myorg+ci")
    assert org.authenticate("myorg+ci", issued.secret).username == "myorg+ci"
    failures = [
        ("myorg+ci", "WRONG"),
        ("myorg+nobody", issued.secret),
        ("nowhere+ci", issued.secret),
        ("not a robot", issued.secret),
        ("myorg+ci", issued.secret + "X" * 60),  # over bcrypt's 72 bytes
        ("myorg+ci", issued.secret.lower()),
        ("myorg+ci", ""),
    ]
    messages = set()
    for username, secret in failures:
        with pytest.raises(InvalidCredentials) as info:
            org.authenticate(username, secret)
        messages.add(str(info.value))
        assert issued.secret not in str(info.value)
    assert messages == {"invalid username or secret"}


def test_every_failure_runs_exactly_one_bcrypt_check(org, monkeypatch):
    issued = org.create_robot("myorg+ci")
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(hashing.bcrypt, "checkpw", lambda pw, h: calls.append(1) or real(pw, h))
    for username, secret in [
        ("myorg+ci", issued.secret), ("myorg+ci", "WRONG"), ("myorg+nobody", "x"),
        ("garbage", "x"), ("myorg+ci", "Y" * 100),
    ]:
        calls.clear()
        try:
            org.authenticate(username, secret)
        except InvalidCredentials:
            pass
        assert len(calls) == 1, (username, len(secret))


def test_dummy_hash_has_configured_cost():
    assert hashing.dummy_hash(5).startswith(b"$2b$05$")


def test_regenerate_refuses_old_secret_at_once(org):
    old = org.create_robot("myorg+ci")
    new = org.regenerate_secret("myorg+ci")
    with pytest.raises(InvalidCredentials):
        org.authenticate("myorg+ci", old.secret)
    assert org.authenticate("myorg+ci", new.secret).secret_id == new.secret_id
    assert new.secret != old.secret


def test_regenerate_with_grace_keeps_old_until_window_closes(org, clock):
    old = org.create_robot("myorg+ci")
    new = org.regenerate_secret("myorg+ci", grace_seconds=300)
    assert org.authenticate("myorg+ci", old.secret)
    assert len(org.list_secrets("myorg+ci")) == 2
    clock.advance(301)
    with pytest.raises(InvalidCredentials):
        org.authenticate("myorg+ci", old.secret)
    assert org.authenticate("myorg+ci", new.secret)


def test_expired_secret_says_so(org, clock):
    org.create_robot("myorg+ci")
    issued = org.regenerate_secret("myorg+ci", expires_at=clock() + 60)
    clock.advance(61)
    with pytest.raises(InvalidCredentials, match="expired") as info:
        org.authenticate("myorg+ci", issued.secret)
    assert info.value.reason == "expired"


def test_deleted_robot_is_refused_and_name_reusable(org):
    issued = org.create_robot("myorg+ci")
    principal = org.authenticate("myorg+ci", issued.secret)
    org.delete_robot("myorg+ci")
    with pytest.raises(InvalidCredentials):
        org.authenticate("myorg+ci", issued.secret)
    assert not org.confirm(principal)
    with pytest.raises(RobotNotFound):
        org.get_robot("myorg+ci")
    again = org.create_robot("myorg+ci")
    assert again.robot.id != issued.robot.id
    assert org.list_permissions("myorg+ci") == []


def test_deleted_namespace_cuts_everything(org):
    issued = org.create_robot("myorg+ci")
    org.create_repository("myorg/app")
    org.grant("myorg+ci", "myorg/app", "admin")
    principal = org.authenticate("myorg+ci", issued.secret)
    org.delete_namespace("myorg")
    with pytest.raises(InvalidCredentials):
        org.authenticate("myorg+ci", issued.secret)
    assert not org.confirm(principal)
    org.create_namespace("myorg")
    assert org.list_robots("myorg") == []
    assert org.list_repositories("myorg") == []


def test_last_accessed_is_throttled(org, clock):
    issued = org.create_robot("myorg+ci")
    org.authenticate("myorg+ci", issued.secret)
    first = org.get_robot("myorg+ci").last_accessed
    assert first == clock()
    clock.advance(30)
    org.authenticate("myorg+ci", issued.secret)
    assert org.get_robot("myorg+ci").last_accessed == first
    clock.advance(31)
    org.authenticate("myorg+ci", issued.secret)
    assert org.get_robot("myorg+ci").last_accessed == clock()


def test_grants_only_inside_own_namespace(org):
    org.create_namespace("other")
    org.create_repository("other/app")
    org.create_robot("myorg+ci")
    with pytest.raises(GrantOutsideNamespace):
        org.grant("myorg+ci", "other/app", "read")
    with pytest.raises(GrantOutsideNamespace):
        org.grant("myorg+ci", "other", "read")


def test_grant_replace_and_revoke(org):
    org.create_robot("myorg+ci")
    org.create_repository("myorg/app")
    org.grant("myorg+ci", "myorg/app", "read")
    org.grant("myorg+ci", "myorg/app", "admin")
    org.grant("myorg+ci", "myorg", "write")
    assert [(p.target, p.role.value) for p in org.list_permissions("myorg+ci")] == [
        ("myorg", "write"), ("myorg/app", "admin")]
    org.revoke("myorg+ci", "myorg/app")
    with pytest.raises(PermissionNotFound):
        org.revoke("myorg+ci", "myorg/app")
    with pytest.raises(NameInvalid):
        org.grant("myorg+ci", "myorg", "owner")


def test_store_survives_reopen(tmp_path, clock):
    first = Store(tmp_path / "db.sqlite", bcrypt_cost=4, clock=clock)
    first.create_namespace("myorg")
    issued = first.create_robot("myorg+ci")
    first.close()
    second = Store(tmp_path / "db.sqlite", bcrypt_cost=4, clock=clock)
    assert second.authenticate("myorg+ci", issued.secret)
    assert second.db.sqlite.journal_mode == "wal"
    second.close()
