"""Who is asking: the ``Authenticator`` seam, and the four kinds of credential regauth takes.

An authenticator is given the presented ``Credentials`` and a ``then``: the issuance, which
must run in the same writer transaction as the last check of the credential (nothing may
take the credential away in between). It returns ``Authenticated`` (the Principal and what
``then`` returned), None when the credentials are not its kind (the next one tries), raises
InvalidCredentials for a refusal, and StoreUnavailable when it could not answer (never a
refusal). docs/architecture.md, "Who is asking", says why ``then`` is passed in.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from tokenstore import AccessReads, InvalidCredentials, Principal
from tokenstore.app_tokens import claims_person
from tokenstore.federation import is_federated_credential
from tokenstore.interface import TokenStore

from ..offload import Offload
from .credential_cache import CredentialChecker
from .login_throttle import LoginThrottle, Ticket

T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """What a client presented: a user name (empty for a refresh token) and a password (a
    robot's secret, a keyless credential, an app token or a refresh token), from ``address``
    (None when unknown)."""

    username: str
    password: str = field(repr=False)
    address: str | None = None


@dataclass(frozen=True)
class Authenticated(Generic[T]):
    """A principal confirmed in a writer transaction, and what ``then`` returned in it."""

    principal: Principal
    outcome: T


class Authenticator(Protocol):
    """Tells who presented ``credentials``, for one kind of credential."""

    async def authenticate(self, credentials: Credentials, then: Callable[[Principal], T]) -> Authenticated[T] | None:
        """Return the Principal confirmed in one writer transaction with ``then(principal)``
        run in it, or None when ``credentials`` are not of this authenticator's kind.

        Raises InvalidCredentials when they are, and are refused (also when ``then`` raises
        it); StoreUnavailable when the store could not answer; a TokenError (429, 503) when
        the login throttle refuses the check; what ``then`` raised.
        """
        ...


async def authenticate(
    authenticators: Sequence[Authenticator], credentials: Credentials, then: Callable[[Principal], T],
) -> Authenticated[T]:
    """Try ``authenticators`` in order; return the first answer that is not None. Raises
    InvalidCredentials when none claims the credentials, and whatever the one that does
    raises."""
    for authenticator in authenticators:
        authenticated = await authenticator.authenticate(credentials, then)
        if authenticated is not None:
            return authenticated
    raise InvalidCredentials()


class _IndexedLookup:
    """A credential checked by one indexed lookup in the issuing transaction itself (no
    bcrypt, no cache), so a revoked one is refused at the next request in every worker. A
    refusal counts against the client's address only: these credentials are long random
    strings that leave a guesser no name to aim at.

    A subclass says which credentials are its kind (``claims``) and how the store checks
    them (``lookup``)."""

    def __init__(self, store: TokenStore, offload: Offload, throttle: LoginThrottle):
        self._store = store
        self._offload = offload
        self._throttle = throttle

    def claims(self, credentials: Credentials) -> bool:
        """Return True when ``credentials`` are of this kind."""
        raise NotImplementedError

    def lookup(self, credentials: Credentials) -> Principal:
        """Return the Principal the store finds for ``credentials``, in the caller's
        transaction. Raises InvalidCredentials for a refusal."""
        raise NotImplementedError

    async def authenticate(self, credentials: Credentials, then: Callable[[Principal], T]) -> Authenticated[T] | None:
        """See ``Authenticator.authenticate``; None when ``claims`` says they are not this kind."""
        if not self.claims(credentials):
            return None
        await self._throttle.admit_address(credentials.address)
        try:
            return await self._offload.write(self._check_then, credentials, then)
        except InvalidCredentials:
            self._throttle.failed(credentials.address, None)
            raise

    def _check_then(self, credentials: Credentials, then: Callable[[Principal], T]) -> Authenticated[T]:
        principal = self.lookup(credentials)
        return Authenticated(principal, then(principal))


class KeylessCredentials(_IndexedLookup):
    """The ``rgfed_...`` credentials of ``/oauth2/federation/robot/token``."""

    def claims(self, credentials: Credentials) -> bool:
        """Return True for a password with the keyless prefix."""
        return is_federated_credential(credentials.password)

    def lookup(self, credentials: Credentials) -> Principal:
        """Return the keyless robot's Principal; raises InvalidCredentials."""
        return self._store.authenticate_federated(credentials.username, credentials.password)


class AppTokens(_IndexedLookup):
    """A person's app token, with the user name ``$app`` or their own. Claims every name that
    cannot be a robot's (no ``+``): it comes before ``RobotSecrets``."""

    def claims(self, credentials: Credentials) -> bool:
        """Return True for a person's user name."""
        return claims_person(credentials.username)

    def lookup(self, credentials: Credentials) -> Principal:
        """Return the person's Principal; raises InvalidCredentials."""
        return self._store.authenticate_app_token(credentials.username, credentials.password)


class RobotSecrets:
    """A robot's name and secret: one bcrypt check, then the verified-credential cache
    (``credential_cache``), each use confirmed in the issuing transaction. Every bcrypt check
    is first admitted by the login throttle, and a refusal counts against the address and
    the name. It claims every credential it is given: it comes last."""

    def __init__(self, checker: CredentialChecker, throttle: LoginThrottle):
        self._checker = checker
        self._throttle = throttle

    async def authenticate(self, credentials: Credentials, then: Callable[[Principal], T]) -> Authenticated[T]:
        """See ``Authenticator.authenticate``; never None."""
        throttle, username, address = self._throttle, credentials.username, credentials.address
        admitted: list[Ticket] = []

        async def admit_check(pending: int) -> None:
            admitted.append(await throttle.admit_check(address, username, pending))
            await throttle.take_turn(admitted[-1])

        try:
            principal, outcome = await self._checker.authenticate_then(
                username, credentials.password, then, before_cold=admit_check,
            )
        except InvalidCredentials:
            throttle.failed(address, username)
            while admitted:  # before the caller's audit write: the next suspect check's turn comes now
                throttle.check_done(admitted.pop())
            raise
        finally:
            for ticket in admitted:
                throttle.check_done(ticket)
        return Authenticated(principal, outcome)


class RefreshTokens:
    """A refresh token (``POST /token``, ``grant_type=refresh_token``) as the password, no
    user name: redeemed in the issuing transaction, where it stands for the robot's secret it
    was issued with. Not in the login list: only the refresh grant presents one."""

    def __init__(self, store: TokenStore, offload: Offload):
        self._store = store
        self._offload = offload

    async def authenticate(self, credentials: Credentials, then: Callable[[Principal], T]) -> Authenticated[T]:
        """See ``Authenticator.authenticate``; never None. The redemption, and the roles on
        the repositories ``then`` names (an Issuance's ``repositories``), are read ahead
        with the rest of the writer's batch where the store can."""
        reads = AccessReads(None, getattr(then, "repositories", ()), refresh_token=credentials.password)
        return await self._offload.write_reading(reads, self._redeem_then, credentials, then)

    def _redeem_then(self, credentials: Credentials, then: Callable[[Principal], T]) -> Authenticated[T]:
        principal = self._store.redeem_refresh_token(credentials.password)
        return Authenticated(principal, then(principal))
