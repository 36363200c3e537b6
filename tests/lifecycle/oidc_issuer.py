"""A local OIDC issuer for the tests: discovery document, JWKS, and tokens shaped like the ID
tokens a CI job gets (GitHub Actions' claims).

It serves ``/.well-known/openid-configuration`` and ``/jwks`` over plain http on 127.0.0.1
(regauth allows that only with its allow_private_issuers setting, which these tests turn on), counts what it was asked, and can rotate or
add keys while running. ``IssuerThread`` runs it in a thread for the end-to-end tests, whose
regauth is a separate process.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class SigningKey:
    """One of the issuer's key pairs."""

    kid: str
    alg: str
    private_key: object = field(repr=False)

    @classmethod
    def generate(cls, alg: str = "RS256", kid: str | None = None) -> "SigningKey":
        if alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(alg)
        return cls(kid or uuid.uuid4().hex[:16], alg, private)

    def jwk(self) -> dict:
        algo = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        jwk = algo.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


class OIDCIssuer:
    """Keys, discovery and token minting of one issuer at ``url``."""

    def __init__(self, url: str = "", keys: list[SigningKey] | None = None):
        self.url = url
        self.keys = keys if keys is not None else [SigningKey.generate("RS256"), SigningKey.generate("ES256")]
        self.discovery_requests = 0
        self.jwks_requests = 0
        #: What the discovery document says the issuer is (tests make it lie).
        self.discovery_issuer: str | None = None
        #: Extra bytes served in the key set (tests make it too large).
        self.jwks_padding = 0

    # -- serving ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        return web.json_response({
            "issuer": self.discovery_issuer or self.url,
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": sorted({key.alg for key in self.keys}),
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository"],
        })

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        body = {"keys": [key.jwk() for key in self.keys]}
        if self.jwks_padding:
            body["padding"] = "x" * self.jwks_padding
        return web.json_response(body)

    # -- minting ----------------------------------------------------------------------

    def claims(self, *, subject: str = "repo:octo-org/app:ref:refs/heads/main", audience: str | list | None = "regauth",
               now: float | None = None, lifetime: int = 300, **extra) -> dict:
        """Claims as GitHub Actions puts them in a job's ID token."""
        now = int(time.time() if now is None else now)
        repository = subject.split(":")[1] if subject.startswith("repo:") else "octo-org/app"
        claims = {
            "jti": uuid.uuid4().hex,
            "sub": subject,
            "ref": "refs/heads/main",
            "sha": "e" * 40,
            "repository": repository,
            "repository_owner": repository.split("/")[0],
            "run_id": "1234567890",
            "run_attempt": "1",
            "workflow": "build",
            "event_name": "push",
            "ref_type": "branch",
            "job_workflow_ref": f"{repository}/.github/workflows/build.yml@refs/heads/main",
            "iss": self.url,
            "nbf": now - 5,
            "exp": now + lifetime,
            "iat": now,
        }
        if audience is not None:
            claims["aud"] = audience
        claims.update(extra)
        return claims

    def mint(self, key: SigningKey | None = None, *, headers: dict | None = None, **claim_args) -> str:
        """Return a token signed with ``key`` (the first key by default)."""
        key = key or self.keys[0]
        return jwt.encode(self.claims(**claim_args), key.private_key, algorithm=key.alg,
                          headers={"kid": key.kid, **(headers or {})})


class IssuerThread:
    """Runs an OIDCIssuer on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, issuer: OIDCIssuer | None = None):
        self.issuer = issuer or OIDCIssuer()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oidc-issuer", daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> OIDCIssuer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test OIDC issuer did not start")
        return self.issuer

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.issuer.app(), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.issuer.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
