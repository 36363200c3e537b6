"""Log lines a caller cannot forge: every record is one line starting at column 0."""

import base64
import io
import logging
import re

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.log_escape import LOG_FORMAT, EscapingFormatter, escape_control, escaping_handler
from gateway.server.workers import AccessLogger
from tests.conftest import SERVICE

FORGED = "\n2026-01-01 INFO forged"
RECORD_START = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ ")


@pytest.fixture
def log_stream():
    """The root logger's records at INFO, written by the server's escaping handler."""
    stream = io.StringIO()
    handler = escaping_handler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def assert_one_line_per_record(text: str) -> None:
    for line in text.splitlines():
        assert RECORD_START.match(line) or line.startswith("    "), line
    assert not any(line.startswith("2026-01-01 INFO forged") for line in text.splitlines())


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x1b[31mb", "a\u2028b", "a\x85b", "a\ud800b", "a\x00b"])
def test_control_characters_are_escaped(value):
    escaped = escape_control(value)
    assert escaped.startswith("a\\") and escaped.endswith("b")
    assert escaped.isprintable()


def test_plain_text_is_unchanged():
    assert escape_control("acme+ci GET /token?scope=repository:a/b:pull é") == "acme+ci GET /token?scope=repository:a/b:pull é"


def test_a_message_with_a_newline_is_one_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login refused for %s", ("bob" + FORGED,), None)
    line = EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in line and line.endswith("bob\\n2026-01-01 INFO forged")


def test_a_traceback_is_indented_under_its_record():
    try:
        raise ValueError("bad" + FORGED)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info())
    lines = EscapingFormatter("%(levelname)s %(message)s").format(record).splitlines()
    assert lines[0] == "ERROR failed"
    assert all(line.startswith("    ") for line in lines[1:])


async def test_a_user_name_with_a_newline_makes_one_log_line(config, store, log_stream):
    # The request line (access log) and the exchange's log line both carry the name.
    server = TestServer(create_app(config, store=store))
    await server.start_server(access_log_class=AccessLogger)
    client = TestClient(server)
    await client.start_server()
    try:
        name = "acme+ci" + FORGED
        # A JWT naming an issuer gets as far as the "no federation setting" refusal, whose
        # logged reason repeats the user name.
        token = jwt.encode({"iss": "https://issuer.example", "sub": "s"}, "k" * 32, algorithm="HS256")
        basic = base64.b64encode(f"{name}:{token}".encode()).decode()
        for path in ("/token", "/oauth2/federation/robot/token"):
            response = await client.get(path, params={"service": SERVICE, "account": name},
                                        headers={"Authorization": f"Basic {basic}"})
            assert response.status in (400, 401)
    finally:
        await client.close()
    text = log_stream.getvalue()
    assert "forged" in text  # the values did reach the log, escaped
    assert_one_line_per_record(text)


@pytest.mark.parametrize("created", [0.0, 1.5, 1_700_000_000.999, 1_700_000_001.0004, 1_700_000_061.25])
def test_asctime_is_what_logging_writes_though_formatted_once_a_second(created):
    ours, logging_own = EscapingFormatter(LOG_FORMAT), logging.Formatter(LOG_FORMAT)
    for moment in (created, created + 0.25, created + 1):  # the same second again, then the next
        record = logging.LogRecord("regauth", logging.INFO, __file__, 1, "hello", None, None)
        record.created, record.msecs = moment, (moment - int(moment)) * 1000 // 1
        assert ours.format(record) == logging_own.format(record)
    record.created = created
    assert ours.formatTime(record, "%H:%M") == logging_own.formatTime(record, "%H:%M")
