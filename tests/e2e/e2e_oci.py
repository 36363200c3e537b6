"""Build a tiny OCI image layout on disk, with no daemon and no network.

Layout per the OCI image spec (image-layout.md): ``oci-layout``, ``index.json`` whose
manifest carries an ``org.opencontainers.image.ref.name`` annotation (the tag skopeo's
``oci:DIR:TAG`` looks up), and content-addressed ``blobs/sha256/*``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class OciImage:
    """An OCI layout directory holding one image under ``tag``."""

    path: Path
    tag: str
    manifest_digest: str
    layer_size: int

    @property
    def ref(self) -> str:
        """The skopeo/podman transport reference, ``oci:DIR:TAG``."""
        return f"oci:{self.path}:{self.tag}"


def _layer_tar(files: dict[str, bytes]) -> bytes:
    """Return an uncompressed tar holding ``files`` with fixed metadata (reproducible)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return digest, len(data)


def build_oci_image(layout: Path, tag: str, files: dict[str, bytes]) -> OciImage:
    """Write a one-layer image holding ``files`` (name -> content) to the OCI layout
    directory ``layout`` and return it."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)

    tar = _layer_tar(files)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    layer_digest, layer_size = _write_blob(layout, gzip.compress(tar, mtime=0))

    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "regauth e2e test image"}],
    }
    config_digest, config_size = _write_blob(layout, json.dumps(config).encode())

    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": MEDIA_LAYER_GZIP, "digest": layer_digest, "size": layer_size},
        ],
    }
    manifest_digest, manifest_size = _write_blob(layout, json.dumps(manifest).encode())

    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return OciImage(path=layout, tag=tag, manifest_digest=manifest_digest, layer_size=layer_size)
