"""Tokens checked the way registry 2.8 checks them: x5c, libtrust kid, string aud, integer claims."""

import base64
import json
import os
import stat
import time

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.token import keys
from gateway.token.tokens import Access, mint, rfc3339

# A fixed P-256 key and its libtrust key ID. The same ID is accepted by Debian's registry 2.8
# as a token's only key reference in tests/e2e/test_token_format_e2e.py.
FIXED_PRIVATE_VALUE = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF
FIXED_KID = "YTMR:CQZD:BUZQ:PAEQ:5WE4:EBY6:XCT3:4KS2:H4RY:ZPNK:F6FS:PH2K"


def test_libtrust_kid_known_vector():
    key = ec.derive_private_key(FIXED_PRIVATE_VALUE, ec.SECP256R1())
    assert keys.libtrust_kid(key.public_key()) == FIXED_KID


@pytest.fixture(params=["ES256", "RS256"])
def signing_key(request, tmp_path):
    return keys.generate(tmp_path / "key.pem", tmp_path / "cert.pem", request.param)


def decode_like_registry(token: str, service: str, issuer: str) -> dict:
    """Verify the way distribution's token.go does: key from x5c, aud a string, iss exact."""
    header = jwt.get_unverified_header(token)
    der = base64.b64decode(header["x5c"][0], validate=True)  # standard base64, not base64url
    certificate = x509.load_der_x509_certificate(der)
    claims = jwt.decode(token, certificate.public_key(), algorithms=[header["alg"]], audience=service, issuer=issuer)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert isinstance(payload["aud"], str)
    for claim in ("exp", "nbf", "iat"):
        assert type(payload[claim]) is int, claim
    return claims


def test_minted_token_passes_registry_checks(signing_key):
    access = [Access("repository", "myorg/app", ("pull", "push"))]
    now = time.time() - 0.5  # a fractional time must still give integer claims
    minted = mint(signing_key, issuer="iss", service="svc", subject="myorg+ci", access=access, ttl=300, now=now)
    claims = decode_like_registry(minted.token, "svc", "iss")
    assert claims["sub"] == "myorg+ci"
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"] == int(now)
    assert claims["access"] == [{"type": "repository", "name": "myorg/app", "actions": ["pull", "push"]}]
    assert len(claims["jti"]) >= 16
    header = jwt.get_unverified_header(minted.token)
    assert header["alg"] == signing_key.algorithm
    assert header["kid"] == signing_key.kid
    assert len(header["kid"]) == 59 and header["kid"].count(":") == 11 and header["kid"] == header["kid"].upper()


def test_jti_is_unique(signing_key):
    tokens = {jwt.decode(mint(signing_key, issuer="i", service="s", subject="a", access=[], ttl=60).token,
                         options={"verify_signature": False})["jti"] for _ in range(20)}
    assert len(tokens) == 20


def test_x5c_is_standard_base64_of_the_certificate(signing_key, tmp_path):
    (value,) = signing_key.x5c
    der = base64.b64decode(value, validate=True)
    pem_der = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes()).public_bytes(serialization.Encoding.DER)
    assert der == pem_der


def test_issued_at_is_rfc3339_utc():
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_800_000_000.9) == "2027-01-15T08:00:00Z"


def test_key_file_is_private_and_certificate_long_lived(tmp_path):
    key = keys.generate(tmp_path / "k.pem", tmp_path / "c.pem")
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes())
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days >= 365 * 5
    assert key.certificate_expires == certificate.not_valid_after_utc


def test_load_reports_missing_and_mismatched_files(tmp_path):
    with pytest.raises(keys.KeyError_, match="regauth init"):
        keys.load(tmp_path / "none.pem", tmp_path / "none.crt")
    keys.generate(tmp_path / "a.pem", tmp_path / "a.crt")
    keys.generate(tmp_path / "b.pem", tmp_path / "b.crt")
    with pytest.raises(keys.KeyError_, match="does not match"):
        keys.load(tmp_path / "a.pem", tmp_path / "b.crt")


def test_jwk_publishes_public_key_only(signing_key):
    jwk = signing_key.jwk()
    assert jwk["kid"] == signing_key.kid and jwk["use"] == "sig" and jwk["alg"] == signing_key.algorithm
    assert "d" not in jwk and "p" not in jwk
