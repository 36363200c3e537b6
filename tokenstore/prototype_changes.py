"""Changes to default permissions (prototypes) together with their audit rows, in one
transaction, with Quay's kinds and metadata (``create_prototype_permission``,
``modify_prototype_permission``, ``delete_prototype_permission``). The API and the command
line both change prototypes through these; ``actor`` and ``via`` are as in ``team_changes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .prototypes import Prototype

if TYPE_CHECKING:
    from .interface import TokenStore


def create(
    store: TokenStore, organization: str, role: str, delegate_kind: str, delegate: str, activating: str | None = None,
    *, actor: dict | None = None, via: str | None = None,
) -> Prototype:
    """Create a default permission and log ``create_prototype_permission``; returns the
    Prototype and raises what ``store.create_prototype`` raises."""
    with store.transaction():
        prototype = store.create_prototype(organization, role, delegate_kind, delegate, activating)
        _log(store, "create_prototype_permission", prototype, actor, via)
    return prototype


def set_role(
    store: TokenStore, organization: str, uuid: str, role: str, *, actor: dict | None = None, via: str | None = None,
) -> Prototype:
    """Change a default permission's role and log ``modify_prototype_permission`` (with
    ``original_role``); returns the Prototype and raises what ``store.set_prototype_role`` raises."""
    with store.transaction():
        original = store.get_prototype(organization, uuid)
        prototype = store.set_prototype_role(organization, uuid, role)
        _log(store, "modify_prototype_permission", prototype, actor, via, original_role=original.role.value)
    return prototype


def delete(store: TokenStore, organization: str, uuid: str, *, actor: dict | None = None,
           via: str | None = None) -> Prototype:
    """Delete a default permission and log ``delete_prototype_permission``; returns what it
    was and raises what ``store.delete_prototype`` raises."""
    with store.transaction():
        prototype = store.delete_prototype(organization, uuid)
        _log(store, "delete_prototype_permission", prototype, actor, via)
    return prototype


def _log(store: TokenStore, kind: str, prototype: Prototype, actor: dict | None, via: str | None, /,
         **extra) -> None:
    metadata = {
        "prototypeid": prototype.uuid,
        "username": (actor or {}).get("performer"),
        "activating_username": prototype.activating,
        "role": prototype.role.value,
        **extra,
    }
    metadata["delegate_user" if prototype.delegate_kind == "user" else "delegate_team"] = prototype.delegate
    if via is not None:
        metadata["via"] = via
    store.record_event(kind, prototype.organization, **(actor or {}), metadata=metadata)
