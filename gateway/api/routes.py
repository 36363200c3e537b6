"""``add_routes(app)``: every management API route, and the middleware that gives their
errors Quay's shape. Repository names may hold slashes, so the routes that end in a fixed
word are added before the plain repository route that would otherwise swallow them."""

from aiohttp import web

from . import app_tokens, logs, organizations, permissions, prototypes, repositories, robot_controls, robots, teams
from .errors import api_error_middleware

REPO = "/api/v1/repository/{namespace}/{repository:.+}"


def add_routes(app: web.Application) -> None:
    """Add the ``/api/v1/...`` routes and the API error middleware to ``app``."""
    app.middlewares.append(api_error_middleware)
    router = app.router

    router.add_get("/api/v1/user/", organizations.get_current_user)

    # Organizations and members.
    router.add_post("/api/v1/organization/", organizations.create_organization)
    router.add_post("/api/v1/organization", organizations.create_organization)
    router.add_get("/api/v1/organization/{orgname}", organizations.get_organization)
    router.add_delete("/api/v1/organization/{orgname}", organizations.delete_organization)
    router.add_get("/api/v1/organization/{orgname}/members", organizations.list_members)
    router.add_get("/api/v1/organization/{orgname}/members/{membername}", organizations.get_member)
    router.add_put("/api/v1/organization/{orgname}/members/{membername}", organizations.put_member)
    router.add_delete("/api/v1/organization/{orgname}/members/{membername}", organizations.delete_member)

    # Teams.
    team = "/api/v1/organization/{orgname}/team/{teamname}"
    router.add_put(team, teams.put_team)
    router.add_delete(team, teams.delete_team)
    router.add_get(team + "/members", teams.list_team_members)
    router.add_put(team + "/members/{membername}", teams.put_team_member)
    router.add_delete(team + "/members/{membername}", teams.delete_team_member)
    router.add_get(team + "/permissions", teams.list_team_permissions)
    prototypes.add_routes(router)  # default permissions

    # Robots: the same handlers for an organization's and for the caller's own.
    for base in ("/api/v1/organization/{orgname}/robots", "/api/v1/user/robots"):
        router.add_get(base, robots.list_robots)
        router.add_get(base + "/{robot_shortname}", robots.get_robot)
        router.add_put(base + "/{robot_shortname}", robots.create_robot)
        router.add_delete(base + "/{robot_shortname}", robots.delete_robot)
        router.add_post(base + "/{robot_shortname}/regenerate", robots.regenerate_robot)
        router.add_get(base + "/{robot_shortname}/permissions", robots.robot_permissions)
    robot_controls.add_routes(router)

    # Audit log.
    router.add_get("/api/v1/organization/{orgname}/logs", logs.organization_logs)
    router.add_get("/api/v1/user/logs", logs.user_logs)

    # Repositories and their permissions.
    router.add_get("/api/v1/repository", repositories.list_repositories)
    router.add_post("/api/v1/repository", repositories.create_repository)
    router.add_post(REPO + "/changevisibility", repositories.change_visibility)
    router.add_get(REPO + "/permissions/user/", permissions.list_repository_permissions)
    router.add_get(REPO + "/permissions/user/{username}", permissions.get_repository_permission)
    router.add_put(REPO + "/permissions/user/{username}", permissions.put_repository_permission)
    router.add_delete(REPO + "/permissions/user/{username}", permissions.delete_repository_permission)
    router.add_get(REPO + "/permissions/team/", teams.list_repository_team_permissions)
    router.add_get(REPO + "/permissions/team/{teamname}", teams.get_repository_team_permission)
    router.add_put(REPO + "/permissions/team/{teamname}", teams.put_repository_team_permission)
    router.add_delete(REPO + "/permissions/team/{teamname}", teams.delete_repository_team_permission)
    router.add_get(REPO, repositories.get_repository)
    router.add_delete(REPO, repositories.delete_repository)

    # Namespace-wide robot grants (ours).
    namespace = "/api/v1/namespace/{namespace}/permissions/user/"
    router.add_get(namespace, permissions.list_namespace_permissions)
    router.add_get(namespace + "{username}", permissions.get_namespace_permission)
    router.add_put(namespace + "{username}", permissions.put_namespace_permission)
    router.add_delete(namespace + "{username}", permissions.delete_namespace_permission)

    # The caller's app-specific tokens (people's registry logins).
    router.add_get("/api/v1/user/apptoken", app_tokens.list_app_tokens)
    router.add_post("/api/v1/user/apptoken", app_tokens.create_app_token)
    router.add_get("/api/v1/user/apptoken/{token_uuid}", app_tokens.get_app_token)
    router.add_delete("/api/v1/user/apptoken/{token_uuid}", app_tokens.revoke_app_token)
