"""The shipped nginx.conf switched to TLS (docs/tls.md), end to end: a CA made by the test,
the registry's realm on https, and docker, podman, skopeo and containerd's ctr logging in,
pushing and pulling through the https address with verification on. Plain http answers
with a redirect to https; a client that does not trust the CA is refused.

Topology, all on 127.0.0.1 with free ports::

    client --https--> nginx (TLS server) --+-- /v2/ --> docker-registry (realm https://.../token)
    client --http---> nginx (308 to https) +-- /token, ... --> regauth
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_clients import DockerClient, PodmanTool, SkopeoTool
from e2e_stack import (
    IMAGE_TAG,
    REPO_ROOT,
    START_TIMEOUT,
    RegauthCli,
    Robot,
    regauth_env,
    regauth_settings,
    registry_config,
    render_nginx_conf,
)
from e2e_support import Daemon, Result, free_port, http_request, http_status, run
from e2e_tls import Pki, client_context, https_get, make_pki, tls_nginx_text

pytestmark = pytest.mark.e2e

# Where a root dockerd looks for a registry's CA; it reads the directory on every connection.
DOCKER_CERTS_D = Path("/etc/docker/certs.d")


def require(binary: str) -> str:
    """Return the path of ``binary``; skip the test when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (not found on PATH)")
    return path


