"""The model of users, organization roles and API tokens (tokenstore.accounts)."""

import bcrypt
import pytest

from tokenstore import (
    AlreadyExists,
    ApiTokenNotFound,
    InvalidCredentials,
    LastAdmin,
    MemberNotFound,
    NameInvalid,
    NamespaceNotFound,
    PasswordInvalid,
    UserNotFound,
)
from tokenstore.accounts import API_TOKEN_PREFIX, api_token_digest

PASSWORD = "correct horse battery"


def test_a_user_owns_a_namespace_of_their_name(store):
    user = store.create_user("alice", PASSWORD)
    namespace = store.get_namespace("alice")
    assert namespace.kind == "user" and namespace.id == user.namespace_id
    assert store.namespace_access(user, "alice").is_admin


def test_users_and_organizations_share_one_name_space(store):
    store.create_user("alice", PASSWORD)
    with pytest.raises(AlreadyExists):
        store.create_organization("alice")
    store.create_organization("acme")
    with pytest.raises(AlreadyExists):
        store.create_user("acme", PASSWORD)


@pytest.mark.parametrize("password", ["", "seven77", "x" * 73, "é" * 37, None, 12345678])
def test_password_rules(store, password):
    with pytest.raises(PasswordInvalid):
        store.create_user("alice", password)


def test_the_password_is_stored_as_a_bcrypt_hash(store):
    store.create_user("alice", PASSWORD)
    (stored,) = store.db.execute("SELECT password_hash FROM users").fetchone()
    assert PASSWORD not in stored and bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert "password" not in repr(store.get_user("alice"))


def test_check_password(store):
    store.create_user("alice", PASSWORD)
    assert store.check_password("alice", PASSWORD).username == "alice"
    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD), ("alice", "x" * 500), ("a" * 999, "x")):
        with pytest.raises(InvalidCredentials):
            store.check_password(name, password)


def test_an_unknown_user_costs_one_bcrypt_check_like_a_known_one(store, monkeypatch):
    store.create_user("alice", PASSWORD)
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *args: calls.append(1) or real(*args))
    for name in ("alice", "nobody"):
        with pytest.raises(InvalidCredentials):
            store.check_password(name, "wrong password")
    assert len(calls) == 2


def test_organization_roles(store):
    alice = store.create_user("alice", PASSWORD)
    bob = store.create_user("bob", PASSWORD)
    root = store.create_user("root", PASSWORD, superuser=True)
    store.create_organization("acme", admin="alice")
    store.set_member("acme", "bob")
    assert store.namespace_access(alice, "acme").role == "admin"
    assert store.namespace_access(bob, "acme").role == "member"
    assert store.namespace_access(bob, "alice").role is None
    assert store.namespace_access(root, "acme").role == "admin"
    missing = store.namespace_access(root, "nowhere")
    assert missing.namespace is None and missing.is_admin
    assert store.namespace_access(alice, "nowhere").role is None
    assert [(m.organization, m.role) for m in store.list_user_organizations(bob)] == [("acme", "member")]


def test_organization_creation_is_all_or_nothing(store):
    with pytest.raises(UserNotFound):
        store.create_organization("acme", admin="nobody")
    with pytest.raises(NamespaceNotFound):
        store.get_namespace("acme")


def test_membership_rules(store):
    store.create_user("alice", PASSWORD)
    store.create_user("bob", PASSWORD)
    store.create_organization("acme", admin="alice")
    with pytest.raises(NameInvalid):
        store.set_member("acme", "bob", "owner")
    with pytest.raises(LastAdmin):
        store.set_member("acme", "alice", "member")
    with pytest.raises(LastAdmin):
        store.remove_member("acme", "alice")
    with pytest.raises(MemberNotFound):
        store.remove_member("acme", "bob")
    with pytest.raises(NamespaceNotFound):
        store.set_member("alice", "bob")  # a user's namespace has no members
    store.set_member("acme", "bob", "admin")
    store.remove_member("acme", "alice")
    assert [m.username for m in store.list_members("acme")] == ["bob"]


def test_a_deleted_admin_does_not_count(store):
    store.create_user("alice", PASSWORD)
    store.create_user("bob", PASSWORD)
    store.create_organization("acme", admin="alice")
    store.set_member("acme", "bob", "admin")
    store.delete_user("alice")
    assert [m.username for m in store.list_members("acme")] == ["bob"]
    with pytest.raises(LastAdmin):
        store.remove_member("acme", "bob")


def test_api_tokens_are_stored_as_sha256_and_found_by_prefix(store):
    store.create_user("alice", PASSWORD)
    issued = store.create_api_token("alice", description="laptop")
    assert issued.token.startswith(API_TOKEN_PREFIX) and len(issued.token) == len(API_TOKEN_PREFIX) + 43
    prefix, digest = store.db.execute("SELECT prefix, hash FROM api_tokens").fetchone()
    assert digest == api_token_digest(issued.token) and issued.token not in digest
    assert prefix == issued.token[:len(prefix)] == issued.info.prefix
    assert issued.token not in repr(issued)
    assert store.authenticate_api_token(issued.token).username == "alice"


@pytest.mark.parametrize("token", ["", "rgapi_", "nope", None, 5, "rgapi_" + "A" * 300])
def test_malformed_api_tokens_are_invalid(store, token):
    store.create_user("alice", PASSWORD)
    store.create_api_token("alice")
    with pytest.raises(InvalidCredentials):
        store.authenticate_api_token(token)


def test_a_token_with_a_known_prefix_but_wrong_rest_is_invalid(store):
    store.create_user("alice", PASSWORD)
    issued = store.create_api_token("alice")
    forged = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    with pytest.raises(InvalidCredentials):
        store.authenticate_api_token(forged)


def test_api_token_expiry_revocation_and_listing(store, clock):
    store.create_user("alice", PASSWORD)
    store.create_user("bob", PASSWORD)
    short = store.create_api_token("alice", expires_at=clock() + 10)
    other = store.create_api_token("bob")
    with pytest.raises(NameInvalid):
        store.create_api_token("alice", expires_at=clock() - 1)
    with pytest.raises(NameInvalid):
        store.create_api_token("alice", description="x" * 256)
    clock.advance(11)
    with pytest.raises(InvalidCredentials) as exc:
        store.authenticate_api_token(short.token)
    assert exc.value.reason == "expired"
    assert [t.id for t in store.list_api_tokens("alice")] == [short.info.id]
    assert len(store.list_api_tokens()) == 2
    revoked = store.revoke_api_token(str(other.info.id))
    assert revoked.revoked_at is not None and not revoked.is_live(clock())
    assert store.revoke_api_token(other.token).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(ApiTokenNotFound):
        store.revoke_api_token("rgapi_unknown00")
    with pytest.raises(ApiTokenNotFound):
        store.revoke_api_token("x")


def test_last_used_is_recorded_throttled(store, clock):
    store.create_user("alice", PASSWORD)
    issued = store.create_api_token("alice")
    store.authenticate_api_token(issued.token)
    first = store.list_api_tokens("alice")[0].last_used
    clock.advance(10)
    store.authenticate_api_token(issued.token)
    assert store.list_api_tokens("alice")[0].last_used == first
    clock.advance(60)
    store.authenticate_api_token(issued.token)
    assert store.list_api_tokens("alice")[0].last_used == clock()
