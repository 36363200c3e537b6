"""The UI's defences, seen from a browser: signing in and out, CSRF, the security headers and
cookie flags, what another organization's pages reveal, and that no page the server renders
ever holds a robot's secret."""

import re

import pytest
from playwright.sync_api import expect

from tokenstore import RobotNotFound

from .browsing import PASSWORD, SECRET_RE, sign_in

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SIGNIN_FAILED = "Incorrect username or password."


def csrf_token(page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def cookie_header(response, name: str) -> str:
    """Return the Set-Cookie header of ``response`` that sets cookie ``name``."""
    found = [h["value"] for h in response.headers_array if h["name"].lower() == "set-cookie"
             and h["value"].startswith(name + "=")]
    assert len(found) == 1, response.headers_array
    return found[0]


def test_sign_in_failures_all_look_the_same(page, ui_server, scene, shots):
    answers = []
    for username, password in ((scene.admin, "wrong password"), ("nobody-has-this-name", PASSWORD), (scene.admin, "")):
        page.goto(ui_server.url + "/signin")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_label("Password").evaluate("input => input.removeAttribute('required')")
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="Sign in").click()
        answers.append((posted.value.status, page.get_by_role("alert").text_content().strip()))
        assert page.url.endswith("/signin")
    shots(page, "refused")
    assert answers == [(200, SIGNIN_FAILED)] * 3
    assert "regauth_session" not in {cookie["name"] for cookie in page.context.cookies()}


