"""Settings: one frozen Config built once from flags and ``REGAUTH_*`` variables.

Every setting is declared once in SETTINGS (flag, variable, default, parser, help); the CLI's
flags, the environment lookup and the README's settings table all follow from it. Values are
validated at start, and an error names the setting.
"""

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import limits


class ConfigError(ValueError):
    """Raised when a setting is missing or invalid; the message names the setting."""


@dataclass(frozen=True)
class Setting:
    name: str
    flag: str
    env: str
    default: str
    parse: Callable[[str], object]
    help: str
    #: A flag that takes no value (its variable takes yes or no).
    switch: bool = False


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"must be HOST:PORT, got {text!r}")
    host = host.strip("[]")
    return host, _int_between(0, 65535)(port)


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL the clients can reach, got {text!r}")
    return text


def _registry_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"must be the registry's own http(s) base URL, such as http://127.0.0.1:5000, got {text!r}")
    return text.rstrip("/")


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "true", "1", "on"):
        return True
    if value in ("no", "false", "0", "off", ""):
        return False
    raise ValueError(f"must be yes or no, got {text!r}")


def _algorithm(text: str) -> str:
    value = text.upper()
    if value not in ("ES256", "RS256"):
        raise ValueError(f"must be ES256 or RS256, got {text!r}")
    return value


def _networks(text: str) -> frozenset:
    # A frozenset keeps its hash: the per-request check of the peer looks it up in a cache.
    try:
        return frozenset(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"must be a comma-separated list of addresses or networks ({exc})") from None


def _rate(text: str) -> limits.RateLimitItem:
    try:
        rate = limits.parse(text)
    except ValueError:
        rate = None
    if rate is None or rate.amount < 1:
        raise ValueError(f"must be a count of at least 1 per period, such as 10/minute or 100 per hour, got {text!r}")
    return rate


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def _database(text: str) -> str:
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError("must be empty (SQLite in the data dir) or a postgresql://USER@HOST[:PORT]/DATABASE URL")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "--data-dir", "REGAUTH_DATA_DIR", "./data", lambda t: Path(_non_empty(t)).resolve(),
            "directory holding the database, signing key and certificate"),
    Setting("database", "--database", "REGAUTH_DATABASE_URL", "", _database,
            "where the store lives: a `postgresql://` URL that every replica shares; empty: the SQLite file "
            "`regauth.db` in the data dir"),
    Setting("listen", "--listen", "REGAUTH_LISTEN", "127.0.0.1:5001", _listen,
            "address and port `regauth serve` listens on"),
    Setting("service", "--service", "REGAUTH_SERVICE", "regauth", _non_empty,
            "the registry's service name: token requests must name it, tokens carry it as `aud`"),
    Setting("issuer", "--issuer", "REGAUTH_ISSUER", "regauth", _non_empty,
            "the `iss` of every token; the registry's `issuer` must equal it"),
    Setting("realm", "--realm", "REGAUTH_REALM", "http://127.0.0.1:8080/token", _url,
            "URL of /token as clients reach it (through nginx); goes into the registry config"),
    Setting("token_ttl", "--token-ttl", "REGAUTH_TOKEN_TTL", "300", _int_between(60, 86400),
            "lifetime of registry tokens in seconds (60 to 86400)"),
    Setting("bcrypt_cost", "--bcrypt-cost", "REGAUTH_BCRYPT_COST", "12", _int_between(4, 16),
            "bcrypt cost for new secrets (4 to 16; each step doubles the time of a check)"),
    Setting("signing_alg", "--signing-alg", "REGAUTH_SIGNING_ALG", "ES256", _algorithm,
            "token signature algorithm used by `regauth init`: ES256 or RS256"),
    Setting("trusted_proxies", "--trusted-proxies", "REGAUTH_TRUSTED_PROXIES", "127.0.0.1/32,::1/128", _networks,
            "proxies whose X-Forwarded-For is believed for the client address"),
    Setting("workers", "--workers", "REGAUTH_WORKERS", "1", _int_between(1, 64),
            "number of server processes sharing the listening port"),
    Setting("gc_interval", "--gc-interval", "REGAUTH_GC_INTERVAL", "3600", _int_between(0, 604800),
            "seconds between garbage collections inside `regauth serve` (0 turns the schedule off)"),
    Setting("audit_retention", "--audit-retention", "REGAUTH_AUDIT_RETENTION", "90", _int_between(0, 36500),
            "days an audit log row is kept before the collector removes it (0 keeps every row)"),
    Setting("skip_integrity_check", "--skip-integrity-check", "REGAUTH_SKIP_INTEGRITY_CHECK", "no", _yes_no,
            "start `regauth serve` even when the database fails SQLite's quick_check (for recovery)", switch=True),
    Setting("allow_private_issuers", "--allow-private-issuers", "REGAUTH_ALLOW_PRIVATE_ISSUERS", "false", _yes_no,
            "let federation issuers use plain http (loopback only) and private or loopback addresses (tests, labs)"),
    Setting("login_failures_per_address", "--login-failures-per-address", "REGAUTH_LOGIN_FAILURES_PER_ADDRESS",
            "30/minute", _rate,
            "failed robot logins and refused keyless exchanges one client address may make before its"
            " logins that need a secret check are answered 429"),
    Setting("login_failures_per_robot", "--login-failures-per-robot", "REGAUTH_LOGIN_FAILURES_PER_ROBOT",
            "10/minute", _rate,
            "failed logins one robot name may have, from any address, before its logins that need a secret"
            " check are answered 429"),
    Setting("max_pending_bcrypt", "--max-pending-bcrypt", "REGAUTH_MAX_PENDING_BCRYPT", "32", _int_between(1, 100000),
            "secret checks of robot logins that may wait or run at once; more are answered 503"),
    Setting("registry_url", "--registry-url", "REGAUTH_REGISTRY_URL", "http://127.0.0.1:5000", _registry_url,
            "where regauth reaches the registry itself (not through nginx), to read its catalog for `GET /v2/_catalog`"),
    Setting("log_format", "--log-format", "REGAUTH_LOG_FORMAT", "text", _one_of("text", "json"),
            "how log lines are written: `text` (escaped lines) or `json` (one object per line)"),
)


