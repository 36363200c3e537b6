"""The store's side of the robot controls, on both stores: a disabled robot is refused by
every kind of credential, and a robot's own regeneration checks its namespace's setting and
its credential in the transaction that stores the new secret."""

import pytest

from tokenstore import InvalidCredentials, Principal
from tokenstore.errors import SelfRegenerateNotAllowed

ISSUER = "https://issuer.example"


@pytest.fixture
def robot(store):
    store.create_namespace("acme")
    return store.create_robot("acme+ci")


def test_a_disabled_robot_is_refused_by_every_credential_and_confirm(store, robot):
    principal = store.authenticate("acme+ci", robot.secret)
    refresh_token = store.issue_refresh_token(principal)
    (federation,) = store.set_federations("acme+ci", [{"issuer": ISSUER, "subject": "job"}])
    keyless = store.issue_federated_credential("acme+ci", federation.id)

    robot_after, changed = store.set_robot_disabled("acme+ci", True)
    assert changed and not robot_after.enabled
    assert store.confirm(principal) is False
    with pytest.raises(InvalidCredentials) as refused:
        store.authenticate("acme+ci", robot.secret)
    assert refused.value.reason == "disabled"
    with pytest.raises(InvalidCredentials):
        store.redeem_refresh_token(refresh_token)
    with pytest.raises(InvalidCredentials):
        store.authenticate_federated("acme+ci", keyless.credential)
    assert store.federations_for_exchange("acme+ci", ISSUER) == []
    with pytest.raises(InvalidCredentials):
        store.issue_refresh_token(principal)

    assert store.set_robot_disabled("acme+ci", False)[1] is True
    assert store.confirm(principal) is True
    assert store.redeem_refresh_token(refresh_token).robot_id == principal.robot_id
    assert store.authenticate_federated("acme+ci", keyless.credential).username == "acme+ci"


def test_a_wrong_secret_of_a_disabled_robot_is_an_ordinary_refusal(store, robot):
    store.set_robot_disabled("acme+ci", True)
    with pytest.raises(InvalidCredentials) as refused:
        store.authenticate("acme+ci", "A" * 64)
    assert refused.value.reason == "invalid" and "disabled" not in str(refused.value)


def test_self_regenerate_needs_the_setting_and_a_live_credential(store, robot):
    principal = store.authenticate("acme+ci", robot.secret)
    with pytest.raises(SelfRegenerateNotAllowed):
        store.self_regenerate_audited(principal)
    store.set_robot_settings_audited("acme", self_regenerate=True)
    issued = store.self_regenerate_audited(principal, ip="127.0.0.1")
    with pytest.raises(InvalidCredentials):
        store.self_regenerate_audited(principal)  # the secret it presented is gone
    with pytest.raises(InvalidCredentials):
        store.self_regenerate_audited(Principal(kind="robot", username="acme+ci", robot_id=principal.robot_id,
                                                namespace_id=principal.namespace_id, secret_id=None))
    assert store.authenticate("acme+ci", issued.secret).username == "acme+ci"
    events, _ = store.list_events("acme", start=0, end=store.clock() + 1, kinds=["regenerate_robot_token"])
    assert [(e.performer, e.performer_kind, e.ip) for e in events] == [("acme+ci", "robot", "127.0.0.1")]
