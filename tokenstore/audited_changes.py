"""Changes to robots and their grants together with their audit rows, in one transaction.

The API, the web UI and the command line all change robots through these methods, so each
change is logged once, with the same kind and metadata whatever asked for it, and a change
is never made without its row (or logged without being made).

``actor`` holds the performer fields of ``AuditMixin.record_event`` (``performer``,
``performer_kind``, ``ip``); empty for the command line, which marks its rows with
``via="cli"`` instead.
"""

from . import hashing
from .models import IssuedSecret, Permission
from .names import parse_robot_name


class AuditedChangesMixin:
    """Robot and grant changes that write their own audit rows (needs AuditMixin)."""

    def create_robot_audited(
        self, username: str, description: str = "", unstructured_metadata: dict | None = None, *,
        expires_at: float | None = None, actor: dict | None = None, via: str | None = None,
        new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Create a robot (see ``create_robot_expiring``) and log ``create_robot``; its secret
        is ``new_secret`` (made before, e.g. on a bcrypt thread) or one made here.

        Returns the IssuedSecret; raises what ``create_robot_expiring`` raises.
        """
        # The bcrypt hash is made before the transaction takes the write lock (see hashing.new_secret).
        new_secret = new_secret or hashing.new_secret(self.bcrypt_cost)
        with self.db.atomic():
            issued = self.create_robot_expiring(
                username, description, unstructured_metadata, expires_at=expires_at, new_secret=new_secret,
            )
            self._log(
                "create_robot", issued.robot.namespace, actor, via,
                robot=issued.robot.shortname, description=description, unstructured_metadata=unstructured_metadata,
            )
        return issued

    def regenerate_robot_audited(
        self, username: str, *, grace_seconds: object = 0, expires_at: float | None = None,
        actor: dict | None = None, via: str | None = None, new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace the robot's secret (see ``rotate_secret``) with ``new_secret`` (or one made
        here) and log ``regenerate_robot_token``.

        Returns the IssuedSecret with the new secret; raises what ``rotate_secret`` raises.
        """
        new_secret = new_secret or hashing.new_secret(self.bcrypt_cost)  # before the write lock, as above
        with self.db.atomic():
            issued = self.rotate_secret(
                username, grace_seconds=grace_seconds, expires_at=expires_at, new_secret=new_secret,
            )
            self._log(
                "regenerate_robot_token", issued.robot.namespace, actor, via,
                robot=issued.robot.shortname, grace_seconds=grace_seconds, expiration=expires_at,
            )
        return issued

    def delete_robot_audited(self, username: str, *, actor: dict | None = None, via: str | None = None) -> None:
        """Delete a robot (see ``delete_robot``) and log ``delete_robot``."""
        name = parse_robot_name(username)
        with self.db.atomic():
            self.delete_robot(username)
            self._log("delete_robot", name.namespace, actor, via, robot=name.shortname)

    def grant_audited(
        self, username: str, target: str, role: str, *, actor: dict | None = None, via: str | None = None,
    ) -> Permission:
        """Give a robot a role (see ``grant``) and log ``change_repo_permission`` or, for a
        whole namespace, ``change_namespace_permission``. Returns the Permission."""
        with self.db.atomic():
            permission = self.grant(username, target, role)
            self._log_permission("change", permission.namespace, permission.repository, actor, via,
                                 username=username, role=permission.role.value)
        return permission

    def revoke_audited(self, username: str, target: str, *, actor: dict | None = None, via: str | None = None) -> None:
        """Remove a robot's role (see ``revoke``) and log ``delete_repo_permission`` or
        ``delete_namespace_permission``."""
        namespace, _, repository = target.partition("/")
        with self.db.atomic():
            self.revoke(username, target)
            self._log_permission("delete", namespace, repository or None, actor, via, username=username)

    def _log_permission(self, verb: str, namespace: str, repository: str | None, actor, via, /, **metadata) -> None:
        if repository is None:
            self._log(f"{verb}_namespace_permission", namespace, actor, via, namespace=namespace, **metadata)
        else:
            self._log(f"{verb}_repo_permission", namespace, actor, via, repository=repository,
                      repo=repository, namespace=namespace, **metadata)

    def _log(self, kind: str, namespace: str, actor: dict | None, via: str | None, /, *,
             repository: str | None = None, **metadata) -> None:
        if via is not None:
            metadata["via"] = via
        self.record_event(kind, namespace, **(actor or {}), repository=repository, metadata=metadata)
