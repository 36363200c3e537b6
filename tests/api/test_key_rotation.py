"""Key rotation as the server shows it: ``/.well-known/jwks.json`` lists every trusted key from
``keys add`` to ``keys retire``; tokens are signed by the active key only, and verify with the
published key set whichever key signed them."""

import json

import jwt

from gateway.appkeys import CONFIG
from gateway.token import keyring
from gateway.token.live_keyring import KEYRING, signing_key, trusted_keys
from tests.api.test_metrics import parse, scrape_text
from tests.conftest import SERVICE

NOW = 1_800_000_000.0


async def published(api) -> dict:
    reply = await api.get("/.well-known/jwks.json")
    assert reply.status == 200
    return reply.body


def value_by_kid(samples, name: str) -> dict[str, float]:
    """The samples of ``name``, by their ``kid`` label."""
    return {dict(labels)["kid"]: sample for (metric, labels), sample in samples.items() if metric == name}


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def verified(token: str, key_set: dict) -> dict:
    """The token's claims, checked against the key of ``key_set`` its kid names."""
    jwk = next(jwk for jwk in key_set["keys"] if jwk["kid"] == kid_of(token))
    public = jwt.PyJWK(jwk).key
    return jwt.decode(token, public, algorithms=[jwk["alg"]], audience=SERVICE)


async def test_the_key_set_and_the_signing_key_through_a_whole_rotation(api, store, acme):
    app = api.client.server.app
    issued = store.create_robot("acme+ci")

    async def token() -> str:
        reply = await api.token("acme+ci", issued.secret, "repository:acme/app:pull")
        assert reply.status == 200
        return reply.body["token"]

    first = signing_key(app)
    assert [jwk["kid"] for jwk in (await published(api))["keys"]] == [first.kid]
    old_token = await token()
    assert kid_of(old_token) == first.kid

    staged = keyring.add(app[CONFIG], "RS256", now=NOW).staged
    app[KEYRING].refresh()  # what the worker's watch does within a second
    two = await published(api)
    assert [(jwk["kid"], jwk["alg"]) for jwk in two["keys"]] == [(first.kid, "ES256"), (staged.kid, "RS256")]
    assert kid_of(await token()) == first.kid  # staged: trusted, not signing
    assert [entry.state for entry in trusted_keys(app)] == ["active", "next"]
    # Both certificates count down in the metrics; the staged key does not make a replica unready.
    expiry = value_by_kid(parse(await scrape_text(api)), "regauth_signing_certificate_expiry_seconds")
    assert set(expiry) == {first.kid, staged.kid} and all(seconds > 0 for seconds in expiry.values())
    ready = await api.get("/readyz")
    assert ready.status == 200 and ready.body["checks"]["signing_key"] == "ok"

    keyring.activate(app[CONFIG], now=NOW)
    app[KEYRING].refresh()
    new_token = await token()
    assert kid_of(new_token) == staged.kid and signing_key(app).kid == staged.kid
    both = await published(api)
    # A client holding a token of the previous key still gets it verified, and so does a new one.
    assert verified(old_token, both)["sub"] == "acme+ci"
    assert verified(new_token, both)["sub"] == "acme+ci"
    assert [(entry.state, entry.kid) for entry in trusted_keys(app)] == [("active", staged.kid),
                                                                          ("previous", first.kid)]

    previous = trusted_keys(app)[1]
    keyring.retire(app[CONFIG], now=previous.retirable_at)
    app[KEYRING].refresh()
    assert [jwk["kid"] for jwk in (await published(api))["keys"]] == [staged.kid]
    assert json.loads(app[CONFIG].jwks_path.read_text()) == await published(api)

