"""The authentication seam: authenticators tried in order, None lets the next one try, a
refusal is InvalidCredentials, and ``then`` runs in the transaction that confirms the
principal. The store, the thread pools, bcrypt and the login throttle are the real ones."""

import limits
import pytest

from gateway.edge.errors import TokenError
from gateway.offload import Offload
from gateway.token.authn import (
    Credentials, KeylessCredentials, RefreshTokens, RobotSecrets, authenticate,
)
from gateway.token.authz import StoreRoles
from gateway.token.credential_cache import CredentialChecker
from gateway.token.login_throttle import LoginThrottle
from gateway.token.scopes import parse_scopes
from tokenstore import InvalidCredentials

ROBOT = "myorg+ci"
ADDRESS = "192.0.2.7"


@pytest.fixture
async def offload(store):
    pools = Offload(store=store)
    yield pools
    pools.close()


@pytest.fixture
def robot(store):
    store.create_namespace("myorg")
    return store.create_robot(ROBOT)


@pytest.fixture
def throttle():
    # One failure per address and per name: the next check is refused, so a test can tell
    # which keys a refusal was counted under.
    return LoginThrottle(limits.parse("1/minute"), limits.parse("1/minute"), max_pending=32)


@pytest.fixture
def login_chain(store, offload, throttle):
    """The login authenticators in the order the application builds them."""
    return (KeylessCredentials(store, offload, throttle), RobotSecrets(CredentialChecker(store, offload), throttle))


def confirmed(principal):
    """A ``then`` that tells what it was given."""
    return ("issued for", principal.username)


async def test_a_robot_secret_passes_the_keyless_authenticator_to_the_robot_one(login_chain, robot, bcrypt_runs):
    authenticated = await authenticate(login_chain, Credentials(ROBOT, robot.secret, ADDRESS), confirmed)
    assert authenticated.principal.is_robot and authenticated.principal.secret_id == robot.secret_id
    assert authenticated.outcome == ("issued for", ROBOT)
    assert len(bcrypt_runs) == 1


async def test_the_keyless_authenticator_claims_its_prefix_and_a_refusal_stops_there(
        login_chain, robot, throttle, bcrypt_runs):
    with pytest.raises(InvalidCredentials):
        await authenticate(login_chain, Credentials(ROBOT, "rgfed_not-issued", ADDRESS), confirmed)
    assert bcrypt_runs == []  # the robot secrets authenticator was never asked
    # Counted against the address only: the robot's name may still be checked from elsewhere.
    with pytest.raises(TokenError) as refused:
        await throttle.admit_address(ADDRESS)
    assert refused.value.status == 429
    await throttle.admit_address("192.0.2.8")


async def test_an_issued_keyless_credential_authenticates_without_a_secret(login_chain, store, robot, bcrypt_runs):
    (federation,) = store.set_federations(ROBOT, [{"issuer": "https://issuer.example", "subject": "job"}])
    issued = store.issue_federated_credential(ROBOT, federation.id)
    authenticated = await authenticate(login_chain, Credentials(ROBOT, issued.credential, ADDRESS), confirmed)
    assert authenticated.principal.is_robot and authenticated.principal.secret_id is None
    assert authenticated.outcome == ("issued for", ROBOT) and bcrypt_runs == []


async def test_a_wrong_secret_counts_against_the_name_and_the_address(login_chain, robot, throttle):
    with pytest.raises(InvalidCredentials):
        await authenticate(login_chain, Credentials(ROBOT, "wrong", ADDRESS), confirmed)
    with pytest.raises(TokenError) as refused:
        await throttle.admit_check("192.0.2.8", ROBOT, pending=0)
    assert refused.value.status == 429


async def test_then_refusing_is_a_refusal(login_chain, robot):
    def refuse(principal):
        raise InvalidCredentials()

    with pytest.raises(InvalidCredentials):
        await authenticate(login_chain, Credentials(ROBOT, robot.secret, ADDRESS), refuse)


async def test_then_runs_in_the_confirming_transaction(login_chain, store, robot):
    """A write ``then`` makes is committed with the confirmation, and rolled back with it."""
    def write_and_fail(principal):
        store.create_namespace("written-by-then")
        raise InvalidCredentials()

    with pytest.raises(InvalidCredentials):
        await authenticate(login_chain, Credentials(ROBOT, robot.secret, ADDRESS), write_and_fail)
    assert "written-by-then" not in [ns.name for ns in store.list_namespaces()]


async def test_no_authenticator_claiming_the_credentials_is_a_refusal():
    with pytest.raises(InvalidCredentials):
        await authenticate((), Credentials(ROBOT, "anything", ADDRESS), confirmed)


async def test_a_refresh_token_stands_for_its_robot(store, offload, robot):
    principal = store.authenticate(ROBOT, robot.secret)
    token = store.issue_refresh_token(principal, "docker")
    authenticated = await RefreshTokens(store, offload).authenticate(Credentials("", token, ADDRESS), confirmed)
    assert authenticated.principal.secret_id == robot.secret_id
    with pytest.raises(InvalidCredentials):
        await RefreshTokens(store, offload).authenticate(Credentials("", "rgr_unknown", ADDRESS), confirmed)


def test_the_authorizer_grants_the_subset_held_in_the_order_asked(store, robot):
    store.create_repository("myorg/app")
    store.grant(ROBOT, "myorg/app", "read")
    principal = store.authenticate(ROBOT, robot.secret)
    scopes = parse_scopes(["repository:myorg/app:push,pull repository:myorg/other:pull"])
    granted = StoreRoles(store).authorize(principal, scopes)
    assert [(a.name, a.actions) for a in granted] == [("myorg/app", ("pull",)), ("myorg/other", ())]
