"""Debian's Prometheus scraping the running stack: after a push and a pull through nginx, its
query API returns the token requests regauth counted; nginx refuses ``/metrics`` from outside."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e_clients import Client
from e2e_stack import START_TIMEOUT, MakeRobot, Stack
from e2e_support import Daemon, free_port, http_get, http_status, wait_until

pytestmark = pytest.mark.e2e

# Prometheus scrapes every second: what regauth counted is in its answers within a few.
SCRAPE_WAIT = 15.0


class Prometheus:
    """A Prometheus server's query API."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def query(self, promql: str) -> list[dict]:
        """Return the result vector of an instant query; raises AssertionError when the query fails."""
        reply = http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert reply.status == 200, reply.body
        answer = json.loads(reply.body)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, promql: str) -> float | None:
        """Return the single value ``promql`` evaluates to, or None when it has none yet."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Debian's prometheus binary (not its service) scraping regauth's own port every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (not found on PATH)")
    base: Path = tmp_path_factory.mktemp("prometheus")
    config = base / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: regauth\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{stack.regauth_port}']\n"
    )
    port = free_port()
    daemon = Daemon(
        "prometheus",
        [binary, f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        base / "prometheus.log",
    )
    try:
        daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/-/ready") == 200, START_TIMEOUT)
        server = Prometheus(port)
        wait_until(lambda: server.value('up{job="regauth"}') == 1, SCRAPE_WAIT, what="the first scrape of regauth")
        yield server
    finally:
        daemon.stop()


def issued_now(stack: Stack) -> float:
    """Issued token requests as regauth's own /metrics counts them now."""
    text = http_get(f"http://127.0.0.1:{stack.regauth_port}/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith('regauth_token_requests_total{outcome="issued"}'):
            return float(line.split()[-1])
    raise AssertionError("regauth's /metrics has no issued token requests")


def test_prometheus_sees_the_token_requests_of_a_push_and_a_pull(
    prometheus: Prometheus, stack: Stack, namespace: str, make_robot: MakeRobot,
    new_client: Callable[[str], Client],
) -> None:
    before = issued_now(stack)
    robot = make_robot(f"{namespace}+ci", (namespace, "write"))
    client = new_client("skopeo")
    assert client.login(stack.host, robot.name, robot.secret).ok
    ref = stack.ref(f"{namespace}/app")
    pushed = client.push(ref)
    assert pushed.ok, pushed
    pulled = client.pull(ref)
    assert pulled.ok, pulled

    issued = 'sum(regauth_token_requests_total{job="regauth",outcome="issued"})'
    wait_until(lambda: (prometheus.value(issued) or 0) >= before + 2, SCRAPE_WAIT,
               what="Prometheus counting the push's and the pull's tokens")
    timed = 'sum(regauth_token_request_duration_seconds_count{job="regauth",outcome="issued"})'
    assert prometheus.value(timed) >= before + 2
    # The scrape-time gauges: the certificate is valid, and the new robot's secret is aged.
    assert prometheus.value("min(regauth_signing_certificate_expiry_seconds)") > 0
    aged = f'regauth_oldest_live_secret_age_seconds{{namespace="{namespace}"}}'
    assert wait_until(lambda: prometheus.query(aged), SCRAPE_WAIT, what="the namespace's secret age")


def test_nginx_refuses_metrics_from_outside(stack: Stack) -> None:
    assert http_status(f"http://{stack.host}/metrics") in (403, 404)
    assert http_status(f"http://127.0.0.1:{stack.regauth_port}/metrics") == 200
