"""A fuzzer over every request regauth answers: no input makes it answer a 5xx.

Hypothesis generates requests for every management API route (found in the router, so a new
route is fuzzed without being listed here), ``GET`` and ``POST /token``, the keyless
exchange, the registry's event hook, the sign-in form and the web UI's pages and actions, as
a signed-in superuser so the handlers are reached and not only the auth check. Values come
with wrong JSON types, lone surrogates, NULs, huge numbers and strings, bad base64 and
non-UTF-8 bytes. Every reply must be below 500, and every 4xx must have its documented shape:
Quay's problem body under ``/api/``, the registry's ``errors`` body at the token endpoints,
an HTML page or ``{"error"}`` in the UI.

``REGAUTH_FUZZ_EXAMPLES`` sets the examples per property (one request each; 20 by default
so CI stays fast); docs/security.md records a long run. The app runs in-process (aiohttp's
test server on 127.0.0.1) on a real SQLite database.
"""

import asyncio
import base64
import collections
import json
import os
import re
import time
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.appkeys import CONFIG
from gateway.token.live_keyring import signing_key
from gateway.registry import events_token
from gateway.token import keys
from tests.api.conftest import PASSWORD, QUAY_ERROR_KEYS
from tests.conftest import FAST_BCRYPT_COST, SERVICE, make_config
from tokenstore import AlreadyExists, Store

EXAMPLES = int(os.environ.get("REGAUTH_FUZZ_EXAMPLES", "20"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# aiohttp's own parser refuses longer request lines and headers before the app sees them.
MAX_URL = 7000
RESEED_EVERY = 200

# -- values ----------------------------------------------------------------------------------

# Any code point, lone surrogates and NUL included.
any_char = st.characters(codec=None, categories=None, exclude_categories=())
# Values that broke handlers before, so every run tries them, not only a lucky one.
NASTY = ["\ud800", "a\udfffb", "a\x00b", "\n2026-01-01 INFO forged", "12/31/9999", "01/01/0001", "9999-12-31",
         "99999999999999999999", "%ED%A0%80"]
any_text = (st.text(any_char, max_size=60) | st.text(any_char, min_size=200, max_size=3000)
            | st.sampled_from(NASTY) | st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.text(max_size=10)))
names = st.sampled_from(["acme", "ci", "app", "acme+ci", "acme+ro", "root", "bob", "tmp", "tmp+ci", "acme/app",
                         "tmp/app", "x", "..", ".x", "a" * 256, "Acme", "a b", "acme+", "+ci", "%", "/"])
words = names | st.sampled_from(NASTY) | any_text
numbers = st.integers() | st.integers(min_value=2**63 - 10, max_value=2**70) | st.floats(allow_nan=False)
json_scalars = st.none() | st.booleans() | numbers | words
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=4),
    max_leaves=12,
)
BODY_FIELDS = ("name", "email", "description", "unstructured_metadata", "role", "visibility", "repository",
               "namespace", "repo_kind", "expiration", "issuer", "subject", "audience", "shortname", "target")
# Plausible values of body fields, to be mixed with wrong ones.
FIELD_PLAUSIBLE = ["acme", "app", "new", "private", "public", "read", "write", "admin", "member", "image", "",
                   "https://10.0.0.5", "http://127.0.0.1:1"]
FIELD_VALUES = st.sampled_from(FIELD_PLAUSIBLE)
federation_entries = st.fixed_dictionaries({}, optional={"issuer": st.sampled_from(
    ["https://10.0.0.5", "http://127.0.0.1:1", "https://127.0.0.1", "https://8.8.8.8", "ftp://x"]) | words,
    "subject": words, "audience": json_scalars, "extra": json_scalars})
json_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={field: json_values for field in BODY_FIELDS}),
    st.fixed_dictionaries({}, optional={field: FIELD_VALUES | json_scalars for field in BODY_FIELDS}),
    st.lists(federation_entries, max_size=3),
)
raw_bodies = st.binary(max_size=600) | st.builds(lambda n: b"{" * n, st.integers(1, 5000))
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=300)
QUERY_NAMES = ("namespace", "public", "limit", "starttime", "endtime", "performer", "next_page", "kind",
               "includePermissions", "token", "last_modified", "popularity", "page")
