"""End-to-end fixtures: regauth, Debian's docker-registry and nginx as real processes, and the
real clients (skopeo, podman, docker) talking to them through nginx.

Topology, all on 127.0.0.1 with free ports::

    client --> nginx (the shipped nginx.conf) --+-- /v2/ --> docker-registry (token auth)
                                                +-- /token, /healthz, ... --> regauth

The realm in the registry's challenges is nginx's ``/token``, as in production. Everything is
session-scoped except the clients' credentials; each test works in its own namespace.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e_clients import (
    Client,
    DockerClient,
    DockerTool,
    PodmanClient,
    PodmanTool,
    SkopeoClient,
    SkopeoTool,
)
from e2e_oci import OciImage, build_oci_image
from e2e_stack import (
    IMAGE_TAG,
    REPO_ROOT,
    START_TIMEOUT,
    MakeRobot,
    RegauthCli,
    Robot,
    Seeder,
    Stack,
    regauth_env,
    regauth_settings,
    registry_config,
    render_nginx_conf,
)
from e2e_support import Daemon, free_port, http_status, run

HERE = Path(__file__).resolve().parent
LOG_TAIL_CHARS = 3000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs real registry, nginx, regauth and container clients"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the end of regauth's and the registry's logs to a failed e2e test's report."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack, Stack):
        for title, path in (("regauth", stack.regauth_log), ("docker-registry", stack.registry_log)):
            try:
                tail = path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            except OSError:
                continue
            report.sections.append((f"{title} log (last {LOG_TAIL_CHARS} characters)", tail))
    return report


def require(binary: str) -> str:
    """Return the path of ``binary``; skip the test when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (not found on PATH)")
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """regauth, docker-registry and nginx, started once and stopped after the session."""
    registry_bin = require("docker-registry")
    nginx_bin = require("nginx")

    base = tmp_path_factory.mktemp("stack")
    nginx_port, registry_port, regauth_port = free_port(), free_port(), free_port()
    data_dir = base / "regauth"
    realm = f"http://127.0.0.1:{nginx_port}/token"
    cli = RegauthCli(data_dir, regauth_settings(realm))
    cli("init")
    auth_block = cli.text("registry-config", "--listen", f"127.0.0.1:{regauth_port}")

    daemons: list[Daemon] = []
    try:
        registry_root = base / "registry"
        registry_root.mkdir()
        config = registry_config(registry_root, registry_port, auth_block)
        registry = Daemon("docker-registry", [registry_bin, "serve", str(config)],
                          base / "registry.log")
        daemons.append(registry)
        registry.wait_ready(
            lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401, START_TIMEOUT
        )

        regauth = Daemon(
            "regauth",
            # JSON logs: test_logs_e2e reads every line the whole session made.
            cli.argv("serve", "--listen", f"127.0.0.1:{regauth_port}", "--log-format", "json",
                     "--registry-url", f"http://127.0.0.1:{registry_port}"),
            base / "regauth.log",
            env=regauth_env(),
            cwd=REPO_ROOT,
        )
        daemons.append(regauth)
        regauth.wait_ready(
            lambda: http_status(f"http://127.0.0.1:{regauth_port}/healthz") == 200,
            START_TIMEOUT,
        )

        prefix = base / "nginx"
        conf = render_nginx_conf(prefix, nginx_port, registry_port, regauth_port)
        nginx = Daemon(
            "nginx",
            [nginx_bin, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
            base / "nginx.log",
        )
        daemons.append(nginx)
        nginx.wait_ready(
            lambda: http_status(f"http://127.0.0.1:{nginx_port}/healthz") == 200
            and http_status(f"http://127.0.0.1:{nginx_port}/v2/") == 401,
            START_TIMEOUT,
        )
        yield Stack(
            nginx_port=nginx_port,
            registry_port=registry_port,
            regauth_port=regauth_port,
            data_dir=data_dir,
            registry_log=registry.log_path,
            regauth_log=regauth.log_path,
        )
    finally:
        for daemon in reversed(daemons):
            daemon.stop()


@pytest.fixture(scope="session")
def regauth_cli(stack: Stack) -> RegauthCli:
    """``regauth_cli(*args) -> dict``: run a regauth command against the stack's database."""
    return RegauthCli(stack.data_dir, regauth_settings(stack.realm))


# --------------------------------------------------------------------------- namespaces, robots


_namespace_numbers = itertools.count(1)


@pytest.fixture
def make_namespace(request: pytest.FixtureRequest, regauth_cli: RegauthCli) -> Callable[[], str]:
    """``make_namespace() -> name``: create a fresh organization, named after the test so
    the registry's and regauth's logs are easy to read."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    slug = slug.removeprefix("test-")[:40].strip("-")

    def make() -> str:
        name = f"{slug}-{next(_namespace_numbers)}"
        created = regauth_cli("org", "create", name)
        assert created["name"] == name
        return name

    return make


@pytest.fixture
def namespace(make_namespace: Callable[[], str]) -> str:
    """A fresh organization for this test."""
    return make_namespace()


@pytest.fixture
def make_robot(regauth_cli: RegauthCli) -> MakeRobot:
    """``make_robot("ns+short", ("ns/repo", "read"), ...) -> Robot``: create a robot and
    grant it each (target, role)."""

    def make(name: str, *grants: tuple[str, str]) -> Robot:
        created = regauth_cli("robot", "create", name)
        assert created["name"] == name
        for target, role in grants:
            regauth_cli("grant", name, target, role)
        return Robot(name=name, secret=created["token"])

    return make


# --------------------------------------------------------------------------- image and clients


# nginx refuses bodies over 1 MB unless told otherwise (client_max_body_size).
NGINX_DEFAULT_BODY_LIMIT = 1024 * 1024


@pytest.fixture(scope="session")
def oci_image(tmp_path_factory: pytest.TempPathFactory) -> OciImage:
    """The test image as an OCI layout on disk.

    Its layer is incompressible and bigger than nginx's default body limit, so every push in
    the suite also proves that the shipped nginx.conf lifts that limit.
    """
    noise = random.Random(20240510).randbytes(2 * NGINX_DEFAULT_BODY_LIMIT)
    image = build_oci_image(
        tmp_path_factory.mktemp("oci") / "layout",
        IMAGE_TAG,
        {"hello.txt": b"hello, registry\n", "noise.bin": noise},
    )
    assert image.layer_size > NGINX_DEFAULT_BODY_LIMIT
    return image


@pytest.fixture(scope="session")
def skopeo_tool(oci_image: OciImage) -> SkopeoTool:
    return SkopeoTool(binary=require("skopeo"), image=oci_image)


@pytest.fixture(scope="session")
def podman_tool(tmp_path_factory: pytest.TempPathFactory, oci_image: OciImage) -> Iterator[PodmanTool]:
    """podman with a private vfs store holding the test image."""
    binary = require("podman")
    root = tmp_path_factory.mktemp("podman")
    for sub in ("root", "run", "tmp"):
        (root / sub).mkdir()
    tool = PodmanTool(binary=binary, root=root, image_id="")
    pulled = run(tool.argv("pull", "--quiet", oci_image.ref), check=True)
    image_id = pulled.stdout.strip().splitlines()[-1]
    yield PodmanTool(binary=binary, root=root, image_id=image_id)
    # vfs layers are plain directories, but podman may still hold mounts of its runroot.
    run(tool.argv("system", "reset", "--force"), timeout=60)


@pytest.fixture(scope="session")
def docker_tool(skopeo_tool: SkopeoTool, oci_image: OciImage) -> Iterator[DockerTool]:
    """A private dockerd (vfs, no networking) holding the test image, loaded from a
    docker-archive that skopeo writes from the OCI layout."""
    dockerd = require("dockerd")
    docker = require("docker")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root (it manages mounts and namespaces)")
    # A unix socket path must stay under 108 bytes, so not under pytest's deep tmp dirs.
    root = Path(tempfile.mkdtemp(prefix="rd"))
    sock = root / "docker.sock"
    daemon = Daemon(
        "dockerd",
        [dockerd, "-H", f"unix://{sock}", "--data-root", str(root / "data"),
         "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
         "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"],
        root / "dockerd.log",
    )
    try:
        env = {"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(root / "config")}
        daemon.wait_ready(
            lambda: sock.exists() and run([docker, "version"], env=env, timeout=10).ok,
            START_TIMEOUT,
        )
        archive = root / "image.tar"
        image_ref = f"regauth-e2e/hello:{oci_image.tag}"
        run([skopeo_tool.binary, "copy", oci_image.ref, f"docker-archive:{archive}:{image_ref}"],
            check=True)
        run([docker, "load", "--input", str(archive)], env=env, check=True)
        yield DockerTool(binary=docker, host=f"unix://{sock}", image_ref=image_ref)
    finally:
        daemon.stop(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


CLIENTS = ("skopeo", "podman", "docker")


def make_client(request: pytest.FixtureRequest, name: str, workdir: Path) -> Client:
    """A fresh client of kind ``name`` with credentials under ``workdir``; skips when the
    client (or what it needs) is not installed."""
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "skopeo":
        return SkopeoClient(request.getfixturevalue("skopeo_tool"), workdir)
    if name == "podman":
        return PodmanClient(request.getfixturevalue("podman_tool"), workdir)
    if name == "docker":
        return DockerClient(request.getfixturevalue("docker_tool"), workdir)
    raise ValueError(f"unknown client {name!r}")


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Client:
    """Each of skopeo, podman and docker in turn, not logged in."""
    return make_client(request, request.param, tmp_path / request.param)


@pytest.fixture
def new_client(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Client]:
    """``new_client("skopeo") -> Client``: another client with its own credentials."""
    numbers = itertools.count()

    def make(name: str) -> Client:
        return make_client(request, name, tmp_path / f"{name}-{next(numbers)}")

    return make


@pytest.fixture
def skopeo(new_client: Callable[[str], Client]) -> SkopeoClient:
    """A skopeo client, not logged in (skopeo alone can delete tags)."""
    made = new_client("skopeo")
    assert isinstance(made, SkopeoClient)
    return made


@pytest.fixture
def seeder(stack: Stack, make_robot: MakeRobot, new_client: Callable[[str], Client]) -> Seeder:
    """A ``Seeder`` with a skopeo client of its own."""
    skopeo = new_client("skopeo")
    assert isinstance(skopeo, SkopeoClient)
    return Seeder(stack, make_robot, skopeo)
