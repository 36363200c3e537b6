"""``GET /metrics`` on both stores: each metric moves as what it counts happens, labels stay
within their fixed sets, and nothing secret is ever exposed."""

import asyncio
import time

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.metrics import hooks
from gateway.metrics.middleware import outcome_of
from gateway.token import keys
from tests.api.conftest import Api, assert_error
from tests.conftest import make_config

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    """Return every sample of an exposition, keyed by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


async def scrape_text(api: Api) -> str:
    async with api.client.get("/metrics") as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        return await reply.text()


async def scrape(api: Api) -> Samples:
    return parse(await scrape_text(api))


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when absent (a labelled series appears with its first count)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
async def throttled_api(aiohttp_client, tmp_path, store) -> Api:
    """The app allowing each robot name one failed login a minute."""
    config = make_config(tmp_path / "throttled", login_failures_per_robot="1/minute")
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    return Api(await aiohttp_client(create_app(config, store=store)))


async def test_token_requests_are_counted_and_timed_by_outcome(throttled_api, store):
    api = throttled_api
    store.create_namespace("acme")
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme", "write")
    before = await scrape(api)
    ok = await api.token("acme+ci", issued.secret, "repository:acme/app:pull,push")
    assert ok.status == 200
    assert (await api.token("acme+ci", "not-the-secret", "repository:acme/app:pull")).status == 401
    assert (await api.token("acme+ci", "still-not-it", "repository:acme/app:pull")).status == 429
    async with api.client.get("/token", params={"service": "elsewhere"}) as reply:
        assert reply.status == 400
    text = await scrape_text(api)
    after = parse(text)
    for outcome, count in (("issued", 1), ("refused", 2), ("throttled", 1), ("error", 0)):
        assert delta(before, after, "regauth_token_requests_total", outcome=outcome) == count, outcome
        assert delta(before, after, "regauth_token_request_duration_seconds_count", outcome=outcome) == count
    # A throttled login waits out the refusal delay, and its time says so.
    assert delta(before, after, "regauth_token_request_duration_seconds_sum", outcome="throttled") >= 0.5
    assert delta(before, after, "regauth_token_request_duration_seconds_bucket", outcome="issued", le="+Inf") == 1
    # No robot, repository, secret or token in any label or value (namespaces only).
    for private in ("acme+ci", "acme/app", issued.secret, ok.body["token"]):
        assert private not in text


async def test_api_requests_are_timed_by_route_template(api, store, alice, acme):
    before = await scrape(api)
    for _ in range(3):
        assert (await api.get("/api/v1/organization/acme/robots", alice)).status == 200
    assert_error(await api.get("/api/v1/organization/nowhere/robots", alice), 403, "insufficient_scope")
    text = await scrape_text(api)
    after = parse(text)
    route = "/api/v1/organization/{orgname}/robots"
    assert delta(before, after, "regauth_api_request_duration_seconds_count", method="GET", route=route) == 4
    assert delta(before, after, "regauth_api_request_duration_seconds_sum", method="GET", route=route) > 0
    assert "nowhere" not in text and "/organization/acme" not in text


async def test_bcrypt_checks_and_credential_cache_hits(api, store):
    store.create_namespace("acme")
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme", "read")
    before = await scrape(api)
    for _ in range(3):
        assert (await api.token("acme+ci", issued.secret, "repository:acme/app:pull")).status == 200
    assert (await api.token("acme+ci", "wrong", "repository:acme/app:pull")).status == 401
    after = await scrape(api)
    # One check verified the secret, the cache answered the next two; the wrong one was checked.
    assert delta(before, after, "regauth_bcrypt_checks_total", result="verified") == 1
    assert delta(before, after, "regauth_bcrypt_checks_total", result="refused") == 1
    assert delta(before, after, "regauth_credential_cache_requests_total", result="hit") == 2
    assert delta(before, after, "regauth_credential_cache_requests_total", result="miss") == 2
    assert value(after, "regauth_bcrypt_checks_pending") == 0


async def test_pending_bcrypt_checks_are_gauged_while_they_wait():
    hooks.instruments()

    def pending() -> float:
        return REGISTRY.get_sample_value("regauth_bcrypt_checks_pending")

    start = pending()
    check = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(hooks.bcrypt_check(check))
    await asyncio.sleep(0)
    assert pending() == start + 1
    check.set_result("principal")
    assert await waiting == "principal"
    assert pending() == start


async def test_collector_runs_and_rows_removed_are_counted(aiohttp_client, tmp_path, store, make_user):
    config = make_config(tmp_path / "collecting", gc_interval=1)
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    make_user("alice")
    store.create_organization("gone", admin="alice")
    store.create_robot("gone+ci")
    store.delete_namespace("gone")
    api = Api(await aiohttp_client(create_app(config, store=store)))
    before = await scrape(api)
    deadline = time.monotonic() + 10
    while True:  # the schedule's first run comes a second after start-up
        after = await scrape(api)
        if delta(before, after, "regauth_collector_runs_total", result="ok") >= 1:
            break
        assert time.monotonic() < deadline, "no collector run within 10 s"
        await asyncio.sleep(0.1)
    assert delta(before, after, "regauth_collector_rows_removed_total", table="robot_secrets") >= 1
    assert delta(before, after, "regauth_collector_rows_removed_total", table="robots") >= 1
    assert delta(before, after, "regauth_collector_runs_total", result="failed") == 0


async def test_signing_certificate_expiry_by_kid(api, config):
    key = keys.load(config.key_path, config.certificate_path)
    samples = await scrape(api)
    left = value(samples, "regauth_signing_certificate_expiry_seconds", kid=key.kid)
    assert abs(left - (key.certificate_expires.timestamp() - time.time())) < 60
    assert left > 300 * 86400


async def test_oldest_live_secret_age_per_namespace(api, store, clock):
    store.create_namespace("first")
    store.create_namespace("second")
    store.create_namespace("quiet")
    store.create_robot("first+old")
    clock.advance(100)
    store.create_robot("second+ci")
    store.create_robot("first+new")
    clock.advance(50)
    ages = await scrape(api)
    assert value(ages, "regauth_oldest_live_secret_age_seconds", namespace="first") == 150
    assert value(ages, "regauth_oldest_live_secret_age_seconds", namespace="second") == 50
    assert ("regauth_oldest_live_secret_age_seconds", frozenset({("namespace", "quiet")})) not in ages
    # A secret in its grace period still works, so it still counts; once replaced, it does not.
    store.regenerate_secret("first+old", grace_seconds=3600)
    ages = await scrape(api)
    assert value(ages, "regauth_oldest_live_secret_age_seconds", namespace="first") == 150
    store.regenerate_secret("first+old")
    ages = await scrape(api)
    assert value(ages, "regauth_oldest_live_secret_age_seconds", namespace="first") == 50
    # Nor do a deleted robot's, nor an expired one.
    store.delete_robot("first+new")
    store.rotate_secret("second+ci", expires_at=clock() + 10)
    clock.advance(20)
    ages = await scrape(api)
    assert value(ages, "regauth_oldest_live_secret_age_seconds", namespace="first") == 20
    assert ("regauth_oldest_live_secret_age_seconds", frozenset({("namespace", "second")})) not in ages


@pytest.mark.parametrize(("status", "raised", "outcome"), [
    (200, False, "issued"), (400, True, "refused"), (401, True, "refused"), (429, True, "throttled"),
    # The login throttle raises its 503; the store's 503 is the error middleware's answer.
    (503, True, "throttled"), (503, False, "error"), (500, False, "error"),
])
def test_outcome_of_each_answer(status, raised, outcome):
    assert outcome_of(status, raised=raised) == outcome
