"""``regauth store copy``: every row of one store into another, empty one (SQLite to
PostgreSQL, or PostgreSQL to an SQLite file), ids, secret hashes and audit log included."""

import argparse
import json
import sys
import time

from tokenstore.errors import CopyError, CopyUnavailable
from tokenstore.opening import copy_locations, location_shown

from .output import EXIT_ERROR


def add_store_command(subparsers, settings_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``store copy --from FILE_OR_URL --to FILE_OR_URL`` on ``subparsers`` (the
    CLI's commands), with the settings flags of ``settings_parent`` on it.

    Returns the ``copy`` parser; its handler is ``cmd_store_copy``.
    """
    store = subparsers.add_parser("store", help="the store as a whole").add_subparsers(
        dest="store_command", required=True, metavar="ACTION")
    description = (
        "copy every row of a store (robots, secret hashes, grants, users, organizations, tokens, federation"
        " settings, the audit log) into an empty one, keeping ids: an SQLite file into a PostgreSQL database,"
        " or PostgreSQL into a new file. The source is read in one snapshot, so it may keep serving; the"
        " destination is written in one transaction, so a failed copy leaves it empty. Prints the rows per"
        " table as JSON."
    )
    copy = store.add_parser("copy", parents=[settings_parent], help="copy a store into an empty one",
                            description=description)
    copy.add_argument("--from", dest="source", required=True, metavar="FILE_OR_URL",
                      help="the store to copy: an SQLite file, or a postgresql:// URL")
    copy.add_argument("--to", dest="destination", required=True, metavar="FILE_OR_URL",
                      help="an empty postgresql:// database (migrated on the way), or an SQLite file that does not"
                           " exist yet")
    copy.set_defaults(handler=cmd_store_copy)
    return copy


def cmd_store_copy(config, args) -> int:
    """Copy the store at ``args.source`` into ``args.destination`` and print JSON: both
    locations (without passwords), the rows copied per table, the seconds it took.

    Returns 0, or EXIT_ERROR after one line on stderr when the copy was refused or failed
    (nothing is written to the destination then). Raises nothing else but bugs.
    """
    started = time.monotonic()
    try:
        rows = copy_locations(args.source, args.destination, bcrypt_cost=config.bcrypt_cost)
    except CopyUnavailable as exc:
        hint = "; another process holds a long write, try again" if exc.busy else ""
        # The message is the cause and the server's or the driver's words, never a password.
        return _fail(f"the {exc.side} database ({exc.location}): {exc}{hint}; nothing was copied")
    except CopyError as exc:
        return _fail(f"{exc}; nothing was copied")
    except OSError as exc:
        return _fail(f"{exc.strerror or exc} ({exc.filename or ''}); nothing was copied")
    print(json.dumps({
        "source": location_shown(args.source),
        "destination": location_shown(args.destination),
        "rows": rows,
        "seconds": round(time.monotonic() - started, 3),
    }, indent=2))
    return 0


def _fail(message: str) -> int:
    print(f"regauth: error: {message}", file=sys.stderr)
    return EXIT_ERROR
