"""A client's own ``X-Forwarded-For`` does not reach the audit log through the shipped
nginx.conf: not in the registry's push and pull notifications (the registry records the
left-most address of the header), not in the rows of token requests.

The manifest pull and push are sent by hand (urllib), since no client can add a header."""

from __future__ import annotations

import base64
import json
import time

from e2e_stack import SERVICE, Stack
from e2e_support import http_request
from tokenstore import Store

FORGED = "203.0.113.66"
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))


def _token(stack: Stack, robot, repository: str) -> str:
    basic = base64.b64encode(f"{robot.name}:{robot.secret}".encode()).decode()
    reply = http_request(
        "GET", f"http://{stack.host}/token?service={SERVICE}&scope=repository:{repository}:pull,push",
        {"Authorization": f"Basic {basic}", "X-Forwarded-For": FORGED},
    )
    assert reply.status == 200, reply.status
    return json.loads(reply.body)["token"]


def _events(stack: Stack, namespace: str, want, timeout: float = 30.0) -> list:
    """Return the namespace's audit rows once ``want(rows)`` holds (the registry sends its
    notifications a moment after serving), or after ``timeout`` seconds."""
    store = Store(stack.data_dir / "regauth.db", bcrypt_cost=4)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows, _ = store.list_events(namespace, start=0, end=4e9)
            if want(rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)
    finally:
        store.close()


def test_a_forged_x_forwarded_for_stays_out_of_the_audit_log(stack: Stack, namespace: str, make_robot, seeder):
    repository = f"{namespace}/app"
    seeder.push(repository, "v1")
    robot = make_robot(f"{namespace}+ci", (repository, "write"))
    bearer = {"Authorization": f"Bearer {_token(stack, robot, repository)}", "X-Forwarded-For": FORGED}

    pulled = http_request("GET", f"http://{stack.host}/v2/{repository}/manifests/v1",
                          {**bearer, "Accept": MANIFEST_TYPES})
    assert pulled.status == 200, pulled.body[:300]
    pushed = http_request("PUT", f"http://{stack.host}/v2/{repository}/manifests/forged",
                          {**bearer, "Content-Type": pulled.headers["Content-Type"]}, pulled.body)
    assert pushed.status == 201, pushed.body[:300]

    def by_the_robot(rows) -> dict:
        return {row.kind: row for row in rows if row.performer == robot.name}

    rows = _events(stack, namespace, lambda rows: {"push_repo", "pull_repo", "issue_token"} <= set(by_the_robot(rows)))
    mine = by_the_robot(rows)
    assert {"push_repo", "pull_repo", "issue_token"} <= set(mine), [(row.kind, row.performer) for row in rows]
    assert mine["push_repo"].metadata.get("tag") == "forged"
    for kind in ("push_repo", "pull_repo", "issue_token"):
        assert mine[kind].ip == "127.0.0.1", (kind, mine[kind].ip)
    assert all(row.ip != FORGED for row in rows)
