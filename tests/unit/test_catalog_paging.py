"""The catalog's paging rules over an in-memory list of names in the registry's order:
following the Link headers shows each visible name once, in order; the last page is never
empty; a Link's ``last`` is always a name the caller was shown; the walk is bounded."""

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalog import paging
from gateway.catalog.errors import CatalogError
from gateway.catalog.paging import Page, PageRequest, page_request, visible_page
from gateway.catalog.upstream import UpstreamPage


def catalog(names: list[str], page_size: int):
    """``fetch(after, count)`` over ``names`` (sorted), at most ``page_size`` at a time (the
    registry's maxentries), with the (after, count) of each page it served."""
    served = []

    async def fetch(after, count):
        assert 1 <= count <= 1000
        size = min(count, page_size)
        rest = [name for name in names if after is None or name > after]
        served.append((after, count))
        return UpstreamPage(rest[:size], len(rest) > size)

    return fetch, served


def only(visible_names: set[str]):
    async def visible(names):
        return [name for name in names if name in visible_names]

    return visible


names_st = st.lists(st.from_regex(r"[a-z]{1,3}/[a-z]{1,3}", fullmatch=True), unique=True, max_size=60).map(sorted)


@settings(max_examples=150, deadline=None)
@given(names=names_st, data=st.data(), n=st.integers(1, 7), page_size=st.integers(1, 9))
async def test_following_links_shows_each_visible_name_once_in_order(names, data, n, page_size):
    seen = set(data.draw(st.sets(st.sampled_from(names))) if names else set())
    fetch, _ = catalog(names, page_size)
    shown, last = [], None
    for _ in range(len(names) + 2):  # bounded: one page per name at most, and the last
        page = await visible_page(PageRequest(n, last), fetch, only(seen))
        assert len(page.names) <= n
        assert set(page.names) <= seen
        shown += page.names
        link = page.link(n)
        if link is None:
            break
        assert page.names, "a page with a Link is never empty"
        query = parse_qs(urlsplit(link[1:link.index(">")]).query)
        assert query == {"last": [page.names[-1]], "n": [str(n)]}
        last = query["last"][0]
    else:
        pytest.fail("the links never ended")
    assert shown == [name for name in names if name in seen]


async def test_n_zero_asks_nothing_of_the_registry():
    fetch, served = catalog(["a/b"], 5)
    assert await visible_page(PageRequest(0, None), fetch, only({"a/b"})) == Page([], False)
    assert served == []


async def test_a_full_page_looks_ahead_only_until_one_more_visible_name():
    names = [f"ns/r{i:03d}" for i in range(100)]
    fetch, served = catalog(names, 10)
    page = await visible_page(PageRequest(3, None), fetch, only(set(names)))
    assert page == Page(["ns/r000", "ns/r001", "ns/r002"], True)
    assert served == [(None, 4)]


async def test_the_registry_pages_grow_while_the_caller_sees_little():
    names = [f"ns/r{i:04d}" for i in range(3000)]
    fetch, served = catalog(names, 1000)
    page = await visible_page(PageRequest(10, None), fetch, only({"ns/r2999"}))
    assert page == Page(["ns/r2999"], False)
    assert [count for _, count in served] == [11, 44, 176, 704, 1000, 1000, 1000]


async def test_the_walk_is_bounded(monkeypatch):
    monkeypatch.setattr(paging, "MAX_UPSTREAM_PAGES", 4)
    names = [f"ns/r{i:03d}" for i in range(100)]
    fetch, served = catalog(names, 10)
    with pytest.raises(CatalogError) as refused:
        await visible_page(PageRequest(5, None), fetch, only({"ns/r099"}))
    assert refused.value.status == 503
    assert len(served) == 4
    # With names found before the bound, they are the page, and the Link goes on from there.
    fetch, served = catalog(names, 10)
    page = await visible_page(PageRequest(5, None), fetch, only({"ns/r001", "ns/r099"}))
    assert page == Page(["ns/r001"], True)


@pytest.mark.parametrize(("query", "expected"), [
    ({}, PageRequest(100, None)),
    ({"n": "0"}, PageRequest(0, None)),
    ({"n": "1000", "last": "acme/app"}, PageRequest(1000, "acme/app")),
    ({"n": "", "last": ""}, PageRequest(100, None)),
])
def test_page_request_defaults_as_the_registry(query, expected):
    assert page_request(query) == expected