query_values = st.sampled_from(NASTY) | st.sampled_from(["acme", "true", "false", "10", "12/01/2026", "2026-12-01",
                                                          "create_robot", "acme+ci"]) | words | numbers.map(str)
queries = st.builds(
    lambda known, other: list(known.items()) + other,
    st.dictionaries(st.sampled_from(QUERY_NAMES), query_values, max_size=6),
    st.lists(st.tuples(any_text, query_values), max_size=2),
)


def encoded(text: str) -> str:
    """Percent-encode ``text`` as its UTF-8 bytes, lone surrogates and all."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def with_query(path: str, pairs) -> str:
    url = path + ("?" + "&".join(f"{encoded(k)}={encoded(v)}" for k, v in pairs) if pairs else "")
    assume(len(url) < MAX_URL)
    return url


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8", "surrogatepass")).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- the world -------------------------------------------------------------------------------


class World:
    """One app, store and signed-in clients shared by every example, on one event loop."""

    def __init__(self, tmp_path):
        self.config = make_config(tmp_path)
        keys.generate(self.config.key_path, self.config.certificate_path, self.config.signing_alg)
        self.store = Store(tmp_path / "fuzz.db", bcrypt_cost=FAST_BCRYPT_COST)
        self.store.create_user("root", PASSWORD, superuser=True)
        self.store.create_user("bob", PASSWORD)
        self.api_token = self.store.create_api_token("root").token
        self.secret = None
        self.reseed()
        self.counts: collections.Counter = collections.Counter()
        self.started = time.monotonic()
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(self._open())
        app = self.client.app
        self.events_token = events_token.load(app[CONFIG].data_dir, signing_key(app)).current
        self.csrf = self.loop.run_until_complete(self.sign_in())

    def reseed(self) -> None:
        """Bring back what fuzzed DELETEs removed, so later requests still reach handlers."""
        for make in (lambda: self.store.create_organization("acme", admin="root"),
                     lambda: self.store.create_organization("tmp", admin="root"),
                     lambda: self.store.create_repository("acme/app"),
                     lambda: self.store.create_repository("tmp/app"),
                     lambda: self.store.create_robot("acme+ro"),
                     lambda: self.store.create_robot("tmp+ci")):
            try:
                make()
            except AlreadyExists:
                pass
        try:
            self.secret = self.store.create_robot("acme+ci").secret
            self.store.grant("acme+ci", "acme/app", "write")
            self.store.set_federations("acme+ci", [{"issuer": "http://127.0.0.1:1", "subject": "s"}])
        except AlreadyExists:
            pass
        if self.secret is None or self.store.get_robot("acme+ci") is None:
            self.secret = self.store.regenerate_robot("acme+ci").secret

    async def _open(self) -> TestClient:
        client = TestClient(TestServer(create_app(self.config, store=self.store)))
        await client.start_server()
        return client

    async def sign_in(self) -> str:
        """Sign the client in to the UI as root; returns the session's CSRF token."""
        async with self.client.get("/signin") as response:
            form_token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text()).group(1)
        data = {"username": "root", "password": PASSWORD, "csrf_token": form_token}
        async with self.client.post("/signin", data=data, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        async with self.client.get("/organizations") as response:
            return re.search(r'name="csrf-token" content="([^"]+)"', await response.text()).group(1)

    async def _send(self, method: str, url: str, **kwargs) -> tuple[int, str, bytes]:
        async with self.client.request(method, url, allow_redirects=False, **kwargs) as response:
            return response.status, response.content_type, await response.read()

    def check(self, method: str, url: str, **kwargs) -> None:
        """Send one request; assert no 5xx and, for a 4xx, the documented error shape."""
        for value in kwargs.get("headers", {}).values():
            assume(len(value.encode("utf-8", "surrogatepass")) < MAX_URL)
        status, content_type, raw = self.loop.run_until_complete(self._send(method, url, **kwargs))
        self.counts[status // 100] += 1
        if sum(self.counts.values()) % RESEED_EVERY == 0:
            self.reseed()
        assert status < 500, (method, url, kwargs, raw[:500])
        if status >= 400:
            assert_error_shape(url, status, content_type, raw)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        self.store.close()


def assert_error_shape(url: str, status: int, content_type: str, raw: bytes) -> None:
    if url.startswith("/api/"):
        body = json.loads(raw)
        assert set(body) == QUAY_ERROR_KEYS and body["status"] == status, body
    elif url.startswith(("/token", "/oauth2/", "/registry/")):
        body = json.loads(raw)
        assert isinstance(body["details"], str) and body["details"], body
        (error,) = body["errors"]
        assert set(error) == {"code", "message", "detail"} and re.fullmatch(r"[A-Z_]+", error["code"]), body
    elif content_type == "application/json":
        assert isinstance(json.loads(raw)["error"], str), raw
    else:
        assert content_type == "text/html", (status, content_type, raw[:200])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = World(tmp_path_factory.mktemp("fuzz"))
    yield world
    total = sum(world.counts.values())
    print(f"\nfuzz: {total} requests in {time.monotonic() - world.started:.0f} s, by status class "
          f"{dict(sorted(world.counts.items()))}")
    world.close()


# -- the management API ----------------------------------------------------------------------

API_ROUTES = sorted({
    (route.method, route.resource.canonical)
    for route in create_app(make_config("/nonexistent")).router.routes()
    if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"
})
PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


# Names that exist (or may be created) for each path placeholder: most requests must get past
# "no such organization" to reach the code that reads the rest.
VALID = {"orgname": ["acme", "tmp"], "namespace": ["acme", "tmp"], "robot_shortname": ["ci", "ro", "new"],
         "repository": ["app", "new"], "username": ["acme+ci", "acme+ro", "tmp+ci"], "membername": ["bob", "root"]}


PLAUSIBLE_QUERY = {"namespace": ["acme"], "public": ["true", "false"], "limit": ["10"], "starttime": ["12/01/2026"],
                   "endtime": ["12/31/2026", "2026-12-31"], "performer": ["acme+ci", "root"], "kind": ["create_robot"],
                   "includePermissions": ["true"]}


def mostly(draw, plausible: list, wrong) -> object:
    """Draw a plausible value three times in four, else a wrong one: a request must get past
    its other checks for one bad value in it to reach the code that reads that value."""
    if draw(st.integers(0, 3)):
        return draw(st.sampled_from(plausible))
    return draw(st.sampled_from(NASTY) | wrong)


@st.composite
def api_requests(draw, route):
    """Return (method, url, body bytes or None, content type) for a request near ``route``."""
    method, template = route
    if not draw(st.integers(0, 7)):
        method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]))
    path = PLACEHOLDER.sub(lambda m: encoded(mostly(draw, VALID.get(m.group(1), ["acme"]), words)), template)
    names = draw(st.lists(st.sampled_from(sorted(PLAUSIBLE_QUERY)), max_size=3, unique=True))
    pairs = [(name, mostly(draw, PLAUSIBLE_QUERY[name], query_values)) for name in names]
    pairs += draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | any_text, query_values), max_size=1))
    url = with_query(path, pairs)
    kind = draw(st.sampled_from(["fields", "fields", "json", "raw", "none"]))
    if kind == "fields":
        fields = draw(st.lists(st.sampled_from(BODY_FIELDS), max_size=4, unique=True))
        body = {field: mostly(draw, FIELD_PLAUSIBLE, json_values) for field in fields}
        data = json.dumps(body).encode()
    elif kind == "json":
        data = json.dumps(draw(json_bodies)).encode()
    else:
        data = draw(raw_bodies) if kind == "raw" else None
    content_type = draw(st.sampled_from(["application/json", "application/json", "application/x-www-form-urlencoded"]))
    return method, url, data, content_type