def test_pages_need_a_session_and_sign_in_returns_to_them(page, ui_server, scene, shots):
    target = f"/organization/{scene.org}/robots"
    page.goto(ui_server.url + target)
    assert page.url == f"{ui_server.url}/signin?next={target}"
    shots(page, "sent-to-sign-in")
    page.get_by_label("Username").fill(scene.admin)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(ui_server.url + target)
    expect(page.get_by_role("heading", name="Robot accounts")).to_be_visible()
    # Only paths of this site are followed after sign-in.
    page.context.clear_cookies()
    page.goto(ui_server.url + "/signin?next=//evil.example/")
    page.get_by_label("Username").fill(scene.admin)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(ui_server.url + "/organizations")


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(page, browser, ui_server, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    session = [cookie for cookie in page.context.cookies() if cookie["name"] == "regauth_session"]
    assert len(session) == 1
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(ui_server.url + "/signin")
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    shots(page, "signed-out")
    assert "regauth_session" not in {cookie["name"] for cookie in page.context.cookies()}

    # A copy of the cookie taken before signing out opens nothing any more.
    other = browser.new_context()
    try:
        other.add_cookies(session)
        replay = other.new_page()
        replay.goto(f"{ui_server.url}/organization/{scene.org}/robots")
        assert replay.url.startswith(ui_server.url + "/signin?next=")
    finally:
        other.close()


def test_state_changing_requests_without_the_csrf_token_are_refused(page, ui_server, model, scene):
    sign_in(page, ui_server.url, scene.admin)
    page.goto(f"{ui_server.url}/organization/{scene.org}/robots")
    token = csrf_token(page)
    assert token
    base = f"{ui_server.url}/organization/{scene.org}/robots"
    json_headers = {"Accept": "application/json", "Content-Type": "application/json"}
    form_posts = [
        (f"{base}/builder/delete", {"confirmed": "yes"}),
        (f"{base}/builder/permissions", {"repository": "web", "role": "admin"}),
        (f"{base}/builder/permissions/revoke", {"repository": "app"}),
        (f"{ui_server.url}/signout", {}),
    ]
    for url, form in form_posts:
        for extra in ({}, {"csrf_token": "not-the-token"}):
            refused = page.request.post(url, form={**form, **extra}, max_redirects=0)
            assert refused.status == 403, (url, extra)
            assert "Reload the page and try again" in refused.text()
    for url, body in ((f"{base}/builder/regenerate", "{}"), (base, '{"shortname": "sneaky"}')):
        refused = page.request.post(url, headers=json_headers, data=body)
        assert refused.status == 403
        assert refused.json() == {"error": "The form was out of date or incomplete. Reload the page and try again."}
        # The right token, but the browser says the request comes from another site.
        cross = page.request.post(url, headers={**json_headers, "X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
                                  data=body)
        assert cross.status == 403

    # Nothing changed: same secret, same grants, no new robot, still signed in.
    assert model.authenticate(scene.robot, scene.secret).username == scene.robot
    assert [(p.repository, p.role.value) for p in model.list_permissions(scene.robot)] == [("app", "write")]
    with pytest.raises(RobotNotFound):
        model.get_robot(f"{scene.org}+sneaky")
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # With the token, the same request goes through.
    accepted = page.request.post(f"{base}/builder/delete", form={"confirmed": "yes", "csrf_token": token}, max_redirects=0)
    assert accepted.status == 303
    with pytest.raises(RobotNotFound):
        model.get_robot(scene.robot)


def test_sign_in_form_needs_its_own_token(page, ui_server, scene):
    refused = page.request.post(ui_server.url + "/signin", form={"username": scene.admin, "password": PASSWORD},
                                max_redirects=0)
    assert refused.status == 403
    assert "The sign-in form had expired" in refused.text()
    assert "regauth_session" not in refused.headers.get("set-cookie", "")


def test_security_headers_and_cookie_flags(page, ui_server, scene):
    signin = page.request.get(ui_server.url + "/signin")
    headers = signin.headers
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    # Over plain http a Secure cookie would be dropped by the browser: not Secure.
    flags = cookie_header(signin, "regauth_signin")
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Secure" not in flags

    # Behind a proxy that terminates TLS (127.0.0.1 is a trusted proxy by default), the
    # session cookie is Secure.
    token = re.search(r'name="csrf_token" value="([^"]+)"', signin.text()).group(1)
    signed_in = page.request.post(
        ui_server.url + "/signin", form={"username": scene.admin, "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https"}, max_redirects=0,
    )
    assert signed_in.status == 303
    session = cookie_header(signed_in, "regauth_session")
    for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/"):
        assert flag in session
    page.context.clear_cookies()
    assert "Secure" in cookie_header(
        page.request.get(ui_server.url + "/signin", headers={"X-Forwarded-Proto": "https"}), "regauth_signin")


def test_pages_have_no_inline_script_or_style(page, ui_server, scene):
    sign_in(page, ui_server.url, scene.admin)
    for path in ("/organizations", f"/organization/{scene.org}", f"/organization/{scene.org}/robots",
                 f"/organization/{scene.org}/robots/builder", "/user/robots", "/user/apptokens"):
        html = page.request.get(ui_server.url + path).text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), path
    # Static files carry the headers too, and may be cached; other routes are left alone.
    static = page.request.get(ui_server.url + "/static/ui.js")
    assert static.headers["content-security-policy"] == CSP
    assert "cache-control" not in static.headers
    assert "content-security-policy" not in page.request.get(ui_server.url + "/healthz").headers


def test_other_organizations_look_like_missing_ones(page, ui_server, model, scene, unique, shots):
    outsider = unique("outsider")
    model.create_user(outsider, PASSWORD)
    sign_in(page, ui_server.url, outsider)
    expect(page.get_by_role("link", name=scene.org)).to_have_count(0)
    answers = []
    for org in (scene.org, "no-such-org-at-all"):
        for path in ("", "/robots", "/robots/builder"):
            response = page.goto(f"{ui_server.url}/organization/{org}{path}")
            answers.append((response.status, page.locator("main").inner_text().replace(org, "ORG")))
    shots(page, "not-found")
    assert len(set(answers)) == 1
    assert answers[0][0] == 404


def test_no_page_the_server_renders_holds_a_secret(page, ui_server, model, scene, shots):
    sign_in(page, ui_server.url, scene.admin)
    page.goto(f"{ui_server.url}/organization/{scene.org}/robots")
    dialog = page.get_by_role("dialog", name=scene.robot)
    page.get_by_role("button", name=scene.robot, exact=True).click()
    dialog.get_by_role("button", name="Regenerate token").click()
    with page.expect_response(re.compile(r"/regenerate$")) as regenerated:
        dialog.get_by_role("button", name="Regenerate now").click()
    reply = regenerated.value
    secret = reply.json()["token"]
    assert SECRET_RE.match(secret)
    assert reply.headers["cache-control"] == "no-store"
    expect(dialog.locator("#robot-dialog-token")).to_have_text(secret)
    shots(page, "secret-in-dialog-only")
    # Created through the UI as well: its secret is in the create reply only.
    created = page.evaluate("""async (token) => {
        const response = await fetch(location.pathname, {method: "POST", headers: {"Content-Type": "application/json",
            "Accept": "application/json", "X-CSRF-Token": token}, body: JSON.stringify({shortname: "second"})});
        return {status: response.status, body: await response.json()};
    }""", csrf_token(page))
    assert created["status"] == 201
    second = created["body"]["token"]
    secrets = (scene.secret, secret, second)

    org = f"/organization/{scene.org}"
    paths = ["/", "/signin", "/organizations", org, f"{org}/robots", f"{org}/robots/builder", f"{org}/robots/second",
             "/user", "/user/robots", f"{org}/robots/missing", "/organization/no-such-org/robots"]
    for path in paths:
        response = page.request.get(ui_server.url + path)
        html = response.text()
        assert response.headers["content-type"].startswith("text/html"), path
        assert not any(value in html for value in secrets), f"a secret is in the page {path}"
    # Nor in the JSON error answers, nor in the model's audit log.
    events, _ = model.list_events(scene.org, start=0, end=float("inf"))
    assert {"regenerate_robot_token", "create_robot"} <= {event.kind for event in events}
    assert not any(value in repr(events) for value in secrets)
