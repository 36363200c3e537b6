"""People at the registry with app tokens, through nginx, with skopeo, podman and docker: a
developer logs in with ``$app`` (or their own name) and an app token, pulls once their
organization role allows it, cannot push without a write role, and is refused at the next
request after the token is revoked."""

from __future__ import annotations

import re

import pytest

from api_helpers import create_user
from e2e_clients import Client
from e2e_stack import RegauthCli, Seeder, Stack
from test_registry_matrix import expect_denied, expect_login_refused, expect_ok

pytestmark = pytest.mark.e2e

# What a client prints once its saved login is refused at the token endpoint.
REFUSED = re.compile(r"invalid username|unauthorized|authentication required", re.IGNORECASE)


def test_a_developer_pulls_with_an_app_token_until_it_is_revoked(
    client: Client, stack: Stack, namespace: str, regauth_cli: RegauthCli, seeder: Seeder,
) -> None:
    developer = f"{namespace}-dev"
    create_user(regauth_cli, developer)
    regauth_cli("org", "add-member", namespace, developer)
    private = seeder.push(f"{namespace}/app")
    code = regauth_cli("apptoken", "create", developer, "--title", f"{client.name} laptop")["token_code"]
    # skopeo logs in under the person's own name, podman and docker as Quay's ``$app``.
    username = developer if client.name == "skopeo" else "$app"

    expect_ok(client.login(stack.host, username, code))
    # A plain member: no role on the private repository, so no pull and no push.
    expect_denied(client.pull(private))
    expect_denied(client.push(stack.ref(f"{namespace}/app", "dev")))

    # An organization admin is admin on its repositories: pulls and pushes from the next request on.
    regauth_cli("org", "add-member", namespace, developer, "--admin")
    expect_ok(client.pull(private))
    expect_ok(client.push(stack.ref(f"{namespace}/app", "dev")))

    (token,) = regauth_cli("apptoken", "list", developer)["tokens"]
    regauth_cli("apptoken", "revoke", token["uuid"])
    refused = client.pull(private)
    assert not refused.ok and REFUSED.search(refused.output), refused
    expect_login_refused(client, client.login(stack.host, username, code))
