"""``regauth org create|delete|list|add-member``: organizations and their members."""

from ..management.presenters import namespace_json
from .output import print_json
from .store import audit, open_existing


def create_org(config, args):
    store = open_existing(config)
    namespace = store.create_organization(args.name, admin=args.admin)
    audit(store, "org_create", namespace.name, namespace=namespace.name)
    print_json(namespace_json(namespace))


def delete_org(config, args):
    store = open_existing(config)
    audit(store, "org_delete", args.name, namespace=args.name)
    store.delete_namespace(args.name)
    print_json({"deleted": args.name})


def list_orgs(config, args):
    print_json([namespace_json(ns) for ns in open_existing(config).list_namespaces("organization")])


def add_member(config, args):
    store = open_existing(config)
    membership = store.set_member(args.organization, args.user, "admin" if args.admin else "member")
    audit(store, "org_set_member", membership.organization, member=membership.username, role=membership.role)
    print_json({"organization": membership.organization, "user": membership.username, "role": membership.role})
