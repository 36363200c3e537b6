"""docker-compose.yml's registry config is one Debian's docker-registry runs with: the base
file of contrib/compose/ followed by the block that regauth's compose command writes
(``regauth registry-config --listen regauth:5001`` with the settings of its env file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from e2e_stack import REPO_ROOT, START_TIMEOUT, RegauthCli
from e2e_support import Daemon, free_port, http_get
from gateway.config import SETTINGS

pytestmark = pytest.mark.e2e

COMPOSE_DIR = REPO_ROOT / "contrib" / "compose"
# What the compose file's regauth command passes, and where the registry's data lives.
EVENTS_LISTEN = "regauth:5001"
COMPOSE_STORAGE = "rootdirectory: /var/lib/registry\n"
COMPOSE_ADDR = "addr: 0.0.0.0:5000\n"


def compose_settings() -> tuple[tuple[str, ...], dict[str, str]]:
    """The compose env file's settings as regauth flags, and as the variables they came from."""
    flags = {setting.env: setting.flag for setting in SETTINGS}
    environ = dict(line.split("=", 1) for line in (COMPOSE_DIR / "regauth.env").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    return tuple(arg for key, value in environ.items() for arg in (flags[key], value)), environ


def test_the_registry_runs_with_the_compose_config_and_regauths_block(tmp_path: Path) -> None:
    registry_bin = shutil.which("docker-registry")
    if registry_bin is None:
        pytest.skip("docker-registry is not installed (not found on PATH)")
    settings, environ = compose_settings()
    cli = RegauthCli(tmp_path / "data", settings)
    cli("init")
    block = cli.text("registry-config", "--listen", EVENTS_LISTEN)
    assert f"http://{EVENTS_LISTEN}/registry/events" in block

    base = (COMPOSE_DIR / "registry-config.yml").read_text()
    port = free_port()
    for placeholder, value in ((COMPOSE_STORAGE, f"rootdirectory: {tmp_path / 'storage'}\n"),
                               (COMPOSE_ADDR, f"addr: 127.0.0.1:{port}\n")):
        assert placeholder in base, f"registry-config.yml no longer holds {placeholder!r}"
        base = base.replace(placeholder, value)
    # As the compose file's registry command does: `cat base block >config.yml`.
    config = tmp_path / "config.yml"
    config.write_text(base + block)

    registry = Daemon("docker-registry", [registry_bin, "serve", str(config)], tmp_path / "registry.log")
    try:
        registry.wait_ready(lambda: http_get(f"http://127.0.0.1:{port}/v2/").status == 401, START_TIMEOUT)
        challenge = http_get(f"http://127.0.0.1:{port}/v2/").headers["WWW-Authenticate"]
    finally:
        registry.stop()
    assert f'realm="{environ["REGAUTH_REALM"]}"' in challenge
    assert f'service="{environ["REGAUTH_SERVICE"]}"' in challenge
