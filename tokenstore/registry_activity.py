"""What the registry reports it did: manifests pushed, pulled and deleted, in the audit log.

The registry never asks regauth before serving a request (it checks the token alone), but it
can notify an endpoint of what it served (distribution's ``notifications``). Each event for a
manifest becomes a row in the log of the repository's namespace, with Quay's kinds
``push_repo``, ``pull_repo`` and ``delete_tag``, the actor the registry read from the token
(a robot, or nobody for an anonymous pull) and the client's address. The registry retries a
batch that was not acknowledged, so each event id is written at most once.
"""

from dataclasses import dataclass

from .names import ROBOT_SEPARATOR

# Quay's audit kinds for what the registry did with a manifest.
EVENT_KINDS = {"push": "push_repo", "pull": "pull_repo", "delete": "delete_tag"}
# How long an event id is remembered against retried deliveries (the registry gives up long before).
SEEN_RETENTION = 86400.0


@dataclass(frozen=True)
class RepositoryEvent:
    """One manifest event as the registry reported it (validated by the caller)."""

    id: str
    action: str  # a key of EVENT_KINDS
    repository: str
    tag: str | None
    digest: str | None
    actor: str | None  # the token's subject; None for an anonymous request
    address: str | None
    user_agent: str | None


def audit_fields(event: RepositoryEvent) -> tuple[str, str, dict]:
    """Return the audit row ``event`` becomes: its kind, the namespace whose log it goes to,
    and the row's fields (``performer``, ``performer_kind``, ``ip``, ``repository``,
    ``metadata``), in Quay's shape."""
    namespace, _, name = event.repository.partition("/")
    robot = event.actor is not None and ROBOT_SEPARATOR in event.actor
    metadata = {
        "repo": name, "namespace": namespace, "tag": event.tag, "manifest_digest": event.digest,
        "useragent": event.user_agent, "event_id": event.id,
    }
    if event.actor is not None:
        metadata["robot" if robot else "username"] = event.actor
    fields = {
        "performer": event.actor, "performer_kind": ("robot" if robot else "user") if event.actor else None,
        "ip": event.address, "repository": name, "metadata": metadata,
    }
    return EVENT_KINDS[event.action], namespace, fields
