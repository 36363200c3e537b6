"""The App tokens tab in the browser: a person creates an app token, sees it once, logs in
with it (the store's ``authenticate_app_token``, what /token asks), and revokes it; the token
is in no page rendered afterwards, and no form changes anything without the CSRF token."""

import re

import pytest
from playwright.sync_api import expect

from tokenstore import InvalidCredentials

from .browsing import sign_in
from .test_ui_security import csrf_token


def test_a_person_creates_uses_and_revokes_an_app_token(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.member)
    page.get_by_role("link", name="Your robot accounts").click()
    page.get_by_role("navigation", name="Navigation pane").get_by_role("link", name="App tokens").click()
    page.wait_for_url(re.compile(r"/user/apptokens$"))
    expect(page.get_by_text("No app tokens yet.")).to_be_visible()

    page.get_by_label("Title").fill("laptop")
    page.get_by_label("Expires").select_option("30")
    with page.expect_response(re.compile(r"/user/apptokens$")) as created:
        page.get_by_role("button", name="Create token").click()
    assert created.value.status == 201
    assert created.value.headers["cache-control"] == "no-store"
    token = page.locator("#new-app-token").inner_text()
    expect(page.locator("#new-app-token-login")).to_contain_text(f"docker login -u '$app' -p {token}")
    shots(page, "token-shown-once", full_page=True)
    assert model.authenticate_app_token("$app", token).username == scene.member
    (listed,) = model.list_app_tokens(scene.member)
    assert listed.title == "laptop" and listed.expires_at is not None

    # Shown once: no page rendered afterwards holds it.
    for path in ("/user/apptokens", "/user", "/user/robots", "/organizations"):
        assert token not in page.request.get(ui_server.url + path).text(), path
    page.goto(ui_server.url + "/user/apptokens")
    expect(page.locator("#new-app-token")).to_have_count(0)
    expect(page.get_by_role("cell", name="laptop", exact=True)).to_be_visible()

    # No change without the form's CSRF token.
    refused = page.request.post(ui_server.url + "/user/apptokens/revoke", form={"uuid": listed.uuid}, max_redirects=0)
    assert refused.status == 403
    assert model.authenticate_app_token("$app", token).username == scene.member

    page.get_by_role("button", name="Revoke laptop").click()
    expect(page.get_by_text("Revoked laptop. The registry refuses it from the next login on.")).to_be_visible()
    with pytest.raises(InvalidCredentials):
        model.authenticate_app_token("$app", token)
    kinds = [e.kind for e in model.list_events(scene.member, start=0, end=1e12)[0]]
    assert {"create_app_specific_token", "revoke_app_specific_token"} <= set(kinds)
    assert not any(token in repr(e) for e in model.list_events(scene.member, start=0, end=1e12)[0])


def test_a_bad_title_is_refused_with_a_reason_and_nothing_is_made(page, ui_server, model, scene):
    sign_in(page, ui_server.url, scene.member)
    page.goto(ui_server.url + "/user/apptokens")
    token = csrf_token(page)
    title_reason, expiry_reason = "Give the token a title of 1 to 255 characters.", "Choose when the token expires."
    for form, reason in (({"title": "   ", "expires": ""}, title_reason), ({"title": "x" * 256, "expires": ""}, title_reason),
                         ({"title": "ok", "expires": "7"}, expiry_reason)):
        reply = page.request.post(ui_server.url + "/user/apptokens", form={**form, "csrf_token": token})
        assert reply.status == 200 and reply.url.endswith("/user/apptokens"), form
        assert reason in reply.text(), form
    assert model.list_app_tokens(scene.member) == []


def test_organizations_have_no_app_tokens_tab(page, ui_server, scene):
    sign_in(page, ui_server.url, scene.admin)
    page.get_by_role("link", name=scene.org, exact=True).click()
    nav = page.get_by_role("navigation", name="Navigation pane")
    expect(nav.get_by_role("link", name="Teams")).to_be_visible()
    expect(nav.get_by_role("link", name="App tokens")).to_have_count(0)
