"""The ``regauth`` command line.

Every command takes the settings flags (see config.SETTINGS). Commands other than ``serve``
and ``registry-config`` print JSON. Errors print one line on stderr and exit with status 1.
"""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable

from tokenstore import NameInvalid, PasswordInvalid, StoreBusy, StoreUnavailable, TokenStoreError, open_store
from tokenstore.errors import DatabaseCorrupt
from tokenstore.interface import TokenStore
from tokenstore.federation import FederationInvalid
from tokenstore.secret_lifecycle import LifetimeInvalid

from . import events_token, keys
from .config import SETTINGS, Config, ConfigError
from .issuer_policy import check_federation_issuers
from .lifetimes import parse_cli_expiry, parse_duration
from .log_escape import configure_logging
from .presenters import namespace_json, permission_json, quay_date, repository_json, robot_json, secrets_json

EXIT_ERROR = 1

log = logging.getLogger(__name__)


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

    command(commands, "init", cmd_init, "create the signing key, its certificate and the database")
    command(commands, "serve", cmd_serve, "run the token service")
    command(commands, "registry-config", cmd_registry_config, "print the registry's auth: token: configuration")
    events = commands.add_parser("events-token", help="the bearer token of the registry's notifications").add_subparsers(
        dest="events_token_command", required=True, metavar="ACTION")
    command(events, "show", cmd_events_token,
            "print the token the registry should present, and whether a previous one is still accepted")
    command(events, "rotate", cmd_events_token,
            "make a new token, accepted at once; the previous one stays accepted until `retire`")
    command(events, "retire", cmd_events_token, "stop accepting the token that the last rotation replaced")

    org = commands.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True, metavar="ACTION")
    org_create = command(org, "create", cmd_org_create, "create an organization")
    org_create.add_argument("name")
    org_create.add_argument("--admin", metavar="USER", default=None, help="the user who becomes its first admin")
    command(org, "delete", cmd_org_delete, "delete an organization with its robots and repositories").add_argument("name")
    command(org, "list", cmd_org_list, "list organizations")

    robot = commands.add_parser("robot", help="robot accounts").add_subparsers(dest="robot_command", required=True, metavar="ACTION")
    create = command(robot, "create", cmd_robot_create, "create a robot; prints its secret once")
    create.add_argument("robot", metavar="NS+SHORT")
    create.add_argument("--description", default="")
    command(robot, "list", cmd_robot_list, "list a namespace's robots").add_argument("namespace", metavar="NS")
    create.add_argument("--expires", metavar="WHEN", default=None,
                        help="the secret stops working after a duration (90d, 12h) or at a time (2030-01-31T12:00:00Z)")
    command(robot, "show", cmd_robot_show, "show a robot, its live secrets and its permissions").add_argument(
        "robot", metavar="NS+SHORT")
    regenerate = command(robot, "regenerate", cmd_robot_regenerate, "replace a robot's secret; prints the new one once")
    regenerate.add_argument("robot", metavar="NS+SHORT")
    regenerate.add_argument("--grace", metavar="DURATION", default="0",
                            help="keep the previous secret working this long (300, 15m, 2h; default 0: it stops at once)")
    regenerate.add_argument("--expires", metavar="WHEN", default=None,
                            help="the new secret stops working after a duration (90d) or at a time (RFC 3339)")
    federation = command(robot, "federation", cmd_robot_federation,
                         "show a robot's keyless (OIDC) federation settings, or replace or clear them")
    federation.add_argument("robot", metavar="NS+SHORT")
    change = federation.add_mutually_exclusive_group()
    change.add_argument("--set", metavar="JSON", default=None,
                        help='replace them: [{"issuer": "https://...", "subject": "...", "audience": "..."}]')
    change.add_argument("--clear", action="store_true", help="remove them all")
    command(robot, "delete", cmd_robot_delete, "delete a robot; its secret stops working at once").add_argument(
        "robot", metavar="NS+SHORT")

    repo = commands.add_parser("repo", help="repositories").add_subparsers(dest="repo_command", required=True, metavar="ACTION")
    repo_create = command(repo, "create", cmd_repo_create, "create a repository (private unless --public)")
    repo_create.add_argument("repository", metavar="NS/REPO")
    repo_create.add_argument("--public", action="store_true")
    command(repo, "list", cmd_repo_list, "list a namespace's repositories").add_argument("namespace", metavar="NS")
    command(repo, "delete", cmd_repo_delete, "delete a repository's record and the grants on it").add_argument(
        "repository", metavar="NS/REPO")

    grant = command(commands, "grant", cmd_grant, "give a robot a role on a repository (NS/REPO) or a whole namespace (NS)")
    grant.add_argument("robot", metavar="NS+SHORT")
    grant.add_argument("target", metavar="TARGET")
    grant.add_argument("role", metavar="ROLE", choices=["read", "write", "admin"])
    revoke = command(commands, "revoke", cmd_revoke, "remove a robot's role on a repository or namespace")
    revoke.add_argument("robot", metavar="NS+SHORT")
    revoke.add_argument("target", metavar="TARGET")

    # Users, organization members, API tokens, garbage collection.
    add_member = command(org, "add-member", cmd_org_add_member, "add a user to an organization (or change their role)")
    add_member.add_argument("organization", metavar="ORG")
    add_member.add_argument("user", metavar="USER")
    add_member.add_argument("--admin", action="store_true", help="as an admin (default: a plain member)")
    user = commands.add_parser("user", help="users of the management API").add_subparsers(
        dest="user_command", required=True, metavar="ACTION")
    user_create = command(user, "create", cmd_user_create,
                          "create a user; the password is prompted for, or read as one line from stdin")
    user_create.add_argument("name")
    user_create.add_argument("--superuser", action="store_true", help="may manage every namespace")
    command(user, "list", cmd_user_list, "list users")
    command(user, "delete", cmd_user_delete, "delete a user with their namespace, robots and API tokens").add_argument(
        "name")
    token = commands.add_parser("token", help="API bearer tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    token_create = command(token, "create", cmd_token_create, "create an API token for a user; prints it once")
    token_create.add_argument("user", metavar="USER")
    token_create.add_argument("--expires", metavar="DAYS", type=int, default=None, help="valid for this many days")
    token_create.add_argument("--description", default="")
    command(token, "list", cmd_token_list, "list API tokens (never the tokens themselves)").add_argument(
        "user", metavar="USER", nargs="?", default=None)
    command(token, "revoke", cmd_token_revoke, "revoke an API token by its id or prefix").add_argument(
        "token", metavar="ID|PREFIX")
    command(commands, "gc", cmd_gc,
            "remove the rows of deleted robots, namespaces and repositories, and expired audit rows, now")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(sys.stderr)
    try:
        config = Config.load({setting.name: getattr(args, setting.name) for setting in SETTINGS})
        return _run(args.handler, config, args)
    except StoreUnavailable as exc:
        hint = "; another process holds a long write, try again" if isinstance(exc, StoreBusy) else ""
        print(f"regauth: error: the database ({config.database_shown}): {exc.cause}{hint}", file=sys.stderr)
        return EXIT_ERROR
    except (ConfigError, TokenStoreError, keys.KeyError_, events_token.EventsTokenFileInvalid) as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"regauth: error: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return EXIT_ERROR


def _run(handler, config: Config, args) -> int:
    """Run a command's handler; returns its exit status, after closing the stores it opened."""
    try:
        return handler(config, args) or 0
    finally:
        while _opened:
            _opened.pop().close()


def _print(value) -> None:
    print(json.dumps(value, indent=2))


# The stores a command opened, closed when it ends.
_opened: list[TokenStore] = []


def _store(config: Config, *, integrity_check: bool = False) -> TokenStore:
    if not config.database and not config.database_path.exists():
        raise ConfigError(f"--data-dir / REGAUTH_DATA_DIR: no database in {config.data_dir}; run `regauth init` first")
    store = open_store(config.database_location, bcrypt_cost=config.bcrypt_cost, integrity_check=integrity_check)
    _opened.append(store)
    return store


def cmd_init(config: Config, args) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)  # the database holds secret hashes; keep it private
    if config.key_path.exists():
        key = keys.load(config.key_path, config.certificate_path)
        created = False
    else:
        key = keys.generate(config.key_path, config.certificate_path, config.signing_alg)
        created = True
    open_store(config.database_location, bcrypt_cost=config.bcrypt_cost).close()
    config.jwks_path.write_text(json.dumps({"keys": [key.jwk()]}, indent=2) + "\n")
    _print({
        "data_dir": str(config.data_dir),
        "database": config.database_shown,
        "key": str(config.key_path),
        "certificate": str(config.certificate_path),
        "jwks": str(config.jwks_path),
        "algorithm": key.algorithm,
        "kid": key.kid,
        "certificate_expires": key.certificate_expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created": created,
    })
    return 0


