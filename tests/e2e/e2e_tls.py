"""TLS for the end-to-end tests: a certificate authority made on the spot, the server
certificate it signs, and the shipped nginx.conf switched to TLS as docs/tls.md says."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e_stack import NGINX_CONF
from e2e_support import HttpReply

# What docs/tls.md says to do to nginx.conf: drop the plain-only listen line, uncomment
# every `#tls:` line. The placeholders that are left are replaced by the test's own.
PLAIN_ONLY_LINE = re.compile(r"^.*# plain http only\n", re.MULTILINE)
TLS_MARK = "#tls: "
TLS_PORT_PLACEHOLDER = "8443"
CERT_PLACEHOLDER = "/etc/ssl/regauth/fullchain.pem"
KEY_PLACEHOLDER = "/etc/ssl/regauth/privkey.pem"


@dataclass(frozen=True)
class Pki:
    """A test CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_pki(directory: Path) -> Pki:
    """Make a CA and a server certificate (SAN IP 127.0.0.1 and DNS localhost, valid for a
    day) signed by it; write them under ``directory`` and return their paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = {"not_valid_before": now - datetime.timedelta(minutes=5),
             "not_valid_after": now + datetime.timedelta(days=1)}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder(subject_name=_name("regauth test CA"), issuer_name=_name("regauth test CA"),
                                public_key=ca_key.public_key(), serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
    ])
    server_cert = (
        x509.CertificateBuilder(subject_name=_name("127.0.0.1"), issuer_name=ca_cert.subject,
                                public_key=server_key.public_key(), serial_number=x509.random_serial_number(),
                                **valid)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    pki.server_key.write_bytes(_pem_key(server_key))
    return pki


def tls_nginx_text(tls_port: int, pki: Pki) -> str:
    """Return the shipped nginx.conf switched to TLS as its comments and docs/tls.md say,
    with ``tls_port`` and the certificate of ``pki`` in place of the placeholders (the plain
    port and the upstreams are left to ``render_nginx_conf``). Raises AssertionError when the
    file no longer holds what docs/tls.md tells the reader to change."""
    text = NGINX_CONF.read_text()
    assert len(PLAIN_ONLY_LINE.findall(text)) == 1, f"{NGINX_CONF} has no single `# plain http only` line"
    assert TLS_MARK in text, f"{NGINX_CONF} has no `{TLS_MARK}` lines"
    text = PLAIN_ONLY_LINE.sub("", text).replace(TLS_MARK, "")
    for placeholder, value in ((CERT_PLACEHOLDER, pki.server_cert), (KEY_PLACEHOLDER, pki.server_key)):
        assert placeholder in text, f"{NGINX_CONF} no longer names {placeholder}"
        text = text.replace(placeholder, str(value))
    for placeholder in (f"listen 127.0.0.1:{TLS_PORT_PLACEHOLDER} ", f"https://$host:{TLS_PORT_PLACEHOLDER}$"):
        assert text.count(placeholder) == 1, f"{NGINX_CONF} no longer holds `{placeholder}` once"
        text = text.replace(placeholder, placeholder.replace(TLS_PORT_PLACEHOLDER, str(tls_port)))
    return text


def client_context(cafile: Path | None) -> ssl.SSLContext:
    """A verifying client context trusting ``cafile`` (or only the system's CAs when None),
    offering h2 and http/1.1 by ALPN."""
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def https_get(host: str, port: int, path: str, cafile: Path | None, timeout: float = 5.0) -> HttpReply:
    """``GET https://host:port/path`` over HTTP/1.1 verifying the server against ``cafile``;
    return the reply (redirects and error statuses included). Raises ssl.SSLError when the
    server's certificate does not verify, OSError when nothing answers."""
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return HttpReply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()
