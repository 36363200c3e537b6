"""Push and pull through real registries: Debian's docker-registry behind nginx with regauth
tokens, the same registry with no auth (direct, and behind the same nginx), and with its own
htpasswd auth (bcrypt cost 10). skopeo does the copies; each timed copy moves a fresh image
(new random layers), so no blob is ever already there or mountable."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import oci
from .procs import REPO_ROOT, Daemon, free_port, http_status, run

IMAGE_TAG = "v1"
HTPASSWD_COST = 10
HTPASSWD_USER = "bench"


@dataclass
class Target:
    """One registry set-up as a client sees it."""

    key: str
    label: str
    host: str
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    slow: bool = False
    push_s: list[float] = field(default_factory=list)
    pull_s: list[float] = field(default_factory=list)

    @property
    def push(self) -> float:
        return statistics.median(self.push_s)

    @property
    def pull(self) -> float:
        return statistics.median(self.pull_s)

    def summary(self) -> str:
        return f"push {self.push:.2f} s, pull {self.pull:.2f} s (fastest {min(self.push_s):.2f} / {min(self.pull_s):.2f})"


def registry_config(root: Path, port: int, auth_block: str = "") -> Path:
    """Write a docker-registry config (filesystem storage under ``root``) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        + auth_block
    )
    return config


def render_nginx(prefix: Path, listen: int, registry: int, regauth: int) -> Path:
    """Copy the shipped nginx.conf into ``prefix`` with these ports; return its path."""
    text = (REPO_ROOT / "nginx.conf").read_text()
    ports = {"8080": listen, "5000": registry, "5001": regauth}
    # In one pass, each address whole: a port put in (50009, say) is not taken for 5000.
    shipped = re.compile(r"127\.0\.0\.1:(8080|5000|5001)(?!\d)")
    missing = sorted(set(ports) - set(shipped.findall(text)))
    if missing:
        raise RuntimeError(f"nginx.conf no longer contains {', '.join('127.0.0.1:' + port for port in missing)}")
    text = shipped.sub(lambda match: f"127.0.0.1:{ports[match.group(1)]}", text)
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


