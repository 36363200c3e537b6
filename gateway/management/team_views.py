"""The JSON shapes of teams, in Quay's spelling, shared by the API, the CLI and the web UI.

Quay's avatars are left out: regauth has none.
"""

from tokenstore.teams import Team, TeamMember, TeamPermission


def team_view(team: Team, *, can_view: bool, new_team: bool = False) -> dict:
    """Quay's team object as ``PUT .../team/{team}`` answers it."""
    return {
        "name": team.name,
        "description": team.description,
        "can_view": can_view,
        "role": team.role,
        "new_team": new_team,
    }


def organization_team_view(team: Team, *, can_view: bool) -> dict:
    """A team in the organization's ``teams`` object (with its member and repository counts)."""
    return {
        "name": team.name,
        "description": team.description,
        "role": team.role,
        "can_view": can_view,
        "repo_count": team.repo_count,
        "member_count": team.member_count,
        "is_synced": False,
    }


def team_member_view(member: TeamMember) -> dict:
    """A member of a team: a person or a robot (``is_robot``); invitations do not exist here."""
    return {"name": member.name, "kind": "user", "is_robot": member.is_robot, "invited": False}


def team_repository_permission_view(permission: TeamPermission) -> dict:
    """One entry of ``.../team/{team}/permissions``: a repository and the team's role on it."""
    return {
        "repository": {"name": permission.repository, "is_public": permission.is_public},
        "role": permission.role.value,
    }


def repository_team_permission_view(permission: TeamPermission) -> dict:
    """A team's role as ``.../permissions/team/{team}`` shows it."""
    return {"role": permission.role.value, "name": permission.team}
