"""``gateway.token.tokens.mint`` encodes its header once per key and signs with cryptography
directly; its tokens must be exactly what ``jwt.encode`` writes for the same claims."""

import jwt
import pytest

from gateway.token import keys
from gateway.token.tokens import Access, mint


@pytest.fixture(params=["ES256", "RS256"])
def signing_key(request, tmp_path):
    return keys.generate(tmp_path / "key.pem", tmp_path / "cert.pem", request.param)


def test_header_and_claims_are_byte_for_byte_pyjwts(signing_key):
    access = [Access("repository", "ns/app", ("pull", "push")), Access("repository", "ns/base", ("pull",))]
    minted = mint(signing_key, issuer="iss", service="svc", subject="ns+ci", access=access, ttl=300, now=1_800_000_000)
    header_segment, claims_segment, _ = minted.token.split(".")
    claims = jwt.decode(minted.token, signing_key.private_key.public_key(), algorithms=[signing_key.algorithm],
                        audience="svc", options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    expected = jwt.encode(claims, signing_key.private_key, algorithm=signing_key.algorithm,
                          headers={"kid": signing_key.kid, "x5c": list(signing_key.x5c)})
    assert expected.split(".")[:2] == [header_segment, claims_segment]
    assert list(claims) == ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"]


def test_every_token_has_its_own_jti_and_a_valid_signature(signing_key):
    tokens = [mint(signing_key, issuer="i", service="s", subject="ns+ci", access=[], ttl=60).token for _ in range(20)]
    public = signing_key.private_key.public_key()
    jtis = {jwt.decode(token, public, algorithms=[signing_key.algorithm], audience="s")["jti"] for token in tokens}
    assert len(jtis) == 20


def test_a_new_key_gets_its_own_header(tmp_path):
    first = keys.generate(tmp_path / "a.pem", tmp_path / "a.crt")
    second = keys.generate(tmp_path / "b.pem", tmp_path / "b.crt")
    for key in (first, second, first):
        token = mint(key, issuer="i", service="s", subject="ns+ci", access=[], ttl=60).token
        assert jwt.get_unverified_header(token)["kid"] == key.kid
        jwt.decode(token, key.private_key.public_key(), algorithms=["ES256"], audience="s")
