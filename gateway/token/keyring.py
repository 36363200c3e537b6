"""The keyring: the key that signs now, at most one staged next key, and previous keys still
trusted until retired. docs/key-rotation.md gives the procedure and why it is in that order.

On disk, in the data dir:

- ``keyring.json``: each key's state, files and times. Its absence is the layout ``regauth
  init`` writes (``signing-key.pem`` with its own ``signing-cert.pem``): that key is the
  active one, with nothing to migrate.
- ``keys/<kid>.key.pem`` (mode 0600) and ``keys/<kid>.cert.pem``: every key of the keyring.
- ``signing-cert.pem``: the registry's ``rootcertbundle``, every trusted certificate, the
  active one first; ``jwks.json``: every trusted key; ``signing-key.pem``: a copy of the active
  key, so that the path keeps naming the key that signs.

Every file is replaced atomically (temporary file, fsync, rename); ``keyring.json`` is written
last but one, and what follows it (``publish``) can be redone from it at any time.
"""

import datetime
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import keys
from .atomic_file import write_atomically
from .keys import KeyError_, SigningKey

STATE_FILE = "keyring.json"
KEYS_DIR = "keys"
ACTIVE, NEXT, PREVIOUS = "active", "next", "previous"
ALGORITHMS = ("ES256", "RS256")

# The registry accepts a token up to 60 s past its exp (distribution's leeway for clock skew).
REGISTRY_LEEWAY_SECONDS = 60
# A worker takes an activation within about a second (``live_keyring``); a token request
# already past its key lookup then still signs with the old key. Both fit in this margin.
RELOAD_MARGIN_SECONDS = 5


class KeyringError(Exception):
    """Raised when a keyring change is refused; the message says why and what to do."""


class KeyringInvalid(KeyError_):
    """Raised when ``keyring.json`` or a key file it names cannot be read or is inconsistent."""


@dataclass(frozen=True)
class KeyEntry:
    """One key of the keyring with its state and times (UNIX seconds; None when not yet)."""

    state: str
    key: SigningKey
    key_file: str
    certificate_file: str
    added_at: float | None = None
    activated_at: float | None = None
    stopped_at: float | None = None
    retirable_at: float | None = None

    @property
    def kid(self) -> str:
        return self.key.kid

    def record(self) -> dict:
        """Return the entry as written in ``keyring.json`` (no key material)."""
        return {
            "kid": self.kid, "algorithm": self.key.algorithm, "state": self.state,
            "key_file": self.key_file, "certificate_file": self.certificate_file,
            "added_at": self.added_at, "activated_at": self.activated_at,
            "stopped_at": self.stopped_at, "retirable_at": self.retirable_at,
        }


@dataclass(frozen=True)
class Keyring:
    """Every trusted key, the active one first, then the staged one, then previous ones."""

    entries: tuple[KeyEntry, ...]
    legacy: bool = False  # True when read from the layout without ``keyring.json``

    @property
    def active(self) -> KeyEntry:
        return next(entry for entry in self.entries if entry.state == ACTIVE)

    @property
    def signing(self) -> SigningKey:
        """The key that signs tokens now."""
        return self.active.key

    @property
    def staged(self) -> KeyEntry | None:
        return next((entry for entry in self.entries if entry.state == NEXT), None)

    @property
    def previous(self) -> tuple[KeyEntry, ...]:
        return tuple(entry for entry in self.entries if entry.state == PREVIOUS)

    def jwks(self) -> dict:
        """Return the JWK set of every trusted key."""
        return {"keys": [entry.key.jwk() for entry in self.entries]}


def state_path(data_dir: Path) -> Path:
    """Return the path of ``keyring.json`` in ``data_dir``."""
    return Path(data_dir) / STATE_FILE


