"""Quay's documented procedure for a new robot token, followed word for word in a browser,
then checked against the real registry.

Quay's documentation: "sign in; click the name of an organization; in the navigation pane
click Robot accounts; click the name of the robot (e.g. testorg3+test); click Regenerate
token in the popup box." Here the browser goes through nginx, exactly where users reach
regauth, and skopeo then logs in and pushes through the same nginx to Debian's
docker-registry.
"""

import json

import pytest
from playwright.sync_api import expect

from e2e_stack import REPO_ROOT, regauth_env
from e2e_support import run

from .browsing import PASSWORD, SECRET_RE

pytestmark = pytest.mark.e2e

ORG = "testorg3"
ROBOT = "testorg3+test"
ADMIN = "quayadmin"
REPOSITORY = "testorg3/app"


def test_regenerate_token_as_quay_documents_it(stack, regauth_cli, new_client, context, page, shots):
    # An administrator set this up with the command line: a user, the organization, a
    # repository, and the robot with write access to it.
    run(regauth_cli.argv("user", "create", ADMIN), stdin_text=PASSWORD + "\n", env=regauth_env(), cwd=REPO_ROOT,
        check=True)
    regauth_cli("org", "create", ORG, "--admin", ADMIN)
    regauth_cli("repo", "create", REPOSITORY)
    old_secret = regauth_cli("robot", "create", ROBOT, "--description", "Pushes from CI")["token"]
    regauth_cli("grant", ROBOT, REPOSITORY, "write")
    # A machine logged in with the old secret and saved it, as CI runners do.
    saved = new_client("skopeo")
    assert saved.login(stack.host, ROBOT, old_secret).ok
    assert saved.push(stack.ref(REPOSITORY, "before")).ok

    site = f"http://{stack.host}"
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)

    # 1. Sign in.
    page.goto(site + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shots(page, "sign-in")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    shots(page, "signed-in")

    # 2. Click the name of an organization.
    page.get_by_role("link", name=ORG, exact=True).click()
    expect(page.get_by_role("heading", name=ORG, exact=True)).to_be_visible()
    shots(page, "organization")

    # 3. In the navigation pane, click Robot accounts.
    page.get_by_role("navigation", name="Navigation pane").get_by_role("link", name="Robot accounts").click()
    expect(page.get_by_role("heading", name="Robot accounts")).to_be_visible()
    shots(page, "robot-accounts")

    # 4. Click the name of the robot.
    page.get_by_text(ROBOT, exact=True).click()
    popup = page.get_by_role("dialog", name=ROBOT)
    expect(popup).to_be_visible()
    expect(popup.get_by_text(f"docker login --username {ROBOT} {stack.host}")).to_be_visible()
    shots(page, "robot-popup")
    shots(page, "robot-dialog", element=popup)

    # 5. Click Regenerate token in the popup box (and confirm).
    popup.get_by_role("button", name="Regenerate token").click()
    shots(page, "confirm")
    popup.get_by_role("button", name="Regenerate now").click()
    token = popup.locator("#robot-dialog-token")
    expect(token).to_have_text(SECRET_RE)
    shots(page, "new-token")
    popup.get_by_role("button", name="Copy token").click()
    new_secret = page.evaluate("navigator.clipboard.readText()")
    assert SECRET_RE.match(new_secret) and new_secret == token.text_content()
    assert new_secret != old_secret

    page.keyboard.press("Escape")
    expect(popup).to_be_hidden()
    expect(page.locator("#robot-dialog-token")).to_have_count(0)
    assert new_secret not in page.content()
    shots(page, "closed")

    # The registry refuses the old secret, to a fresh login and to the machine that saved it ...
    refused = new_client("skopeo").login(stack.host, ROBOT, old_secret)
    assert not refused.ok, refused
    assert not saved.push(stack.ref(REPOSITORY, "after-old")).ok
    # ... and the new one logs in and pushes.
    fresh = new_client("skopeo")
    assert fresh.login(stack.host, ROBOT, new_secret).ok
    pushed = fresh.push(stack.ref(REPOSITORY, "after"))
    assert pushed.ok, pushed
    listed = fresh.list_tags(stack.host, REPOSITORY)
    assert listed.ok, listed
    assert {"before", "after"} <= set(json.loads(listed.stdout)["Tags"])

    # The list now shows that the robot was used.
    page.reload()
    expect(page.get_by_role("row").filter(has_text=ROBOT)).not_to_contain_text("Never")
