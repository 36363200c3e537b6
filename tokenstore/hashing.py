"""Robot secrets: generation, bcrypt hashing and verification.

Secrets are 64 characters from ``[A-Z0-9]`` (Quay's format, about 331 bits) drawn with the
``secrets`` module. Only their bcrypt hash is stored.
"""

import hashlib
import secrets
import string
from functools import lru_cache
from typing import NamedTuple

import bcrypt

from .errors import SecretInvalid

SECRET_ALPHABET = string.ascii_uppercase + string.digits
_ALPHABET = frozenset(SECRET_ALPHABET)
SECRET_LENGTH = 64
# bcrypt only reads the first 72 bytes; bcrypt 5 raises ValueError beyond them.
BCRYPT_MAX_BYTES = 72
# Bits of a secret's SHA-256 stored next to its hash: enough that the live secrets of a robot
# (at most two) never share one, few enough to tell nothing useful about a 331-bit secret.
SELECTOR_BITS = 16


def generate_secret() -> str:
    """Return a new random secret of 64 characters from [A-Z0-9]."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


def selector(secret: str) -> int:
    """Return the secret's selector: the first SELECTOR_BITS bits of its SHA-256, as an int.

    Stored with each secret so that a login bcrypt-checks only the live secret whose selector
    matches what was presented: one check per login, however many secrets the robot has.
    """
    digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - SELECTOR_BITS)


def hash_secret(secret: str, cost: int) -> str:
    """Return the bcrypt hash of ``secret`` at ``cost`` rounds, as text."""
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=cost)).decode()


class NewSecret(NamedTuple):
    """A freshly generated secret and its bcrypt hash; its repr shows neither."""

    secret: str
    hashed: str

    def __repr__(self) -> str:
        return "NewSecret(secret=<hidden>, hashed=<hidden>)"


def new_secret(cost: int) -> NewSecret:
    """Return a new secret with its bcrypt hash at ``cost`` (the slow part: ~0.25 s at 12).

    Made before a write transaction begins, never inside one: the transaction holds the
    database's write lock from its start, and every other writer would wait out the hash.
    """
    secret = generate_secret()
    return NewSecret(secret, hash_secret(secret, cost))


def check_given_secret(secret: object) -> str:
    """Return ``secret`` when it has the format of the secrets made here (SECRET_LENGTH
    characters from SECRET_ALPHABET), as one brought over from Quay has.

    Raises SecretInvalid otherwise, with a message that never repeats the secret.
    """
    if not isinstance(secret, str):
        raise SecretInvalid("the secret must be text")
    if len(secret) != SECRET_LENGTH or not set(secret) <= _ALPHABET:
        raise SecretInvalid(
            f"the secret must be exactly {SECRET_LENGTH} characters from A-Z and 0-9"
            f" (it has {len(secret)} characters{'' if set(secret) <= _ALPHABET else ', some of them not allowed'})"
        )
    return secret


def given_secret(secret: object, cost: int) -> NewSecret:
    """Return an existing secret (migrated from elsewhere) with its bcrypt hash at ``cost``;
    raises SecretInvalid unless ``check_given_secret`` accepts it. Slow like ``new_secret``."""
    checked = check_given_secret(secret)
    return NewSecret(checked, hash_secret(checked, cost))


@lru_cache(maxsize=None)
def dummy_hash(cost: int) -> bytes:
    """Return a fixed bcrypt hash at ``cost``, checked against when no real hash exists.

    Checking against it costs the same time as a real check, so an unknown name cannot be
    told from a wrong secret by timing.
    """
    return bcrypt.hashpw(generate_secret().encode(), bcrypt.gensalt(rounds=cost))


def verify_secret(secret: str, hashed: str | bytes | None, cost: int) -> bool:
    """Return True when ``secret`` matches ``hashed``; False otherwise.

    Always runs exactly one bcrypt check (against a dummy hash when ``hashed`` is None or
    the secret cannot be checked), so every failure takes the time of a success.
    bcrypt's comparison is constant time.
    """
    candidate = secret.encode("utf-8", "surrogateescape")
    usable = hashed is not None and len(candidate) <= BCRYPT_MAX_BYTES
    target = (hashed.encode() if isinstance(hashed, str) else hashed) if usable else dummy_hash(cost)
    try:
        matched = bcrypt.checkpw(candidate[:BCRYPT_MAX_BYTES], target)
    except ValueError:
        # A malformed stored hash: treat as no match rather than leaking an error.
        return False
    return matched and usable
