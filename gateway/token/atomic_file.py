"""Files replaced whole: the keyring's files and the registry's events token, which a
registry, a worker or another command may read at any moment."""

import os
from pathlib import Path


def write_atomically(path: Path, body: bytes, mode: int) -> None:
    """Replace ``path`` with ``body`` (temporary file with ``mode`` from the first byte,
    fsync, rename, fsync of the directory), so a reader sees the old or the new file whole.
    Raises OSError when it cannot be written."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # O_CREAT's mode does not apply to a leftover temporary file
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
