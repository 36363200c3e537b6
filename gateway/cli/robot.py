"""``regauth robot create|list|show|regenerate|federation|delete``: robot accounts."""

import asyncio
import json

from tokenstore.federation import FederationInvalid
from tokenstore.secret_lifecycle import LifetimeInvalid

from ..federation.issuer_policy import check_federation_issuers
from ..management.lifetimes import parse_cli_expiry, parse_duration
from ..management.presenters import permission_json, robot_json, secrets_json
from .output import print_json
from .robot_controls import read_given_secret
from .store import audit, open_existing


def create_robot(config, args):
    store = open_existing(config)
    expires_at = _lifetime(parse_cli_expiry, args.expires, store.clock()) if args.expires else None
    given = read_given_secret(store.bcrypt_cost) if args.secret_stdin else None
    issued = store.create_robot_audited(args.robot, args.description, expires_at=expires_at, via="cli", new_secret=given)
    # A secret brought in on stdin is not printed back.
    print_json(robot_json(issued.robot, None if given else issued))


def list_robots(config, args):
    print_json({"robots": [robot_json(robot) for robot in open_existing(config).list_robots(args.namespace)]})


def show_robot(config, args):
    store = open_existing(config)
    body = robot_json(store.get_robot(args.robot))
    body["permissions"] = [permission_json(p) for p in store.list_permissions(args.robot)]
    body["secrets"] = secrets_json(store.list_secrets(args.robot))
    body["federation"] = [f.as_dict() for f in store.list_federations(args.robot)]
    print_json(body)


def regenerate_robot(config, args):
    store = open_existing(config)
    grace = _lifetime(parse_duration, args.grace)
    expires_at = _lifetime(parse_cli_expiry, args.expires, store.clock()) if args.expires else None
    issued = store.regenerate_robot_audited(args.robot, grace_seconds=grace, expires_at=expires_at, via="cli")
    body = robot_json(issued.robot, issued)
    body["secrets"] = secrets_json(store.list_secrets(args.robot))
    print_json(body)


def robot_federation(config, args):
    store = open_existing(config)
    if args.clear:
        removed = store.delete_federations(args.robot)
        namespace, shortname = args.robot.split("+", 1)
        audit(store, "delete_robot_federation", namespace, robot=shortname, config=[f.as_dict() for f in removed])
    elif args.set is not None:
        try:
            settings = json.loads(args.set)
        except ValueError:
            raise FederationInvalid("--set: not valid JSON") from None
        asyncio.run(check_federation_issuers(settings, allow_private=config.allow_private_issuers))
        federations = store.set_federations(args.robot, settings)
        namespace, shortname = args.robot.split("+", 1)
        audit(store, "create_robot_federation", namespace, robot=shortname, config=[f.as_dict() for f in federations])
    print_json([f.as_dict() for f in store.list_federations(args.robot)])


def delete_robot(config, args):
    store = open_existing(config)
    store.delete_robot_audited(args.robot, via="cli")
    print_json({"deleted": args.robot})


def _lifetime(parse, text, *more):
    """Parse a --grace or --expires value; a bad one is an error naming what is accepted."""
    try:
        return parse(text, *more)
    except ValueError as exc:
        raise LifetimeInvalid(str(exc)) from None
