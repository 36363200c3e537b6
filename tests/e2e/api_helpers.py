"""Helpers for the management API end-to-end tests: users and API tokens made with the
CLI, calls to ``/api/v1`` through nginx, and real ``curl``."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest

from e2e_stack import REPO_ROOT, RegauthCli, regauth_env
from e2e_support import Result, run

# Loopback only: never route test traffic through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class ApiUser:
    """A user and their API bearer token (kept out of reprs)."""

    name: str
    token: str = field(repr=False)


def create_user(cli: RegauthCli, name: str, *, superuser: bool = False) -> ApiUser:
    """Create a user with ``regauth user create`` (password on stdin) and an API token with
    ``regauth token create``; return both."""
    argv = cli.argv("user", "create", name, *(["--superuser"] if superuser else []))
    run(argv, env=regauth_env(), cwd=REPO_ROOT, stdin_text=PASSWORD + "\n", timeout=60, check=True)
    return ApiUser(name, cli("token", "create", name)["token"])


def api(base_url: str, method: str, path: str, user: ApiUser | None = None, body: object = None) -> tuple[int, object]:
    """Call the API at ``base_url`` (``http://host:port``); return (status, parsed JSON or None)."""
    headers = {"Authorization": f"Bearer {user.token}"} if user else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None


def curl(*args: str) -> Result:
    """Run the real ``curl`` with exactly ``args``; skip the test when curl is not installed."""
    binary = shutil.which("curl")
    if binary is None:
        pytest.skip("curl is not installed (not found on PATH)")
    # No proxy from the environment: the stack listens on loopback only.
    return run([binary, *args], env={"http_proxy": None, "HTTP_PROXY": None, "all_proxy": None, "ALL_PROXY": None})
