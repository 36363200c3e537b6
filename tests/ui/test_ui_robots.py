"""Robot accounts in the browser: create, look at, regenerate, delete, and their repository
permissions, for an organization and for the signed-in user's own namespace.

Every test signs in through the form and clicks what a person clicks; what the UI did is
then checked through the model (the same database the server uses).
"""

import re

import pytest
from playwright.sync_api import expect

from tokenstore import InvalidCredentials, RobotNotFound

from .browsing import REGISTRY_HOST, SECRET_RE, sign_in


def open_robots(page, org: str) -> None:
    """From the organizations page: the organization, then Robot accounts in the navigation pane."""
    page.get_by_role("link", name=org, exact=True).click()
    page.get_by_role("navigation", name="Navigation pane").get_by_role("link", name="Robot accounts").click()
    expect(page.get_by_role("heading", name="Robot accounts")).to_be_visible()


def robot_dialog(page, name: str):
    return page.get_by_role("dialog", name=name)


def test_create_robot_shows_its_secret_once(page, context, ui_server, model, scene, shots):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url)
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    shots(page, "robot-accounts")

    page.get_by_role("button", name="Create robot account").click()
    create = page.get_by_role("dialog", name="Create robot account")
    expect(create.get_by_label("Name")).to_be_focused()
    create.get_by_label("Name").fill("deployer")
    create.get_by_label("Description").fill("Pulls release images in production")
    shots(page, "create-form")
    create.get_by_role("button", name="Create robot account").click()

    username = f"{scene.org}+deployer"
    dialog = robot_dialog(page, username)
    expect(dialog).to_be_visible()
    token = dialog.locator("#robot-dialog-token")
    expect(token).to_have_text(SECRET_RE)
    secret = token.text_content()
    expect(dialog.locator("#robot-dialog-docker-token")).to_have_text(
        f"echo {secret} | docker login --username {username} --password-stdin {REGISTRY_HOST}")
    shots(page, "created-with-secret")

    dialog.get_by_role("button", name="Copy token").click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    # The secret is the robot's: the model accepts it.
    assert model.authenticate(username, secret).username == username
    assert model.get_robot(username).description == "Pulls release images in production"

    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()
    # Closing reloads the list, which now holds the robot and nowhere the secret.
    row = page.get_by_role("row").filter(has=page.get_by_role("button", name=username, exact=True))
    expect(row).to_contain_text("Pulls release images in production")
    assert secret not in page.content()
    shots(page, "listed")


