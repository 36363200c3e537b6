"""Log lines that a caller cannot forge.

User names, paths, query strings, user agents, client ids and issuers reach the log; a
newline in one of them would start a line that looks like the server wrote it. Every record
goes through ``EscapingFormatter``: control characters (C0, DEL, C1, the Unicode line and
paragraph separators) and lone surrogates in the message become backslash escapes, and the
lines of a traceback are indented, so each record starts exactly one line at column 0.
"""

import logging
import re
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What a terminal or a log reader could take as a line break or a control sequence, and the
# lone surrogates a stream encoder would fail on.
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTINUATION = "\n    "


def _escaped(match: re.Match) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """Return ``text`` with every control character, line separator and lone surrogate
    written as a backslash escape (``\\n``, ``\\x1b``, ``\\u2028``); other text unchanged."""
    return _UNSAFE_RE.sub(_escaped, text)


class EscapingFormatter(logging.Formatter):
    """A Formatter whose records each start one line: the message is escaped, and the
    traceback or stack lines that follow it are indented."""

    _second: int | None = None
    _second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """logging's own ``asctime`` (local time, milliseconds after a comma), with the part
        to the second formatted once a second: strftime at every access log line cost 1.5 %
        of a warm token request."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._second_text, record.msecs)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_control(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if "\n" not in text and "\r" not in text:
            return text
        # Only a traceback or stack can still hold line breaks; each of its lines is kept
        # (people read them) but indented, and anything odd inside is escaped.
        first, *rest = text.splitlines()
        return first + "".join(_CONTINUATION + escape_control(line) for line in rest)


def escaping_handler(stream) -> logging.Handler:
    """Return a handler writing to ``stream`` through an EscapingFormatter in LOG_FORMAT."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
    return handler


def configure_logging(stream, level: int = logging.INFO) -> None:
    """Send the root logger's records to ``stream`` through an escaping handler."""
    logging.basicConfig(level=level, handlers=[escaping_handler(stream)])
