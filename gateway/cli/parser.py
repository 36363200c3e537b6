"""The ``regauth`` argument parser: every command, its arguments and the settings flags."""

import argparse
from collections.abc import Callable

from ..config import SETTINGS
from . import (
    events_token,
    gc,
    init,
    keys,
    org,
    permission,
    registry_config,
    repo,
    robot,
    robot_controls,
    serve,
    token,
    user,
)
from .apptokens import add_apptoken_commands
from .backup import add_backup_commands
from .prototypes import add_prototype_commands
from .store_copy import add_store_command
from .teams import add_team_commands


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every command and the settings flags on each."""
    settings = argparse.ArgumentParser(add_help=False)
    group = settings.add_argument_group("settings (flag, or the environment variable named)")
    for setting in SETTINGS:
        if setting.switch:
            group.add_argument(setting.flag, dest=setting.name, default=None, action="store_const", const="yes",
                               help=f"{setting.help} (or {setting.env}=yes)")
        else:
            group.add_argument(setting.flag, dest=setting.name, default=None, metavar=setting.env, help=setting.help)

    parser = argparse.ArgumentParser(prog="regauth", description="Robot accounts and scoped tokens for a Docker registry.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent, name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, parents=[settings], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    command(commands, "init", init.init, "create the signing key, its certificate and the database")
    command(commands, "serve", serve.serve, "run the token service")
    command(commands, "registry-config", registry_config.registry_config,
            "print the registry's auth: token: configuration")
    events = commands.add_parser("events-token", help="the bearer token of the registry's notifications").add_subparsers(
        dest="events_token_command", required=True, metavar="ACTION")
    command(events, "show", events_token.events_token_command,
            "print the token the registry should present, and whether a previous one is still accepted")
    command(events, "rotate", events_token.events_token_command,
            "make a new token, accepted at once; the previous one stays accepted until `retire`")
    command(events, "retire", events_token.events_token_command,
            "stop accepting the token that the last rotation replaced")

    signing_keys = commands.add_parser("keys", help="the token signing keys and their rotation").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION")
    command(signing_keys, "list", keys.list_keys,
            "show each trusted key: state, kid, algorithm, certificate expiry, when activated and retirable"
            ).add_argument("--json", action="store_true", help="print JSON instead of a table")
    command(signing_keys, "add", keys.add_key,
            "stage a new key and trust it (certificate bundle, jwks.json) beside the active one"
            ).add_argument("--algorithm", choices=("ES256", "RS256"), default="ES256", help="default ES256")
    command(signing_keys, "activate", keys.activate_key, "make the staged key sign, in every running server")
    command(signing_keys, "retire", keys.retire_keys,
            "stop trusting the previous keys, once no token they signed can still be valid")

    orgs = commands.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True, metavar="ACTION")
    org_create = command(orgs, "create", org.create_org, "create an organization")
    org_create.add_argument("name")
    org_create.add_argument("--admin", metavar="USER", default=None, help="the user who becomes its first admin")
    command(orgs, "delete", org.delete_org, "delete an organization with its robots and repositories").add_argument("name")
    command(orgs, "list", org.list_orgs, "list organizations")

    robots = commands.add_parser("robot", help="robot accounts").add_subparsers(
        dest="robot_command", required=True, metavar="ACTION")
    create = command(robots, "create", robot.create_robot, "create a robot; prints its secret once")
    create.add_argument("robot", metavar="NS+SHORT")
    create.add_argument("--description", default="")
    create.add_argument("--secret-stdin", action="store_true",
                        help="give it an existing secret (64 characters A-Z 0-9, e.g. from Quay), read from stdin")
    command(robots, "list", robot.list_robots, "list a namespace's robots").add_argument("namespace", metavar="NS")
    create.add_argument("--expires", metavar="WHEN", default=None,
                        help="the secret stops working after a duration (90d, 12h) or at a time (2030-01-31T12:00:00Z)")
    command(robots, "show", robot.show_robot, "show a robot, its live secrets and its permissions").add_argument(
        "robot", metavar="NS+SHORT")
    regenerate = command(robots, "regenerate", robot.regenerate_robot, "replace a robot's secret; prints the new one once")
    regenerate.add_argument("robot", metavar="NS+SHORT")
    regenerate.add_argument("--grace", metavar="DURATION", default="0",
                            help="keep the previous secret working this long (300, 15m, 2h; default 0: it stops at once)")
    regenerate.add_argument("--expires", metavar="WHEN", default=None,
                            help="the new secret stops working after a duration (90d) or at a time (RFC 3339)")
    federation = command(robots, "federation", robot.robot_federation,
                         "show a robot's keyless (OIDC) federation settings, or replace or clear them")
    federation.add_argument("robot", metavar="NS+SHORT")
    change = federation.add_mutually_exclusive_group()
    change.add_argument("--set", metavar="JSON", default=None,
                        help='replace them: [{"issuer": "https://...", "subject": "...", "audience": "..."}]')
    change.add_argument("--clear", action="store_true", help="remove them all")
    command(robots, "delete", robot.delete_robot, "delete a robot; its secret stops working at once").add_argument(
        "robot", metavar="NS+SHORT")
    robot_controls.add_commands(robots, command)

    repos = commands.add_parser("repo", help="repositories").add_subparsers(dest="repo_command", required=True, metavar="ACTION")
    repo_create = command(repos, "create", repo.create_repo, "create a repository (private unless --public)")
    repo_create.add_argument("repository", metavar="NS/REPO")
    repo_create.add_argument("--public", action="store_true")
    command(repos, "list", repo.list_repos, "list a namespace's repositories").add_argument("namespace", metavar="NS")
    command(repos, "delete", repo.delete_repo, "delete a repository's record and the grants on it").add_argument(
        "repository", metavar="NS/REPO")

    grant = command(commands, "grant", permission.grant,
                    "give a robot a role on a repository (NS/REPO) or a whole namespace (NS)")
    grant.add_argument("robot", metavar="NS+SHORT")
    grant.add_argument("target", metavar="TARGET")
    grant.add_argument("role", metavar="ROLE", choices=["read", "write", "admin"])
    revoke = command(commands, "revoke", permission.revoke, "remove a robot's role on a repository or namespace")
    revoke.add_argument("robot", metavar="NS+SHORT")
    revoke.add_argument("target", metavar="TARGET")

    # Users, organization members, API tokens, garbage collection.
    add_member = command(orgs, "add-member", org.add_member, "add a user to an organization (or change their role)")
    add_member.add_argument("organization", metavar="ORG")
    add_member.add_argument("user", metavar="USER")
    add_member.add_argument("--admin", action="store_true", help="as an admin (default: a plain member)")
    users = commands.add_parser("user", help="users of the management API").add_subparsers(
        dest="user_command", required=True, metavar="ACTION")
    user_create = command(users, "create", user.create_user,
                          "create a user; the password is prompted for, or read as one line from stdin")
    user_create.add_argument("name")
    user_create.add_argument("--superuser", action="store_true", help="may manage every namespace")
    command(users, "list", user.list_users, "list users")
    command(users, "delete", user.delete_user, "delete a user with their namespace, robots and API tokens").add_argument(
        "name")
    tokens = commands.add_parser("token", help="API bearer tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    token_create = command(tokens, "create", token.create_token, "create an API token for a user; prints it once")
    token_create.add_argument("user", metavar="USER")
    token_create.add_argument("--expires", metavar="DAYS", type=int, default=None, help="valid for this many days")
    token_create.add_argument("--description", default="")
    command(tokens, "list", token.list_tokens, "list API tokens (never the tokens themselves)").add_argument(
        "user", metavar="USER", nargs="?", default=None)
    command(tokens, "revoke", token.revoke_token, "revoke an API token by its id or prefix").add_argument(
        "token", metavar="ID|PREFIX")
    command(commands, "gc", gc.collect,
            "remove the rows of deleted robots, namespaces and repositories, and expired audit rows, now")
    add_store_command(commands, settings)
    add_backup_commands(commands, settings)
    add_team_commands(commands, settings)
    add_prototype_commands(commands, settings)
    add_apptoken_commands(commands, command)
    return parser
