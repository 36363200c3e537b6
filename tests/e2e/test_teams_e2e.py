"""Teams with a real client, through nginx, against docker-registry: a robot with no grant of
its own pushes through its team's write role (set up with the management API), a creator
team's push creates a repository, and once the robot leaves the team its next push is refused.
"""

from __future__ import annotations

import re

import pytest

from api_helpers import api, create_user
from e2e_clients import SkopeoClient
from e2e_stack import MakeRobot, RegauthCli, Stack

pytestmark = pytest.mark.e2e

# What skopeo prints when the registry refuses a push for want of rights.
DENIED = re.compile(r"denied|unauthorized|authentication required", re.IGNORECASE)


def test_a_robot_pushes_through_its_team_until_it_leaves_it(
    stack: Stack, namespace: str, regauth_cli: RegauthCli, make_robot: MakeRobot, skopeo: SkopeoClient, unique,
) -> None:
    base_url = f"http://{stack.host}"
    admin = create_user(regauth_cli, unique("admin"))
    regauth_cli("org", "add-member", namespace, admin.name, "--admin")
    regauth_cli("repo", "create", f"{namespace}/app")
    robot = make_robot(f"{namespace}+ci")  # no grant of its own
    team = f"/api/v1/organization/{namespace}/team/builders"

    status, body = api(base_url, "PUT", team, admin, {"role": "member"})
    assert (status, body["new_team"]) == (200, True)
    assert api(base_url, "PUT", f"{team}/members/{robot.name}", admin)[0] == 200
    status, body = api(base_url, "PUT", f"/api/v1/repository/{namespace}/app/permissions/team/builders", admin,
                       {"role": "write"})
    assert (status, body) == (200, {"role": "write", "name": "builders"})

    assert skopeo.login(stack.host, robot.name, robot.secret).ok
    pushed = skopeo.push(stack.ref(f"{namespace}/app"))
    assert pushed.ok, pushed
    refused = skopeo.push(stack.ref(f"{namespace}/made-by-push"))  # a member team creates nothing
    assert not refused.ok and DENIED.search(refused.output), refused

    # A creator team's push creates the repository.
    assert api(base_url, "PUT", team, admin, {"role": "creator"})[0] == 200
    pushed = skopeo.push(stack.ref(f"{namespace}/made-by-push"))
    assert pushed.ok, pushed

    # Out of the team: the very next push is refused.
    assert api(base_url, "DELETE", f"{team}/members/{robot.name}", admin) == (204, None)
    refused = skopeo.push(stack.ref(f"{namespace}/app", "after"))
    assert not refused.ok and DENIED.search(refused.output), refused