@dataclass(frozen=True)
class Config:
    data_dir: Path
    listen: tuple[str, int]
    service: str
    issuer: str
    realm: str
    token_ttl: int
    bcrypt_cost: int
    signing_alg: str
    trusted_proxies: frozenset = field(default=frozenset())
    workers: int = 1
    gc_interval: int = 3600
    audit_retention: int = 90
    skip_integrity_check: bool = False
    allow_private_issuers: bool = False
    login_failures_per_address: limits.RateLimitItem = field(default_factory=lambda: limits.parse("30/minute"))
    login_failures_per_robot: limits.RateLimitItem = field(default_factory=lambda: limits.parse("10/minute"))
    max_pending_bcrypt: int = 32
    database: str = ""
    log_format: str = "text"
    registry_url: str = "http://127.0.0.1:5000"

    @property
    def audit_retention_seconds(self) -> float | None:
        """The audit log's retention for the collector: seconds, or None to keep every row."""
        return self.audit_retention * 86400 if self.audit_retention else None

    @property
    def database_path(self) -> Path:
        """The SQLite file, used when no ``database`` URL is set."""
        return self.data_dir / "regauth.db"

    @property
    def database_location(self) -> str | Path:
        """Where the store lives: the PostgreSQL URL, or the SQLite file's path."""
        return self.database or self.database_path

    @property
    def database_shown(self) -> str:
        """``database_location`` for a person to read, without any password in the URL."""
        from tokenstore.opening import location_shown
        return location_shown(self.database_location)

    @property
    def key_path(self) -> Path:
        return self.data_dir / "signing-key.pem"

    @property
    def jwks_path(self) -> Path:
        return self.data_dir / "jwks.json"

    @property
    def certificate_path(self) -> Path:
        return self.data_dir / "signing-cert.pem"

    @classmethod
    def load(cls, flags: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None) -> "Config":
        """Build a Config: a flag wins over its variable, which wins over the default.

        ``flags`` maps setting names to the text given on the command line (None when
        absent). Raises ConfigError naming the flag and variable of the first bad value.
        """
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values = {}
        for setting in SETTINGS:
            text = flags.get(setting.name)
            if text is None:
                text = environ.get(setting.env, setting.default)
            try:
                values[setting.name] = setting.parse(text)
            except ValueError as exc:
                raise ConfigError(f"{setting.flag} / {setting.env}: {exc}") from None
        return cls(**values)
