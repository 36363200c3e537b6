"""App-specific tokens (Quay's ``/api/v1/user/apptoken``): how a person logs in to the registry.

A user creates a token with a title; ``docker login`` then takes the user name ``$app`` (or
the user's own name) and the token as the password. The token is Quay's format, 120
characters from ``[A-Z0-9]``, shown once: only its SHA-256 is stored (with that much
randomness nothing can be guessed, so a lookup by digest costs one index probe instead of a
bcrypt run). A token may expire; revoking it ends it at the next token request.
"""

import hashlib
import secrets
import string
from dataclasses import dataclass, field

from .errors import NameInvalid, NotFound

# The user name that says "the password is an app token, whoever's it is" (Quay's).
APP_TOKEN_USERNAME = "$app"
APP_TOKEN_ALPHABET = string.ascii_uppercase + string.digits
APP_TOKEN_LENGTH = 120
TITLE_MAX = 255
# ``?expiring=true`` lists the tokens expiring within this many seconds: Quay's window, a
# tenth of its default token lifetime of four weeks.
EXPIRING_WINDOW = 241_920
# last_accessed is written at most once per token per this many seconds.
APP_TOKEN_USE_INTERVAL = 60.0



class AppTokenNotFound(NotFound):
    """Raised when no live app token of the user has the uuid given."""


@dataclass(frozen=True)
class AppToken:
    """An app token's metadata (never the token or its digest)."""

    id: int
    uuid: str
    username: str
    title: str
    created: float
    expires_at: float | None
    last_accessed: float | None

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class IssuedAppToken:
    """A new app token with its clear text; returned only when it is created."""

    info: AppToken
    token: str = field(repr=False)


def new_app_token() -> str:
    """Return a new token: APP_TOKEN_LENGTH characters from [A-Z0-9] (about 620 bits)."""
    return "".join(secrets.choice(APP_TOKEN_ALPHABET) for _ in range(APP_TOKEN_LENGTH))


def has_app_token_shape(token: object) -> bool:
    """Return True when ``token`` is text of APP_TOKEN_LENGTH characters from the alphabet."""
    return (
        isinstance(token, str) and len(token) == APP_TOKEN_LENGTH
        and all(character in APP_TOKEN_ALPHABET for character in token)
    )


def app_token_digest(token: str) -> str:
    """Return the stored form of a token: the hex SHA-256 of its text."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def claims_person(username: object) -> bool:
    """Return True when a login's user name is a person's: ``$app``, or a name without the
    robot separator ``+`` (every robot name has one)."""
    return isinstance(username, str) and (username == APP_TOKEN_USERNAME or "+" not in username)


def check_title(title: object) -> str:
    """Return ``title`` if a token may carry it (text of 1 to TITLE_MAX characters); raises NameInvalid."""
    if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX:
        raise NameInvalid(f"the token's title must be text of 1 to {TITLE_MAX} characters")
    return title


def check_expiry(expires_at: float | None, now: float) -> float | None:
    """Return ``expires_at`` when it is None (never) or after ``now``; raises NameInvalid."""
    if expires_at is not None and expires_at <= now:
        raise NameInvalid("the token's expiration must be in the future")
    return expires_at
