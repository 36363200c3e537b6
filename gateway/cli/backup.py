"""``regauth backup DEST`` and ``regauth restore SRC``: the SQLite database into one checked
file while the server runs, and such a file back in its place (docs/backups.md).

The key files of the data folder are not in the backup: the database holds only hashes of
secrets, while the signing key lets whoever has it sign tokens the registry accepts, so it is
copied on its own, to a place kept for secrets, once per key change. Both commands name the
files to copy by hand.
"""

import argparse
import sys
from pathlib import Path

from tokenstore.backup import backup_location, restore_location

from ..config import Config
from .output import print_json


def add_backup_commands(subparsers, settings_parent: argparse.ArgumentParser) -> None:
    """Declare ``backup DEST [--force]`` and ``restore SRC`` on ``subparsers`` (the CLI's
    commands), with the settings flags of ``settings_parent`` on each."""
    text = ("copy the SQLite database into one checked file while the server runs (the key files are not in it;"
            " PostgreSQL: pg_dump)")
    backup_parser = subparsers.add_parser("backup", parents=[settings_parent], help=text, description=text)
    backup_parser.add_argument("destination", metavar="DEST",
                               help="the file to write, or a folder to hold regauth-<UTC time>.db")
    backup_parser.add_argument("--force", action="store_true", help="replace DEST when it exists")
    backup_parser.set_defaults(handler=backup)
    text = ("put a backup in place of the database (refused while a server has it open); the database it"
            " replaces is kept aside as regauth.db.replaced-<UTC time>")
    restore_parser = subparsers.add_parser("restore", parents=[settings_parent], help=text, description=text)
    restore_parser.add_argument("source", metavar="SRC", help="a file `regauth backup` wrote")
    restore_parser.set_defaults(handler=restore)


def backup(config: Config, args) -> int:
    """Back up the database into ``args.destination``; prints JSON (the file, its bytes, its
    live robots, its schema, the seconds taken, the data folder's files not in it) and a
    reminder of those files on stderr. Raises what ``backup_location`` raises."""
    result = backup_location(config.database_location, args.destination, force=args.force)
    left_out = files_not_in_backup(config)
    print_json({
        "backup": str(result.path),
        "bytes": result.size,
        "robots": result.robots,
        "schema": result.schema,
        "seconds": result.seconds,
        "not_in_backup": [str(path) for path in left_out],
    })
    if left_out:
        names = ", ".join(path.name for path in left_out)
        print(f"regauth: note: the backup holds the database only; copy {names} from {config.data_dir} on their own"
              " (docs/backups.md)", file=sys.stderr)
    return 0


def restore(config: Config, args) -> int:
    """Restore the backup ``args.source`` as the database; prints JSON (the database, the
    backup, its live robots, its schema, where the replaced files went). Raises what
    ``restore_location`` raises."""
    result = restore_location(config.database_location, args.source)
    print_json({
        "database": str(result.database),
        "restored_from": str(result.source),
        "robots": result.robots,
        "schema": result.schema,
        "replaced": [str(path) for path in result.replaced],
    })
    if not config.key_path.exists():
        print(f"regauth: note: there is no signing key in {config.data_dir}: put back the key files of the backed-up"
              " data folder before `regauth serve` (docs/backups.md)", file=sys.stderr)
    return 0


def files_not_in_backup(config: Config) -> list[Path]:
    """Return the files and folders of the data folder that a backup leaves out: every one
    (the keyring's ``keys/`` too) but the database, the files SQLite and its writers keep
    beside it, and unfinished copies."""
    database = config.database_path
    if not config.data_dir.is_dir():
        return []
    return sorted(
        path for path in config.data_dir.iterdir()
        if (path.is_file() or path.is_dir()) and not path.name.startswith((database.name, "."))
    )
