"""docker-compose.yml's commands, run here as they run in the compose stack:
contrib/compose/regauth-start.sh (with the compose env file's settings) writes the registry's
blocks and regauth's certificate to the shared directory and serves; Debian's docker-registry
runs with contrib/compose/registry-config.yml and that block appended, and accepts a token
regauth issues; contrib/compose/nginx-start.sh writes an nginx config nginx accepts, plain
and TLS."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from e2e_stack import BCRYPT_COST, REPO_ROOT, START_TIMEOUT
from e2e_support import Daemon, free_port, http_get, http_status, run
from e2e_tls import CERT_PLACEHOLDER, KEY_PLACEHOLDER, make_pki

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


@pytest.mark.parametrize("tls", ["off", "on"])
def test_compose_nginx_command_renders_a_config_nginx_accepts(tmp_path: Path, tls: str) -> None:
    """contrib/compose/nginx-start.sh, with NGINX_TLS off and on, writes a config with the
    compose services' addresses that nginx accepts once those names are this host's (``nginx
    -t`` resolves every upstream name, and "registry" and "regauth" resolve only in the
    compose network)."""
    nginx_bin = shutil.which("nginx")
    if nginx_bin is None:
        pytest.skip("nginx is not installed (not found on PATH)")
    prefix, bin_dir = tmp_path / "nginx", tmp_path / "bin"
    bin_dir.mkdir()
    # The script's last step is `exec nginx -p PREFIX -c PREFIX/nginx.conf ...`: stand-in that
    # only reports the config it was given.
    (bin_dir / "nginx").write_text('#!/bin/sh\nwhile [ "$1" != -c ]; do shift; done\necho "$2"\n')
    (bin_dir / "nginx").chmod(0o755)
    script = (COMPOSE_DIR / "nginx-start.sh").read_text()
    for path, value in (("prefix=/tmp/nginx\n", f"prefix={prefix}\n"),
                        ("/etc/regauth/nginx.conf", str(REPO_ROOT / "nginx.conf"))):
        assert path in script, f"nginx-start.sh no longer holds {path!r}"
        script = script.replace(path, value)
    (tmp_path / "nginx-start.sh").write_text(script)
    started = run(["sh", str(tmp_path / "nginx-start.sh")], env={"NGINX_TLS": tls, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert started.ok, str(started)
    conf = Path(started.stdout.strip())
    text = conf.read_text()

    assert "127.0.0.1" not in text
    assert "server registry:5000;" in text and "server regauth:5001;" in text
    listens = re.findall(r"^\s*listen (.*);", text, re.MULTILINE)
    if tls == "on":
        assert listens == ["0.0.0.0:8443 ssl http2", "0.0.0.0:8080"]
        assert "return 308 https://$host:8443$request_uri;" in text
        pki = make_pki(tmp_path / "pki")
        text = text.replace(CERT_PLACEHOLDER, str(pki.server_cert)).replace(KEY_PLACEHOLDER, str(pki.server_key))
    else:
        assert listens == ["0.0.0.0:8080"]
    # On this host: the services' names and the listening addresses made local and free.
    for compose_address in ("registry:5000", "regauth:5001", "0.0.0.0:8080", "0.0.0.0:8443"):
        text = text.replace(compose_address, f"127.0.0.1:{free_port()}")
    conf.write_text(text)
    checked = run([nginx_bin, "-t", "-p", f"{prefix}/", "-c", str(conf), "-e", "stderr"], timeout=30)
    assert checked.ok, str(checked)
