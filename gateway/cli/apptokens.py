"""``regauth apptoken create|list|revoke``: people's app tokens for logging in to the registry."""

from tokenstore.secret_lifecycle import LifetimeInvalid

from ..management.lifetimes import parse_cli_expiry
from ..management.presenters import quay_date
from .output import print_json
from .store import open_existing


def create_app_token(config, args):
    store = open_existing(config)
    expires_at = None
    if args.expires:
        try:
            expires_at = parse_cli_expiry(args.expires, store.clock())
        except ValueError as exc:
            raise LifetimeInvalid(str(exc)) from None
    issued = store.create_app_token(args.user, args.title, expires_at=expires_at, via="cli")
    print_json({**app_token_json(issued.info), "token_code": issued.token})


def list_app_tokens(config, args):
    print_json({"tokens": [app_token_json(token) for token in open_existing(config).list_app_tokens(args.user)]})


def revoke_app_token(config, args):
    store = open_existing(config)
    print_json({"revoked": app_token_json(store.revoke_app_token(args.uuid, via="cli"))})


def app_token_json(token) -> dict:
    """A token as the CLI prints it: the API's object with the owner's name."""
    return {
        "uuid": token.uuid, "user": token.username, "title": token.title, "created": quay_date(token.created),
        "expiration": quay_date(token.expires_at), "last_accessed": quay_date(token.last_accessed),
    }


def add_apptoken_commands(commands, command) -> None:
    """Add ``apptoken create|list|revoke`` to the parser's ``commands`` (``command`` adds one)."""
    tokens = commands.add_parser("apptoken", help="people's app tokens, their registry logins").add_subparsers(
        dest="apptoken_command", required=True, metavar="ACTION")
    create = command(tokens, "create", create_app_token,
                     "create an app token for a user (docker login -u '$app'); prints it once")
    create.add_argument("user", metavar="USER")
    create.add_argument("--title", required=True, help="what the token is for (at most 255 characters)")
    create.add_argument("--expires", metavar="WHEN", default=None,
                        help="the token stops working after a duration (90d, 12h) or at a time (2030-01-31T12:00:00Z)")
    command(tokens, "list", list_app_tokens, "list a user's app tokens (never the tokens themselves)").add_argument(
        "user", metavar="USER")
    command(tokens, "revoke", revoke_app_token, "revoke an app token; refused from the next login on").add_argument(
        "uuid", metavar="UUID")