class RegistryBench:
    """Starts the registries and nginx; ``measure`` times the copies."""

    def __init__(self, workdir: Path, *, regauth_port: int, nginx_port: int, token_auth_block: str,
                 robot: str, robot_secret: str):
        self.workdir = workdir
        self.daemons: list[Daemon] = []
        self.targets: list[Target] = []
        self._robot, self._secret = robot, robot_secret
        self._regauth_port, self._nginx_port, self._token_auth = regauth_port, nginx_port, token_auth_block

    def start(self) -> None:
        """Start four registries and two nginx instances; returns when all answer."""
        base = self.workdir / "registries"
        ports = {key: free_port() for key in ("token", "none", "none_nginx", "htpasswd")}
        htpasswd_secret = "bench-" + base64.b32encode(os.urandom(10)).decode()
        line = run(["htpasswd", "-Bbn", "-C", str(HTPASSWD_COST), HTPASSWD_USER, htpasswd_secret]).stdout.strip()
        base.mkdir(parents=True, exist_ok=True)
        (base / "htpasswd.users").write_text(line + "\n")
        auth = {
            "token": self._token_auth,
            "none": "",
            "none_nginx": "",
            "htpasswd": f"auth:\n  htpasswd:\n    realm: bench\n    path: {base / 'htpasswd.users'}\n",
        }
        for key, port in ports.items():
            config = registry_config(base / key, port, auth[key])
            daemon = Daemon(f"registry-{key}", ["docker-registry", "serve", str(config)], base / f"{key}.log")
            self.daemons.append(daemon)
            daemon.wait_ready(lambda port=port: http_status(f"http://127.0.0.1:{port}/v2/") in (200, 401))
        nginx_none_port = free_port()
        for key, listen, registry_port in (
            ("token", self._nginx_port, ports["token"]), ("none", nginx_none_port, ports["none_nginx"]),
        ):
            prefix = base / f"nginx-{key}"
            conf = render_nginx(prefix, listen, registry_port, self._regauth_port)
            daemon = Daemon(
                f"nginx-{key}", ["nginx", "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
                base / f"nginx-{key}.log",
            )
            self.daemons.append(daemon)
            daemon.wait_ready(lambda listen=listen: http_status(f"http://127.0.0.1:{listen}/v2/") in (200, 401))
        self.targets = [
            Target("none", "registry, no auth", f"127.0.0.1:{ports['none']}"),
            Target("none_nginx", "nginx + registry, no auth", f"127.0.0.1:{nginx_none_port}"),
            Target("token", "nginx + regauth + registry", f"127.0.0.1:{self._nginx_port}", self._robot, self._secret),
            Target("htpasswd", f"registry htpasswd (bcrypt {HTPASSWD_COST})", f"127.0.0.1:{ports['htpasswd']}",
                   HTPASSWD_USER, htpasswd_secret, slow=True),
        ]
        # One auth file for skopeo, so no secret goes on a command line.
        auths = {
            t.host: {"auth": base64.b64encode(f"{t.username}:{t.secret}".encode()).decode()}
            for t in self.targets if t.username
        }
        self.authfile = self.workdir / "auth.json"
        self.authfile.write_text(json.dumps({"auths": auths}))
        self.authfile.chmod(0o600)

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()

    def _skopeo(self, source: str, dest: str) -> float:
        argv = [
            "skopeo", "--insecure-policy", "copy", "--quiet", "--authfile", str(self.authfile),
            "--src-tls-verify=false", "--dest-tls-verify=false", source, dest,
        ]
        began = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        took = time.perf_counter() - began
        if result.returncode != 0:
            raise RuntimeError(f"skopeo copy {source} {dest} failed: {result.stderr.strip()[-600:]}")
        return took

    def warm_up(self) -> None:
        """One untimed push and pull of a small image to every target."""
        warm = self.workdir / "images" / "warmup"
        oci.build(warm, IMAGE_TAG, layers=1, layer_bytes=64 * 1024)
        for target in self.targets:
            self._copy(target, warm, "warmup", record=False)

    def measure(self, iterations: int, *, layers: int, layer_bytes: int, slow_rounds: int) -> int:
        """Push then pull a fresh image to every target, ``iterations`` times in rotating
        order; returns the image's layer bytes.

        Targets marked ``slow`` (htpasswd: a push takes five times as long) take part in the
        first ``slow_rounds`` rounds only: they have to be shown slower, not measured to the
        percent, and the time goes to more rounds of the close comparisons instead.
        """
        images = self.workdir / "images"
        size = 0
        for iteration in range(iterations):
            layout = images / f"image{iteration}"
            size = oci.build(layout, IMAGE_TAG, layers=layers, layer_bytes=layer_bytes)
            targets = [t for t in self.targets if not t.slow or iteration < slow_rounds]
            shift = iteration % len(targets)
            for target in targets[shift:] + targets[:shift]:
                self._copy(target, layout, f"img{iteration}", record=True)
            shutil.rmtree(layout)
        return size

    def _copy(self, target: Target, layout: Path, repository: str, *, record: bool) -> None:
        remote = f"docker://{target.host}/ns/{repository}:{IMAGE_TAG}"
        # Every copy writes 30 MB that the kernel flushes to disk later; start each timed
        # copy with none of that pending, so no copy pays for the one before it.
        os.sync()
        pushed = self._skopeo(f"oci:{layout}:{IMAGE_TAG}", remote)
        pulled_dir = self.workdir / "pulled" / f"{target.key}-{repository}"
        pulled_dir.mkdir(parents=True)
        os.sync()
        pulled = self._skopeo(remote, f"oci:{pulled_dir}:{IMAGE_TAG}")
        shutil.rmtree(pulled_dir, ignore_errors=True)
        if record:
            target.push_s.append(pushed)
            target.pull_s.append(pulled)
