"""A robot's new secret, hashed on the bcrypt pool before the write that stores it.

The write then runs on a database thread. bcrypt threads run at low priority: a write
transaction on one of them, descheduled on a busy machine while it holds the write lock,
would hold up every writer, and every token request waits for the writer.
"""

from aiohttp import web

from tokenstore import hashing

from ..appkeys import OFFLOAD, STORE


async def new_secret_hash(request: web.Request) -> hashing.NewSecret:
    """Return a new secret with its bcrypt hash at the store's cost, made on the bcrypt pool."""
    return await request.app[OFFLOAD].bcrypt(hashing.new_secret, request.app[STORE].bcrypt_cost)
