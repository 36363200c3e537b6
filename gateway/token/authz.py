"""What the asker may do: the ``Authorizer`` seam, and the one regauth uses (the roles in the store).

A denial is a result, not an error: a scope the principal holds nothing on comes back with no
actions, and the token simply carries fewer (or none).
"""

from collections.abc import Sequence
from typing import Protocol

from tokenstore import Principal
from tokenstore.interface import TokenStore

from .scopes import Scope
from .tokens import Access


class Authorizer(Protocol):
    """Grants a principal a subset of the scopes it asked for."""

    def authorize(self, principal: Principal, scopes: Sequence[Scope]) -> list[Access]:
        """Return one Access per requested scope, in the order asked, with the subset of its
        actions granted (possibly none). Synchronous: call it on a database thread, or in
        the transaction that issues the token. Raises StoreUnavailable when the store could
        not answer."""
        ...


class StoreRoles:
    """Grants what the principal's roles allow: the store's ``authorize``, deny by default."""

    def __init__(self, store: TokenStore):
        self._store = store

    def authorize(self, principal: Principal, scopes: Sequence[Scope]) -> list[Access]:
        """See ``Authorizer.authorize``."""
        granted = []
        for scope in scopes:
            actions = self._store.authorize(principal, scope.resource, scope.actions)
            # Keep the order the client asked in; the registry does not care, people reading tokens do.
            granted.append(
                Access(scope.resource.type, scope.resource.name, tuple(a for a in scope.actions if a in actions))
            )
        return granted
