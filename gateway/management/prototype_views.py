"""The JSON shape of a default permission (Quay's prototype), shared by the API and the CLI.

Quay's avatars are left out: regauth has none.
"""

from tokenstore.prototypes import Prototype


def prototype_view(prototype: Prototype) -> dict:
    """Quay's prototype object: ``{"activating_user", "delegate", "role", "id"}``."""
    if prototype.delegate_kind == "user":  # a robot, named as a user as Quay does
        delegate = {"name": prototype.delegate, "is_robot": True, "kind": "user", "is_org_member": True}
    else:
        delegate = {"name": prototype.delegate, "kind": "team"}
    activating = None
    if prototype.activating is not None:
        activating = {
            "name": prototype.activating,
            "is_robot": prototype.activating_is_robot,
            "kind": "user",
            "is_org_member": prototype.activating_is_robot or prototype.activating_is_member,
        }
    return {"activating_user": activating, "delegate": delegate, "role": prototype.role.value, "id": prototype.uuid}
