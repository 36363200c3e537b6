"""The aiohttp application: ``create_app(config)``."""

import logging

from aiohttp import web

from tokenstore import StoreUnavailable, open_store
from tokenstore.interface import TokenStore

from . import keys, no_store
from .appkeys import CONFIG, CREDENTIALS, LOGIN_THROTTLE, OFFLOAD, SIGNING_KEY, STORE
from .credential_cache import CredentialChecker
from .database_watch import database_watch
from .errors import error_middleware
from .federation_exchange import exchange as federation_exchange
from .federation_exchange import open_verifier
from .forwarded import untrusted_forwarder_warning
from .api.routes import add_routes as add_api_routes
from .api.federation import add_routes as add_federation_routes
from .gc_schedule import gc_schedule
from .login_throttle import LoginThrottle
from .offload import Offload
from .token_endpoint import get_token
from .token_grants import post_token
from .registry_events import add_route as add_registry_events_route
from .text_guard import text_guard_middleware
from .ui import add_routes as add_ui_routes

log = logging.getLogger(__name__)

# Token requests and API bodies are small; refuse anything large before reading it.
MAX_BODY_BYTES = 64 * 1024


def create_app(config, *, store: TokenStore | None = None) -> web.Application:
    """Build the application for ``config``.

    The store, signing key and thread pools are opened at startup and closed at cleanup. A
    ``store`` may be passed in (tests use one with an injected clock).
    """
    app = web.Application(middlewares=[error_middleware, text_guard_middleware], client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = config
    no_store.install(app)
    app.middlewares.append(untrusted_forwarder_warning(config.trusted_proxies))
    app.cleanup_ctx.append(_resources(store))
    app.cleanup_ctx.append(open_verifier)
    app.router.add_get("/token", get_token)
    app.router.add_post("/token", post_token)
    app.router.add_get("/oauth2/federation/robot/token", federation_exchange)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/.well-known/jwks.json", jwks)
    add_registry_events_route(app)
    app.cleanup_ctx.append(gc_schedule)
    app.cleanup_ctx.append(database_watch)
    add_api_routes(app)
    add_federation_routes(app)
    add_ui_routes(app)
    return app


def _resources(given_store: TokenStore | None):
    async def context(app: web.Application):
        config = app[CONFIG]
        app[SIGNING_KEY] = keys.load(config.key_path, config.certificate_path)
        # create=False: a worker started after the database was removed must not serve a
        # new, empty one.
        store = given_store or open_store(config.database_location, bcrypt_cost=config.bcrypt_cost, create=False)
        offload = Offload(store=store)
        app[STORE] = store
        app[OFFLOAD] = offload
        app[CREDENTIALS] = CredentialChecker(store, offload)
        app[LOGIN_THROTTLE] = LoginThrottle(
            config.login_failures_per_address, config.login_failures_per_robot, config.max_pending_bcrypt,
        )
        yield
        offload.close()
        if given_store is None:
            store.close()

    return context


async def healthz(request: web.Request) -> web.Response:
    """200 when the store answers a read (and, for SQLite, its file is the one opened); 503
    otherwise, with the cause in ``reason`` (e.g. "the database file was removed or replaced
    while the server ran")."""
    try:
        await request.app[OFFLOAD].database(request.app[STORE].check)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        reason = exc.cause if isinstance(exc, StoreUnavailable) else "the database did not answer a read"
        log.warning("health check failed: %s (%s)", reason, exc.__class__.__name__)
        return web.json_response({"status": "unavailable", "reason": reason}, status=503)
    return web.json_response({"status": "ok"})


async def livez(request: web.Request) -> web.Response:
    """200 while the process answers: the probe for restarting a hung process, which never
    looks at the store (a database outage is no reason to restart every replica)."""
    return web.json_response({"status": "ok"})


# Seconds a load balancer or client is told to wait before asking a replica that is not ready.
READYZ_RETRY_AFTER = "5"


async def readyz(request: web.Request) -> web.Response:
    """200 when the store answers a read (``store.check()`` in the database pool); 503 with
    Retry-After and the cause in ``reason`` otherwise: the probe for taking a replica out of
    a load balancer's rotation."""
    try:
        await request.app[OFFLOAD].database(request.app[STORE].check)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        reason = exc.cause if isinstance(exc, StoreUnavailable) else "the database did not answer a read"
        log.warning("readiness check failed: %s (%s)", reason, exc.__class__.__name__)
        return web.json_response(
            {"status": "unavailable", "reason": reason}, status=503, headers={"Retry-After": READYZ_RETRY_AFTER},
        )
    return web.json_response({"status": "ok"})


async def jwks(request: web.Request) -> web.Response:
    """Publish the public signing key as a JWK set (registry 3.x's ``jwks`` option)."""
    return web.json_response({"keys": [request.app[SIGNING_KEY].jwk()]})