def test_every_api_route_is_fuzzed():
    assert len(API_ROUTES) >= 30 and ("POST", "/api/v1/organization/{orgname}/robots/{robot_shortname}/federation") in API_ROUTES


# Each route gets its own budget of examples: drawn among all of them, a bad value for one
# parameter of one route came up too rarely to be found.
@pytest.mark.parametrize("route", API_ROUTES, ids=" ".join)
def test_api_requests(world, route):
    @FUZZ
    @given(request=api_requests(route), signed_in=st.integers(0, 5))
    def fuzz(request, signed_in):
        send_api_request(world, request, signed_in=bool(signed_in))

    fuzz()


def send_api_request(world, request, *, signed_in: bool) -> None:
    method, url, data, content_type = request
    headers = {"Content-Type": content_type}
    if signed_in:
        headers["Authorization"] = f"Bearer {world.api_token}"
    world.check(method, url, data=data, headers=headers)


@FUZZ
@given(authorization=header_text | st.builds(lambda t: "Bearer " + t, header_text))
def test_api_authorization_headers(world, authorization):
    world.check("GET", "/api/v1/organization/acme/robots", headers={"Authorization": authorization})


# -- /token -------------------------------------------------------------------------------------

scope_parts = st.sampled_from(["repository", "registry", "repository(plugin)", "Repository", ""]) | any_text
scopes = st.one_of(
    st.sampled_from(["repository:acme/app:pull,push", "repository:acme/app:*", "registry:catalog:*",
                     "repository:acme/..:pull", "repository:acme/app:pull,blah", "repository:acme/" + "a" * 300 + ":pull"]),
    st.builds(lambda t, n, a: f"{t}:{n}:{a}", scope_parts, words,
              st.lists(st.sampled_from(["pull", "push", "delete", "*", "blah", ""]) | any_text, max_size=4).map(",".join)),
    any_text,
)
authorizations = st.one_of(
    st.none(),
    st.builds(basic, names | any_text, st.just("") | any_text),
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=200)),  # non-UTF-8 inside
    st.builds(lambda t: "Basic " + t, header_text),  # bad base64
    st.builds(lambda n: "Basic " + "QUFB" * n, st.integers(1, 1900)),  # huge
    header_text,
)


