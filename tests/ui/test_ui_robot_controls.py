"""The robot page's Disable and Enable buttons, clicked in the browser; what they did is
checked through the model (the server's own database)."""

import pytest
from playwright.sync_api import expect

from tokenstore import InvalidCredentials

from .browsing import sign_in
from .test_ui_robots import open_robots


def test_disable_then_enable_on_the_robot_page(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    page.get_by_role("row").filter(has=page.get_by_role("button", name=scene.robot, exact=True)).get_by_role(
        "link", name=f"Permissions of {scene.robot}").click()
    expect(page.get_by_role("heading", name=scene.robot)).to_be_visible()

    page.get_by_role("button", name="Disable robot account").click()
    expect(page.get_by_role("status")).to_have_text(f"Disabled robot account {scene.robot}. It can no longer log in.")
    expect(page.get_by_role("heading", name="This robot account is disabled")).to_be_visible()
    shots(page, "disabled", full_page=True)
    assert model.get_robot(scene.robot).enabled is False
    with pytest.raises(InvalidCredentials) as refused:
        model.authenticate(scene.robot, scene.secret)
    assert refused.value.reason == "disabled"

    open_robots(page, scene.org)
    row = page.get_by_role("row").filter(has=page.get_by_role("button", name=scene.robot, exact=True))
    expect(row.get_by_text("Disabled", exact=True)).to_be_visible()
    row.get_by_role("link", name=f"Permissions of {scene.robot}").click()

    page.get_by_role("button", name="Enable robot account").click()
    expect(page.get_by_role("status")).to_have_text(f"Enabled robot account {scene.robot}. It can log in again.")
    expect(page.get_by_role("button", name="Disable robot account")).to_be_visible()
    assert model.authenticate(scene.robot, scene.secret).username == scene.robot
    events, _ = model.list_events(scene.org, start=0, end=float("inf"), performer=scene.admin)
    assert [event.kind for event in reversed(events)] == ["disable_robot", "enable_robot"]


def test_a_plain_member_cannot_disable(page, ui_server, model, scene):
    sign_in(page, ui_server.url, scene.member)
    open_robots(page, scene.org)
    csrf_token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post(f"{ui_server.url}/organization/{scene.org}/robots/builder/disable",
                                 form={"csrf_token": csrf_token}, max_redirects=0)
    assert response.status == 403
    assert f"Only admins of {scene.org}" in response.text()
    assert model.get_robot(scene.robot).enabled is True
