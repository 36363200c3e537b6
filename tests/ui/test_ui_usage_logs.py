"""The "Usage logs" tab: an organization's audit log, in words, for its admins only."""

import re

from playwright.sync_api import expect

from tokenstore.registry_activity import RepositoryEvent

from .browsing import sign_in


def test_admins_read_the_log_in_words_and_page_through_it(page, ui_server, model, scene, shots):
    access = [{"type": "repository", "name": f"{scene.org}/app", "actions": ["pull", "push"]}]
    model.record_robot_login(scene.robot, success=True, ip="198.51.100.7", user_agent="docker/24",
                             scopes=[f"repository:{scene.org}/app:pull,push"], access=access)
    model.record_robot_login(scene.robot, success=False, reason="invalid", ip="203.0.113.9")
    model.record_repository_events([RepositoryEvent(
        id=f"{scene.org}-push", action="push", repository=f"{scene.org}/app", tag="v1", digest="sha256:" + "ab" * 32,
        actor=scene.robot, address="198.51.100.7", user_agent="docker/24")])
    sign_in(page, ui_server.url, scene.admin)
    page.goto(f"{ui_server.url}/organization/{scene.org}")
    page.get_by_role("navigation", name="Navigation pane").get_by_role("link", name="Usage logs").click()
    expect(page.get_by_role("heading", name="Usage logs")).to_be_visible()

    def row(kind: str):
        return page.locator(f"tr[data-kind={kind}]")

    expect(row("push_repo")).to_contain_text("Pushed")
    expect(row("push_repo")).to_contain_text(f"{scene.org}/app:v1")
    expect(row("push_repo")).to_contain_text(scene.robot)
    expect(row("issue_token")).to_contain_text(f"{scene.org}/app: pull, push")
    expect(row("login_failure")).to_contain_text("Login refused")
    expect(row("login_failure")).to_contain_text("203.0.113.9")
    expect(row("create_robot")).to_have_count(0)  # the scene made its robot with the model, unlogged
    shots(page, "usage-logs", full_page=True)

    # Fifty to a page, newest first; the older ones one click away.
    model.record_repository_events([RepositoryEvent(
        id=f"{scene.org}-pull-{n}", action="pull", repository=f"{scene.org}/app", tag="v1", digest=None,
        actor=None, address="192.0.2.1", user_agent="skopeo") for n in range(60)])
    page.reload()
    expect(page.locator("tbody tr")).to_have_count(50)
    expect(row("pull_repo").first).to_contain_text("anonymous")
    page.get_by_role("link", name="Older entries").click()
    expect(page.locator("tbody tr")).to_have_count(14)  # 60 pulls and 4 rows before them
    expect(row("push_repo")).to_have_count(1)
    expect(page.get_by_role("link", name="Older entries")).to_have_count(0)
    page.goto(f"{ui_server.url}/organization/{scene.org}/logs?before=not-a-page")
    expect(page.get_by_text(re.compile("does not exist"))).to_be_visible()


def test_members_have_no_usage_logs(page, ui_server, scene):
    sign_in(page, ui_server.url, scene.member)
    page.goto(f"{ui_server.url}/organization/{scene.org}")
    expect(page.get_by_role("link", name="Usage logs")).to_have_count(0)
    response = page.goto(f"{ui_server.url}/organization/{scene.org}/logs")
    assert response.status in (403, 404)


def test_counted_refusals_show_as_refused_with_their_count(page, ui_server, model, scene):
    for _ in range(3):
        model.record_robot_login(scene.robot, success=False, reason="invalid", ip="203.0.113.44")
    for _ in range(2):
        model.record_refusal(
            "federated_robot_token_exchange", scene.org, performer=scene.robot, ip="203.0.113.44",
            reason="the token has no iss (issuer) claim",
            metadata={"robot": scene.robot, "issuer": None, "subject": None, "success": False},
        )
    sign_in(page, ui_server.url, scene.admin)
    page.goto(f"{ui_server.url}/organization/{scene.org}/logs")
    failure, exchange = page.locator("tr[data-kind=login_failure]"), page.locator("tr[data-kind=federated_robot_token_exchange]")
    expect(failure).to_have_count(1)
    expect(failure).to_contain_text("wrong name or secret (3 times)")
    expect(failure.locator(".badge.refused")).to_have_text("Login refused")
    expect(exchange).to_have_count(1)
    expect(exchange).to_contain_text("no iss (issuer) claim (2 times)")
    expect(exchange.locator(".badge.refused")).to_have_text("Keyless login refused")
