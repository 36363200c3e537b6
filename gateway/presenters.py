"""JSON shapes shared by the CLI and the API, in Quay's spelling.

The one place that formats dates: Quay writes RFC 2822 with ``-0000``
("Fri, 10 May 2024 17:46:02 -0000").
"""

from email.utils import formatdate

from tokenstore import IssuedSecret, Namespace, Permission, Repository, Robot, SecretInfo


def quay_date(timestamp: float | None) -> str | None:
    """Return ``timestamp`` as Quay formats dates (RFC 2822, UTC as -0000), or None."""
    return None if timestamp is None else formatdate(timestamp, localtime=False, usegmt=False)


def robot_json(robot: Robot, issued: IssuedSecret | None = None) -> dict:
    """Return the Quay robot object; ``token`` only when a secret was just issued."""
    body = {
        "name": robot.username,
        "created": quay_date(robot.created),
        "last_accessed": quay_date(robot.last_accessed),
        "description": robot.description,
        "unstructured_metadata": robot.unstructured_metadata,
    }
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
