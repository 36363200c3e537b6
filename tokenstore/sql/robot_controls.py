"""Switching a robot off and on, and a namespace's robot settings (the rules and the audited
changes: ``tokenstore.robot_controls``)."""

from ..errors import NamespaceNotFound
from ..models import Robot
from ..robot_controls import RobotSettings
from . import robots
from .base import QueryBase
from .connection import SqlDatabase


def robot_settings(db: SqlDatabase, namespace: str) -> RobotSettings:
    """Return the robot settings of the live namespace ``namespace``; raises NamespaceNotFound."""
    row = db.execute(
        "SELECT name, robot_self_regenerate FROM namespaces WHERE name = ? AND deleted_at IS NULL", [namespace],
    ).fetchone()
    if row is None:
        raise NamespaceNotFound(f"namespace {namespace!r} does not exist")
    return RobotSettings(row[0], bool(row[1]))


class RobotControlQueries(QueryBase):
    """Store methods for disabling robots and for a namespace's robot settings."""

    def set_robot_disabled(self, username: str, disabled: bool) -> tuple[Robot, bool]:
        """Disable (``disabled``) or enable the live robot ``username``; returns the Robot and
        whether anything changed (disabling a disabled robot keeps when it was disabled).

        Takes effect at the robot's next request: ``confirm`` and every login check refuse a
        disabled robot. Raises NameInvalid or RobotNotFound.
        """
        robot = robots.get_robot(self.db, username)
        if robot.enabled != disabled:
            return robot, False
        self.db.execute(
            "UPDATE robots SET disabled_at = ? WHERE id = ?", [self.clock() if disabled else None, robot.id],
        )
        return robots.get_robot(self.db, username), True

    def robot_settings(self, namespace: str) -> RobotSettings:
        """Return the robot settings of ``namespace``; raises NamespaceNotFound."""
        return robot_settings(self.db, namespace)

    def set_robot_settings(self, namespace: str, *, self_regenerate: bool) -> RobotSettings:
        """Let the robots of ``namespace`` regenerate their own secrets, or not; returns the
        settings. Raises NamespaceNotFound."""
        robot_settings(self.db, namespace)
        self.db.execute(
            "UPDATE namespaces SET robot_self_regenerate = ? WHERE name = ? AND deleted_at IS NULL",
            [int(bool(self_regenerate)), namespace],
        )
        return robot_settings(self.db, namespace)
