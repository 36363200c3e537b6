"""``regauth keys list|add|activate|retire``: rotating the token signing key without a failed
pull. docs/key-rotation.md gives the order: add, restart the registries, activate, wait,
retire, restart the registries."""

import sys
import time

from ..config import Config
from ..registry import events_token
from ..token import keyring
from ..token.keyring import KeyEntry, KeyringError
from .output import EXIT_ERROR, print_json

_COLUMNS = ("STATE", "KID", "ALG", "CERTIFICATE EXPIRES", "ACTIVATED", "RETIRABLE FROM")


def list_keys(config: Config, args) -> int:
    """Print every trusted key: a table, or JSON with ``--json``."""
    ring = keyring.load(config)
    rows = [_row(entry) for entry in ring.entries]
    if args.json:
        print_json({"keys": rows})
        return 0
    table = [_COLUMNS] + [
        (row["state"], row["kid"], row["algorithm"], row["certificate_expires"],
         row["activated_at"] or "-", row["retirable_at"] or "-")
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(_COLUMNS))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def add_key(config: Config, args) -> int:
    """Stage a new key; prints it, with the next step."""
    return _run(lambda: keyring.add(config, args.algorithm, now=time.time()).staged,
                "restart every registry (it reads the certificate bundle at start), then `regauth keys activate`")


def activate_key(config: Config, args) -> int:
    """Make the staged key sign; prints it, with when the previous key may be retired."""
    # The events token derived from the key that signs until now is written to its file first,
    # so the registry's notifications header stays valid.
    pin = lambda key: events_token.pin(config.data_dir, key)
    return _run(lambda: keyring.activate(config, now=time.time(), before_switch=pin).active,
                "running servers sign with it within seconds; `regauth keys retire` once the previous key is"
                " retirable, then restart every registry")


def retire_keys(config: Config, args) -> int:
    """Remove the previous keys; prints what was removed."""
    try:
        _, removed = keyring.retire(config, now=time.time())
    except KeyringError as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print_json({"retired": [_row(entry) for entry in removed],
                "next_step": "restart every registry so it stops trusting the retired keys"})
    return 0


def _run(change, next_step: str) -> int:
    try:
        entry = change()
    except KeyringError as exc:
        print(f"regauth: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print_json({**_row(entry), "next_step": next_step})
    return 0


def _row(entry: KeyEntry) -> dict:
    return {
        "state": entry.state,
        "kid": entry.kid,
        "algorithm": entry.key.algorithm,
        "certificate_expires": keyring.format_time(entry.key.certificate_expires.timestamp()),
        "added_at": keyring.format_time(entry.added_at),
        "activated_at": keyring.format_time(entry.activated_at),
        "stopped_at": keyring.format_time(entry.stopped_at),
        "retirable_at": keyring.format_time(entry.retirable_at),
    }
