"""Robot controls beyond Quay's: disabling a robot without deleting it, and a robot that
regenerates its own secret when its namespace allows it.

Each change is written with its audit row in one transaction (as ``audited_changes``):
``disable_robot`` / ``enable_robot``, ``change_robot_settings``, and for a robot's own
regeneration ``regenerate_robot_token`` with the robot as performer. A self-regeneration
checks the namespace's setting inside that transaction, so a setting switched off is
obeyed from the next request on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import hashing
from .audited_changes import regenerate_robot_audited
from .errors import InvalidCredentials, SelfRegenerateNotAllowed
from .models import IssuedSecret, Principal, Robot
from .names import parse_robot_name

if TYPE_CHECKING:
    from .interface import TokenStore


@dataclass(frozen=True)
class RobotSettings:
    """A namespace's robot settings: ``self_regenerate`` lets its robots regenerate their
    own secrets (off by default)."""

    namespace: str
    self_regenerate: bool

    def as_dict(self) -> dict:
        return {"namespace": self.namespace, "self_regenerate": self.self_regenerate}


def set_robot_enabled_audited(
    store: TokenStore, username: str, enabled: bool, *, actor: dict | None = None, via: str | None = None,
) -> Robot:
    """Enable or disable a robot (``store.set_robot_disabled``) and, when that changed
    anything, log ``enable_robot`` or ``disable_robot``. Returns the Robot; raises
    NameInvalid or RobotNotFound."""
    name = parse_robot_name(username)
    with store.transaction():
        robot, changed = store.set_robot_disabled(username, not enabled)
        if changed:
            _log(store, "enable_robot" if enabled else "disable_robot", name.namespace, actor, via,
                 robot=name.shortname)
    return robot


def set_robot_settings_audited(
    store: TokenStore, namespace: str, *, self_regenerate: bool, actor: dict | None = None, via: str | None = None,
) -> RobotSettings:
    """Change a namespace's robot settings and log ``change_robot_settings``; returns the
    settings, raises NamespaceNotFound."""
    with store.transaction():
        settings = store.set_robot_settings(namespace, self_regenerate=self_regenerate)
        _log(store, "change_robot_settings", namespace, actor, via, self_regenerate=settings.self_regenerate)
    return settings


def self_regenerate_audited(
    store: TokenStore, principal: Principal, *, ip: str | None = None, grace_seconds: object = 0,
    new_secret: hashing.NewSecret | None = None,
) -> IssuedSecret:
    """Replace the secret of the robot ``principal`` when its namespace allows it, and log
    ``regenerate_robot_token`` with the robot as performer; the principal is confirmed
    (robot enabled, secret live) in the same transaction.

    Returns the IssuedSecret; raises SelfRegenerateNotAllowed when the setting is off,
    InvalidCredentials for a principal that is not a robot logged in with its secret, or one
    that no longer holds (deleted, disabled, secret replaced).
    """
    if not principal.is_robot or principal.secret_id is None:
        raise InvalidCredentials("only a robot logged in with its secret can regenerate it")
    name = parse_robot_name(principal.username)
    new_secret = new_secret or hashing.new_secret(store.bcrypt_cost)
    with store.transaction():
        if not store.confirm(principal):
            raise InvalidCredentials()
        if not store.robot_settings(name.namespace).self_regenerate:
            raise SelfRegenerateNotAllowed(
                f"the robots of {name.namespace!r} may not regenerate their own secrets: an admin of"
                f" {name.namespace!r} can allow it (robot setting self_regenerate)"
            )
        actor = {"performer": principal.username, "performer_kind": "robot", "ip": ip}
        return regenerate_robot_audited(
            store, principal.username, grace_seconds=grace_seconds, actor=actor, new_secret=new_secret,
        )


def _log(store: TokenStore, kind: str, namespace: str, actor: dict | None, via: str | None, /, **metadata) -> None:
    if via is not None:
        metadata["via"] = via
    store.record_event(kind, namespace, **(actor or {}), metadata=metadata)


class RobotControlChanges:
    """The audited changes above as methods of a store (``self`` is the store)."""

    def set_robot_enabled_audited(
        self, username: str, enabled: bool, *, actor: dict | None = None, via: str | None = None,
    ) -> Robot:
        """Enable or disable a robot and log it in one transaction; returns the Robot (see
        ``set_robot_enabled_audited`` above)."""
        return set_robot_enabled_audited(self, username, enabled, actor=actor, via=via)

    def set_robot_settings_audited(
        self, namespace: str, *, self_regenerate: bool, actor: dict | None = None, via: str | None = None,
    ) -> RobotSettings:
        """Change a namespace's robot settings and log it in one transaction; returns them
        (see ``set_robot_settings_audited`` above)."""
        return set_robot_settings_audited(self, namespace, self_regenerate=self_regenerate, actor=actor, via=via)

    def self_regenerate_audited(
        self, principal: Principal, *, ip: str | None = None, grace_seconds: object = 0,
        new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """A robot's regeneration of its own secret, allowed by its namespace, logged in one
        transaction; returns the IssuedSecret (see ``self_regenerate_audited`` above)."""
        return self_regenerate_audited(self, principal, ip=ip, grace_seconds=grace_seconds, new_secret=new_secret)
