"""The three registry clients behind one small interface: skopeo, podman and docker.

Each client object has private credentials (its own auth file or docker config directory),
so a test's logins never leak into another test. Image storage (podman's store, dockerd) is
shared for the session because it only holds the one test image.

All calls are bounded by ``e2e_support.COMMAND_TIMEOUT`` and return a ``Result``; none of
them raises when the client fails, since failing is often what a test expects.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from e2e_oci import OciImage
from e2e_support import Result, run

_counter = itertools.count()


def empty_auth_file(path: Path) -> Path:
    """Create an auth file with no logins and return its path (podman refuses a
    ``REGISTRY_AUTH_FILE`` that does not exist)."""
    path.write_text('{"auths": {}}\n')
    return path


def write_auth_file(path: Path, host: str, username: str, secret: str) -> None:
    """Store ``username:secret`` for ``host`` the way ``login`` does: containers/image's
    auth.json and docker's config.json share the ``{"auths": {HOST: {"auth": b64}}}`` shape."""
    encoded = base64.b64encode(f"{username}:{secret}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": encoded}}}))


class Client:
    """A registry client logged in (or not) with private credentials."""

    name: str

    def login(self, host: str, username: str, secret: str) -> Result:
        raise NotImplementedError

    def logout(self, host: str) -> Result:
        raise NotImplementedError

    def save_credentials(self, host: str, username: str, secret: str) -> None:
        """Store credentials without checking them, as a login that once worked left them."""
        raise NotImplementedError

    def holds_refresh_token(self, host: str) -> bool:
        """Whether the saved login for ``host`` is a refresh token (docker's
        ``identitytoken``) rather than the secret itself."""
        return False

    def push(self, ref: str) -> Result:
        """Push the session's test image to ``ref`` (``host/ns/repo:tag``)."""
        raise NotImplementedError

    def pull(self, ref: str) -> Result:
        """Pull ``ref`` from the registry (manifest and blobs, or at least the manifest)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


@dataclass(frozen=True)
class SkopeoTool:
    """The skopeo binary and the OCI layout it copies from."""

    binary: str
    image: OciImage


class SkopeoClient(Client):
    """skopeo with its own ``--authfile`` (what ``skopeo login`` writes and copy reads)."""

    name = "skopeo"

    def __init__(self, tool: SkopeoTool, workdir: Path) -> None:
        self.tool = tool
        self.workdir = workdir
        self.authfile = empty_auth_file(workdir / "auth.json")

    def _run(self, *args: str, stdin_text: str | None = None) -> Result:
        return run([self.tool.binary, *args], stdin_text=stdin_text)

    def login(self, host: str, username: str, secret: str) -> Result:
        return self._run(
            "login", "--tls-verify=false", "--authfile", str(self.authfile),
            "--username", username, "--password-stdin", host,
            stdin_text=secret,
        )

    def logout(self, host: str) -> Result:
        return self._run("logout", "--authfile", str(self.authfile), host)

    def save_credentials(self, host: str, username: str, secret: str) -> None:
        write_auth_file(self.authfile, host, username, secret)

    def push(self, ref: str) -> Result:
        return self._run(
            "copy", "--dest-tls-verify=false", "--authfile", str(self.authfile),
            self.tool.image.ref, f"docker://{ref}",
        )

    def pull(self, ref: str) -> Result:
        dest = self.workdir / f"pulled-{next(_counter)}"
        return self._run(
            "copy", "--src-tls-verify=false", "--authfile", str(self.authfile),
            f"docker://{ref}", f"dir:{dest}",
        )

    def list_tags(self, host: str, repository: str) -> Result:
        """List the tags of ``repository``; stdout is JSON with a ``Tags`` list."""
        return self._run(
            "list-tags", "--tls-verify=false", "--authfile", str(self.authfile),
            f"docker://{host}/{repository}",
        )

    def delete(self, ref: str) -> Result:
        """Delete the manifest that tag ``ref`` points to (needs the ``*``/delete action)."""
        return self._run(
            "delete", "--tls-verify=false", "--authfile", str(self.authfile), f"docker://{ref}"
        )


@dataclass(frozen=True)
class PodmanTool:
    """podman with a private store under ``root`` holding the test image ``image_id``."""

    binary: str
    root: Path
    image_id: str

    def argv(self, *args: str) -> list[str]:
        return [
            self.binary,
            "--root", str(self.root / "root"),
            "--runroot", str(self.root / "run"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--tmpdir", str(self.root / "tmp"),
            *args,
        ]


class PodmanClient(Client):
    """podman with its own ``REGISTRY_AUTH_FILE``."""

    name = "podman"

    def __init__(self, tool: PodmanTool, workdir: Path) -> None:
        self.tool = tool
        self.authfile = empty_auth_file(workdir / "auth.json")

    def _run(self, *args: str, stdin_text: str | None = None) -> Result:
        return run(
            self.tool.argv(*args),
            env={"REGISTRY_AUTH_FILE": str(self.authfile)},
            stdin_text=stdin_text,
        )

    def login(self, host: str, username: str, secret: str) -> Result:
        return self._run(
            "login", "--tls-verify=false", "--username", username, "--password-stdin", host,
            stdin_text=secret,
        )

    def logout(self, host: str) -> Result:
        return self._run("logout", host)

    def save_credentials(self, host: str, username: str, secret: str) -> None:
        write_auth_file(self.authfile, host, username, secret)

    def push(self, ref: str) -> Result:
        tagged = self._run("tag", self.tool.image_id, ref)
        if not tagged.ok:
            return tagged
        return self._run("push", "--tls-verify=false", ref)

    def pull(self, ref: str) -> Result:
        return self._run("pull", "--tls-verify=false", ref)

    def search(self, host: str, limit: int) -> Result:
        """``podman search HOST/``: the registry's catalog as podman reads it (``/v2/_catalog``
        with a ``registry:catalog:*`` token, following the Link headers), one name a line."""
        return self._run("search", "--tls-verify=false", "--limit", str(limit), "--format", "{{.Name}}", f"{host}/")


@dataclass(frozen=True)
class DockerTool:
    """The docker CLI talking to the session's private dockerd, which holds ``image_ref``."""

    binary: str
    host: str
    image_ref: str