def cmd_serve(config: Config, args) -> int:
    from .serve import ServeError, serve

    keys.load(config.key_path, config.certificate_path)  # fail early with a clear line
    if config.skip_integrity_check:
        log.warning("the database's integrity check is skipped (--skip-integrity-check)")
    try:
        _store(config, integrity_check=not config.skip_integrity_check).close()
    except DatabaseCorrupt as exc:
        raise DatabaseCorrupt(
            f"{exc}; restore a backup, or start with --skip-integrity-check to serve it as it is",
        ) from None
    try:
        return serve(config)
    except ServeError as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def cmd_registry_config(config: Config, args) -> int:
    signing_key = keys.load(config.key_path, config.certificate_path)
    host, port = config.listen
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: the registry on this machine reaches it here
    events_url = f"http://{f'[{host}]' if ':' in host else host}:{port}/registry/events"
    print(
        "auth:\n"
        "  token:\n"
        f"    realm: {json.dumps(config.realm)}\n"
        f"    service: {json.dumps(config.service)}\n"
        f"    issuer: {json.dumps(config.issuer)}\n"
        f"    rootcertbundle: {json.dumps(str(config.certificate_path.resolve()))}\n"
        "    # registry 3.x may instead (or also) trust the published key set:\n"
        f"    # jwks: {json.dumps(str(config.jwks_path.resolve()))}\n"
        "# What the registry serves goes to regauth's audit log (push_repo, pull_repo, delete_tag).\n"
        "# Change the url if the registry reaches regauth at another address; keep the header secret.\n"
        "notifications:\n"
        "  endpoints:\n"
        "    - name: regauth\n"
        f"      url: {json.dumps(events_url)}\n"
        "      headers:\n"
        f"        Authorization: [{json.dumps('Bearer ' + events_token.load(config.data_dir, signing_key).current)}]\n"
        "      timeout: 2s\n"
        "      threshold: 5\n"
        "      backoff: 1s\n"
        "      # blob events: only manifests are logged\n"
        "      ignoredmediatypes:\n"
        "        - application/octet-stream\n"
    )
    return 0


