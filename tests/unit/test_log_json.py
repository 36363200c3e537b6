"""JSON logs and request ids: one JSON object per record whatever the values hold, the
request's id and client on every record of the request, robot and outcome from the token
flows, the access log's fields without query values that could hold a secret, and
``X-Request-ID`` taken when sane, made otherwise, and returned."""

import base64
import io
import json
import logging
import os
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.edge.request_id import request_id_for
from gateway.log_escape import escaping_handler
from gateway.log_json import JsonFormatter, json_handler, use_log_format
from gateway.server.access_log import JsonAccessLogger, query_shown
from tests.conftest import SERVICE

FORGED = '\n{"level": "INFO", "event": "forged"}'
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
NEW_ID = re.compile(r"[0-9a-f]{32}")


def record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord("gateway.test", logging.INFO, __file__, 1, message, args, exc_info)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_line_with_its_fields():
    line = JsonFormatter().format(record("login refused for %r", "acme+ci" + FORGED, robot="acme+ci", outcome="refused"))
    assert "\n" not in line
    fields = json.loads(line)
    assert RFC3339_UTC.fullmatch(fields["time"])
    assert (fields["level"], fields["logger"]) == ("INFO", "gateway.test")
    assert fields["event"] == "login refused for " + repr("acme+ci" + FORGED)
    assert (fields["robot"], fields["outcome"]) == ("acme+ci", "refused")
    assert "request_id" not in fields  # logged outside any request


@pytest.mark.parametrize("value", ["a\u2028b", "a\ud800b", "a\x1b[31mb", "a\x00b", "a\rb"])
def test_control_characters_and_lone_surrogates_stay_escaped(value):
    line = JsonFormatter().format(record("%s", value, path=value))
    assert line.isprintable() and line.isascii()
    assert json.loads(line)["path"] == value


def test_an_exception_is_one_field():
    try:
        raise ValueError("bad" + FORGED)
    except ValueError as exc:
        line = JsonFormatter().format(record("failed", exc_info=(type(exc), exc, exc.__traceback__)))
    assert "\n" not in line
    exception = json.loads(line)["exception"]
    assert exception.startswith("Traceback") and "ValueError: bad" in exception


def test_values_of_any_type_are_written():
    fields = json.loads(JsonFormatter().format(record("x", count=3, ratio=0.5, ok=True, none=None, items=("a", 1),
                                                      mapping={"k": b"v"}, other=object)))
    assert (fields["count"], fields["ratio"], fields["ok"], fields["none"]) == (3, 0.5, True, None)
    assert fields["items"] == ["a", 1] and fields["mapping"] == {"k": "b'v'"} and "object" in fields["other"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_log_format_applies_to_the_servers_handlers_only(log_format):
    ours, other = io.StringIO(), io.StringIO()
    handlers = [escaping_handler(ours), logging.StreamHandler(other)]
    root = logging.getLogger()
    for handler in handlers:
        root.addHandler(handler)
    try:
        use_log_format(log_format)
        logging.getLogger("gateway.test").warning("hello %s", "world")
    finally:
        for handler in handlers:
            root.removeHandler(handler)
    assert other.getvalue() == "hello world\n"
    if log_format == "json":
        assert json.loads(ours.getvalue())["event"] == "hello world"
    else:
        assert ours.getvalue().rstrip().endswith("WARNING gateway.test: hello world")


@pytest.mark.parametrize("given", ["0123456789abcdef0123456789abcdef", "3f2b6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                                   "req.1:a_b-C"])
def test_a_sane_request_id_is_kept(given):
    assert request_id_for(given) == given


@pytest.mark.parametrize("given", [None, "", "a" * 129, "a b", "a\nb", "a\u00e9", "<script>", "id;rm"])
def test_any_other_request_id_is_replaced_by_a_new_one(given):
    made = request_id_for(given)
    assert NEW_ID.fullmatch(made) and made != given
    assert request_id_for(given) != made


def test_new_request_ids_never_repeat_in_a_process_nor_across_forked_workers():
    made_here = [request_id_for(None) for _ in range(1000)]
    assert len(set(made_here)) == 1000 and all(NEW_ID.fullmatch(made) for made in made_here)
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker forked from this process makes ids of its own
        try:
            os.write(writing, " ".join(request_id_for(None) for _ in range(100)).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        made_there = pipe.read().split()
    os.waitpid(pid, 0)
    assert len(made_there) == 100 and all(NEW_ID.fullmatch(made) for made in made_there)
    made_here += [request_id_for(None) for _ in range(100)]
    assert not set(made_there) & set(made_here)


def test_query_values_that_could_hold_a_secret_are_hidden():
    assert query_shown("") == ""
    assert query_shown("service=registry&scope=repository:a/b:pull&account=acme%2Bci") == (
        "service=registry&scope=repository:a/b:pull&account=acme+ci"
    )
    assert query_shown("password=hunter2&token=eyJx&scope=x") == "password=(hidden)&token=(hidden)&scope=x"


@pytest.fixture
def json_records():
    """Every record the root logger takes at INFO, as the parsed JSON lines written."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lines: list[dict] = []

    def read() -> list[dict]:
        text = stream.getvalue()
        lines[:] = [json.loads(line) for line in text.splitlines()]
        return lines

    yield read
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
async def json_served(config, store):
    """A client of the app served with the JSON access logger."""
    server = TestServer(create_app(config, store=store))
    await server.start_server(access_log_class=JsonAccessLogger)
    client = TestClient(server)
    await client.start_server()
    yield client
    await client.close()


def basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


async def test_a_request_id_is_returned_and_on_every_record_of_its_request(json_served, json_records, store):
    store.create_namespace("acme")
    secret = store.create_robot("acme+ci").secret
    refused = await json_served.get("/token", params={"service": SERVICE, "scope": "repository:acme/app:pull"},
                                    headers={"Authorization": basic("acme+ci", "wrong"), "X-Request-ID": "given-1"})
    assert refused.status == 401 and refused.headers["X-Request-ID"] == "given-1"
    issued = await json_served.get("/token", params={"service": SERVICE},
                                   headers={"Authorization": basic("acme+ci", secret), "X-Request-ID": "bad id\t"})
    assert issued.status == 200 and NEW_ID.fullmatch(made := issued.headers["X-Request-ID"])
    missing = await json_served.get("/no-such-page")
    assert missing.status == 404 and NEW_ID.fullmatch(missing.headers["X-Request-ID"])
    lines = json_records()
    by_id = {}
    for line in lines:
        by_id.setdefault(line.get("request_id"), []).append(line)
    refusal = [line for line in by_id["given-1"] if line["logger"] == "gateway.token.login"]
    assert refusal and refusal[0]["robot"] == "acme+ci" and refusal[0]["outcome"] == "refused"
    assert refusal[0]["client"] == "127.0.0.1"
    (access,) = [line for line in by_id["given-1"] if line["logger"] == "aiohttp.access"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/token", 401)
    assert access["query"] == f"service={SERVICE}&scope=repository:acme/app:pull"
    assert (access["robot"], access["outcome"], access["client"]) == ("acme+ci", "refused", "127.0.0.1")
    assert isinstance(access["bytes"], int) and 0 <= access["duration"] < 60
    (access,) = [line for line in by_id[made] if line["logger"] == "aiohttp.access"]
    assert (access["status"], access["robot"], access["outcome"]) == (200, "acme+ci", "issued")
    assert secret not in json.dumps(lines)
    assert (await issued.json())["token"] not in json.dumps(lines)
