"""``regauth grant`` and ``regauth revoke``: a robot's role on a repository or namespace."""

from ..management.presenters import permission_json
from .output import print_json
from .store import open_existing


def grant(config, args):
    permission = open_existing(config).grant_audited(args.robot, args.target, args.role, via="cli")
    print_json(permission_json(permission))


def revoke(config, args):
    open_existing(config).revoke_audited(args.robot, args.target, via="cli")
    print_json({"revoked": {"robot": args.robot, "target": args.target}})
