"""The JSON objects of the management API, in the shapes of Quay's API v1.

Dates are RFC 2822 from ``presenters.quay_date``, the one date formatter; the robot object
itself is ``presenters.robot_view``, which the web UI's actions reply with too.
"""

from tokenstore import AuditEvent, Membership, Namespace, Permission, Repository, Robot, User

from ..management.presenters import quay_date, robot_view


def robot_list_entry(robot: Robot, repositories: list[str] | None = None) -> dict:
    """A robot in a list, with ``enabled`` (ours); with ``repositories`` (``?permissions=true``) also Quay's ``teams``
    (always empty here) and ``repositories`` (names of the repositories it has a role on)."""
    body = {**robot_view(robot), "enabled": robot.enabled}
    if repositories is not None:
        body["teams"] = []
        body["repositories"] = repositories
    return body


def robot_permission_view(permission: Permission) -> dict:
    """One entry of ``.../robots/{short}/permissions``: a repository and the role on it."""
    return {
        "repository": {"name": permission.repository, "is_public": permission.is_public},
        "role": permission.role.value,
    }


def namespace_permission_view(permission: Permission | None) -> dict | None:
    """A robot's namespace-wide role (our extension), or None when it has none."""
    if permission is None:
        return None
    return {"namespace": permission.namespace, "role": permission.role.value}


def user_permission_view(permission: Permission, *, in_organization: bool) -> dict:
    """A robot's role as ``/permissions/user/`` shows it (Quay's user permission object)."""
    body = {"role": permission.role.value, "name": permission.robot, "is_robot": True}
    if in_organization:
        body["is_org_member"] = True
    return body


def repository_view(repository: Repository, *, is_organization: bool, can_admin: bool) -> dict:
    """Quay's repository object, without the parts that live in the registry (tags, stats):
    the list entry with what only the single object carries."""
    return {
        **repository_list_entry(repository),
        "is_organization": is_organization,
        "state": "NORMAL",
        "can_write": can_admin,
        "can_admin": can_admin,
        "created": quay_date(repository.created),
    }


def repository_list_entry(repository: Repository) -> dict:
    """A repository in ``GET /api/v1/repository``."""
    return {
        "namespace": repository.namespace,
        "name": repository.name,
        "kind": "image",
        "description": repository.description,
        "is_public": repository.is_public,
        "is_starred": False,
    }


def organization_view(namespace: Namespace, role: str | None) -> dict:
    """Quay's organization object, as far as regauth knows it (no e-mail, no teams)."""
    return {
        "name": namespace.name,
        "email": "",
        "is_admin": role == "admin",
        "is_member": role is not None,
    }


def member_view(membership: Membership) -> dict:
    """An organization member. Quay puts admins in the ``owners`` team; ``role`` is ours."""
    return {
        "name": membership.username,
        "kind": "user",
        "role": membership.role,
        "teams": [{"name": "owners"}] if membership.is_admin else [],
        "repositories": [],
    }


def user_view(user: User, memberships: list[Membership]) -> dict:
    """``GET /api/v1/user/``: the caller and their organizations."""
    return {
        "anonymous": False,
        "username": user.username,
        "super_user": user.superuser,
        "organizations": [
            {"name": membership.organization, "is_org_admin": membership.is_admin} for membership in memberships
        ],
    }


def audit_event_view(event: AuditEvent) -> dict:
    """One entry of ``.../logs`` (Quay's log object)."""
    body = {
        "kind": event.kind,
        "metadata": event.metadata,
        "ip": event.ip,
        "datetime": quay_date(event.created),
    }
    if event.performer:
        body["performer"] = {
            "kind": "user",
            "name": event.performer,
            "is_robot": event.performer_kind == "robot",
        }
    return body
