"""The issuer key cache on its own: what an issuer may answer, and what regauth makes of it.
Every refusal is a KeysUnavailable or TokenRejected with a message, never another error."""

import logging

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.federation.oidc import FAILURE_BACKOFF, KeyCache, KeysUnavailable, TokenRejected, _fetchable
from tests.lifecycle.oidc_issuer import OIDCIssuer, SigningKey


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as session:
        yield session


async def serve(aiohttp_server, discovery=None, jwks=None):
    """An issuer whose discovery and key set handlers the test chooses; returns its URL."""
    state = {}

    async def default_discovery(request):
        return web.json_response({"issuer": state["url"], "jwks_uri": state["url"] + "/jwks"})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery or default_discovery)
    if jwks is not None:
        app.router.add_get("/jwks", jwks)
    server = await aiohttp_server(app)
    state["url"] = f"http://127.0.0.1:{server.port}"
    return state["url"]


async def refused_with(cache, issuer, fragment):
    """The caller learns only that the keys could not be fetched (not whether or what the
    issuer answered); the reason, holding ``fragment`` (unless None), goes to the log."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("gateway.federation.oidc")
    logger.addHandler(handler)
    try:
        with pytest.raises(KeysUnavailable) as caught:
            await cache.key_for(issuer, "k1", "RS256")
    finally:
        logger.removeHandler(handler)
    assert str(caught.value) == f"could not fetch the keys of issuer {issuer} (the server log has the reason)"
    if fragment is not None:
        assert any(fragment in record.getMessage() for record in records), [r.getMessage() for r in records]


@pytest.mark.parametrize("status", [404, 500, 302])
async def test_discovery_status(aiohttp_server, session, clock, status):
    async def discovery(request):
        headers = {"Location": "https://evil.example/"} if status == 302 else None
        return web.Response(status=status, headers=headers)

    issuer = await serve(aiohttp_server, discovery)
    await refused_with(KeyCache(session, allow_private=True, clock=clock), issuer, f"answered HTTP {status}")


@pytest.mark.parametrize("body,fragment", [
    (b"<html>", "did not answer JSON"),
    (b"[1, 2]", "did not answer a JSON object"),
    (b"\xff\xfe", "did not answer JSON"),
])
async def test_discovery_not_json(aiohttp_server, session, clock, body, fragment):
    async def discovery(request):
        return web.Response(body=body, content_type="application/json")

    await refused_with(KeyCache(session, allow_private=True, clock=clock), await serve(aiohttp_server, discovery), fragment)


@pytest.mark.parametrize("jwks_uri", [None, 5, "https://", "ftp://127.0.0.1/jwks"])
async def test_bad_jwks_uri(aiohttp_server, session, clock, jwks_uri):
    state = {}

    async def discovery(request):
        return web.json_response({"issuer": state["url"], "jwks_uri": jwks_uri})

    state["url"] = await serve(aiohttp_server, discovery)
    await refused_with(KeyCache(session, allow_private=True, clock=clock), state["url"], "no usable https jwks_uri")


@pytest.mark.parametrize("jwks,fragment", [
    ({"nokeys": []}, "has no keys list"),
    ({"keys": "k"}, "has no keys list"),
])
async def test_bad_key_sets(aiohttp_server, session, clock, jwks, fragment):
    async def handler(request):
        return web.json_response(jwks)

    await refused_with(KeyCache(session, allow_private=True, clock=clock), await serve(aiohttp_server, jwks=handler), fragment)


async def test_streamed_oversized_key_set(aiohttp_server, session, clock):
    async def handler(request):
        response = web.StreamResponse()  # chunked: no Content-Length to check up front
        await response.prepare(request)
        for _ in range(40):
            await response.write(b" " * 16384)
        await response.write_eof()
        return response

    await refused_with(KeyCache(session, allow_private=True, clock=clock), await serve(aiohttp_server, jwks=handler), "more than")


async def test_unusable_keys_are_skipped(aiohttp_server, session, clock):
    good = SigningKey.generate("RS256", kid="k1")
    weak = RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 1024).public_key(), as_dict=True)
    keys = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {**good.jwk(), "kid": "enc", "use": "enc"},
        {**weak, "kid": "weak"},
        {**SigningKey.generate("ES256").jwk(), "kid": "ec-as-rsa"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        "not a key",
        good.jwk(),
    ]

    async def handler(request):
        return web.json_response({"keys": keys})

    issuer = await serve(aiohttp_server, jwks=handler)
    cache = KeyCache(session, allow_private=True, clock=clock)
    assert (await cache.key_for(issuer, "k1", "RS256")).key_id == "k1"
    for kid, fragment in [("hmac", "not among"), ("enc", "not among"), ("weak", "no RS256 key"),
                          ("ec-as-rsa", "no RS256 key"), ("broken", "no RS256 key")]:
        with pytest.raises(TokenRejected) as caught:
            await cache.key_for(issuer, kid, "RS256")
        assert fragment in str(caught.value), kid
    with pytest.raises(TokenRejected):
        await cache.key_for(issuer, "k1", "ES256")  # an RSA key is no ES256 key


async def test_failures_back_off(aiohttp_server, session, clock):
    calls = []

    async def discovery(request):
        calls.append(1)
        return web.Response(status=503)

    issuer = await serve(aiohttp_server, discovery)
    cache = KeyCache(session, allow_private=True, clock=clock)
    await refused_with(cache, issuer, "HTTP 503")
    for _ in range(2):  # answered from the failure: nothing fetched, nothing logged again
        await refused_with(cache, issuer, None)
    assert len(calls) == 1
    clock.advance(FAILURE_BACKOFF)
    await refused_with(cache, issuer, "HTTP 503")
    assert len(calls) == 2


async def test_a_failed_refetch_keeps_the_known_keys(aiohttp_server, session, clock):
    oidc = OIDCIssuer()
    server = await aiohttp_server(oidc.app())
    oidc.url = f"http://127.0.0.1:{server.port}"
    cache = KeyCache(session, allow_private=True, clock=clock, refetch_interval=0)
    known = oidc.keys[0]
    assert (await cache.key_for(oidc.url, known.kid, known.alg)).key_id == known.kid
    oidc.discovery_issuer = "http://elsewhere.example"  # the issuer now answers nonsense
    with pytest.raises(TokenRejected):
        await cache.key_for(oidc.url, "unknown", "RS256")
    assert (await cache.key_for(oidc.url, known.kid, known.alg)).key_id == known.kid


async def test_token_without_kid_uses_a_single_key(aiohttp_server, session, clock):
    oidc = OIDCIssuer(keys=[SigningKey.generate("ES256")])
    server = await aiohttp_server(oidc.app())
    oidc.url = f"http://127.0.0.1:{server.port}"
    cache = KeyCache(session, allow_private=True, clock=clock)
    assert (await cache.key_for(oidc.url, None, "ES256")).key_id == oidc.keys[0].kid


async def test_token_without_kid_and_several_keys(aiohttp_server, session, clock):
    oidc = OIDCIssuer()
    server = await aiohttp_server(oidc.app())
    oidc.url = f"http://127.0.0.1:{server.port}"
    with pytest.raises(TokenRejected) as caught:
        await KeyCache(session, allow_private=True, clock=clock).key_for(oidc.url, None, "RS256")
    assert "no kid" in str(caught.value)


@pytest.mark.parametrize("url,issuer,ok", [
    ("https://keys.example.com/jwks", "https://issuer.example.com", True),
    ("https://www.googleapis.com/oauth2/v3/certs", "https://accounts.google.com", True),
    ("http://keys.example.com/jwks", "https://issuer.example.com", False),
    ("http://127.0.0.1:8000/jwks", "https://issuer.example.com", False),
    ("http://127.0.0.1:8000/jwks", "http://127.0.0.1:8000", True),
    ("http://10.0.0.1/jwks", "http://127.0.0.1:8000", False),
    ("file:///etc/passwd", "http://127.0.0.1:8000", False),
    ("https://[bad", "https://issuer.example.com", False),
])
def test_where_keys_may_come_from(url, issuer, ok):
    assert _fetchable(url, issuer) is ok
