"""Default permissions with a real client, through nginx, against docker-registry: robot A
(write on its organization) pushes a new repository with skopeo, and robot B, the delegate
of a prototype created with the management API, pulls it at once; robot C, named by no
prototype, cannot.
"""

from __future__ import annotations

import re

import pytest

from api_helpers import api, create_user
from e2e_clients import SkopeoClient
from e2e_stack import MakeRobot, RegauthCli, Stack

pytestmark = pytest.mark.e2e

# What skopeo prints when the registry refuses a pull for want of rights.
DENIED = re.compile(r"denied|unauthorized|authentication required|not found", re.IGNORECASE)


def test_a_prototype_lets_its_delegate_pull_a_repository_another_robot_pushed(
    stack: Stack, namespace: str, regauth_cli: RegauthCli, make_robot: MakeRobot, new_client, unique,
) -> None:
    base_url = f"http://{stack.host}"
    admin = create_user(regauth_cli, unique("admin"))
    regauth_cli("org", "add-member", namespace, admin.name, "--admin")
    pusher = make_robot(f"{namespace}+builder", (namespace, "write"))
    puller = make_robot(f"{namespace}+deployer")  # no grant of its own
    outsider = make_robot(f"{namespace}+other")
    status, prototype = api(base_url, "POST", f"/api/v1/organization/{namespace}/prototypes", admin, {
        "role": "read", "delegate": {"kind": "user", "name": puller.name}, "activating_user": {"name": pusher.name},
    })
    assert (status, prototype["delegate"]["name"]) == (200, puller.name), prototype

    clients: dict[str, SkopeoClient] = {}
    for robot in (pusher, puller, outsider):
        clients[robot.name] = new_client("skopeo")
        assert clients[robot.name].login(stack.host, robot.name, robot.secret).ok
    ref = stack.ref(f"{namespace}/fresh")
    pushed = clients[pusher.name].push(ref)
    assert pushed.ok, pushed
    pulled = clients[puller.name].pull(ref)
    assert pulled.ok, pulled
    refused = clients[outsider.name].pull(ref)
    assert not refused.ok and DENIED.search(refused.output), refused
