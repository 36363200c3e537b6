"""``regauth token create|list|revoke``: the management API's bearer tokens."""

from tokenstore import NameInvalid

from ..management.presenters import quay_date
from .output import print_json
from .store import open_existing


def create_token(config, args):
    store = open_existing(config)
    if args.expires is not None and args.expires < 1:
        raise NameInvalid("--expires: give a number of days of at least 1")
    expires_at = store.clock() + args.expires * 86400 if args.expires is not None else None
    issued = store.create_api_token(args.user, expires_at=expires_at, description=args.description)
    print_json({**_api_token_json(issued.info, store.clock()), "token": issued.token})


def list_tokens(config, args):
    store = open_existing(config)
    now = store.clock()
    print_json([_api_token_json(info, now) for info in store.list_api_tokens(args.user)])


def revoke_token(config, args):
    store = open_existing(config)
    print_json(_api_token_json(store.revoke_api_token(args.token), store.clock()))


def _api_token_json(info, now: float) -> dict:
    return {
        "id": info.id, "user": info.username, "prefix": info.prefix, "description": info.description,
        "created": quay_date(info.created), "expires": quay_date(info.expires_at),
        "revoked": quay_date(info.revoked_at), "last_used": quay_date(info.last_used), "live": info.is_live(now),
    }
