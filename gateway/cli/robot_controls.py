"""``regauth robot disable|enable|settings`` and ``robot create --secret-stdin``: the robot
controls beyond Quay's (``tokenstore.robot_controls``)."""

import sys

from tokenstore import hashing

from ..management.presenters import robot_json
from .output import print_json
from .store import open_existing


def add_commands(robots, command) -> None:
    """Add ``disable``, ``enable`` and ``settings`` to the ``robot`` subcommands (``command``
    is the parser's helper that adds one)."""
    command(robots, "disable", disable_robot,
            "disable a robot without deleting it: refused from its next request on").add_argument(
        "robot", metavar="NS+SHORT")
    command(robots, "enable", enable_robot, "enable a disabled robot again").add_argument("robot", metavar="NS+SHORT")
    settings = command(robots, "settings", robot_settings,
                       "show a namespace's robot settings, or change them")
    settings.add_argument("namespace", metavar="NS")
    settings.add_argument("--self-regenerate", choices=("on", "off"), default=None,
                          help="let the namespace's robots regenerate their own secrets through the API (default off)")


def disable_robot(config, args):
    print_json(robot_json(open_existing(config).set_robot_enabled_audited(args.robot, False, via="cli")))


def enable_robot(config, args):
    print_json(robot_json(open_existing(config).set_robot_enabled_audited(args.robot, True, via="cli")))


def robot_settings(config, args):
    store = open_existing(config)
    if args.self_regenerate is None:
        settings = store.robot_settings(args.namespace)
    else:
        settings = store.set_robot_settings_audited(
            args.namespace, self_regenerate=args.self_regenerate == "on", via="cli",
        )
    print_json(settings.as_dict())


def read_given_secret(cost: int) -> hashing.NewSecret:
    """Return the existing secret on stdin's first line with its bcrypt hash; raises
    SecretInvalid (a one-line error that never shows the secret) for another format.

    Read from stdin, never an argument: a secret in the command line is in the shell's
    history and in every process listing.
    """
    return hashing.given_secret(sys.stdin.readline().strip(), cost)
