"""Text that cannot be stored or shown is refused at the edge.

A lone surrogate (``"\\ud800"``, which JSON's ``\\u`` escapes and a JWT's payload can carry)
cannot be encoded as UTF-8, so SQLite and every log stream would fail on it; a NUL cuts a
C string short. Both are refused with a 400 naming the field, before a handler sees them:
JSON bodies by ``gateway.api.bodies``, form fields where they are read, query values and
path segments by ``gateway.text_guard``. This module holds the checks only (no HTTP).
"""

import re

_BAD_TEXT_RE = re.compile("[\x00\ud800-\udfff]")
# Where a JSON body may hide a bad string, how deep to look before calling it too nested.
MAX_DEPTH = 64


class TextInvalid(ValueError):
    """Raised when a value holds a NUL or a lone surrogate; the message names the field."""


def has_bad_text(value: str) -> bool:
    """Return True when ``value`` holds a NUL character or a lone surrogate."""
    return _BAD_TEXT_RE.search(value) is not None


def check_text(value: str, name: str) -> str:
    """Return ``value`` unchanged when it is storable text; raises TextInvalid naming ``name``."""
    if has_bad_text(value):
        raise TextInvalid(f"{name} must be text without NUL characters or lone surrogates (\\ud800-\\udfff)")
    return value


def check_json_text(value: object, where: str = "the body", depth: int = 0) -> None:
    """Check every string (object keys included) in a decoded JSON value.

    Raises TextInvalid naming the first bad field, e.g. ``the body's field 'description'``
    or ``entry 0's field 'subject'``.
    """
    if isinstance(value, str):
        check_text(value, where)
    elif depth > MAX_DEPTH:
        raise TextInvalid(f"{where} is nested too deeply")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"a key of {where}")
            check_json_text(item, f"field {short_name(key)!r} of {where}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_text(item, f"entry {index} of {where}", depth + 1)


def short_name(key: str) -> str:
    return key if len(key) <= 40 else key[:40] + "..."