_EVENTS_TOKEN_ACTIONS = {"show": events_token.load, "rotate": events_token.rotate, "retire": events_token.retire}


def cmd_events_token(config: Config, args) -> int:
    signing_key = keys.load(config.key_path, config.certificate_path)
    tokens = _EVENTS_TOKEN_ACTIONS[args.events_token_command](config.data_dir, signing_key)
    _print({"token": tokens.current, "previous_accepted": tokens.previous is not None,
            "file": str(events_token.token_path(config.data_dir))})
    return 0


def cmd_org_create(config, args):
    store = _store(config)
    namespace = store.create_organization(args.name, admin=args.admin)
    _audit(store, "org_create", namespace.name, namespace=namespace.name)
    _print(namespace_json(namespace))


def cmd_org_delete(config, args):
    store = _store(config)
    _audit(store, "org_delete", args.name, namespace=args.name)
    store.delete_namespace(args.name)
    _print({"deleted": args.name})


def cmd_org_list(config, args):
    _print([namespace_json(ns) for ns in _store(config).list_namespaces("organization")])


def cmd_robot_create(config, args):
    store = _store(config)
    expires_at = _lifetime(parse_cli_expiry, args.expires, store.clock()) if args.expires else None
    issued = store.create_robot_audited(args.robot, args.description, expires_at=expires_at, via="cli")
    _print(robot_json(issued.robot, issued))


def cmd_robot_list(config, args):
    _print({"robots": [robot_json(robot) for robot in _store(config).list_robots(args.namespace)]})


def cmd_robot_show(config, args):
    store = _store(config)
    body = robot_json(store.get_robot(args.robot))
    body["permissions"] = [permission_json(p) for p in store.list_permissions(args.robot)]
    body["secrets"] = secrets_json(store.list_secrets(args.robot))
    body["federation"] = [f.as_dict() for f in store.list_federations(args.robot)]
    _print(body)


def cmd_robot_regenerate(config, args):
    store = _store(config)
    grace = _lifetime(parse_duration, args.grace)
    expires_at = _lifetime(parse_cli_expiry, args.expires, store.clock()) if args.expires else None
    issued = store.regenerate_robot_audited(args.robot, grace_seconds=grace, expires_at=expires_at, via="cli")
    body = robot_json(issued.robot, issued)
    body["secrets"] = secrets_json(store.list_secrets(args.robot))
    _print(body)


