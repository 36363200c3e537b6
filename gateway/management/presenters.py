"""JSON shapes shared by the CLI, the API and the web UI, in Quay's spelling.

The one place that formats dates: Quay writes RFC 2822 with ``-0000``
("Fri, 10 May 2024 17:46:02 -0000").
"""

from email.utils import formatdate

from tokenstore import IssuedSecret, Namespace, Permission, Repository, Robot, SecretInfo


def quay_date(timestamp: float | None) -> str | None:
    """Return ``timestamp`` as Quay formats dates (RFC 2822, UTC as -0000), or None."""
    return None if timestamp is None else formatdate(timestamp, localtime=False, usegmt=False)


def robot_view(robot: Robot, *, token: str | None = None, metadata: bool = False) -> dict:
    """Return Quay's robot object: name, created, last_accessed, description; ``token`` when
    given; ``unstructured_metadata`` when ``metadata`` (GET and PUT of one robot).

    A secret appears only where a caller passes one in (the replies to create and
    regenerate): it is stored as a bcrypt hash and cannot be shown again."""
    body = {
        "name": robot.username,
        "created": quay_date(robot.created),
        "last_accessed": quay_date(robot.last_accessed),
        "description": robot.description,
    }
    if token is not None:
        body["token"] = token
    if metadata:
        body["unstructured_metadata"] = robot.unstructured_metadata
    return body


def robot_json(robot: Robot, issued: IssuedSecret | None = None) -> dict:
    """Return the robot object the CLI prints: ``robot_view`` with its metadata and
    ``enabled``, and ``token`` only when a secret was just issued."""
    body = robot_view(robot, metadata=True)
    body["enabled"] = robot.enabled
    if issued is not None:
        body["token"] = issued.secret
    return body


def namespace_json(namespace: Namespace) -> dict:
    return {"name": namespace.name, "kind": namespace.kind, "created": quay_date(namespace.created)}


def repository_json(repository: Repository) -> dict:
    return {
        "namespace": repository.namespace,
        "name": repository.name,
        "description": repository.description,
        "is_public": repository.is_public,
        "created": quay_date(repository.created),
    }


def permission_json(permission: Permission) -> dict:
    return {
        "robot": permission.robot,
        "target": permission.target,
        "repository": permission.repository,
        "role": permission.role.value,
    }


def secrets_json(secrets: list[SecretInfo]) -> list[dict]:
    """Return a robot's live secrets, newest (the current one) first: when each was created,
    when it stops working (its own expiry, or the end of a rotation's grace period; None:
    never) and when it last authenticated (to the minute; None: not yet). Never the secret
    or its hash."""
    return [
        {
            "created": quay_date(secret.created), "expiration": quay_date(secret.expires_at),
            "last_used": quay_date(secret.last_used), "current": index == 0,
        }
        for index, secret in enumerate(secrets)
    ]
