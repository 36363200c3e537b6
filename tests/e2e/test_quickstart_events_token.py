"""The quick start keeps the events token private, and the documented rotation loses no
events: ``scripts/quickstart.sh`` on free ports in a temporary ``REGAUTH_HOME``, then
``regauth events-token rotate``, a push while the registry still runs with the old token, a
re-run of the quick start (which restarts the registry with ``regauth registry-config``'s new
block), a push with the new token, and ``regauth events-token retire``."""

from __future__ import annotations

import re
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e_clients import Client
from e2e_stack import REPO_ROOT, regauth_env
from e2e_support import free_port, run
from tokenstore import Store

QUICKSTART = REPO_ROOT / "scripts" / "quickstart.sh"
# Two stack starts with install-deps finding everything in place take some 10 s each here.
QUICKSTART_TIMEOUT = 240


class Quickstart:
    """The quick start in its own home directory and on its own ports."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.nginx_port, registry_port, regauth_port = free_port(), free_port(), free_port()
        self.env = {**regauth_env(), "REGAUTH_HOME": str(home), "QUICKSTART_NGINX_PORT": str(self.nginx_port),
                    "QUICKSTART_REGISTRY_PORT": str(registry_port), "QUICKSTART_REGAUTH_PORT": str(regauth_port)}
        self.data_dir = home / "regauth"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.nginx_port}"

    def start(self) -> str:
        """Run the quick start; returns the robot secret it printed."""
        started = run(["bash", str(QUICKSTART)], env=self.env, timeout=QUICKSTART_TIMEOUT, cwd=REPO_ROOT)
        assert started.ok, started
        return re.search(r"skopeo login .* -p ([A-Z0-9]{64})", started.stdout).group(1)

    def stop(self) -> None:
        run(["bash", str(QUICKSTART), "stop"], env=self.env, timeout=60, cwd=REPO_ROOT)

    def regauth(self, *args: str) -> str:
        done = run([sys.executable, "-m", "gateway", *args, "--data-dir", str(self.data_dir)],
                   env=self.env, timeout=60, cwd=REPO_ROOT, check=True)
        return done.stdout

    def pushes(self, tag: str, timeout: float = 30.0) -> list:
        """Return the push_repo rows of myorg/app:``tag`` once there is one (the registry
        sends its events a moment after the push), or after ``timeout`` seconds."""
        store = Store(self.data_dir / "regauth.db", bcrypt_cost=4)
        try:
            deadline = time.monotonic() + timeout
            while True:
                rows, _ = store.list_events("myorg", start=0, end=4e9)
                found = [row for row in rows if row.kind == "push_repo" and row.metadata.get("tag") == tag]
                if found or time.monotonic() > deadline:
                    return found
                time.sleep(0.2)
        finally:
            store.close()


@pytest.fixture
def quickstart(tmp_path: Path):
    if sys.platform != "linux":
        pytest.skip("the quick start is for Debian and Ubuntu")
    started = Quickstart(tmp_path / "home")
    try:
        yield started
    finally:
        started.stop()


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def _configured_token(quickstart: Quickstart) -> str:
    config = (quickstart.home / "registry" / "config.yml").read_text()
    return re.search(r'Authorization: \["Bearer ([^"]+)"\]', config).group(1)


def test_quickstart_files_are_private_and_rotation_loses_no_events(quickstart, new_client: Callable[[str], Client]):
    secret = quickstart.start()
    registry_config = quickstart.home / "registry" / "config.yml"
    registry_log = quickstart.home / "logs" / "registry.log"
    assert _private(registry_config) and _private(registry_log)
    first = _configured_token(quickstart)
    assert "Bearer" in registry_log.read_text()  # why the log must be private too

    rotated = quickstart.regauth("events-token", "rotate")
    assert '"previous_accepted": true' in rotated
    assert _private(quickstart.data_dir / "registry-events-token")
    # The registry still runs with the old token: its events are taken.
    client = new_client("skopeo")
    assert client.login(quickstart.host, "myorg+ci", secret).ok
    pushed = client.push(f"{quickstart.host}/myorg/app:before-restart")
    assert pushed.ok, pushed
    assert quickstart.pushes("before-restart")

    secret = quickstart.start()  # rewrites the registry config from registry-config, restarts it
    second = _configured_token(quickstart)
    assert second != first and first not in registry_config.read_text()
    assert _private(registry_config) and _private(registry_log)
    quickstart.regauth("events-token", "retire")
    client = new_client("skopeo")
    assert client.login(quickstart.host, "myorg+ci", secret).ok
    pushed = client.push(f"{quickstart.host}/myorg/app:after-restart")
    assert pushed.ok, pushed
    assert quickstart.pushes("after-restart")
