"""The teams part of ``GET /api/v1/organization/{orgname}`` (Quay's ``teams`` and
``ordered_teams``), shown to the organization's members."""

from aiohttp import web

from tokenstore import User

from ..appkeys import OFFLOAD, STORE
from ..management.team_views import organization_team_view


async def organization_teams(request: web.Request, organization: str, user: User, *, is_admin: bool) -> dict:
    """Return ``{"teams": {name: team}, "ordered_teams": [names, oldest first]}``; a team's
    ``can_view`` is true for admins and for the teams ``user`` is in."""
    store = request.app[STORE]

    def load():
        teams = store.list_teams(organization)
        mine = set() if is_admin else set(store.member_teams(organization, user.username))
        return teams, mine

    teams, mine = await request.app[OFFLOAD].database(load)
    return {
        "teams": {team.name: organization_team_view(team, can_view=is_admin or team.name in mine) for team in teams},
        "ordered_teams": [team.name for team in teams],
    }
