"""``regauth user create|list|delete``: the people who use the management API and the web UI."""

import sys

from tokenstore import PasswordInvalid

from ..management.presenters import quay_date
from .output import print_json
from .store import open_existing


def create_user(config, args):
    print_json(_user_json(open_existing(config).create_user(args.name, _read_password(), superuser=args.superuser)))


def list_users(config, args):
    print_json([_user_json(user) for user in open_existing(config).list_users()])


def delete_user(config, args):
    open_existing(config).delete_user(args.name)
    print_json({"deleted": args.name})


def _read_password() -> str:
    """Return a new password: prompted twice on a terminal, else one line from stdin (so
    that it never appears in the command line or the shell's history)."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise PasswordInvalid("the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _user_json(user) -> dict:
    return {"name": user.username, "superuser": user.superuser, "created": quay_date(user.created)}
