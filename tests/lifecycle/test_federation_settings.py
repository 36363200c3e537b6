"""Federation settings in the store: validation, replacement, and the credentials they issue."""

import pytest

from tokenstore import InvalidCredentials, RobotNotFound
from tokenstore.federation import (
    FEDERATED_CREDENTIAL_TTL,
    FederationInvalid,
    check_issuer_url,
    credential_hash,
    is_federated_credential,
    parse_federation_rules,
)

GITHUB = "https://token.actions.githubusercontent.com"
MAIN = "repo:acme/app:ref:refs/heads/main"


@pytest.mark.parametrize("issuer", [
    GITHUB, "https://gitlab.com", "https://gitlab.example.com/", "https://idp.example.com:8443/realms/ci",
    "http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000", "http://127.3.2.1",
])
def test_issuer_urls_accepted(issuer):
    assert check_issuer_url(issuer) == issuer


@pytest.mark.parametrize("issuer", [
    "http://gitlab.com", "http://10.0.0.1", "ftp://example.com", "gitlab.com", "https://", "", None, 42,
    "https://example.com/?x=1", "https://example.com/#f", "https://user:pw@example.com", "https://exa mple.com",
    "https://example.com:99999", "https://" + "a" * 2100 + ".com",
])
def test_issuer_urls_refused(issuer):
    with pytest.raises(FederationInvalid):
        check_issuer_url(issuer)


@pytest.mark.parametrize("body,message", [
    ({"issuer": GITHUB, "subject": MAIN}, "JSON list"),
    (["x"], "entry 0: must be an object"),
    ([{"issuer": GITHUB}], "issuer and subject are both required"),
    ([{"subject": MAIN}], "issuer and subject are both required"),
    ([{"issuer": GITHUB, "subject": ""}], "subject must be a non-empty string"),
    ([{"issuer": GITHUB, "subject": 5}], "subject must be a non-empty string"),
    ([{"issuer": GITHUB, "subject": MAIN, "audience": ""}], "audience must be a non-empty string"),
    ([{"issuer": GITHUB, "subject": MAIN, "audiance": "x"}], "unknown key(s) 'audiance'"),
    ([{"issuer": "http://ci.example.com", "subject": MAIN}], "must use https"),
    ([{"issuer": GITHUB, "subject": MAIN}, {"issuer": GITHUB, "subject": MAIN, "audience": "a"}], "entry 1: duplicate"),
    ([{"issuer": GITHUB, "subject": f"s{i}"} for i in range(21)], "at most 20"),
])
def test_bad_bodies(body, message):
    with pytest.raises(FederationInvalid) as caught:
        parse_federation_rules(body)
    assert message in str(caught.value)


def test_federation_invalid_is_a_value_error_for_the_api():
    assert issubclass(FederationInvalid, ValueError)


def test_set_list_delete(store, robot):
    assert store.list_federations("acme+ci") == []
    settings = store.set_federations("acme+ci", [
        {"issuer": GITHUB, "subject": MAIN, "audience": "https://github.com/acme"},
        {"issuer": "https://gitlab.com", "subject": "project_path:acme/app:ref_type:branch:ref:main"},
    ])
    assert [f.as_dict() for f in settings] == [
        {"issuer": GITHUB, "subject": MAIN, "audience": "https://github.com/acme"},
        {"issuer": "https://gitlab.com", "subject": "project_path:acme/app:ref_type:branch:ref:main", "audience": None},
    ]
    assert store.list_federations("acme+ci") == settings
    removed = store.delete_federations("acme+ci")
    assert removed == settings
    assert store.list_federations("acme+ci") == []


def test_unknown_robot(store, robot):
    with pytest.raises(RobotNotFound):
        store.set_federations("acme+ghost", [{"issuer": GITHUB, "subject": MAIN}])
    assert store.federations_for_exchange("acme+ghost", GITHUB) == []
    assert store.federations_for_exchange("not a robot", GITHUB) == []


