"""The aiohttp application: ``create_app(config)``, the one place that wires every flow."""


from aiohttp import web

from tokenstore import open_store
from tokenstore.interface import TokenStore

from .api.federation import add_routes as add_federation_routes
from .api.routes import add_routes as add_api_routes
from .appkeys import (
    AUTHENTICATORS,
    AUTHORIZER,
    CONFIG,
    LOGIN_THROTTLE,
    OFFLOAD,
    REFRESH_TOKENS,
    STORE,
)
from .catalog import add_route as add_catalog_route
from .edge import no_store, request_id
from .edge.errors import error_middleware
from .edge.forwarded import untrusted_forwarder_warning
from .federation.exchange import exchange as federation_exchange
from .federation.exchange import open_verifier
from .metrics.middleware import metrics_middleware
from .metrics.route import add_route as add_metrics_route
from .offload import Offload
from .registry.events import add_route as add_registry_events_route
from .server.database_watch import database_watch
from .server.gc_schedule import gc_schedule
from .server.health import healthz, livez, readyz
from .text_guard import text_guard_middleware
from .token.authn import AppTokens, KeylessCredentials, RefreshTokens, RobotSecrets
from .token.authz import StoreRoles
from .token.credential_cache import CredentialChecker
from .token.endpoint import get_token
from .token.grants import post_token
from .token.jwks import jwks
from .token.live_keyring import keyring_watch
from .token.login_throttle import LoginThrottle
from .ui import add_routes as add_ui_routes

# Token requests and API bodies are small; refuse anything large before reading it.
MAX_BODY_BYTES = 64 * 1024


def create_app(config, *, store: TokenStore | None = None) -> web.Application:
    """Build the application for ``config``.

    The store, signing key and thread pools are opened at startup and closed at cleanup. A
    ``store`` may be passed in (tests use one with an injected clock).
    """
    app = web.Application(middlewares=[error_middleware, metrics_middleware, text_guard_middleware], client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = config
    no_store.install(app)
    request_id.install(app, config.trusted_proxies)
    app.middlewares.append(untrusted_forwarder_warning(config.trusted_proxies))
    # First: the keyring is loaded (or the start fails) before anything else opens.
    app.cleanup_ctx.append(keyring_watch)
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
    add_catalog_route(app)
    app.cleanup_ctx.append(gc_schedule)
    app.cleanup_ctx.append(database_watch)
    add_api_routes(app)
    add_federation_routes(app)
    add_metrics_route(app)
    add_ui_routes(app)
    return app


def _resources(given_store: TokenStore | None):
    async def context(app: web.Application):
        config = app[CONFIG]
        # create=False: a worker started after the database was removed must not serve a
        # new, empty one.
        store = given_store or open_store(config.database_location, bcrypt_cost=config.bcrypt_cost, create=False)
        offload = Offload(store=store)
        app[STORE] = store
        app[OFFLOAD] = offload
        throttle = LoginThrottle(
            config.login_failures_per_address, config.login_failures_per_robot, config.max_pending_bcrypt,
        )
        app[LOGIN_THROTTLE] = throttle
        # Who is asking at /token: the first that claims the password answers. Keyless
        # credentials are told by their prefix, a person's app token by a name that is no
        # robot's; a robot secret is anything else.
        app[AUTHENTICATORS] = (
            KeylessCredentials(store, offload, throttle),
            AppTokens(store, offload, throttle),
            RobotSecrets(CredentialChecker(store, offload), throttle),
        )
        app[REFRESH_TOKENS] = RefreshTokens(store, offload)
        app[AUTHORIZER] = StoreRoles(store)
        yield
        offload.close()
        if given_store is None:
            store.close()

    return context