def cmd_robot_federation(config, args):
    store = _store(config)
    if args.clear:
        removed = store.delete_federations(args.robot)
        namespace, shortname = args.robot.split("+", 1)
        _audit(store, "delete_robot_federation", namespace, robot=shortname, config=[f.as_dict() for f in removed])
    elif args.set is not None:
        try:
            settings = json.loads(args.set)
        except ValueError:
            raise FederationInvalid("--set: not valid JSON") from None
        asyncio.run(check_federation_issuers(settings, allow_private=config.allow_private_issuers))
        federations = store.set_federations(args.robot, settings)
        namespace, shortname = args.robot.split("+", 1)
        _audit(store, "create_robot_federation", namespace, robot=shortname, config=[f.as_dict() for f in federations])
    _print([f.as_dict() for f in store.list_federations(args.robot)])


def _lifetime(parse, text, *more):
    """Parse a --grace or --expires value; a bad one is an error naming what is accepted."""
    try:
        return parse(text, *more)
    except ValueError as exc:
        raise LifetimeInvalid(str(exc)) from None


def cmd_robot_delete(config, args):
    store = _store(config)
    store.delete_robot_audited(args.robot, via="cli")
    _print({"deleted": args.robot})


def cmd_repo_create(config, args):
    store = _store(config)
    repository = store.create_repository(args.repository, "public" if args.public else "private")
    _audit(store, "create_repo", repository.namespace, repo=repository.name, namespace=repository.namespace)
    _print(repository_json(repository))


def cmd_repo_list(config, args):
    _print({"repositories": [repository_json(r) for r in _store(config).list_repositories(args.namespace)]})


def cmd_repo_delete(config, args):
    store = _store(config)
    store.delete_repository(args.repository)
    namespace, _, name = args.repository.partition("/")
    _audit(store, "delete_repo", namespace, repo=name, namespace=namespace)
    _print({"deleted": args.repository})


def cmd_grant(config, args):
    permission = _store(config).grant_audited(args.robot, args.target, args.role, via="cli")
    _print(permission_json(permission))


def cmd_revoke(config, args):
    _store(config).revoke_audited(args.robot, args.target, via="cli")
    _print({"revoked": {"robot": args.robot, "target": args.target}})


# -- users, organization members, API tokens, garbage collection ----------------------


def _audit(store: TokenStore, kind: str, namespace: str, /, **metadata) -> None:
    """Log a change made from the command line in ``namespace``'s audit log (no performer:
    whoever can run this command can read the database)."""
    store.record_event(kind, namespace, metadata={**metadata, "via": "cli"})


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


def _api_token_json(info, now: float) -> dict:
    return {
        "id": info.id, "user": info.username, "prefix": info.prefix, "description": info.description,
        "created": quay_date(info.created), "expires": quay_date(info.expires_at),
        "revoked": quay_date(info.revoked_at), "last_used": quay_date(info.last_used), "live": info.is_live(now),
    }


def cmd_user_create(config, args):
    _print(_user_json(_store(config).create_user(args.name, _read_password(), superuser=args.superuser)))


def cmd_user_list(config, args):
    _print([_user_json(user) for user in _store(config).list_users()])


def cmd_user_delete(config, args):
    _store(config).delete_user(args.name)
    _print({"deleted": args.name})


def cmd_org_add_member(config, args):
    store = _store(config)
    membership = store.set_member(args.organization, args.user, "admin" if args.admin else "member")
    _audit(store, "org_set_member", membership.organization, member=membership.username, role=membership.role)
    _print({"organization": membership.organization, "user": membership.username, "role": membership.role})


def cmd_token_create(config, args):
    store = _store(config)
    if args.expires is not None and args.expires < 1:
        raise NameInvalid("--expires: give a number of days of at least 1")
    expires_at = store.clock() + args.expires * 86400 if args.expires is not None else None
    issued = store.create_api_token(args.user, expires_at=expires_at, description=args.description)
    _print({**_api_token_json(issued.info, store.clock()), "token": issued.token})


def cmd_token_list(config, args):
    store = _store(config)
    now = store.clock()
    _print([_api_token_json(info, now) for info in store.list_api_tokens(args.user)])


def cmd_token_revoke(config, args):
    store = _store(config)
    _print(_api_token_json(store.revoke_api_token(args.token), store.clock()))


def cmd_gc(config, args):
    _print({"removed": _store(config).collect_garbage(audit_retention=config.audit_retention_seconds)})