def load(config, *, known: dict[str, SigningKey] | None = None) -> Keyring:
    """Read the keyring of ``config.data_dir``.

    Without ``keyring.json``, the key and certificate ``regauth init`` wrote are the active
    key. ``known`` maps kids to keys already loaded, reused when the files name the same kid
    (a reload then keeps the same objects). Raises KeyError_ (KeyringInvalid for a bad
    ``keyring.json``) naming the file that cannot be read.
    """
    path = state_path(config.data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        key = keys.load(config.key_path, config.certificate_path)
        return Keyring((KeyEntry(ACTIVE, key, config.key_path.name, config.certificate_path.name),), legacy=True)
    except OSError as exc:
        raise KeyringInvalid(f"cannot read {path}: {exc.__class__.__name__}") from None
    try:
        records = json.loads(text)["keys"]
        entries = tuple(_entry(config.data_dir, record, known or {}) for record in records)
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyringInvalid(f"{path} is not a keyring ({exc.__class__.__name__}); restore it from a backup") from None
    if [entry.state for entry in entries].count(ACTIVE) != 1 or [e.state for e in entries].count(NEXT) > 1:
        raise KeyringInvalid(f"{path} must hold one active key and at most one next key")
    return Keyring(_ordered(entries))


def _entry(data_dir: Path, record: dict, known: dict[str, SigningKey]) -> KeyEntry:
    if record["state"] not in (ACTIVE, NEXT, PREVIOUS):
        raise ValueError(record["state"])
    for name in (record["key_file"], record["certificate_file"]):
        _check_file_name(name)
    key = known.get(record["kid"])
    if key is None:
        key = keys.load(Path(data_dir) / record["key_file"], Path(data_dir) / record["certificate_file"])
    if key.kid != record["kid"]:
        raise ValueError("kid")
    times = {name: _time(record.get(name)) for name in ("added_at", "activated_at", "stopped_at", "retirable_at")}
    return KeyEntry(record["state"], key, record["key_file"], record["certificate_file"], **times)


def _check_file_name(name) -> None:
    # Only files of the data dir or its keys/ folder: keyring.json never points elsewhere.
    parts = Path(name).parts if isinstance(name, str) else ()
    if not (len(parts) == 1 or (len(parts) == 2 and parts[0] == KEYS_DIR)) or ".." in parts or "/" in parts[0]:
        raise ValueError("file name")


def _time(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("time")
    return float(value)


def _ordered(entries) -> tuple[KeyEntry, ...]:
    rank = {ACTIVE: 0, NEXT: 1, PREVIOUS: 2}
    return tuple(sorted(entries, key=lambda entry: (rank[entry.state], -(entry.stopped_at or 0))))


def longest_token_lifetime(config) -> int:
    """Return how long, in seconds, a token a key signed may still be accepted after it
    stopped signing: the registry tokens' lifetime (the only JWTs regauth signs; refresh
    tokens, API tokens and federation credentials are opaque and checked in the database),
    the registry's leeway, and the workers' reload margin."""
    return config.token_ttl + REGISTRY_LEEWAY_SECONDS + RELOAD_MARGIN_SECONDS


def add(config, algorithm: str = "ES256", *, now: float) -> Keyring:
    """Stage a new key and certificate beside the active key, and trust it from now on
    (bundle and JWKS). Returns the new keyring. Raises KeyringError when a key is already
    staged or the algorithm is not ES256 or RS256."""
    if algorithm not in ALGORITHMS:
        raise KeyringError(f"unknown algorithm {algorithm!r}: use ES256 or RS256")
    ring = _materialize(config, load(config))
    if ring.staged is not None:
        raise KeyringError(
            f"key {ring.staged.kid} is already staged: `regauth keys activate` it before adding another")
    directory = Path(config.data_dir) / KEYS_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    # Generated under temporary names, then named by their kid.
    key_tmp, cert_tmp = directory / f".new.{os.getpid()}.key.pem", directory / f".new.{os.getpid()}.cert.pem"
    key = keys.generate(key_tmp, cert_tmp, algorithm)
    key_file, cert_file = _file_names(key.kid)
    os.replace(key_tmp, Path(config.data_dir) / key_file)
    os.replace(cert_tmp, Path(config.data_dir) / cert_file)
    entry = KeyEntry(NEXT, key, key_file, cert_file, added_at=now)
    ring = Keyring(_ordered((*ring.entries, entry)))
    _write_state(config.data_dir, ring)
    publish(config, ring)
    return ring


def activate(config, *, now: float, before_switch=None) -> Keyring:
    """Make the staged key sign; the active key becomes previous, retirable once no token it
    signed can be valid. ``before_switch(signing_key)`` runs first with the key that signs
    until now (the caller pins what is derived from it). Returns the new keyring. Raises
    KeyringError when no key is staged."""
    ring = _materialize(config, load(config))
    staged = ring.staged
    if staged is None:
        raise KeyringError("no key is staged: run `regauth keys add` first, then restart the registries")
    # The bundle and JWKS must trust the staged key before it signs anything.
    publish(config, ring)
    if before_switch is not None:
        before_switch(ring.signing)
    old = ring.active
    entries = [entry for entry in ring.entries if entry not in (old, staged)]
    entries.append(replace(old, state=PREVIOUS, stopped_at=now, retirable_at=now + longest_token_lifetime(config)))
    entries.append(replace(staged, state=ACTIVE, activated_at=now))
    ring = Keyring(_ordered(entries))
    _write_state(config.data_dir, ring)
    publish(config, ring)
    return ring


def retire(config, *, now: float) -> tuple[Keyring, tuple[KeyEntry, ...]]:
    """Remove every previous key from the keyring, the bundle and the JWKS, and delete its
    files. Returns the new keyring and the entries removed. Raises KeyringError when there
    is no previous key, or while a token one of them signed may still be valid (the message
    says from when it will be allowed)."""
    ring = load(config)
    previous = ring.previous
    if not previous:
        raise KeyringError("no previous key to retire")
    waiting = [entry for entry in previous if entry.retirable_at is None or entry.retirable_at > now]
    if waiting:
        latest = max(entry.retirable_at or now for entry in waiting)
        raise KeyringError(
            f"key {waiting[0].kid} signed tokens that may still be valid: retire is allowed from "
            f"{format_time(latest)} ({int(latest - now) + 1} s from now)")
    ring = Keyring(tuple(entry for entry in ring.entries if entry.state != PREVIOUS))
    _write_state(config.data_dir, ring)
    publish(config, ring)
    for entry in previous:
        for name in (entry.key_file, entry.certificate_file):
            (Path(config.data_dir) / name).unlink(missing_ok=True)
    return ring, previous


def publish(config, ring: Keyring) -> None:
    """Write what the registry and readers of the data dir see from ``ring``: the
    certificate bundle (active first), ``jwks.json``, and the active key's copy at
    ``signing-key.pem``. Raises OSError when a file cannot be written."""
    data_dir = Path(config.data_dir)
    if not ring.legacy:
        bundle = b"".join(_certificate_pem(data_dir / entry.certificate_file) for entry in ring.entries)
        write_atomically(config.certificate_path, bundle, 0o644)
        write_atomically(config.key_path, (data_dir / ring.active.key_file).read_bytes(), 0o600)
    write_atomically(config.jwks_path, (json.dumps(ring.jwks(), indent=2) + "\n").encode(), 0o644)


def _certificate_pem(path: Path) -> bytes:
    # One certificate, re-encoded: the bundle never carries anything else from the file.
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.PEM)


def _materialize(config, ring: Keyring) -> Keyring:
    """Give the layout without ``keyring.json`` its keyring: the active key's files copied
    into ``keys/`` (``signing-cert.pem`` becomes the bundle). Returns the keyring as read
    back; a keyring already written is returned as it is."""
    if not ring.legacy:
        return ring
    directory = Path(config.data_dir) / KEYS_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    key_file, cert_file = _file_names(ring.signing.kid)
    write_atomically(Path(config.data_dir) / key_file, config.key_path.read_bytes(), 0o600)
    write_atomically(Path(config.data_dir) / cert_file, config.certificate_path.read_bytes(), 0o644)
    ring = Keyring((KeyEntry(ACTIVE, ring.signing, key_file, cert_file),))
    _write_state(config.data_dir, ring)
    return load(config, known={ring.signing.kid: ring.signing})


def _file_names(kid: str) -> tuple[str, str]:
    slug = kid.replace(":", "").lower()
    return f"{KEYS_DIR}/{slug}.key.pem", f"{KEYS_DIR}/{slug}.cert.pem"


def _write_state(data_dir: Path, ring: Keyring) -> None:
    body = json.dumps({"version": 1, "keys": [entry.record() for entry in ring.entries]}, indent=2) + "\n"
    write_atomically(state_path(data_dir), body.encode(), 0o600)


def format_time(timestamp: float | None) -> str | None:
    """Return ``timestamp`` as RFC 3339 UTC to the second, or None."""
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(int(timestamp), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