def test_invalid_body_changes_nothing(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    with pytest.raises(FederationInvalid):
        store.set_federations("acme+ci", [{"issuer": "http://evil.example", "subject": MAIN}])
    assert [f.subject for f in store.list_federations("acme+ci")] == [MAIN]


def test_exchange_lookup_is_exact_on_issuer(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    assert [f.subject for f in store.federations_for_exchange("acme+ci", GITHUB)] == [MAIN]
    assert store.federations_for_exchange("acme+ci", GITHUB + "/") == []
    assert store.federations_for_exchange("acme+ci", GITHUB.upper()) == []


def issue(store, username="acme+ci"):
    federation = store.federations_for_exchange(username, GITHUB)[0]
    return store.issue_federated_credential(username, federation.id)


def test_credential_authenticates_for_an_hour(store, robot, clock):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issued = issue(store)
    assert is_federated_credential(issued.credential) and len(issued.credential) > 40
    assert issued.credential not in repr(issued)
    assert issued.expires_at - issued.created == FEDERATED_CREDENTIAL_TTL
    principal = store.authenticate_federated("acme+ci", issued.credential)
    assert principal.username == "acme+ci" and principal.robot_id == robot.robot.id
    assert principal.secret_id is None  # not a robot secret: no refresh token hangs on it
    clock.advance(FEDERATED_CREDENTIAL_TTL - 1)
    store.authenticate_federated("acme+ci", issued.credential)
    clock.advance(1)
    with pytest.raises(InvalidCredentials) as caught:
        store.authenticate_federated("acme+ci", issued.credential)
    assert caught.value.reason == "expired" and "expired" in str(caught.value)


def test_only_the_hash_is_stored(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issued = issue(store)
    stored = [row[0] for row in store.db.execute("SELECT hash FROM federated_credentials")]
    assert stored == [credential_hash(issued.credential)]


def test_credential_is_not_a_secret_of_the_robot(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issued = issue(store)
    assert [s.id for s in store.list_secrets("acme+ci")] == [robot.secret_id]
    # Rotating the static secret leaves running keyless jobs alone.
    store.regenerate_secret("acme+ci")
    store.authenticate_federated("acme+ci", issued.credential)
    # And the credential is no password for the bcrypt path.
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", issued.credential)


@pytest.mark.parametrize("revoke", [
    lambda store: store.delete_federations("acme+ci"),
    lambda store: store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": "repo:acme/app:ref:refs/heads/dev"}]),
    lambda store: store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN, "audience": "new"}]),
    lambda store: store.delete_robot("acme+ci"),
    lambda store: store.delete_namespace("acme"),
], ids=["setting-deleted", "subject-changed", "audience-changed", "robot-deleted", "namespace-deleted"])
def test_credential_revoked(store, robot, revoke):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issued = issue(store)
    revoke(store)
    with pytest.raises(InvalidCredentials) as caught:
        store.authenticate_federated("acme+ci", issued.credential)
    assert caught.value.reason == "invalid"


def test_unchanged_setting_keeps_its_credentials(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issued = issue(store)
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}, {"issuer": "https://gitlab.com", "subject": "x"}])
    store.authenticate_federated("acme+ci", issued.credential)


def test_credential_is_bound_to_its_robot(store, robot):
    store.create_robot("acme+other")
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issued = issue(store)
    for name in ("acme+other", "acme+ghost", "nonsense", ""):
        with pytest.raises(InvalidCredentials):
            store.authenticate_federated(name, issued.credential)
    with pytest.raises(InvalidCredentials):
        store.authenticate_federated("acme+ci", issued.credential[:-1] + "x")


def test_expired_credentials_are_swept(store, robot, clock):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issue(store)
    issue(store)
    clock.advance(FEDERATED_CREDENTIAL_TTL)
    issue(store)
    assert store.db.execute("SELECT count(*) FROM federated_credentials").fetchone()[0] == 1


def test_issue_after_setting_removed(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    federation = store.federations_for_exchange("acme+ci", GITHUB)[0]
    store.delete_federations("acme+ci")
    with pytest.raises(InvalidCredentials):
        store.issue_federated_credential("acme+ci", federation.id)


def test_robot_rows_can_be_removed_with_their_federation_rows(store, robot):
    store.set_federations("acme+ci", [{"issuer": GITHUB, "subject": MAIN}])
    issue(store)
    # What a collector does with a deleted robot: the cascades remove the rest.
    with store.db.atomic():
        store.db.execute("DELETE FROM robot_secrets WHERE robot_id = ?", [robot.robot.id])
        store.db.execute("DELETE FROM permissions WHERE robot_id = ?", [robot.robot.id])
        store.db.execute("DELETE FROM robots WHERE id = ?", [robot.robot.id])
    for table in ("robot_federations", "federated_credentials"):
        assert store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