def test_create_refuses_a_bad_or_taken_name(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    page.get_by_role("button", name="Create robot account").click()
    create = page.get_by_role("dialog", name="Create robot account")
    create.get_by_label("Name").fill("builder")
    create.get_by_role("button", name="Create robot account").click()
    expect(create.get_by_role("alert")).to_have_text(f"A robot account named {scene.robot} already exists.")
    shots(page, "name-taken")
    # The browser itself refuses names outside the rule before anything is sent.
    create.get_by_label("Name").fill("Not Valid")
    create.get_by_role("button", name="Create robot account").click()
    assert create.get_by_label("Name").evaluate("input => input.validity.patternMismatch")
    assert [robot.shortname for robot in model.list_robots(scene.org)] == ["builder"]


def test_regenerate_asks_then_replaces_the_secret(page, context, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    page.get_by_role("button", name=scene.robot, exact=True).click()
    dialog = robot_dialog(page, scene.robot)
    expect(dialog.get_by_text(f"docker login --username {scene.robot} {REGISTRY_HOST}")).to_be_visible()
    shots(page, "dialog")

    dialog.get_by_role("button", name="Regenerate token").click()
    shots(page, "confirm")
    # Cancel keeps the secret.
    dialog.get_by_role("button", name="Cancel").click()
    assert model.authenticate(scene.robot, scene.secret).username == scene.robot

    dialog.get_by_role("button", name="Regenerate token").click()
    dialog.get_by_role("button", name="Regenerate now").click()
    token = dialog.locator("#robot-dialog-token")
    expect(token).to_have_text(SECRET_RE)
    secret = token.text_content()
    assert secret != scene.secret
    shots(page, "new-secret")

    with pytest.raises(InvalidCredentials):
        model.authenticate(scene.robot, scene.secret)
    assert model.authenticate(scene.robot, secret).username == scene.robot

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#robot-dialog-token")).to_have_count(0)
    assert secret not in page.content()
    # Opened again: no secret, and the regenerate button is back.
    page.get_by_role("button", name=scene.robot, exact=True).click()
    expect(dialog.get_by_role("button", name="Regenerate token")).to_be_visible()
    expect(dialog.locator("#robot-dialog-token")).to_have_count(0)


def test_robot_dialog_is_a_keyboard_dialog(page, ui_server, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    opener = page.get_by_role("button", name=scene.robot, exact=True)
    opener.focus()
    page.keyboard.press("Enter")
    dialog = robot_dialog(page, scene.robot)
    expect(dialog).to_be_visible()
    assert dialog.evaluate("node => node.matches(':modal')")

    # Tab and Shift+Tab cycle through the dialog's controls and never leave it.
    for key in ["Tab"] * 12 + ["Shift+Tab"] * 12:
        page.keyboard.press(key)
        assert dialog.evaluate("node => node.contains(document.activeElement)"), f"focus left the dialog after {key}"
    # Keyboard only: Regenerate token, then Regenerate now.
    dialog.get_by_role("button", name="Regenerate token").focus()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Regenerate now")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Copy token")).to_be_focused()
    shots(page, "keyboard-regenerated")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    assert page.locator("#robot-dialog-token").count() == 0


def test_delete_robot_after_confirmation(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)

    page.get_by_role("button", name=f"Delete {scene.robot}").click()
    confirm = page.get_by_role("alertdialog", name=f"Delete {scene.robot}?")
    expect(confirm).to_be_visible()
    shots(page, "confirm")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert model.get_robot(scene.robot).username == scene.robot

    page.get_by_role("button", name=f"Delete {scene.robot}").click()
    confirm.get_by_role("button", name="Delete robot account").click()
    expect(page.get_by_role("status")).to_have_text(f"Deleted robot account {scene.robot}. Its token no longer works.")
    expect(page.get_by_role("button", name=scene.robot, exact=True)).to_have_count(0)
    shots(page, "deleted")
    with pytest.raises(RobotNotFound):
        model.get_robot(scene.robot)
    with pytest.raises(InvalidCredentials):
        model.authenticate(scene.robot, scene.secret)


def test_permissions_grant_change_and_revoke(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    row = page.get_by_role("row").filter(has=page.get_by_role("button", name=scene.robot, exact=True))
    expect(row.get_by_role("list", name=f"Permissions of {scene.robot}")).to_have_text(re.compile(r"app\s*write"))
    row.get_by_role("link", name=f"Permissions of {scene.robot}").click()
    expect(page.get_by_role("heading", name=scene.robot)).to_be_visible()
    shots(page, "robot-page", full_page=True)

    # Grant read on web.
    page.get_by_label("Repository", exact=True).select_option(label=f"{scene.org}/web")
    page.get_by_label("Role", exact=True).select_option("read")
    page.get_by_role("button", name="Grant permission").click()
    expect(page.get_by_role("status")).to_have_text(f"{scene.robot} now has read on {scene.org}/web.")
    assert model.get_permission(scene.robot, f"{scene.org}/web").role.value == "read"

    # Change app from write to admin.
    page.get_by_label(f"Role on {scene.org}/app", exact=True).select_option("admin")
    page.get_by_role("button", name=f"Save role on {scene.org}/app").click()
    expect(page.get_by_role("status")).to_have_text(f"{scene.robot} now has admin on {scene.org}/app.")
    assert model.get_permission(scene.robot, f"{scene.org}/app").role.value == "admin"
    shots(page, "changed", full_page=True)

    # Revoke web, then grant the whole organization.
    page.get_by_role("button", name=f"Revoke access to {scene.org}/web").click()
    expect(page.get_by_role("status")).to_have_text(f"Revoked {scene.robot}'s access to {scene.org}/web.")
    page.get_by_label("Repository", exact=True).select_option(label=f"All repositories of {scene.org} (present and future)")
    page.get_by_label("Role", exact=True).select_option("write")
    page.get_by_role("button", name="Grant permission").click()
    expect(page.get_by_role("status")).to_have_text(f"{scene.robot} now has write on every repository of {scene.org}.")
    shots(page, "namespace-wide", full_page=True)

    granted = {(p.repository, p.role.value) for p in model.list_permissions(scene.robot)}
    assert granted == {(None, "write"), ("app", "admin")}
    # Every change is in the organization's audit log, by the admin, as the API writes it.
    events, _ = model.list_events(scene.org, start=0, end=float("inf"), performer=scene.admin)
    assert [event.kind for event in reversed(events)] == [
        "change_repo_permission", "change_repo_permission", "delete_repo_permission", "change_namespace_permission",
    ]


def test_robot_page_shows_whether_the_old_token_is_still_used(page, ui_server, model, scene, shots):
    model.rotate_secret(scene.robot, grace_seconds=3600)
    model.authenticate(scene.robot, scene.secret)  # a pipeline still logging in with the old token
    sign_in(page, ui_server.url, scene.admin)
    open_robots(page, scene.org)
    page.get_by_role("row").filter(has=page.get_by_role("button", name=scene.robot, exact=True)).get_by_role(
        "link", name=f"Permissions of {scene.robot}").click()
    facts = page.locator("dl.facts")

    def fact(term: str):
        return facts.locator("div").filter(has=page.get_by_text(term, exact=True))

    expect(fact("Token last used")).to_contain_text("Not yet")
    expect(fact("Older token last used").locator("time")).to_be_visible()
    expect(fact("Older token expires").locator("time")).to_be_visible()
    shots(page, "grace-window", full_page=True)


def test_own_robots_of_the_signed_in_user(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.member)
    page.get_by_role("link", name="Your robot accounts").click()
    expect(page.get_by_role("heading", name="Robot accounts")).to_be_visible()
    page.get_by_role("button", name="Create robot account").click()
    create = page.get_by_role("dialog", name="Create robot account")
    create.get_by_label("Name").fill("laptop")
    create.get_by_role("button", name="Create robot account").click()
    username = f"{scene.member}+laptop"
    dialog = robot_dialog(page, username)
    expect(dialog.locator("#robot-dialog-token")).to_have_text(SECRET_RE)
    first = dialog.locator("#robot-dialog-token").text_content()
    dialog.get_by_role("button", name="Close", exact=True).click()

    page.get_by_role("button", name=username, exact=True).click()
    dialog.get_by_role("button", name="Regenerate token").click()
    dialog.get_by_role("button", name="Regenerate now").click()
    expect(dialog.locator("#robot-dialog-token")).to_have_text(SECRET_RE)
    second = dialog.locator("#robot-dialog-token").text_content()
    shots(page, "own-robot-regenerated")
    assert first != second
    assert model.authenticate(username, second).username == username
    page.keyboard.press("Escape")

    # Permissions on the user's own repositories.
    model.create_repository(f"{scene.member}/dotfiles")
    page.goto(ui_server.url + "/user/robots/laptop")
    page.get_by_label("Repository", exact=True).select_option(label=f"{scene.member}/dotfiles")
    page.get_by_label("Role", exact=True).select_option("write")
    page.get_by_role("button", name="Grant permission").click()
    expect(page.get_by_role("status")).to_have_text(f"{username} now has write on {scene.member}/dotfiles.")
    assert model.get_permission(username, f"{scene.member}/dotfiles").role.value == "write"
    shots(page, "own-robot-permissions", full_page=True)


def test_plain_member_sees_robots_but_cannot_manage_them(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.member)
    open_robots(page, scene.org)
    expect(page.get_by_role("button", name="Create robot account")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Delete {scene.robot}")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Permissions")).to_have_count(0)
    page.get_by_role("button", name=scene.robot, exact=True).click()
    dialog = robot_dialog(page, scene.robot)
    expect(dialog.get_by_text(f"podman login --username {scene.robot} {REGISTRY_HOST}")).to_be_visible()
    expect(dialog.get_by_role("button", name="Regenerate token")).to_have_count(0)
    shots(page, "member-dialog")
    page.keyboard.press("Escape")

    # Nor by going to the addresses directly.
    response = page.goto(f"{ui_server.url}/organization/{scene.org}/robots/builder")
    assert response.status == 403
    shots(page, "member-robot-page")
    refused = page.request.post(
        f"{ui_server.url}/organization/{scene.org}/robots/builder/regenerate",
        headers={"X-CSRF-Token": page.locator('meta[name="csrf-token"]').get_attribute("content"),
                 "Accept": "application/json", "Content-Type": "application/json"},
        data="{}",
    )
    assert refused.status == 403
    assert model.authenticate(scene.robot, scene.secret).username == scene.robot


def test_delete_asks_for_confirmation_without_javascript_too(browser, ui_server, model, scene, shots):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, ui_server.url, scene.admin)
        page.goto(f"{ui_server.url}/organization/{scene.org}/robots")
        page.get_by_role("button", name=f"Delete {scene.robot}").click()
        expect(page.get_by_role("heading", name=f"Delete {scene.robot}?")).to_be_visible()
        shots(page, "confirm-page")
        assert model.get_robot(scene.robot).username == scene.robot
        page.get_by_role("button", name="Delete robot account").click()
        expect(page.get_by_role("status")).to_have_text(f"Deleted robot account {scene.robot}. Its token no longer works.")
        with pytest.raises(RobotNotFound):
            model.get_robot(scene.robot)
    finally:
        context.close()
