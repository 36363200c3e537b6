"""``regauth repo create|list|delete``: repositories."""

from ..management.presenters import repository_json
from .output import print_json
from .store import audit, open_existing


def create_repo(config, args):
    store = open_existing(config)
    repository = store.create_repository(args.repository, "public" if args.public else "private")
    audit(store, "create_repo", repository.namespace, repo=repository.name, namespace=repository.namespace)
    print_json(repository_json(repository))


def list_repos(config, args):
    print_json({"repositories": [repository_json(r) for r in open_existing(config).list_repositories(args.namespace)]})


def delete_repo(config, args):
    store = open_existing(config)
    store.delete_repository(args.repository)
    namespace, _, name = args.repository.partition("/")
    audit(store, "delete_repo", namespace, repo=name, namespace=namespace)
    print_json({"deleted": args.repository})
