"""``GET /v2/_catalog`` served by regauth: the registry's catalog, filtered to the
repositories the caller may pull, paginated as the distribution spec says.

``callers`` tells who is asking, ``upstream`` reads the registry's catalog with a token only
regauth holds, ``paging`` keeps what the caller may see a page at a time, ``endpoint`` answers.
docs/api.md, "The repository catalog", says how clients use it.
"""

from .endpoint import add_route

__all__ = ["add_route"]
