"""docker-compose.yml's regauth and registry commands, run here as they run in the compose
stack: contrib/compose/regauth-start.sh (with the compose env file's settings) writes the
registry's blocks and regauth's certificate to the shared directory and serves; Debian's
docker-registry runs with contrib/compose/registry-config.yml and that block appended, and
accepts a token regauth issues."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from e2e_stack import BCRYPT_COST, REPO_ROOT, START_TIMEOUT
from e2e_support import Daemon, free_port, http_get, http_status, run

pytestmark = pytest.mark.e2e

COMPOSE_DIR = REPO_ROOT / "contrib" / "compose"
# Paths inside the compose containers, replaced by the test's own directories.
PUBLIC = "/public"
COMPOSE_STORAGE = "rootdirectory: /var/lib/registry\n"
COMPOSE_ADDR = "addr: 0.0.0.0:5000\n"


def compose_environ() -> dict[str, str]:
    """The settings of contrib/compose/regauth.env."""
    return dict(line.split("=", 1) for line in (COMPOSE_DIR / "regauth.env").read_text().splitlines()
                if line.strip() and not line.startswith("#"))


def test_compose_commands_wire_regauth_and_the_registry(tmp_path: Path) -> None:
    registry_bin = shutil.which("docker-registry")
    if registry_bin is None:
        pytest.skip("docker-registry is not installed (not found on PATH)")
    public, data, bin_dir = tmp_path / "public", tmp_path / "data", tmp_path / "bin"
    for directory in (public, bin_dir):
        directory.mkdir()
    # `regauth` on PATH as the image has it, from this checkout.
    (bin_dir / "regauth").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gateway "$@"\n')
    (bin_dir / "regauth").chmod(0o755)
    regauth_port, registry_port = free_port(), free_port()
    env = {
        **{key: None for key in os.environ if key.startswith("REGAUTH_")},
        **compose_environ(),
        "REGAUTH_DATA_DIR": str(data), "REGAUTH_LISTEN": f"127.0.0.1:{regauth_port}",
        "REGAUTH_BCRYPT_COST": str(BCRYPT_COST),
        "PYTHONPATH": str(REPO_ROOT), "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    start_script = (COMPOSE_DIR / "regauth-start.sh").read_text()
    assert start_script.count(PUBLIC + "/") >= 2
    (tmp_path / "regauth-start.sh").write_text(start_script.replace(PUBLIC + "/", f"{public}/"))

    base = (COMPOSE_DIR / "registry-config.yml").read_text()
    for placeholder, value in ((COMPOSE_STORAGE, f"rootdirectory: {tmp_path / 'storage'}\n"),
                               (COMPOSE_ADDR, f"addr: 127.0.0.1:{registry_port}\n")):
        assert placeholder in base, f"registry-config.yml no longer holds {placeholder!r}"
        base = base.replace(placeholder, value)

    def regauth(*args: str) -> str:
        done = run(["regauth", *args], env=env, timeout=60)
        assert done.ok, done.stderr
        return done.stdout

    regauth("init")  # what the image's entrypoint does on the first start
    daemon = Daemon("regauth", ["sh", str(tmp_path / "regauth-start.sh")], tmp_path / "regauth.log", env=env)
    try:
        daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{regauth_port}/healthz") == 200, START_TIMEOUT)
        block = (public / "registry-auth.yml").read_text()
        assert "http://regauth:5001/registry/events" in block
        assert sorted(path.name for path in public.iterdir()) == ["registry-auth.yml", "signing-cert.pem"]
        # The registry mounts the shared volume where regauth's data is, so the path the
        # block names is the copy's.
        block = block.replace(str(data), str(public))
        config = tmp_path / "config.yml"
        config.write_text(base + block)  # the registry's command: cat base block >config.yml
        registry = Daemon("docker-registry", [registry_bin, "serve", str(config)], tmp_path / "registry.log")
        try:
            registry.wait_ready(lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401, START_TIMEOUT)
            challenge = http_get(f"http://127.0.0.1:{registry_port}/v2/").headers["WWW-Authenticate"]
            assert f'realm="{env["REGAUTH_REALM"]}"' in challenge
            regauth("org", "create", "compose")
            secret = json.loads(regauth("robot", "create", "compose+ci"))["token"]
            basic = base64.b64encode(f"compose+ci:{secret}".encode()).decode()
            issued = http_get(f"http://127.0.0.1:{regauth_port}/token?service={env['REGAUTH_SERVICE']}",
                              headers={"Authorization": f"Basic {basic}"})
            assert issued.status == 200
            token = json.loads(issued.body)["token"]
            accepted = http_get(f"http://127.0.0.1:{registry_port}/v2/", headers={"Authorization": f"Bearer {token}"})
            assert accepted.status == 200, accepted.body
        finally:
            registry.stop()
    finally:
        daemon.stop()
