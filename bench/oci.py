"""A test image on disk as an OCI layout, made without a daemon or network: ``layers``
gzip layers of random (incompressible) data, so a push really moves its size."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build(layout: Path, tag: str, *, layers: int = 3, layer_bytes: int = 10 * 1024 * 1024) -> int:
    """Write the image to ``layout`` under ``tag``; returns the bytes of its layers."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    descriptors, diff_ids = [], []
    for index in range(layers):
        tar_buffer = io.BytesIO()
        with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"layer{index}.bin")
            info.size, info.mode, info.mtime = layer_bytes, 0o644, 0
            tar.addfile(info, io.BytesIO(os.urandom(layer_bytes)))
        raw = tar_buffer.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descriptors.append({"mediaType": MEDIA_LAYER, **_blob(layout, gzip.compress(raw, compresslevel=1, mtime=0))})
    config = {
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    manifest = {
        "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, **_blob(layout, json.dumps(config).encode())},
        "layers": descriptors,
    }
    manifest_descriptor = _blob(layout, json.dumps(manifest).encode())
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": MEDIA_MANIFEST, **manifest_descriptor,
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return sum(descriptor["size"] for descriptor in descriptors)
