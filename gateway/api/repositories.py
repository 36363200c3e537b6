"""Repositories, as Quay's ``/api/v1/repository``.

regauth keeps a record of each repository (name, visibility, description) to decide who may
pull and push; the images themselves live in the registry. Pushing to a new repository with
a write grant on its namespace creates the record too.
"""

from aiohttp import web

from tokenstore import RepositoryNotFound
from tokenstore.names import check_namespace, parse_repository_name

from ..appkeys import OFFLOAD, STORE
from .auth import current_user, require_namespace_admin
from .bodies import read_object, string_field
from .errors import forbidden, invalid_request
from .views import repository_list_entry, repository_view

VISIBILITIES = ("public", "private")
REPOSITORY_DESCRIPTION_MAX = 4096


def repository_from_path(request: web.Request) -> str:
    """Return ``namespace/name`` from the route; raises 400 (NameInvalid) when malformed."""
    full_name = f"{request.match_info['namespace']}/{request.match_info['repository']}"
    parse_repository_name(full_name)
    return full_name


async def list_repositories(request: web.Request) -> web.Response:
    """``GET /api/v1/repository?namespace=NS``: 200 ``{"repositories": [...]}``.

    Members and admins see every repository of the namespace, others its public ones.
    ``namespace`` is required (Quay also takes ``starred`` and ``public``; regauth has no
    stars and answers 400 without a namespace).
    """
    user = await current_user(request)
    namespace = request.query.get("namespace")
    if not namespace:
        raise invalid_request("the namespace query parameter is required")
    check_namespace(namespace)
    store = request.app[STORE]

    def load():
        access = store.namespace_access(user, namespace)
        if access.namespace is None:
            return []
        repositories = store.list_repositories(namespace)
        return repositories if access.is_member else [r for r in repositories if r.is_public]

    repositories = await request.app[OFFLOAD].database(load)
    return web.json_response({"repositories": [repository_list_entry(r) for r in repositories]})


async def create_repository(request: web.Request) -> web.Response:
    """``POST /api/v1/repository`` with ``{"namespace", "repository", "visibility",
    "description"}``: 201 ``{"namespace", "name", "kind"}``.

    ``namespace`` defaults to the caller's own; ``description`` is optional. Admins of the
    namespace only. 400 when it exists or a field is malformed. The organization's default
    permissions apply with the caller as creator.
    """
    user = await current_user(request)
    body = await read_object(request)
    name = string_field(body, "repository", required=True)
    visibility = string_field(body, "visibility", required=True, choices=VISIBILITIES)
    namespace = string_field(body, "namespace", default=user.username)
    description = string_field(body, "description", default="", max_length=REPOSITORY_DESCRIPTION_MAX)
    if body.get("repo_kind") is not None:
        string_field(body, "repo_kind", choices=("image",))
    full_name = f"{namespace}/{name}"
    caller = await require_namespace_admin(request, namespace)
    parse_repository_name(full_name)
    store = request.app[STORE]

    def create():
        with store.transaction():
            repository = store.create_repository(full_name, visibility, description, creator=caller.user.username)
            store.record_event("create_repo", caller.namespace.name, **caller.audit(request),
                               repository=repository.name, metadata={"repo": repository.name, "namespace": namespace})
        return repository

    repository = await request.app[OFFLOAD].database(create)
    return web.json_response({"namespace": repository.namespace, "name": repository.name, "kind": "image"}, status=201)


async def get_repository(request: web.Request) -> web.Response:
    """``GET /api/v1/repository/{namespace}/{repository}``: 200 repository.

    Members and admins of the namespace may read it; anyone signed in may read a public
    one. Others get 403 whether or not it exists.
    """
    user = await current_user(request)
    full_name = repository_from_path(request)
    namespace = request.match_info["namespace"]
    store = request.app[STORE]

    def load():
        access = store.namespace_access(user, namespace)
        try:
            repository = store.get_repository(full_name)
        except RepositoryNotFound:
            if access.is_member:
                raise
            repository = None
        return access, repository

    access, repository = await request.app[OFFLOAD].database(load)
    if not access.is_member and (repository is None or not repository.is_public):
        raise forbidden(f"you must be a member of {namespace!r} (or a superuser) to see this repository")
    return web.json_response(repository_view(
        repository, is_organization=access.namespace is not None and access.namespace.kind == "organization",
        can_admin=access.is_admin,
    ))


async def delete_repository(request: web.Request) -> web.Response:
    """``DELETE /api/v1/repository/{namespace}/{repository}``: 204; grants on it stop at once.

    Deletes regauth's record (and so every grant on it), not the images in the registry.
    """
    await current_user(request)
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    store = request.app[STORE]

    def delete():
        with store.transaction():
            store.delete_repository(full_name)
            name = request.match_info["repository"]
            store.record_event("delete_repo", caller.namespace.name, **caller.audit(request),
                               repository=name, metadata={"repo": name, "namespace": caller.namespace.name})

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)


async def change_visibility(request: web.Request) -> web.Response:
    """``POST /api/v1/repository/{namespace}/{repository}/changevisibility`` with
    ``{"visibility": "public" | "private"}``: 200 ``{"success": true}``."""
    await current_user(request)
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    body = await read_object(request)
    visibility = string_field(body, "visibility", required=True, choices=VISIBILITIES)
    store = request.app[STORE]

    def change():
        with store.transaction():
            repository = store.set_visibility(full_name, visibility)
            store.record_event("change_repo_visibility", caller.namespace.name, **caller.audit(request),
                               repository=repository.name,
                               metadata={"repo": repository.name, "namespace": caller.namespace.name,
                                         "visibility": visibility})

    await request.app[OFFLOAD].database(change)
    return web.json_response({"success": True})
