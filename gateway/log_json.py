"""JSON logs (``--log-format json``): one object per line, for a log collector.

Every line holds ``time`` (RFC 3339, UTC), ``level``, ``logger`` and ``event`` (the message),
then the request's ``request_id`` and ``client`` (``gateway.edge.request_id``), and every
field a log call passed in ``extra=`` (``robot``, ``outcome``, the access log's ``method``,
``path``, ``status`` ...). A traceback is the one field ``exception``. json.dumps escapes
every control character, so no value can start a line of its own.
"""

import datetime
import json
import logging

from .edge import request_id
from .log_escape import EscapingFormatter

# The attributes every LogRecord has: anything else on a record came in through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# Longest value of a field that a caller wrote (a path, a user agent, a name); the rest is cut.
MAX_FIELD = 2000


def _rfc3339(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plain(value):
    """A JSON-ready form of ``value``: numbers, booleans and None as they are, text cut at
    MAX_FIELD, lists and dicts element by element, anything else as its str."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_FIELD]
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key)[:100]: _plain(item) for key, item in value.items()}
    return str(value)[:MAX_FIELD]


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage()[:MAX_FIELD * 4],
        }
        context = request_id.current()
        if context is not None:
            fields.update(context.fields())
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                fields[name] = _plain(value)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: U+2028, U+2029 and lone surrogates become escapes too.
        return json.dumps(fields, ensure_ascii=True, default=str)


def json_handler(stream) -> logging.Handler:
    """Return a handler writing to ``stream`` through a JsonFormatter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    return handler


def use_log_format(log_format: str) -> None:
    """Make the root logger's handlers that ``log_escape.configure_logging`` installed write
    ``log_format``: "text" leaves them as they are, "json" gives them a JsonFormatter.
    Other handlers (a test's capture) are left alone."""
    if log_format != "json":
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, EscapingFormatter):
            handler.setFormatter(JsonFormatter())
