"""Which token headers Debian's registry 2.8 accepts: the registry itself is the oracle.

A registry is started whose rootcertbundle holds the certificate of a fixed key; tokens signed
with that key are shown to /v2/ with different key references. This pins down the libtrust
key ID vector used in tests/unit/test_tokens.py, and shows why tokens carry x5c and a string aud.
"""

import shutil
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.token import keys
from gateway.token.tokens import Access, mint
from tests.unit.test_tokens import FIXED_KID, FIXED_PRIVATE_VALUE

from e2e_stack import registry_config
from e2e_support import Daemon, free_port, http_get, http_status

START_TIMEOUT = 60.0

SERVICE = "oracle-service"
ISSUER = "oracle-issuer"


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """A registry trusting only the fixed key's certificate; yields (base URL, SigningKey)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (not found on PATH)")
    base: Path = tmp_path_factory.mktemp("oracle")
    key = ec.derive_private_key(FIXED_PRIVATE_VALUE, ec.SECP256R1())
    (base / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signing_key = keys.certify(base / "key.pem", base / "cert.pem")
    port = free_port()
    auth = (
        "auth:\n  token:\n"
        f"    realm: http://127.0.0.1:1/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {base / 'cert.pem'}\n"
    )
    (base / "registry").mkdir()
    daemon = Daemon("docker-registry", [binary, "serve", str(registry_config(base / "registry", port, auth))], base / "log")
    try:
        daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/v2/") == 401, START_TIMEOUT)
        yield f"http://127.0.0.1:{port}", signing_key
    finally:
        daemon.stop()


def _status(base_url: str, token: str) -> int:
    return http_get(f"{base_url}/v2/", headers={"Authorization": f"Bearer {token}"}).status


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "x", "aud": SERVICE, "exp": now + 300, "nbf": now, "iat": now, "jti": "j", "access": []}
    claims.update(overrides)
    return claims


def test_regauth_tokens_are_accepted(oracle):
    base_url, signing_key = oracle
    token = mint(signing_key, issuer=ISSUER, service=SERVICE, subject="ns+bot",
                 access=[Access("repository", "ns/app", ("pull",))], ttl=300).token
    assert _status(base_url, token) == 200


def test_libtrust_kid_alone_is_accepted(oracle):
    base_url, signing_key = oracle
    assert signing_key.kid == FIXED_KID
    token = jwt.encode(_claims(), signing_key.private_key, algorithm="ES256", headers={"kid": FIXED_KID})
    assert _status(base_url, token) == 200


def test_wrong_kid_alone_is_refused(oracle):
    base_url, signing_key = oracle
    wrong = FIXED_KID[:-1] + ("A" if FIXED_KID[-1] != "A" else "B")
    token = jwt.encode(_claims(), signing_key.private_key, algorithm="ES256", headers={"kid": wrong})
    assert _status(base_url, token) == 401


def test_array_aud_is_refused_by_registry_2_8(oracle):
    base_url, signing_key = oracle
    token = jwt.encode(_claims(aud=[SERVICE]), signing_key.private_key, algorithm="ES256", headers={"x5c": list(signing_key.x5c)})
    assert _status(base_url, token) == 401


def test_wrong_issuer_is_refused(oracle):
    base_url, signing_key = oracle
    token = mint(signing_key, issuer="someone-else", service=SERVICE, subject="x", access=[], ttl=300).token
    assert _status(base_url, token) == 401
