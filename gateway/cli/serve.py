"""``regauth serve``: check what the server needs, then run it (``gateway.server.workers``)."""

import logging
import sys

from tokenstore.errors import DatabaseCorrupt

from ..config import Config
from ..token import keyring
from .output import EXIT_ERROR
from .store import open_existing

log = logging.getLogger(__name__)


def serve(config: Config, args) -> int:
    # Imported here: the other commands need none of the server's imports.
    from ..server.workers import ServeError
    from ..server.workers import serve as run_server

    keyring.load(config)  # fail early with a clear line
    if config.skip_integrity_check:
        log.warning("the database's integrity check is skipped (--skip-integrity-check)")
    try:
        open_existing(config, integrity_check=not config.skip_integrity_check).close()
    except DatabaseCorrupt as exc:
        raise DatabaseCorrupt(
            f"{exc}; restore a backup, or start with --skip-integrity-check to serve it as it is",
        ) from None
    try:
        return run_server(config)
    except ServeError as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
