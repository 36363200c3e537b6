"""The container image, built the way CI can: a Debian base made by mmdebstrap and a
wheelhouse, no registry pulled from (scripts/build-image.sh), in the suite's private dockerd.

The container runs with host networking (that dockerd has no bridge) on a free loopback port,
its data directory mounted from the host; Debian's registry trusts the certificate the
container wrote there, and skopeo pushes and pulls through the shipped nginx.conf.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_clients import DockerTool, SkopeoClient, SkopeoTool
from e2e_stack import (
    BCRYPT_COST,
    ISSUER,
    REPO_ROOT,
    SERVICE,
    START_TIMEOUT,
    registry_config,
    render_nginx_conf,
)
from e2e_support import Daemon, Result, free_port, http_status, run, wait_until

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-image.sh"
# mmdebstrap, the wheelhouse and a build on vfs take two to three minutes on a loaded machine.
BUILD_TIMEOUT = 900.0
IMAGE_UID = 10001
NAMESPACE = "imagetest"


@dataclass(frozen=True)
class Docker:
    """The docker CLI pointed at the suite's private dockerd."""

    tool: DockerTool

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.tool.host}

    def __call__(self, *args: str, check: bool = True, timeout: float = 60.0) -> Result:
        """Run ``docker ARGS``; raises AssertionError when ``check`` and it fails."""
        return run([self.tool.binary, *args], env=self.env, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def docker_cli(docker_tool: DockerTool) -> Docker:
    """``docker_cli(*args)``: the docker CLI on the suite's private dockerd."""
    return Docker(docker_tool)


@pytest.fixture(scope="module")
def regauth_image(docker_cli: Docker) -> Iterator[str]:
    """regauth's image, built by scripts/build-image.sh on a fresh Debian base; both images
    are removed afterwards."""
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (scripts/install-deps.sh installs it)")
    suffix = secrets.token_hex(4)
    image, base = f"regauth-e2e/regauth:{suffix}", f"regauth-e2e/base:{suffix}"
    started = time.monotonic()
    try:
        run(["bash", str(BUILD_SCRIPT), "--tag", image, "--base-tag", base,
             "--python", sys.executable],
            env=docker_cli.env, check=True, timeout=BUILD_TIMEOUT)
        print(f"image built in {time.monotonic() - started:.0f} s")
        yield image
    finally:
        docker_cli("rmi", "--force", image, base, check=False)


@pytest.fixture
def container(docker_cli: Docker, regauth_image: str, tmp_path: Path) -> Iterator[Container]:
    """The image running ``regauth serve`` on a free loopback port, its /data a host
    directory; removed afterwards."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chown(data_dir, IMAGE_UID, IMAGE_UID)  # the image's user must own its volume
    nginx_port, port = free_port(), free_port()
    name = f"regauth-e2e-{secrets.token_hex(4)}"
    docker_cli(
        "run", "--detach", "--name", name, "--network", "host",
        "--volume", f"{data_dir}:/data",
        "--env", f"REGAUTH_LISTEN=127.0.0.1:{port}",
        "--env", f"REGAUTH_REALM=http://127.0.0.1:{nginx_port}/token",
        "--env", f"REGAUTH_SERVICE={SERVICE}",
        "--env", f"REGAUTH_ISSUER={ISSUER}",
        "--env", f"REGAUTH_BCRYPT_COST={BCRYPT_COST}",
        # The image's HEALTHCHECK, run often enough to see it pass within the test.
        "--health-interval", "1s", "--health-start-period", "30s",
        regauth_image,
    )
    try:
        yield Container(docker_cli, name, data_dir, port, nginx_port)
    finally:
        logs = docker_cli("logs", "--tail", "50", name, check=False)
        print(f"container log (last 50 lines):\n{logs.output}")
        docker_cli("rm", "--force", "--volumes", name, check=False)


@dataclass(frozen=True)
class Container:
    """A running regauth container and the addresses it was given."""

    docker: Docker
    name: str
    data_dir: Path
    port: int
    nginx_port: int

    def regauth(self, *args: str) -> str:
        """Run ``regauth ARGS`` inside the container; return its stdout."""
        return self.docker("exec", self.name, "regauth", *args).stdout

    def inspect(self, template: str) -> str:
        return self.docker("inspect", "--format", template, self.name).stdout.strip()


def process_uids(pid: int) -> list[int]:
    """Return the real, effective, saved and filesystem uids of process ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", status, re.MULTILINE)
    assert match, status
    return [int(uid) for uid in match.groups()]


def test_the_image_runs_as_non_root_and_the_registry_accepts_its_tokens(
    container: Container, skopeo_tool: SkopeoTool, tmp_path: Path
) -> None:
    """Ready and healthy, uid 10001 throughout, and a robot it creates pushes and pulls
    through nginx to a registry that trusts only the certificate it wrote."""
    regauth_url = f"http://127.0.0.1:{container.port}"
    wait_until(lambda: http_status(f"{regauth_url}/readyz") == 200, START_TIMEOUT,
               what="the container's /readyz", ignore=(OSError,))
    # The HEALTHCHECK as the image declares it (python, urllib, /readyz) passes too.
    wait_until(lambda: container.inspect("{{.State.Health.Status}}") == "healthy", START_TIMEOUT,
               what="the container's HEALTHCHECK")

    # The server process itself, seen from the host, and what docker exec runs as.
    pid = int(container.inspect("{{.State.Pid}}"))
    assert process_uids(pid) == [IMAGE_UID] * 4
    assert container.docker("exec", container.name, "id", "-u").stdout.strip() == str(IMAGE_UID)
    assert (container.data_dir / "signing-cert.pem").stat().st_uid == IMAGE_UID

    # The registry trusts the certificate the container wrote into its (mounted) data dir.
    auth_block = container.regauth("registry-config").replace('"/data/', f'"{container.data_dir}/')
    assert f'rootcertbundle: "{container.data_dir}/' in auth_block
    registry_port = free_port()
    registry_root = tmp_path / "registry"
    registry_root.mkdir()
    config = registry_config(registry_root, registry_port, auth_block)
    prefix = tmp_path / "nginx"
    conf = render_nginx_conf(prefix, container.nginx_port, registry_port, container.port)

    daemons: list[Daemon] = []
    try:
        registry = Daemon("docker-registry", [shutil.which("docker-registry") or "docker-registry",
                                              "serve", str(config)], tmp_path / "registry.log")
        daemons.append(registry)
        registry.wait_ready(
            lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401, START_TIMEOUT
        )
        nginx = Daemon(
            "nginx",
            [shutil.which("nginx") or "nginx", "-p", str(prefix), "-c", str(conf),
             "-e", "stderr", "-g", "daemon off;"],
            tmp_path / "nginx.log",
        )
        daemons.append(nginx)
        nginx.wait_ready(
            lambda: http_status(f"http://127.0.0.1:{container.nginx_port}/healthz") == 200,
            START_TIMEOUT,
        )

        container.regauth("org", "create", NAMESPACE)
        robot = json.loads(container.regauth("robot", "create", f"{NAMESPACE}+ci"))
        container.regauth("grant", robot["name"], NAMESPACE, "write")

        host = f"127.0.0.1:{container.nginx_port}"
        ref = f"{host}/{NAMESPACE}/hello:v1"
        (tmp_path / "skopeo").mkdir()
        skopeo = SkopeoClient(skopeo_tool, tmp_path / "skopeo")
        login = skopeo.login(host, robot["name"], robot["token"])
        assert login.ok, login
        pushed = skopeo.push(ref)
        assert pushed.ok, pushed
        pulled = skopeo.pull(ref)
        assert pulled.ok, pulled
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
