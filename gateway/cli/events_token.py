"""``regauth events-token show|rotate|retire``: the registry's bearer token at ``POST
/registry/events``."""

from ..config import Config
from ..registry import events_token
from ..token import keyring
from .output import print_json

_ACTIONS = {"show": events_token.load, "rotate": events_token.rotate, "retire": events_token.retire}


def events_token_command(config: Config, args) -> int:
    signing_key = keyring.load(config).signing
    tokens = _ACTIONS[args.events_token_command](config.data_dir, signing_key)
    print_json({"token": tokens.current, "previous_accepted": tokens.previous is not None,
                "file": str(events_token.token_path(config.data_dir))})
    return 0
