"""Refresh tokens: what docker keeps in config.json instead of the robot's secret.

When a login asks for an offline token (docker's ``offline_token=true``), the gateway issues
a refresh token; docker stores it as ``identitytoken`` and from then on trades it for access
tokens with ``POST /token``. A refresh token

- is 256 random bits with its own prefix; only its SHA-256 is stored (with that much
  randomness nothing can be guessed, so bcrypt would only slow every pull down);
- is bound to the robot and to the secret it was obtained with, and is valid exactly while
  that secret is: regenerating the secret (after the grace period, if any), its expiry, or
  deleting the robot or namespace ends it, checked by a join at every use (a secret replaced
  without grace stays ended whatever the clock does, and so do its refresh tokens);
- never rotates: docker ignores a new one in a reply, so the same token is redeemed for as
  long as its secret lives, across regauth restarts.
"""

import secrets

REFRESH_TOKEN_PREFIX = "rgref_"
# A login loop must not grow the table without bound: beyond this many live refresh tokens
# per secret the oldest are dropped (their clients then have to log in again).
MAX_REFRESH_TOKENS_PER_SECRET = 1000
MAX_CLIENT_ID_LENGTH = 255
# last_used is written at most once per token per this many seconds.
REFRESH_TOKEN_USE_INTERVAL = 60.0

REFRESH_TOKEN_INVALID = (
    "this saved login is no longer valid: the robot's secret was regenerated or expired, or the"
    " robot was deleted"
)


def new_refresh_token() -> str:
    """Return a new refresh token: REFRESH_TOKEN_PREFIX and 256 random bits."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def has_refresh_token_shape(token: object) -> bool:
    """Return True when ``token`` is text with the refresh token prefix."""
    return isinstance(token, str) and token.startswith(REFRESH_TOKEN_PREFIX)