@st.composite
def token_queries(draw):
    pairs = []
    if draw(st.booleans()):
        pairs.append(("service", draw(st.just(SERVICE) | words)))
    pairs += [("scope", s) for s in draw(st.lists(scopes, max_size=4))]
    for name in ("account", "offline_token", "client_id"):
        if draw(st.booleans()):
            pairs.append((name, draw(st.sampled_from(["acme+ci", "true", "docker"]) | words)))
    pairs += draw(st.lists(st.tuples(any_text, words), max_size=2))
    return pairs


@FUZZ
@given(pairs=token_queries(), authorization=authorizations, good_login=st.booleans())
def test_get_token(world, pairs, authorization, good_login):
    if good_login:
        authorization = basic("acme+ci", world.secret)
    headers = {} if authorization is None else {"Authorization": authorization}
    world.check("GET", with_query("/token", pairs), headers=headers)


FORM_FIELDS = ("grant_type", "service", "scope", "client_id", "refresh_token", "username", "password",
               "access_type", "offline_token")


@st.composite
def token_forms(draw):
    pairs = [("grant_type", draw(st.sampled_from(["password", "refresh_token"]) | words))]
    if draw(st.booleans()):
        pairs.append(("service", SERVICE))
    pairs += draw(st.lists(st.tuples(st.sampled_from(FORM_FIELDS), words | scopes), max_size=6))
    return pairs


@FUZZ
@given(pairs=token_forms(), encoding=st.sampled_from(["form", "form", "multipart", "json", "raw"]),
       raw=raw_bodies, good_login=st.booleans())
