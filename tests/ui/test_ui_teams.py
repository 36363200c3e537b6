"""The Teams tab in the browser: an organization admin creates a team, adds a robot and a
person, gives the team a role on a repository, changes it, takes the robot out and deletes
the team; what the UI did is checked through the model and at the token's question, the
store's ``authorize``. Plain members see no Teams tab and cannot open it."""

import re

from playwright.sync_api import expect

from tokenstore import Resource

from .browsing import sign_in


def rights(model, robot: str, secret: str, repository: str) -> frozenset[str]:
    """What the robot would be granted on ``repository`` at its next token request."""
    principal = model.authenticate(robot, secret)
    return model.authorize(principal, Resource("repository", repository), ["pull", "push"])


def test_an_admin_manages_a_team_and_its_rights(page, ui_server, model, scene, shots):
    model.revoke(scene.robot, f"{scene.org}/app")  # the robot's rights come from the team only
    sign_in(page, ui_server.url, scene.admin)
    page.get_by_role("link", name=scene.org, exact=True).click()
    page.get_by_role("navigation", name="Navigation pane").get_by_role("link", name="Teams").click()
    expect(page.get_by_role("heading", name="Teams", exact=True)).to_be_visible()
    expect(page.get_by_text("No teams yet.")).to_be_visible()
    shots(page, "no-teams")

    page.get_by_label("Team name").fill("builders")
    page.get_by_label("Team role").select_option("member")
    page.get_by_label("Description").fill("Build machines")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(re.compile(r"/teams/builders$"))
    expect(page.get_by_text("Created team builders.")).to_be_visible()
    assert model.get_team(scene.org, "builders").description == "Build machines"

    page.get_by_label("Person or robot account").select_option(scene.robot)
    page.get_by_role("button", name="Add member").click()
    page.get_by_label("Person or robot account").select_option(scene.member)
    page.get_by_role("button", name="Add member").click()
    page.get_by_label("Repository", exact=True).select_option("app")
    page.get_by_label("Role", exact=True).select_option("write")
    page.get_by_role("button", name="Grant permission").click()
    expect(page.get_by_text(f"Team builders now has write on {scene.org}/app.")).to_be_visible()
    shots(page, "team-with-members-and-permission", full_page=True)
    assert [m.name for m in model.list_team_members(scene.org, "builders")] == [scene.member, scene.robot]
    assert rights(model, scene.robot, scene.secret, f"{scene.org}/app") == {"pull", "push"}

    page.get_by_label(f"Role on {scene.org}/app", exact=True).select_option("read")
    page.get_by_role("button", name=f"Save role on {scene.org}/app").click()
    expect(page.get_by_text(f"Team builders now has read on {scene.org}/app.")).to_be_visible()
    assert rights(model, scene.robot, scene.secret, f"{scene.org}/app") == {"pull"}

    page.get_by_role("button", name=f"Remove {scene.robot}").click()
    expect(page.get_by_text(f"Removed {scene.robot} from team builders.")).to_be_visible()
    assert rights(model, scene.robot, scene.secret, f"{scene.org}/app") == frozenset()

    page.get_by_label("Team role").select_option("admin")
    page.get_by_role("button", name="Save team").click()
    expect(page.get_by_text("Saved team builders: role admin.")).to_be_visible()
    assert model.get_team(scene.org, "builders").role == "admin"

    page.get_by_label("Yes, delete team builders").check()
    page.get_by_role("button", name="Delete team").click()
    page.wait_for_url(re.compile(r"/teams$"))
    expect(page.get_by_text("Deleted team builders.")).to_be_visible()
    assert model.list_teams(scene.org) == []
    kinds = [e.kind for e in model.list_events(scene.org, start=0, end=1e12)[0]]
    assert {"org_create_team", "org_add_team_member", "change_repo_permission", "org_remove_team_member",
            "org_set_team_role", "org_delete_team"} <= set(kinds)
    shots(page, "deleted")


def test_plain_members_have_no_teams_tab(page, ui_server, model, scene):
    model.create_team(scene.org, "builders")
    sign_in(page, ui_server.url, scene.member)
    page.get_by_role("link", name=scene.org, exact=True).click()
    nav = page.get_by_role("navigation", name="Navigation pane")
    expect(nav.get_by_role("link", name="Robot accounts")).to_be_visible()
    expect(nav.get_by_role("link", name="Teams")).to_have_count(0)
    for path in ("/teams", "/teams/builders"):
        response = page.goto(f"{ui_server.url}/organization/{scene.org}{path}")
        assert response.status == 403
    # A user's own namespace has no teams.
    assert page.goto(f"{ui_server.url}/user/teams").status == 404
