"""The audit log's page tokens, shared by the API (``next_page``) and the web UI (``before``)."""

import base64
import binascii
import json


class PageTokenInvalid(ValueError):
    """Raised when a page token is not one an earlier reply gave."""


def encode_page(cursor: tuple[float, int]) -> str:
    """Return the page token for a store cursor. Not secret: it only says where the next page
    starts, and every page is still limited to the caller's namespace."""
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode().rstrip("=")


def decode_page(token: str | None) -> tuple[float, int] | None:
    """Return the store cursor of a page token, None for none; raises PageTokenInvalid when
    it is not one."""
    if not token:
        return None
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(created, bool) or not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError
        if not 0 <= row_id < 2**63:
            raise ValueError
        return float(created), row_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError, OverflowError):
        raise PageTokenInvalid("not a page token from an earlier reply") from None
