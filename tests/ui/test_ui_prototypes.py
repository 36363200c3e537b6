"""The Default permissions tab in the browser: an organization admin makes a robot the
delegate of a default permission, a repository created afterwards gives that robot its role
at once (checked at the token's question, the store's ``authorize``), and the admin deletes
it. Plain members see no such tab."""

import re

from playwright.sync_api import expect

from tokenstore import Resource

from .browsing import sign_in


def test_an_admin_adds_and_deletes_a_default_permission(page, ui_server, model, scene, shots):
    deployer = model.create_robot(f"{scene.org}+deployer")
    sign_in(page, ui_server.url, scene.admin)
    page.get_by_role("link", name=scene.org, exact=True).click()
    page.get_by_role("navigation", name="Navigation pane").get_by_role("link", name="Default permissions").click()
    expect(page.get_by_text("No default permissions yet.")).to_be_visible()
    # Only robots and teams hold repository roles: no person is offered.
    offered = page.get_by_label("Give").locator("option").all_text_contents()
    assert offered and not [o for o in offered if scene.member in o or scene.admin in o]

    page.get_by_label("Give").select_option(f"robot:{deployer.robot.username}")
    page.get_by_label("Role", exact=True).select_option("read")
    page.get_by_role("button", name="Add default permission").click()
    page.wait_for_url(re.compile(r"/prototypes$"))
    expect(page.get_by_text(f"{deployer.robot.username} will get read on every repository created from now on."))\
        .to_be_visible()
    shots(page, "one-default-permission", full_page=True)
    (prototype,) = model.list_prototypes(scene.org)
    assert (prototype.delegate, prototype.role.value, prototype.activating) == (deployer.robot.username, "read", None)

    model.create_repository(f"{scene.org}/fresh", creator=scene.admin)
    principal = model.authenticate(deployer.robot.username, deployer.secret)
    assert model.authorize(principal, Resource("repository", f"{scene.org}/fresh"), ["pull", "push"]) == {"pull"}

    page.get_by_role("button", name=f"Delete the default permission for {deployer.robot.username}").click()
    expect(page.get_by_text("Deleted the default permission. The roles it gave stay.")).to_be_visible()
    assert model.list_prototypes(scene.org) == []
    kinds = {e.kind for e in model.list_events(scene.org, start=0, end=1e12)[0]}
    assert {"create_prototype_permission", "delete_prototype_permission"} <= kinds


def test_plain_members_have_no_default_permissions_tab(page, ui_server, model, scene):
    sign_in(page, ui_server.url, scene.member)
    page.get_by_role("link", name=scene.org, exact=True).click()
    nav = page.get_by_role("navigation", name="Navigation pane")
    expect(nav.get_by_role("link", name="Robot accounts")).to_be_visible()
    expect(nav.get_by_role("link", name="Default permissions")).to_have_count(0)
    assert page.goto(f"{ui_server.url}/organization/{scene.org}/prototypes").status == 403
