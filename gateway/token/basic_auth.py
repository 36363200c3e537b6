"""Parsing ``Authorization: Basic`` (RFC 7617)."""

import base64
import binascii

from ..edge.errors import bad_request
from ..edge.text_input import TextInvalid, check_text

# A robot name is at most 511 characters and a secret 64; anything far longer is junk.
MAX_CREDENTIALS_LENGTH = 8192


def parse_basic(header: str) -> tuple[str, str]:
    """Return (username, password) from a Basic Authorization header value.

    Raises a 400 TokenError for another scheme, bad base64, bad UTF-8, no ':' or a NUL or
    lone surrogate in the user name. The messages never echo the header (it holds the secret).
    """
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise bad_request("unsupported Authorization scheme: send Basic credentials (robot name and secret)")
    encoded = encoded.strip()
    if len(encoded) > MAX_CREDENTIALS_LENGTH:
        raise bad_request("Authorization header is too long")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise bad_request("malformed Basic Authorization header: expected base64 of name:secret") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise bad_request("malformed Basic Authorization header: no ':' between name and secret")
    try:
        check_text(username, "the user name in the Basic Authorization header")
    except TextInvalid as exc:
        raise bad_request(str(exc)) from None
    return username, password
