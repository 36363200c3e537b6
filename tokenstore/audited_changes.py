"""Changes to robots and their grants together with their audit rows, in one transaction.

The API, the web UI and the command line all change robots through these functions (as the
store's ``*_audited`` methods), so each change is logged once, with the same kind and
metadata whatever asked for it, and a change is never made without its row (or logged
without being made). They run on any store: each one is the store's own methods, given
explicitly, inside ``store.transaction()``.

``actor`` holds the performer fields of ``record_event`` (``performer``, ``performer_kind``,
``ip``); empty for the command line, which marks its rows with ``via="cli"`` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hashing
from .models import IssuedSecret, Permission
from .names import parse_robot_name

if TYPE_CHECKING:
    from .interface import TokenStore


def create_robot_audited(
    store: TokenStore, username: str, description: str = "", unstructured_metadata: dict | None = None, *,
    expires_at: float | None = None, actor: dict | None = None, via: str | None = None,
    new_secret: hashing.NewSecret | None = None,
) -> IssuedSecret:
    """Create a robot (``store.create_robot_expiring``) and log ``create_robot``; its secret
    is ``new_secret`` (made before, e.g. on a bcrypt thread) or one made here.

    Returns the IssuedSecret; raises what ``create_robot_expiring`` raises.
    """
    # The bcrypt hash is made before the transaction takes the write lock (see hashing.new_secret).
    new_secret = new_secret or hashing.new_secret(store.bcrypt_cost)
    with store.transaction():
        issued = store.create_robot_expiring(
            username, description, unstructured_metadata, expires_at=expires_at, new_secret=new_secret,
        )
        _log(
            store, "create_robot", issued.robot.namespace, actor, via,
            robot=issued.robot.shortname, description=description, unstructured_metadata=unstructured_metadata,
        )
    return issued


def regenerate_robot_audited(
    store: TokenStore, username: str, *, grace_seconds: object = 0, expires_at: float | None = None,
    actor: dict | None = None, via: str | None = None, new_secret: hashing.NewSecret | None = None,
) -> IssuedSecret:
    """Replace the robot's secret (``store.rotate_secret``) with ``new_secret`` (or one made
    here) and log ``regenerate_robot_token``.

    Returns the IssuedSecret with the new secret; raises what ``rotate_secret`` raises.
    """
    new_secret = new_secret or hashing.new_secret(store.bcrypt_cost)  # before the write lock, as above
    with store.transaction():
        issued = store.rotate_secret(username, grace_seconds=grace_seconds, expires_at=expires_at, new_secret=new_secret)
        _log(
            store, "regenerate_robot_token", issued.robot.namespace, actor, via,
            robot=issued.robot.shortname, grace_seconds=grace_seconds, expiration=expires_at,
        )
    return issued


def delete_robot_audited(store: TokenStore, username: str, *, actor: dict | None = None, via: str | None = None) -> None:
    """Delete a robot (``store.delete_robot``) and log ``delete_robot``; raises what it raises."""
    name = parse_robot_name(username)
    with store.transaction():
        store.delete_robot(username)
        _log(store, "delete_robot", name.namespace, actor, via, robot=name.shortname)


def grant_audited(
    store: TokenStore, username: str, target: str, role: str, *, actor: dict | None = None, via: str | None = None,
) -> Permission:
    """Give a robot a role (``store.grant``) and log ``change_repo_permission`` or, for a
    whole namespace, ``change_namespace_permission``. Returns the Permission; raises what
    ``grant`` raises."""
    with store.transaction():
        permission = store.grant(username, target, role)
        _log_permission(store, "change", permission.namespace, permission.repository, actor, via,
                        username=username, role=permission.role.value)
    return permission


def revoke_audited(
    store: TokenStore, username: str, target: str, *, actor: dict | None = None, via: str | None = None,
) -> None:
    """Remove a robot's role (``store.revoke``) and log ``delete_repo_permission`` or
    ``delete_namespace_permission``; raises what ``revoke`` raises."""
    namespace, _, repository = target.partition("/")
    with store.transaction():
        store.revoke(username, target)
        _log_permission(store, "delete", namespace, repository or None, actor, via, username=username)


def _log_permission(
    store: TokenStore, verb: str, namespace: str, repository: str | None, actor, via, /, **metadata,
) -> None:
    if repository is None:
        _log(store, f"{verb}_namespace_permission", namespace, actor, via, namespace=namespace, **metadata)
    else:
        _log(store, f"{verb}_repo_permission", namespace, actor, via, repository=repository,
             repo=repository, namespace=namespace, **metadata)


def _log(store: TokenStore, kind: str, namespace: str, actor: dict | None, via: str | None, /, *,
         repository: str | None = None, **metadata) -> None:
    if via is not None:
        metadata["via"] = via
    store.record_event(kind, namespace, **(actor or {}), repository=repository, metadata=metadata)


class AuditedChanges:
    """The functions above as methods of a store (``self`` is the store they run on)."""

    def create_robot_audited(
        self, username: str, description: str = "", unstructured_metadata: dict | None = None, *,
        expires_at: float | None = None, actor: dict | None = None, via: str | None = None,
        new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Create a robot and log ``create_robot`` in one transaction; returns the IssuedSecret
        and raises what ``create_robot_expiring`` raises (``create_robot_audited`` above)."""
        return create_robot_audited(
            self, username, description, unstructured_metadata, expires_at=expires_at, actor=actor, via=via,
            new_secret=new_secret,
        )

    def regenerate_robot_audited(
        self, username: str, *, grace_seconds: object = 0, expires_at: float | None = None,
        actor: dict | None = None, via: str | None = None, new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace the robot's secret and log ``regenerate_robot_token`` in one transaction;
        returns the IssuedSecret and raises what ``rotate_secret`` raises (``regenerate_robot_audited`` above)."""
        return regenerate_robot_audited(
            self, username, grace_seconds=grace_seconds, expires_at=expires_at, actor=actor, via=via,
            new_secret=new_secret,
        )

    def delete_robot_audited(self, username: str, *, actor: dict | None = None, via: str | None = None) -> None:
        """Delete a robot and log ``delete_robot`` in one transaction; raises what ``delete_robot`` raises."""
        delete_robot_audited(self, username, actor=actor, via=via)

    def grant_audited(
        self, username: str, target: str, role: str, *, actor: dict | None = None, via: str | None = None,
    ) -> Permission:
        """Give a robot a role and log it in one transaction; returns the Permission and raises
        what ``grant`` raises (``grant_audited`` above)."""
        return grant_audited(self, username, target, role, actor=actor, via=via)

    def revoke_audited(self, username: str, target: str, *, actor: dict | None = None, via: str | None = None) -> None:
        """Remove a robot's role and log it in one transaction; raises what ``revoke`` raises."""
        revoke_audited(self, username, target, actor=actor, via=via)