@dataclass(frozen=True)
class TlsStack:
    """The running TLS stack: nginx's https and plain ports, regauth's CLI, the test CA and
    a certs.d-style directory (``certs_d/HOST:PORT/ca.crt``) trusting it."""

    https_port: int
    http_port: int
    cli: RegauthCli
    pki: Pki
    certs_d: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.https_port}"

    @property
    def cert_dir(self) -> Path:
        """The directory containers/image's ``--cert-dir`` takes for this host."""
        return self.certs_d / self.host

    def ref(self, repository: str) -> str:
        return f"{self.host}/{repository}:{IMAGE_TAG}"

    def robot(self, namespace: str) -> Robot:
        """A new organization ``namespace`` and a robot with write on it."""
        self.cli("org", "create", namespace)
        name = f"{namespace}+ci"
        secret = self.cli("robot", "create", name)["token"]
        self.cli("grant", name, namespace, "write")
        return Robot(name, secret)


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    """regauth, docker-registry and nginx with the shipped TLS server, for this module."""
    registry_bin, nginx_bin = require("docker-registry"), require("nginx")
    base = tmp_path_factory.mktemp("tls")
    https_port, http_port, registry_port, regauth_port = (free_port() for _ in range(4))
    pki = make_pki(base / "pki")
    certs_d = base / "certs.d"
    (certs_d / f"127.0.0.1:{https_port}").mkdir(parents=True)
    shutil.copy(pki.ca_cert, certs_d / f"127.0.0.1:{https_port}" / "ca.crt")

    cli = RegauthCli(base / "regauth", regauth_settings(f"https://127.0.0.1:{https_port}/token"))
    cli("init")
    auth_block = cli.text("registry-config", "--listen", f"127.0.0.1:{regauth_port}")
    (base / "registry").mkdir()
    config = registry_config(base / "registry", registry_port, auth_block)
    conf = render_nginx_conf(base / "nginx", http_port, registry_port, regauth_port,
                             tls_nginx_text(https_port, pki))

    with contextlib.ExitStack() as daemons:
        for name, argv, env, probe in (
            ("docker-registry", [registry_bin, "serve", str(config)], None,
             lambda: http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401),
            ("regauth", cli.argv("serve", "--listen", f"127.0.0.1:{regauth_port}"), regauth_env(),
             lambda: http_status(f"http://127.0.0.1:{regauth_port}/healthz") == 200),
            ("nginx", [nginx_bin, "-p", str(conf.parent), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
             None, lambda: https_get("127.0.0.1", https_port, "/healthz", pki.ca_cert).status == 200),
        ):
            daemon = Daemon(name, argv, base / f"{name}.log", env=env, cwd=REPO_ROOT)
            daemons.callback(daemon.stop)
            daemon.wait_ready(probe, START_TIMEOUT)
        yield TlsStack(https_port, http_port, cli, pki, certs_d)


# --------------------------------------------------------------------------- the TLS server


def test_registry_challenge_names_the_https_realm(tls_stack: TlsStack) -> None:
    reply = https_get("127.0.0.1", tls_stack.https_port, "/v2/", tls_stack.pki.ca_cert)
    assert reply.status == 401
    assert f'realm="https://{tls_stack.host}/token"' in reply.headers["WWW-Authenticate"]


def test_only_tls_1_2_and_1_3_with_forward_secret_aead_ciphers(tls_stack: TlsStack) -> None:
    """TLS 1.3 by default, TLS 1.2 with an ECDHE AEAD cipher when asked; HTTP/2 offered by
    ALPN. (TLS 1.1 and older are not tried: OpenSSL 3 refuses them at its default security
    level on either side, whatever nginx.conf says, so such a test would prove nothing.)"""

    def handshake(**versions: ssl.TLSVersion) -> tuple[str, str, str | None]:
        context = client_context(tls_stack.pki.ca_cert)
        for attribute, version in versions.items():
            setattr(context, attribute, version)
        with contextlib.closing(
            context.wrap_socket(socket.create_connection(("127.0.0.1", tls_stack.https_port), 5),
                                server_hostname="127.0.0.1")
        ) as sock:
            return sock.version(), sock.cipher()[0], sock.selected_alpn_protocol()

    version, _, alpn = handshake()
    assert (version, alpn) == ("TLSv1.3", "h2")
    version, cipher, _ = handshake(maximum_version=ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher


def test_a_client_without_the_ca_is_refused(tls_stack: TlsStack, tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get("127.0.0.1", tls_stack.https_port, "/v2/", cafile=None)
    skopeo = require("skopeo")
    refused = run([skopeo, "inspect", "--tls-verify=true", "--cert-dir", str(tmp_path),
                   f"docker://{tls_stack.ref('nobody/nothing')}"])
    assert not refused.ok
    assert "certificate signed by unknown authority" in refused.output, refused


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/v2/", "/token?service=x&scope=repository:a/b:pull", "/api/v1/x"])
def test_plain_http_is_redirected_to_the_same_path_on_https(tls_stack: TlsStack, method: str, path: str) -> None:
    """308 (a POST stays a POST) to the same host name, the https port and the same path and
    query, whatever the path: plain http serves nothing itself."""
    reply = http_request(method, f"http://127.0.0.1:{tls_stack.http_port}{path}", body=b"" if method == "POST" else None)
    assert reply.status == 308
    assert reply.headers["Location"] == f"https://{tls_stack.host}{path}"
    via_localhost = http_request(method, f"http://localhost:{tls_stack.http_port}{path}")
    assert via_localhost.headers["Location"] == f"https://localhost:{tls_stack.https_port}{path}"


def test_curl_follows_the_redirect_and_verifies_the_server(tls_stack: TlsStack) -> None:
    curl = require("curl")
    argv = [curl, "--silent", "--show-error", "--noproxy", "*", "--location", "--max-time", "10",
            "--output", "/dev/null", "--write-out", "%{http_code} %{url_effective}"]
    followed = run([*argv, "--cacert", str(tls_stack.pki.ca_cert), f"http://127.0.0.1:{tls_stack.http_port}/healthz"])
    assert followed.ok, followed
    assert followed.stdout == f"200 https://{tls_stack.host}/healthz"
    refused = run([*argv, f"http://127.0.0.1:{tls_stack.http_port}/healthz"])
    assert not refused.ok
    assert "certificate" in refused.stderr, refused


# --------------------------------------------------------------------------- the clients


def _robot_for(tls_stack: TlsStack, request: pytest.FixtureRequest) -> Robot:
    return tls_stack.robot(f"tls-{request.node.name.removeprefix('test_')[:30].replace('_', '-')}")


def test_skopeo_logs_in_pushes_and_pulls_over_tls(tls_stack: TlsStack, skopeo_tool: SkopeoTool,
                                                  request: pytest.FixtureRequest, tmp_path: Path) -> None:
    robot = _robot_for(tls_stack, request)
    ref = tls_stack.ref(f"{robot.name.split('+')[0]}/app")
    authfile = _seed(tls_stack, skopeo_tool, robot, ref, tmp_path)
    pulled = run([skopeo_tool.binary, "copy", "--src-tls-verify=true", "--src-cert-dir", str(tls_stack.cert_dir),
                  "--authfile", str(authfile), f"docker://{ref}", f"oci:{tmp_path / 'pulled'}:{IMAGE_TAG}"])
    assert pulled.ok, str(pulled)
    assert _manifest_digest(tmp_path / "pulled") == skopeo_tool.image.manifest_digest


def test_podman_logs_in_pushes_and_pulls_over_tls(tls_stack: TlsStack, podman_tool: PodmanTool,
                                                  request: pytest.FixtureRequest, tmp_path: Path) -> None:
    robot = _robot_for(tls_stack, request)
    (tmp_path / "auth.json").write_text('{"auths": {}}\n')
    env = {"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    trust = ("--tls-verify=true", "--cert-dir", str(tls_stack.cert_dir))
    ref = tls_stack.ref(f"{robot.name.split('+')[0]}/app")
    steps = [
        (["login", *trust, "--username", robot.name, "--password-stdin", tls_stack.host], robot.secret),
        (["tag", podman_tool.image_id, ref], None),
        (["push", *trust, ref], None),
        (["rmi", ref], None),
        (["pull", *trust, ref], None),
    ]
    for args, stdin_text in steps:
        result = run(podman_tool.argv(*args), env=env, stdin_text=stdin_text)
        assert result.ok, result


@pytest.fixture
def docker_trusts_the_ca(tls_stack: TlsStack) -> Iterator[None]:
    """The test CA in /etc/docker/certs.d/HOST:PORT/ca.crt for this test only; the port is
    this run's own, so nothing there is overwritten, and what was made is removed after."""
    made = [path for path in (DOCKER_CERTS_D.parent, DOCKER_CERTS_D) if not path.exists()]
    target = DOCKER_CERTS_D / tls_stack.host
    assert not target.exists(), f"{target} exists already"
    shutil.copytree(tls_stack.cert_dir, target)
    try:
        yield
    finally:
        shutil.rmtree(target)
        for path in reversed(made):
            path.rmdir()


def test_docker_logs_in_pushes_and_pulls_over_tls(tls_stack: TlsStack, request: pytest.FixtureRequest,
                                                  tmp_path: Path) -> None:
    """docker through the https address with the CA in certs.d. (dockerd counts every
    127.0.0.0/8 registry as insecure, a rule built into it, and then does not verify the
    certificate; the refusal of a client without the CA is shown with the others.)"""
    docker_tool = request.getfixturevalue("docker_tool")
    request.getfixturevalue("docker_trusts_the_ca")
    robot = _robot_for(tls_stack, request)
    docker = DockerClient(docker_tool, tmp_path)
    ref = tls_stack.ref(f"{robot.name.split('+')[0]}/app")
    for step in (lambda: docker.login(tls_stack.host, robot.name, robot.secret),
                 lambda: docker.push(ref), lambda: docker.pull(ref)):
        result = step()
        assert result.ok, str(result)


@pytest.fixture
def containerd(tmp_path: Path) -> Iterator[Path]:
    """A containerd of this test's own (no CRI, native snapshots); yields its socket path."""
    binary = require("containerd")
    if os.geteuid() != 0:
        pytest.skip("containerd needs root")
    # A unix socket path must stay under 108 bytes, so not under pytest's deep tmp dirs.
    root = Path(tempfile.mkdtemp(prefix="ctd"))
    sock = root / "containerd.sock"
    (root / "config.toml").write_text(
        'version = 2\n'
        f'root = "{root / "root"}"\n'
        f'state = "{root / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n'
        f'[ttrpc]\n  address = "{root / "ttrpc.sock"}"\n'
    )
    daemon = Daemon("containerd", [binary, "--config", str(root / "config.toml")], tmp_path / "containerd.log")
    try:
        daemon.wait_ready(lambda: sock.exists() and run(["ctr", "--address", str(sock), "version"], timeout=10).ok,
                          START_TIMEOUT)
        yield sock
    finally:
        daemon.stop(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def test_ctr_pulls_over_tls_with_a_robot_login(tls_stack: TlsStack, skopeo_tool: SkopeoTool, containerd: Path,
                                              request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """containerd's client pulls with the robot's login, trusting the CA through a
    ``--hosts-dir`` hosts.toml. (A bare ``HOST:PORT/ca.crt`` there is not enough: containerd
    1.6 speaks plain http to a 127.0.0.1 or localhost registry unless told https.)"""
    ctr = require("ctr")
    robot = _robot_for(tls_stack, request)
    ref = tls_stack.ref(f"{robot.name.split('+')[0]}/app")
    _seed(tls_stack, skopeo_tool, robot, ref, tmp_path)
    pull = ["images", "pull", "--snapshotter", "native", "--user", f"{robot.name}:{robot.secret}"]

    untrusting = _ctr_hosts_dir(tmp_path / "no-ca", tls_stack.host, ca=None)
    refused = _ctr(ctr, containerd, [*pull, "--hosts-dir", str(untrusting), ref], robot.secret)
    assert not refused.ok
    assert "certificate signed by unknown authority" in refused.output, str(refused)

    trusting = _ctr_hosts_dir(tmp_path / "hosts", tls_stack.host, ca=tls_stack.pki.ca_cert)
    pulled = _ctr(ctr, containerd, [*pull, "--hosts-dir", str(trusting), ref], robot.secret)
    assert pulled.ok, str(pulled)
    listed = _ctr(ctr, containerd, ["images", "list", "--quiet"], robot.secret)
    assert ref in listed.stdout.split(), str(listed)


def _ctr_hosts_dir(directory: Path, host: str, ca: Path | None) -> Path:
    """Write containerd's ``HOST/hosts.toml`` under ``directory`` sending ``host`` to
    https, trusting ``ca`` (or only the system's CAs); return ``directory``."""
    (directory / host).mkdir(parents=True)
    trust = f'  ca = "{ca}"\n' if ca else ""
    (directory / host / "hosts.toml").write_text(f'server = "https://{host}"\n[host."https://{host}"]\n{trust}')
    return directory


def _ctr(ctr: str, sock: Path, args: list[str], secret: str) -> Result:
    """Run ``ctr`` in namespace regauth-tls; the result's argv and output with ``secret``
    masked, so that a failed assertion does not print it."""
    result = run([ctr, "--address", str(sock), "--namespace", "regauth-tls", *args])
    return Result(tuple(a.replace(secret, "***") for a in result.argv), result.returncode,
                  result.stdout.replace(secret, "***"), result.stderr.replace(secret, "***"))


def _seed(tls_stack: TlsStack, skopeo_tool: SkopeoTool, robot: Robot, ref: str, tmp_path: Path) -> Path:
    """Push the test image to ``ref`` with skopeo (``--tls-verify=true``, trusting the CA by
    ``--cert-dir``), logged in as ``robot``; return the auth file holding that login."""
    authfile = tmp_path / "seed-auth.json"
    for argv, stdin_text in (
        ([skopeo_tool.binary, "login", "--tls-verify=true", "--cert-dir", str(tls_stack.cert_dir), "--authfile", str(authfile),
          "--username", robot.name, "--password-stdin", tls_stack.host], robot.secret),
        ([skopeo_tool.binary, "copy", "--dest-tls-verify=true", "--dest-cert-dir", str(tls_stack.cert_dir),
          "--authfile", str(authfile),
          skopeo_tool.image.ref, f"docker://{ref}"], None),
    ):
        result = run(argv, stdin_text=stdin_text)
        assert result.ok, result
    return authfile


def _manifest_digest(layout: Path) -> str:
    """The digest of the one manifest in the OCI layout ``layout``."""
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
