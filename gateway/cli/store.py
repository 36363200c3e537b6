"""The store as a command opens it, and the audit row of a change made from the command line."""

from tokenstore import open_store
from tokenstore.interface import TokenStore

from ..config import Config, ConfigError


# The stores the running command opened; ``close_opened`` closes them when it ends.
_opened: list[TokenStore] = []


def open_existing(config: Config, *, integrity_check: bool = False) -> TokenStore:
    """Return the store of ``config``; raises ConfigError when the SQLite file does not exist
    (``regauth init`` creates it)."""
    if not config.database and not config.database_path.exists():
        raise ConfigError(f"--data-dir / REGAUTH_DATA_DIR: no database in {config.data_dir}; run `regauth init` first")
    store = open_store(config.database_location, bcrypt_cost=config.bcrypt_cost, integrity_check=integrity_check)
    _opened.append(store)
    return store


def close_opened() -> None:
    """Close every store ``open_existing`` opened (PostgreSQL's connections are not left to
    the garbage collector)."""
    while _opened:
        _opened.pop().close()


def audit(store: TokenStore, kind: str, namespace: str, /, **metadata) -> None:
    """Log a change made from the command line in ``namespace``'s audit log (no performer:
    whoever can run this command can read the database)."""
    store.record_event(kind, namespace, metadata={**metadata, "via": "cli"})
