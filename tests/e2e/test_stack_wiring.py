"""The shipped nginx.conf and the generated registry config wire the parts together: paths
reach the right upstream, and the registry sends clients to regauth through nginx."""

from __future__ import annotations

import json
import re

import pytest

from e2e_stack import SERVICE, RegauthCli, Stack
from e2e_support import HttpReply, http_get, http_request

# Paths whose answers are the same on every request, compared byte for byte.
REGAUTH_API_PATHS = [
    "/token",
    "/healthz",
    "/.well-known/jwks.json",
    "/api/v1/organization/nobody/robots",
    "/oauth2/federation/robot/token",
]
# The web UI's pages may carry per-request values (form tokens), so only their status,
# type and redirect target are compared.
REGAUTH_UI_PATHS = ["/", "/ui/page-that-does-not-exist"]


def _fetch_both(stack: Stack, path: str) -> tuple[HttpReply, HttpReply, str]:
    """GET ``path`` through nginx and from regauth directly; return both replies and
    regauth's direct host:port."""
    direct_host = f"127.0.0.1:{stack.regauth_port}"
    return http_get(f"http://{stack.host}{path}"), http_get(f"http://{direct_host}{path}"), direct_host


def _assert_same_head(stack: Stack, via_nginx: HttpReply, direct: HttpReply, direct_host: str) -> None:
    assert via_nginx.status == direct.status
    assert via_nginx.headers.get("Content-Type") == direct.headers.get("Content-Type")
    location = direct.headers.get("Location")
    if location is not None:
        assert via_nginx.headers.get("Location") == location.replace(direct_host, stack.host)
    # Every answer of the registry carries this header, none of regauth's.
    assert "Docker-Distribution-Api-Version" not in via_nginx.headers


@pytest.mark.parametrize("path", REGAUTH_API_PATHS)
def test_nginx_sends_regauths_api_paths_to_regauth(stack: Stack, path: str) -> None:
    """Through nginx, each path answers as regauth itself does, byte for byte, except for the
    address: any URL regauth builds names the host the client used, which nginx forwards."""
    via_nginx, direct, direct_host = _fetch_both(stack, path)
    _assert_same_head(stack, via_nginx, direct, direct_host)
    assert direct_host.encode() not in via_nginx.body
    assert via_nginx.body == direct.body.replace(direct_host.encode(), stack.host.encode())


@pytest.mark.parametrize("path", REGAUTH_UI_PATHS)
def test_nginx_sends_the_ui_to_regauth(stack: Stack, path: str) -> None:
    via_nginx, direct, direct_host = _fetch_both(stack, path)
    _assert_same_head(stack, via_nginx, direct, direct_host)
    assert direct_host.encode() not in via_nginx.body


# /v2/_catalog goes to regauth (tests/e2e/test_catalog_e2e.py).
@pytest.mark.parametrize("path", ["/v2/", "/v2/some/repo/tags/list"])
def test_nginx_sends_v2_to_the_registry(stack: Stack, path: str) -> None:
    via_nginx = http_get(f"http://{stack.host}{path}")
    direct = http_get(f"http://127.0.0.1:{stack.registry_port}{path}")
    assert via_nginx.status == direct.status == 401
    assert via_nginx.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_registry_challenge_sends_clients_to_regauth_through_nginx(stack: Stack) -> None:
    reply = http_get(f"http://{stack.host}/v2/")
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{stack.realm}"' in challenge
    assert f'service="{SERVICE}"' in challenge


def test_health_and_public_keys_are_reachable_through_nginx(stack: Stack) -> None:
    assert http_get(f"http://{stack.host}/healthz").status == 200
    jwks = http_get(f"http://{stack.host}/.well-known/jwks.json")
    assert jwks.status == 200
    keys = json.loads(jwks.body)["keys"]
    assert keys and all("kty" in key and "kid" in key for key in keys)


def test_nginx_refuses_registry_events_even_with_the_right_token(stack: Stack, regauth_cli: RegauthCli) -> None:
    """The registry posts its events to regauth's own address; through nginx the endpoint is
    refused with a reason, even with the right token (the registry prints it in its log)."""
    printed = regauth_cli.text("registry-config", "--listen", f"127.0.0.1:{stack.regauth_port}")
    token = re.search(r"Bearer (rg_[A-Za-z0-9_-]+)", printed).group(1)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    envelope = json.dumps({"events": []}).encode()

    direct = http_request("POST", f"http://127.0.0.1:{stack.regauth_port}/registry/events", headers, envelope)
    via_nginx = http_request("POST", f"http://{stack.host}/registry/events", headers, envelope)

    assert direct.status == 200, direct.body
    assert via_nginx.status == 403
    assert b"regauth registry-config" in via_nginx.body
    # Compared apart, so that a failure does not print the token.
    token_echoed = token.encode() in via_nginx.body
    assert not token_echoed
