"""``regauth prototype list|create|delete ORG ...``: an organization's default permissions.
Each change is written with its audit row (``via: cli``), as the API writes it."""

import argparse

from tokenstore import prototype_changes

from ..management.presenters import quay_date
from ..management.prototype_views import prototype_view
from .output import print_json
from .store import open_existing

ROLES = ("read", "write", "admin")


def add_prototype_commands(subparsers, settings_parent: argparse.ArgumentParser) -> None:
    """Declare ``prototype list|create|delete`` on ``subparsers`` (the CLI's commands), with
    the settings flags of ``settings_parent``."""
    prototypes = subparsers.add_parser("prototype", help="default permissions of an organization").add_subparsers(
        dest="prototype_command", required=True, metavar="ACTION")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = prototypes.add_parser(name, parents=[settings_parent], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("organization", metavar="ORG")
        return sub

    command("list", list_prototypes, "list an organization's default permissions")
    create = command(
        "create", create_prototype,
        "give a robot or a team a role on every repository created in the organization from now on",
    )
    create.add_argument("role", metavar="ROLE", choices=ROLES)
    delegate = create.add_mutually_exclusive_group(required=True)
    delegate.add_argument("--robot", metavar="ORG+SHORT", help="the robot that gets the role")
    delegate.add_argument("--team", metavar="TEAM", help="the team of the organization that gets the role")
    create.add_argument("--activating-user", metavar="USER|ORG+SHORT", default=None,
                        help="apply only to the repositories this user or robot creates")
    command("delete", delete_prototype, "delete a default permission; the roles it gave stay").add_argument(
        "id", metavar="ID")


def _json(prototype) -> dict:
    return {**prototype_view(prototype), "created": quay_date(prototype.created)}


def list_prototypes(config, args):
    print_json([_json(p) for p in open_existing(config).list_prototypes(args.organization)])


def create_prototype(config, args):
    kind, delegate = ("user", args.robot) if args.robot is not None else ("team", args.team)
    prototype = prototype_changes.create(
        open_existing(config), args.organization, args.role, kind, delegate, args.activating_user, via="cli",
    )
    print_json(_json(prototype))


def delete_prototype(config, args):
    prototype_changes.delete(open_existing(config), args.organization, args.id, via="cli")
    print_json({"deleted": args.id})
