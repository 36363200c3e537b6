"""Issuing a token: the last check of its credential, its grant and its audit row, in one
write transaction (``Offload.write``). No audit row, no token; the token is minted only once
the transaction committed. docs/architecture.md, "Issuing a token", says why.
"""

from dataclasses import dataclass, field

from aiohttp import web

from tokenstore import AccessReads, Principal

from ..appkeys import AUTHORIZER, STORE
from .audit import client_fields
from .scopes import Scope
from .tokens import Access


@dataclass(frozen=True)
class Issued:
    """What a committed issuance grants: the principal, one Access per requested scope and,
    when one was asked for, a refresh token."""

    principal: Principal
    access: list[Access]
    refresh_token: str | None = field(default=None, repr=False)


class Issuance:
    """One token request's grant, refresh token and audit row, to be written in the writer's
    transaction once its principal is confirmed there (an authenticator's ``then``); calling
    it does that and returns Issued."""

    def __init__(self, request: web.Request, scopes: list[Scope], *, refresh_client_id: str | None = None):
        """``refresh_client_id`` (None: no refresh token) is the client a refresh token is for."""
        self._store = request.app[STORE]
        self._authorizer = request.app[AUTHORIZER]
        self._scopes = scopes
        # The audit rows' ip and user_agent; a refused login's row and the throttle use them too.
        self.client = client_fields(request)
        self._refresh_client_id = refresh_client_id

    @property
    def repositories(self) -> tuple[str, ...]:
        """The repositories the token is asked for (whose roles issuing it reads)."""
        return tuple(s.resource.name for s in self._scopes if s.resource.type == "repository")

    def reads(self, principal: Principal) -> AccessReads:
        """Return what confirming ``principal`` and issuing to it will read: its role on each
        repository asked for (``credential_cache.ReadsAhead``)."""
        return AccessReads(principal, self.repositories)

    def __call__(self, principal: Principal) -> Issued:
        """On the writer thread, with ``principal`` confirmed in this transaction: authorize,
        issue the refresh token if asked for, write ``login_success`` and ``issue_token``.

        A keyless credential gets no refresh token (it lasts an hour; a refresh token must
        not outlive it), nor does a person's app token (docker then keeps the token and sends
        it at each login, where a revocation is seen). Raises InvalidCredentials when the
        secret a refresh token would be bound to is gone, the database's error when a row
        cannot be written, and TypeError for a principal that is neither a robot nor a person.
        """
        if not (principal.is_robot or principal.is_user):
            # Another kind brings its own audit row and refresh token binding, and until
            # then gets no token.
            raise TypeError(f"no token issuance for a {principal.kind} principal")
        store = self._store
        access = self._authorizer.authorize(principal, self._scopes)
        refresh_token = None
        if self._refresh_client_id is not None and principal.is_robot and principal.secret_id is not None:
            refresh_token = store.issue_refresh_token(principal, self._refresh_client_id)
        scopes = [f"{s.resource.type}:{s.resource.name}:{','.join(s.actions)}" for s in self._scopes]
        claims = [a.claim() for a in access]
        if principal.is_user:
            store.record_user_login(
                principal.username, success=True, scopes=scopes, access=claims, token_title=principal.token_title,
                **self.client,
            )
        else:
            store.record_robot_login(principal.username, success=True, scopes=scopes, access=claims, **self.client)
        return Issued(principal, access, refresh_token)
