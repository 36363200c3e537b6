"""Reading API request bodies and query parameters with their types checked.

Every failure is a 400 ``invalid_request`` naming the field; a body over the application's
size limit is a 413 (raised by aiohttp while reading, shaped by the API middleware). Nothing
here lets a malformed request reach the model as a 500.
"""

import json
from collections.abc import Mapping

from aiohttp import web

from ..edge.text_input import TextInvalid, check_json_text
from .errors import invalid_request

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


async def read_json(request: web.Request, *, optional: bool = False) -> object:
    """Return the request's JSON body (any content type: curl sends form types by default).

    An empty body gives None when ``optional``, else a 400. Raises 400 for bad UTF-8, bad
    JSON, NaN/Infinity, nesting too deep to parse, or a string holding a NUL or a lone
    surrogate (naming its field); 413 (from aiohttp) when too large.
    """
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise invalid_request("a JSON body is required")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid_request("the body is not valid JSON") from None
    try:
        check_json_text(body)
    except TextInvalid as exc:
        raise invalid_request(str(exc)) from None
    return body


async def read_object(request: web.Request, *, optional: bool = False) -> dict:
    """Return the JSON body, which must be an object; ``{}`` for a missing optional body
    (or a JSON null, which Quay also accepts there). Raises 400 otherwise."""
    body = await read_json(request, optional=optional)
    if body is None and optional:
        return {}
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    return body


def string_field(body: Mapping, name: str, *, required: bool = False, default: str | None = None,
                 max_length: int | None = None, choices: tuple[str, ...] | None = None) -> str | None:
    """Return ``body[name]`` as a string, or ``default`` when absent and not ``required``.

    Raises 400 when it is missing but required, not a string, longer than ``max_length``
    characters, or not one of ``choices``.
    """
    if name not in body:
        if required:
            raise invalid_request(f"{name!r} is required")
        return default
    value = body[name]
    if not isinstance(value, str):
        raise invalid_request(f"{name!r} must be a string")
    if max_length is not None and len(value) > max_length:
        raise invalid_request(f"{name!r} must be at most {max_length} characters long")
    if choices is not None and value not in choices:
        raise invalid_request(f"{name!r} must be one of {', '.join(choices)}")
    return value


def object_field(body: Mapping, name: str) -> dict | None:
    """Return ``body[name]`` when it is a JSON object, None when absent; raises 400 otherwise."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, dict):
        raise invalid_request(f"{name!r} must be a JSON object")
    return value


def bool_param(request: web.Request, name: str, default: bool = False) -> bool:
    """Return query parameter ``name`` as a boolean (true/false, 1/0, yes/no); raises 400."""
    value = request.query.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise invalid_request(f"query parameter {name!r} must be true or false")


def int_param(request: web.Request, name: str, *, low: int, high: int) -> int | None:
    """Return query parameter ``name`` as an integer in [low, high], None when absent; raises 400."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise invalid_request(f"query parameter {name!r} must be a whole number") from None
    if not low <= number <= high:
        raise invalid_request(f"query parameter {name!r} must be between {low} and {high}")
    return number
