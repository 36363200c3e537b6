"""The ``regauth`` command line.

Every command takes the settings flags (see config.SETTINGS). Commands other than ``serve``
and ``registry-config`` print JSON. Errors print one line on stderr and exit with status 1.
"""

import argparse
import json
import logging
import sys
from collections.abc import Callable

from tokenstore import Store, TokenStoreError

from . import keys
from .config import SETTINGS, Config, ConfigError
from .presenters import namespace_json, permission_json, repository_json, robot_json

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every command and the settings flags on each."""
    settings = argparse.ArgumentParser(add_help=False)
    group = settings.add_argument_group("settings (flag, or the environment variable named)")
    for setting in SETTINGS:
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

    org = commands.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True, metavar="ACTION")
    command(org, "create", cmd_org_create, "create an organization").add_argument("name")
    command(org, "delete", cmd_org_delete, "delete an organization with its robots and repositories").add_argument("name")
    command(org, "list", cmd_org_list, "list organizations")

    robot = commands.add_parser("robot", help="robot accounts").add_subparsers(dest="robot_command", required=True, metavar="ACTION")
    create = command(robot, "create", cmd_robot_create, "create a robot; prints its secret once")
    create.add_argument("robot", metavar="NS+SHORT")
    create.add_argument("--description", default="")
    command(robot, "list", cmd_robot_list, "list a namespace's robots").add_argument("namespace", metavar="NS")
    command(robot, "show", cmd_robot_show, "show a robot and its permissions").add_argument("robot", metavar="NS+SHORT")
    command(robot, "regenerate", cmd_robot_regenerate, "replace a robot's secret; prints the new one once").add_argument(
        "robot", metavar="NS+SHORT")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = Config.load({setting.name: getattr(args, setting.name) for setting in SETTINGS})
        return args.handler(config, args) or 0
    except (ConfigError, TokenStoreError, keys.KeyError_) as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"regauth: error: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return EXIT_ERROR


def _print(value) -> None:
    print(json.dumps(value, indent=2))


def _store(config: Config) -> Store:
    if not config.database_path.exists():
        raise ConfigError(f"--data-dir / REGAUTH_DATA_DIR: no database in {config.data_dir}; run `regauth init` first")
    return Store(config.database_path, bcrypt_cost=config.bcrypt_cost)


def cmd_init(config: Config, args) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)  # the database holds secret hashes; keep it private
    if config.key_path.exists():
        key = keys.load(config.key_path, config.certificate_path)
        created = False
    else:
        key = keys.generate(config.key_path, config.certificate_path, config.signing_alg)
        created = True
    Store(config.database_path, bcrypt_cost=config.bcrypt_cost).close()
    config.jwks_path.write_text(json.dumps({"keys": [key.jwk()]}, indent=2) + "\n")
    _print({
        "data_dir": str(config.data_dir),
        "database": str(config.database_path),
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
    from .serve import serve

    keys.load(config.key_path, config.certificate_path)  # fail early with a clear line
    _store(config).close()
    return serve(config)


def cmd_registry_config(config: Config, args) -> int:
    keys.load(config.key_path, config.certificate_path)
    print(
        "auth:\n"
        "  token:\n"
        f"    realm: {json.dumps(config.realm)}\n"
        f"    service: {json.dumps(config.service)}\n"
        f"    issuer: {json.dumps(config.issuer)}\n"
        f"    rootcertbundle: {json.dumps(str(config.certificate_path.resolve()))}\n"
        "    # registry 3.x may instead (or also) trust the published key set:\n"
        f"    # jwks: {json.dumps(str(config.jwks_path.resolve()))}\n"
    )
    return 0


def cmd_org_create(config, args):
    _print(namespace_json(_store(config).create_namespace(args.name, "organization")))


def cmd_org_delete(config, args):
    _store(config).delete_namespace(args.name)
    _print({"deleted": args.name})


def cmd_org_list(config, args):
    _print([namespace_json(ns) for ns in _store(config).list_namespaces("organization")])


def cmd_robot_create(config, args):
    issued = _store(config).create_robot(args.robot, args.description)
    _print(robot_json(issued.robot, issued))


def cmd_robot_list(config, args):
    _print({"robots": [robot_json(robot) for robot in _store(config).list_robots(args.namespace)]})


def cmd_robot_show(config, args):
    store = _store(config)
    body = robot_json(store.get_robot(args.robot))
    body["permissions"] = [permission_json(p) for p in store.list_permissions(args.robot)]
    _print(body)


def cmd_robot_regenerate(config, args):
    issued = _store(config).regenerate_secret(args.robot)
    _print(robot_json(issued.robot, issued))


def cmd_robot_delete(config, args):
    _store(config).delete_robot(args.robot)
    _print({"deleted": args.robot})


def cmd_repo_create(config, args):
    _print(repository_json(_store(config).create_repository(args.repository, "public" if args.public else "private")))


def cmd_repo_list(config, args):
    _print({"repositories": [repository_json(r) for r in _store(config).list_repositories(args.namespace)]})


def cmd_repo_delete(config, args):
    _store(config).delete_repository(args.repository)
    _print({"deleted": args.repository})


def cmd_grant(config, args):
    _print(permission_json(_store(config).grant(args.robot, args.target, args.role)))


def cmd_revoke(config, args):
    _store(config).revoke(args.robot, args.target)
    _print({"revoked": {"robot": args.robot, "target": args.target}})
