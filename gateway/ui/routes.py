"""``add_routes(app)``: the web UI's pages, actions and static files, its templates, and the
middleware that gives every UI response the security headers.

URLs follow Quay's: ``/organization/{orgname}`` (repositories), ``.../robots`` (robot
accounts), ``.../robots/{robot_shortname}`` (one robot and its permissions); the same under
``/user`` for the signed-in user's own namespace.
"""

import hashlib
import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..edge.errors import HTTPProblem, unavailable
from . import actions, formatting, headers, pages, robot_controls, signin, usage_logs
from .app_tokens import add_app_token_routes
from .prototypes import add_prototype_routes
from .teams import add_team_routes
from .errors import UiError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
# Every UI route is named with this prefix; the middleware recognises UI responses by it.
ROUTE_PREFIX = "ui."
NAMESPACE_BASES = (("org", "/organization/{orgname}"), ("user", "/user"))


def add_routes(app: web.Application) -> None:
    """Add the web UI to ``app``: templates, routes, static files and the headers middleware."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates change only with the code: never stat() them again on the event loop.
        auto_reload=False,
    )
    env.filters.update(
        human_date=formatting.human_date, day=formatting.day, clock=formatting.clock,
        iso_date=formatting.iso_date, quay_date=formatting.quay_date,
    )
    app.middlewares.append(security_headers)

    router = app.router
    router.add_static("/static/", STATIC_DIR, name=ROUTE_PREFIX + "static")
    env.globals["static"] = _static_urls()

    router.add_get("/", pages.index, name=ROUTE_PREFIX + "index")
    router.add_get("/signin", signin.signin_page, name=ROUTE_PREFIX + "signin")
    router.add_post("/signin", signin.signin, name=ROUTE_PREFIX + "signin.post")
    router.add_post("/signout", signin.signout, name=ROUTE_PREFIX + "signout")
    router.add_get("/organizations", pages.organizations, name=ROUTE_PREFIX + "organizations")

    for kind, base in NAMESPACE_BASES:
        name = f"{ROUTE_PREFIX}{kind}."
        robot = base + "/robots/{robot_shortname}"
        router.add_get(base, pages.repositories, name=name + "repositories")
        router.add_get(base + "/robots", pages.robots, name=name + "robots")
        router.add_get(base + "/logs", usage_logs.usage_logs, name=name + "logs")
        router.add_post(base + "/robots", actions.create_robot, name=name + "robots.create")
        router.add_get(robot, pages.robot, name=name + "robot")
        router.add_post(robot + "/regenerate", actions.regenerate, name=name + "robot.regenerate")
        router.add_post(robot + "/delete", actions.delete_robot, name=name + "robot.delete")
        router.add_post(robot + "/disable", robot_controls.disable, name=name + "robot.disable")
        router.add_post(robot + "/enable", robot_controls.enable, name=name + "robot.enable")
        router.add_post(robot + "/permissions", actions.grant, name=name + "robot.grant")
        router.add_post(robot + "/permissions/revoke", actions.revoke, name=name + "robot.revoke")
    add_team_routes(router, ROUTE_PREFIX)
    add_prototype_routes(router, ROUTE_PREFIX)
    add_app_token_routes(router, ROUTE_PREFIX)


def _static_urls():
    """Return ``static(filename) -> URL``: each URL carries a digest of the file's content, so
    a browser never keeps a stale copy after an upgrade. Digests are taken once, here, not by
    reading files on the event loop at every page."""
    versions = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in STATIC_DIR.iterdir() if path.is_file()
    }

    def static(filename: str) -> str:
        return f"/static/{filename}?v={versions[filename]}"

    return static


def _is_ui(request: web.Request) -> bool:
    name = request.match_info.route.name
    return bool(name) and name.startswith(ROUTE_PREFIX)


@web.middleware
async def security_headers(request: web.Request, handler):
    """Give UI responses (pages, their JSON, static files, redirects, errors) the security
    headers, and turn an unexpected error on a UI route into a page that reveals nothing
    (logged with its traceback). Other routes pass untouched."""
    if not _is_ui(request):
        return await handler(request)
    cacheable = request.match_info.route.name == ROUTE_PREFIX + "static"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        headers.apply(exc, cacheable=cacheable)
        raise
    except HTTPProblem:
        raise
    except Exception as exc:
        reason = unavailable(request, exc)
        if reason is not None:
            raise UiError(503, reason.sentence, headers={"Retry-After": reason.retry_after}) from None
        log.exception("unhandled error in %s %s", request.method, request.path)
        raise UiError(500, "Something went wrong on our side; the server log has the details.") from None
    return headers.apply(response, cacheable=cacheable)
