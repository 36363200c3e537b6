"""A page of the catalog as one caller sees it: the request's ``n`` and ``last``, the walk
over the registry's pages keeping what the caller may see, and the ``Link`` to the next page.

The registry's rules (distribution ``registry/handlers/catalog.go``): ``n`` defaults to 100
and may be 0 to 1000; names come in the registry's order, after ``last``; a ``Link:
</v2/_catalog?last=NAME&n=N>; rel="next"`` is sent only when more follow. Here "more" means
more that this caller may see, so the last page never comes back empty, and ``last`` in a
Link is always a name the caller was shown: the names it may not see never leak, not even
as a cursor.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from tokenstore import NameInvalid
from tokenstore.names import check_distribution_name

from .errors import CatalogError, registry_unavailable
from .upstream import UPSTREAM_PAGE, UpstreamPage

DEFAULT_N = 100
MAX_N = 1000
# Bounds on one client request's walk over the registry's pages: a caller who may see few
# of many repositories makes the walk read the whole catalog.
MAX_UPSTREAM_PAGES = 1000
MAX_WALK_SECONDS = 60.0


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: ``n`` names after ``last`` (None: from the start)."""

    n: int
    last: str | None


def page_request(query) -> PageRequest:
    """Return the PageRequest of the request's query; raises a 400 CatalogError for an ``n``
    that is not a whole number from 0 to MAX_N (code PAGINATION_NUMBER_INVALID, as the
    registry says it) or a ``last`` that is no repository name (NAME_INVALID)."""
    text = query.get("n")
    n = DEFAULT_N
    if text is not None and text != "":
        if not text.isascii() or not text.isdigit() or len(text) > 9:
            raise CatalogError(400, "PAGINATION_NUMBER_INVALID",
                               f"invalid number of results requested: n must be a whole number from 0 to {MAX_N}")
        n = int(text)
        if n > MAX_N:
            raise CatalogError(400, "PAGINATION_NUMBER_INVALID",
                               f"invalid number of results requested: n may be at most {MAX_N}, got {n}")
    last = query.get("last") or None
    if last is not None:
        try:
            check_distribution_name(last)
        except NameInvalid as exc:
            raise CatalogError(400, "NAME_INVALID", f"invalid last parameter: {exc}") from None
    return PageRequest(n, last)


@dataclass(frozen=True)
class Page:
    """The names shown, and whether the caller may see more after them."""

    names: list[str]
    more: bool

    def link(self, n: int) -> str | None:
        """Return the ``Link`` header to the next page, or None when this is the last."""
        if not self.more:
            return None
        return f'</v2/_catalog?{urlencode({"last": self.names[-1], "n": n})}>; rel="next"'


async def visible_page(
    asked: PageRequest,
    fetch: Callable[[str | None, int], Awaitable[UpstreamPage]],
    visible: Callable[[list[str]], Awaitable[list[str]]],
    *, clock: Callable[[], float] = time.monotonic,
) -> Page:
    """Walk the registry's pages (``fetch(after, count)``) from ``asked.last``, keeping what
    ``visible(names)`` keeps, until ``asked.n`` names are found and it is known whether one
    more follows. Returns the Page.

    The first registry page asked for is ``n + 1`` names (enough for a caller who may see
    them all), each further one four times larger, up to UPSTREAM_PAGE: a caller who sees
    most names costs a registry read and an authorization of little more than the page,
    one who sees few is served in a few large reads.

    When the walk reaches MAX_UPSTREAM_PAGES or MAX_WALK_SECONDS first, the names found so
    far are the page (with a Link), or, when there are none, it raises a 503 CatalogError;
    it raises what ``fetch`` and ``visible`` raise.
    """
    if asked.n == 0:
        return Page([], False)  # what the registry answers to n=0
    shown: list[str] = []
    cursor = asked.last
    count = min(asked.n + 1, UPSTREAM_PAGE)
    deadline = clock() + MAX_WALK_SECONDS
    for _ in range(MAX_UPSTREAM_PAGES):
        upstream = await fetch(cursor, count)
        count = min(count * 4, UPSTREAM_PAGE)
        for name in await visible(upstream.names):
            if len(shown) == asked.n:
                return Page(shown, True)
            shown.append(name)
        if not upstream.more:
            return Page(shown, False)
        cursor = upstream.names[-1]
        if clock() > deadline:
            break
    if shown:
        return Page(shown, True)  # the next request goes on from the last name shown
    raise registry_unavailable(
        "the registry's catalog is too large to filter within one request "
        f"({MAX_UPSTREAM_PAGES} pages of up to {UPSTREAM_PAGE} names or {MAX_WALK_SECONDS:g} s)"
    )
