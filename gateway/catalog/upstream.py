"""Reading the registry's own catalog, a page at a time, with a ``registry:catalog:*`` token
regauth mints for itself and never hands out (``/token`` grants nothing on the catalog)."""

import logging
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from ..appkeys import CONFIG
from ..token.live_keyring import signing_key
from ..token.tokens import Access, mint
from .callers import INTERNAL_SUBJECT
from .errors import registry_unavailable

log = logging.getLogger(__name__)

# The most names asked of the registry in one request: what registry 2.8 allows by default
# (its catalog.maxentries).
UPSTREAM_PAGE = 1000
# One registry request; a catalog page may take several (docs/api.md).
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=3)
# Long enough for the pages of one catalog request, short enough to be worthless if it leaked.
INTERNAL_TOKEN_TTL = 60
_CATALOG_ACCESS = [Access("registry", "catalog", ("*",))]


@dataclass(frozen=True)
class UpstreamPage:
    """Names the registry listed after a cursor, in its order, and whether it has more."""

    names: list[str]
    more: bool


SESSION = web.AppKey("catalog_session", aiohttp.ClientSession)


async def open_session(app: web.Application):
    """cleanup_ctx: the HTTP client (kept-alive connections) that reads the registry's catalog."""
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT, raise_for_status=False) as session:
        app[SESSION] = session
        yield


class RegistryCatalog:
    """The registry's catalog as regauth reads it for one client request (one token for all
    its pages)."""

    def __init__(self, app: web.Application):
        config = app[CONFIG]
        self._session = app[SESSION]
        self._url = f"{config.registry_url}/v2/_catalog"
        token = mint(signing_key(app), issuer=config.issuer, service=config.service, subject=INTERNAL_SUBJECT,
                     access=_CATALOG_ACCESS, ttl=INTERNAL_TOKEN_TTL).token
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def page(self, last: str | None, count: int) -> UpstreamPage:
        """Return the next ``count`` names (1 to UPSTREAM_PAGE) after ``last`` (from the
        start when None).

        Raises a 503 CatalogError naming the cause when the registry cannot be reached,
        does not answer in time, refuses regauth's token, or answers anything but a catalog.
        """
        params = {"n": str(count)}
        if last is not None:
            params["last"] = last
        where = self._url.removesuffix("/v2/_catalog")
        try:
            async with self._session.get(self._url, params=params, headers=self._headers) as resp:
                if resp.status == 401:
                    log.error("the registry at %s refused regauth's catalog token: its auth.token issuer, service"
                              " or rootcertbundle do not match regauth's", where)
                    raise registry_unavailable("the registry refused regauth's catalog token: its token settings do "
                                               "not match regauth's (regauth registry-config prints them)")
                if resp.status != 200:
                    detail = (await resp.text())[:300]
                    log.error("the registry at %s answered its catalog with %d: %s", where, resp.status, detail)
                    raise registry_unavailable(f"the registry answered its catalog with status {resp.status}")
                body = await resp.json(content_type=None)
                more = "Link" in resp.headers
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("the registry at %s cannot be reached for its catalog: %s", where, exc)
            raise registry_unavailable(f"the registry cannot be reached at {where}") from None
        except TimeoutError:
            log.warning("the registry at %s did not answer its catalog in time", where)
            raise registry_unavailable(
                f"the registry did not answer within {REQUEST_TIMEOUT.total:g} s") from None
        except ValueError:  # a body that is not JSON
            raise registry_unavailable("the registry answered its catalog with something else than JSON") from None
        names = body.get("repositories") if isinstance(body, dict) else None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise registry_unavailable("the registry answered its catalog without a list of repositories")
        return UpstreamPage(names, more and bool(names))
