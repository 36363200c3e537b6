"""The token signing key and its self-signed certificate.

The registry finds the verification key through the token's ``x5c`` header (registry 2.8 and
3.x) or its ``kid`` (2.8: the libtrust key ID; 3.x: a JWKS entry). ``regauth init`` writes
both files; the certificate goes into the registry's ``rootcertbundle``.
"""

import base64
import datetime
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

CERTIFICATE_YEARS = 10


class KeyError_(Exception):
    """Raised when the signing key or certificate is missing or unreadable."""


@dataclass(frozen=True)
class SigningKey:
    """A private key with what the registry needs to find its public half."""

    algorithm: str
    kid: str
    x5c: tuple[str, ...]
    certificate_expires: datetime.datetime
    private_key: object = field(repr=False)

    def jwk(self) -> dict:
        """Return the public key as a JWK with ``kid``, ``alg``, ``use`` and ``x5c``."""
        public = self.private_key.public_key()
        algo = ECAlgorithm if self.algorithm == "ES256" else RSAAlgorithm
        jwk = algo.to_jwk(public, as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig", "x5c": list(self.x5c)})
        return jwk


def libtrust_kid(public_key) -> str:
    """Return the libtrust key ID of ``public_key``, as registry 2.8 matches ``kid``.

    SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes, base32 without padding,
    in 12 groups of 4 characters joined by ':'.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def generate(key_path: Path, certificate_path: Path, algorithm: str = "ES256", common_name: str = "regauth") -> SigningKey:
    """Create a new private key (file mode 0600) and a self-signed certificate for it.

    Returns the loaded SigningKey. Existing files are replaced.
    """
    if algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    # Create the key file with mode 0600 from the start, never world-readable for a moment.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    os.chmod(key_path, 0o600)
    return certify(key_path, certificate_path, common_name)


def certify(key_path: Path, certificate_path: Path, common_name: str = "regauth") -> SigningKey:
    """Write a self-signed certificate, valid CERTIFICATE_YEARS, for the key at ``key_path``.

    Returns the loaded SigningKey; raises KeyError_ when the key cannot be read.
    """
    try:
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyError_(f"cannot read signing key {key_path}: {exc.__class__.__name__}") from None
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * CERTIFICATE_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True
        )
        .sign(private_key, hashes.SHA256())
    )
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return load(key_path, certificate_path)


def load(key_path: Path, certificate_path: Path) -> SigningKey:
    """Read the key and certificate written by ``generate``.

    Returns the SigningKey; raises KeyError_ with the path when a file is missing,
    unreadable, or the two do not belong together.
    """
    try:
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyError_(f"no signing key at {key_path}: run `regauth init` first") from None
    except (OSError, ValueError, TypeError) as exc:
        raise KeyError_(f"cannot read signing key {key_path}: {exc.__class__.__name__}") from None
    try:
        certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    except FileNotFoundError:
        raise KeyError_(f"no signing certificate at {certificate_path}: run `regauth init` first") from None
    except (OSError, ValueError) as exc:
        raise KeyError_(f"cannot read signing certificate {certificate_path}: {exc.__class__.__name__}") from None
    if _spki(certificate.public_key()) != _spki(private_key.public_key()):
        raise KeyError_(f"certificate {certificate_path} does not match key {key_path}")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algorithm = "ES256"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        raise KeyError_(f"signing key {key_path} is neither P-256 EC nor RSA")
    # x5c holds STANDARD base64 of the DER certificate (RFC 7515 4.1.6); base64url fails.
    x5c = (base64.standard_b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode(),)
    return SigningKey(algorithm, libtrust_kid(private_key.public_key()), x5c, certificate.not_valid_after_utc, private_key)


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# What the registry presents at POST /registry/events (``gateway.registry.events``).
REGISTRY_EVENTS_PURPOSE = "registry events"


def derived_secret(key: SigningKey, purpose: str) -> str:
    """Return a secret for ``purpose`` derived from the signing key (HMAC-SHA256 of the
    purpose under the private key): stable for as long as the key, nothing to store, and
    telling nothing about the key. A new key gives new secrets."""
    private = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    )
    digest = hmac.new(private, purpose.encode(), hashlib.sha256).digest()
    return "rg_" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