def test_post_token(world, pairs, encoding, raw, good_login):
    if good_login:
        pairs = pairs + [("username", "acme+ci"), ("password", world.secret)]
    if encoding == "form":
        body = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in pairs).encode()
        kwargs = {"data": body, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    elif encoding == "multipart":
        form = "".join(f'--B\r\nContent-Disposition: form-data; name="{k.encode("ascii", "replace").decode()}"'
                       f'\r\n\r\n{v}\r\n' for k, v in pairs) + "--B--\r\n"
        kwargs = {"data": form.encode("utf-8", "surrogatepass"), "headers": {"Content-Type": "multipart/form-data; boundary=B"}}
    elif encoding == "json":
        kwargs = {"data": json.dumps(dict(pairs)).encode(), "headers": {"Content-Type": "application/json"}}
    else:
        kwargs = {"data": raw, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    world.check("POST", "/token", **kwargs)


# -- the keyless exchange and the registry's events -------------------------------------------------

claims = st.fixed_dictionaries({}, optional={
    "iss": st.sampled_from(["http://127.0.0.1:1", "https://10.0.0.5"]) | json_scalars,
    "sub": json_scalars, "aud": json_values, "exp": numbers | json_scalars, "iat": numbers, "nbf": json_scalars,
})
jwt_headers = st.fixed_dictionaries({"alg": st.sampled_from(["RS256", "ES256", "none", "HS256"]) | json_scalars},
                                    optional={"kid": json_scalars, "typ": json_scalars})


@FUZZ
@given(user=st.just("acme+ci") | words, header=jwt_headers, payload=claims | json_values,
       signature=st.binary(max_size=300), password=st.none() | any_text, authorization=authorizations)
def test_keyless_exchange(world, user, header, payload, signature, password, authorization):
    if password is None:
        password = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(signature)])
    value = basic(user, password) if authorization is None else authorization
    world.check("GET", "/oauth2/federation/robot/token", headers={"Authorization": value})


@FUZZ
@given(body=json_values | st.fixed_dictionaries({"events": st.lists(json_values, max_size=3)}), raw=st.none() | raw_bodies,
       authorized=st.booleans())
def test_registry_events(world, body, raw, authorized):
    headers = {"Content-Type": "application/json"}
    if authorized:
        headers["Authorization"] = f"Bearer {world.events_token}"
    world.check("POST", "/registry/events", data=json.dumps(body).encode() if raw is None else raw, headers=headers)


# -- the web UI --------------------------------------------------------------------------------------

UI_PAGES = ["/", "/organizations", "/organization/{}", "/organization/{}/robots", "/organization/{}/logs",
            "/organization/acme/robots/{}", "/user", "/user/robots", "/user/logs", "/user/robots/{}"]
UI_ACTIONS = ["/organization/{}/robots", "/organization/acme/robots/{}/regenerate", "/organization/acme/robots/{}/delete",
              "/organization/acme/robots/{}/permissions", "/organization/acme/robots/{}/permissions/revoke",
              "/user/robots", "/user/robots/{}/delete"]


def matches_a_segment(name: str) -> bool:
    """Return True when ``name`` can fill a UI route's path segment; any other path matches
    no route and gets the router's plain 404, not a page (the API shapes its own)."""
    return name not in ("", ".", "..") and not any(ch in name for ch in "/{}")


@FUZZ
@given(page=st.sampled_from(UI_PAGES), name=words, pairs=queries)
def test_ui_pages(world, page, name, pairs):
    assume(matches_a_segment(name))
    world.check("GET", with_query(page.format(encoded(name)), pairs))


@FUZZ
@given(action=st.sampled_from(UI_ACTIONS), name=words, fields=st.dictionaries(
    st.sampled_from(["shortname", "description", "repository", "role", "confirmed", "grace", "expires"]) | any_text,
    words, max_size=4), as_json=st.booleans(), csrf=st.booleans())
def test_ui_actions(world, action, name, fields, as_json, csrf):
    assume(matches_a_segment(name))
    headers = {"Accept": "application/json"} if as_json else {}
    if csrf:
        headers["X-CSRF-Token"] = world.csrf
    if as_json:
        data, headers["Content-Type"] = json.dumps(fields).encode(), "application/json"
    else:
        data = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in fields.items()).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    world.check("POST", action.format(encoded(name)), data=data, headers=headers)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["username", "password", "csrf_token", "next"]) | any_text, words, max_size=5))
def test_signin_form(world, fields):
    data = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in fields.items()).encode()
    world.check("POST", "/signin", data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
