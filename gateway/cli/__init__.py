"""The ``regauth`` command line: ``main``.

Every command takes the settings flags (see config.SETTINGS). Commands other than ``serve``
and ``registry-config`` print JSON. Errors print one line on stderr and exit with status 1.
The parser is in ``parser``; each noun's commands in a module named after it.
"""

import sys

from tokenstore import StoreBusy, StoreUnavailable, TokenStoreError

from ..config import SETTINGS, Config, ConfigError
from ..log_escape import configure_logging
from ..log_json import use_log_format
from ..registry.events_token import EventsTokenFileInvalid
from ..token.keys import KeyError_
from .output import EXIT_ERROR
from .parser import build_parser
from .store import close_opened


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(sys.stderr)
    try:
        config = Config.load({setting.name: getattr(args, setting.name) for setting in SETTINGS})
        use_log_format(config.log_format)
        try:
            return args.handler(config, args) or 0
        finally:
            close_opened()
    except StoreUnavailable as exc:
        hint = "; another process holds a long write, try again" if isinstance(exc, StoreBusy) else ""
        print(f"regauth: error: the database ({config.database_shown}): {exc.cause}{hint}", file=sys.stderr)
        return EXIT_ERROR
    except (ConfigError, TokenStoreError, KeyError_, EventsTokenFileInvalid) as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"regauth: error: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return EXIT_ERROR
