"""Where regauth may fetch a federation issuer's keys from: https, and every address its host
resolves to public (unless ``allow_private_issuers``), checked when a setting is saved and
again before every fetch. docs/architecture.md, "Issuer policy", says why.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from tokenstore.federation import FederationInvalid, parse_federation_rules


class IssuerRefused(ValueError):
    """Raised when an issuer or key set URL is not https, or its host is or resolves to a
    private, loopback, link-local or otherwise non-public address; the message says which."""


def _host_and_port(url: str, allow_private: bool) -> tuple[str, int]:
    """Return the URL's host and port; raises IssuerRefused for a scheme that is not allowed."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise IssuerRefused("it is not a valid URL") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed or not host:
        raise IssuerRefused("it must be an https URL (plain http needs the operator's allow_private_issuers setting)")
    return host, port or (443 if parts.scheme == "https" else 80)


def is_public_address(text: str) -> bool:
    """Return True when ``text`` is an IP address reachable on the public internet."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _check_addresses(host: str, addresses: Iterable[str]) -> None:
    addresses = list(addresses)
    if not addresses:
        raise IssuerRefused(f"its host {host!r} does not resolve")
    private = sorted({a for a in addresses if not is_public_address(a)})
    if private:
        raise IssuerRefused(
            f"its host {host!r} is or resolves to a private, loopback or link-local address ({private[0]}); "
            "only public issuers are allowed unless the operator sets allow_private_issuers"
        )


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check_issuer_url(url: str, *, allow_private: bool) -> None:
    """Return when ``url`` may be fetched: https, and every address of its host public
    (anything goes when ``allow_private``). Resolves the host off the event loop.

    Raises IssuerRefused saying why not.
    """
    host, port = _host_and_port(url, allow_private)
    if allow_private:
        return
    if _literal(host):
        _check_addresses(host, [host])
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise IssuerRefused(f"its host {host!r} does not resolve") from None
    _check_addresses(host, (info[4][0] for info in infos))


async def check_federation_issuers(body: object, *, allow_private: bool) -> None:
    """Check that every issuer of a federation body may be fetched.

    Raises FederationInvalid (a 400) for a malformed body or naming the entry whose issuer
    is not allowed.
    """
    for index, rule in enumerate(parse_federation_rules(body)):
        try:
            await check_issuer_url(rule.issuer, allow_private=allow_private)
        except IssuerRefused as exc:
            raise FederationInvalid(f"entry {index}: issuer {rule.issuer!r}: {exc}") from None