class DockerClient(Client):
    """docker with its own ``DOCKER_CONFIG`` directory (config.json holds the logins)."""

    name = "docker"

    def __init__(self, tool: DockerTool, workdir: Path) -> None:
        self.tool = tool
        self.config_dir = workdir / "docker-config"
        self.config_dir.mkdir()

    def _run(self, *args: str, stdin_text: str | None = None) -> Result:
        return run(
            [self.tool.binary, *args],
            env={"DOCKER_HOST": self.tool.host, "DOCKER_CONFIG": str(self.config_dir)},
            stdin_text=stdin_text,
        )

    def login(self, host: str, username: str, secret: str) -> Result:
        return self._run(
            "login", "--username", username, "--password-stdin", host, stdin_text=secret
        )

    def logout(self, host: str) -> Result:
        return self._run("logout", host)

    def save_credentials(self, host: str, username: str, secret: str) -> None:
        write_auth_file(self.config_dir / "config.json", host, username, secret)

    def holds_refresh_token(self, host: str) -> bool:
        try:
            config = json.loads((self.config_dir / "config.json").read_text())
        except FileNotFoundError:
            return False
        return bool(config.get("auths", {}).get(host, {}).get("identitytoken"))

    def push(self, ref: str) -> Result:
        tagged = self._run("tag", self.tool.image_ref, ref)
        if not tagged.ok:
            return tagged
        return self._run("push", ref)

    def pull(self, ref: str) -> Result:
        # Drop a local tag of that name first, so the pull has to resolve it at the registry.
        self._run("image", "rm", ref)
        return self._run("pull", ref)
