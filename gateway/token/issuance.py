"""Issuing a robot's token: the last check of its credential, its grant and its audit row,
in one write transaction.

A credential can be taken away (robot deleted, secret regenerated, grant revoked, federation
removed) while a login waits for its bcrypt check. So the credential is confirmed once more,
the scopes authorized and the audit row written in one job on the writer thread
(``Offload.write``), whose ``BEGIN IMMEDIATE`` transaction is serialized with every change
that takes a credential away: a change that answered 2xx before it began is seen by it, and
the token is minted only once it committed. No audit row, no token.
"""

from dataclasses import dataclass, field

from aiohttp import web

from tokenstore import Principal
from tokenstore.interface import TokenStore

from ..appkeys import STORE
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


def authorize_all(store: TokenStore, principal: Principal, scopes: list[Scope]) -> list[Access]:
    """Return one Access per requested scope with the subset of its actions the principal is
    granted (on a database thread)."""
    granted = []
    for scope in scopes:
        actions = store.authorize(principal, scope.resource, scope.actions)
        # Keep the order the client asked in; the registry does not care, people reading tokens do.
        granted.append(Access(scope.resource.type, scope.resource.name, tuple(a for a in scope.actions if a in actions)))
    return granted


class Issuance:
    """One token request's grant, refresh token and audit row, to be written in the writer's
    transaction once its principal is confirmed; calling it does that and returns Issued."""

    def __init__(self, request: web.Request, scopes: list[Scope], *, refresh_client_id: str | None = None):
        """``refresh_client_id`` (None: no refresh token) is the client a refresh token is for."""
        self._store = request.app[STORE]
        self._scopes = scopes
        # The audit rows' ip and user_agent; a refused login's row and the throttle use them too.
        self.client = client_fields(request)
        self._refresh_client_id = refresh_client_id

    def __call__(self, principal: Principal) -> Issued:
        """On the writer thread, with ``principal`` confirmed in this transaction: authorize,
        issue the refresh token if asked for, write ``login_success`` and ``issue_token``.

        A keyless credential gets no refresh token (it lasts an hour; a refresh token must
        not outlive it). Raises InvalidCredentials when the secret a refresh token would be
        bound to is gone, and the database's error when a row cannot be written.
        """
        store = self._store
        access = authorize_all(store, principal, self._scopes)
        refresh_token = None
        if self._refresh_client_id is not None and principal.secret_id is not None:
            refresh_token = store.issue_refresh_token(principal, self._refresh_client_id)
        store.record_robot_login(
            principal.username, success=True,
            scopes=[f"{s.resource.type}:{s.resource.name}:{','.join(s.actions)}" for s in self._scopes],
            access=[a.claim() for a in access], **self.client,
        )
        return Issued(principal, access, refresh_token)

    def for_federated(self, username: str, credential: str) -> Issued:
        """On the writer thread: check a keyless credential, then issue. Raises InvalidCredentials."""
        return self(self._store.authenticate_federated(username, credential))

    def for_refresh_token(self, token: str) -> Issued:
        """On the writer thread: redeem a refresh token, then issue. Raises InvalidCredentials."""
        return self(self._store.redeem_refresh_token(token))
