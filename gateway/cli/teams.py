"""``regauth team ...``: an organization's teams, their members and their repository roles.
Each change is written with its audit row (``via: cli``), as the API writes it."""

import argparse

from tokenstore import NameInvalid, team_changes
from tokenstore.teams import TEAM_ROLES

from ..management.presenters import quay_date
from ..management.team_views import team_member_view, team_repository_permission_view
from .output import print_json
from .store import open_existing


def add_team_commands(subparsers, settings_parent: argparse.ArgumentParser) -> None:
    """Declare ``team create|delete|list|show|add-member|remove-member|grant|revoke`` on
    ``subparsers`` (the CLI's commands), with the settings flags of ``settings_parent``."""
    teams = subparsers.add_parser("team", help="organization teams").add_subparsers(
        dest="team_command", required=True, metavar="ACTION")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = teams.add_parser(name, parents=[settings_parent], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    create = command("create", create_team, "create a team, or change the role or description of one")
    create.add_argument("team", metavar="ORG/TEAM")
    create.add_argument("--role", choices=TEAM_ROLES, default=None,
                        help="member: its repository roles only; creator: its members' pushes create repositories;"
                             " admin: admin on every repository of the organization (default for a new team: member)")
    create.add_argument("--description", default=None)
    command("delete", delete_team, "delete a team; its members lose its rights at once").add_argument(
        "team", metavar="ORG/TEAM")
    command("list", list_teams, "list an organization's teams").add_argument("organization", metavar="ORG")
    command("show", show_team, "show a team, its members and its repository roles").add_argument(
        "team", metavar="ORG/TEAM")
    for name, handler, help_text in (
        ("add-member", add_member, "add a member of the organization, or one of its robots (ORG+SHORT), to a team"),
        ("remove-member", remove_member, "take a user or robot out of a team; its rights end at once"),
    ):
        sub = command(name, handler, help_text)
        sub.add_argument("team", metavar="ORG/TEAM")
        sub.add_argument("member", metavar="USER|ORG+SHORT")
    grant = command("grant", grant_repository, "give a team a role on a repository of its organization")
    grant.add_argument("team", metavar="ORG/TEAM")
    grant.add_argument("repository", metavar="ORG/REPO")
    grant.add_argument("role", metavar="ROLE", choices=["read", "write", "admin"])
    revoke = command("revoke", revoke_repository, "take a team's role on a repository away")
    revoke.add_argument("team", metavar="ORG/TEAM")
    revoke.add_argument("repository", metavar="ORG/REPO")


def _split(team: str) -> tuple[str, str]:
    """Return (organization, team) of ``ORG/TEAM``; raises NameInvalid without the slash."""
    organization, slash, name = team.partition("/")
    if not slash or not organization or not name:
        raise NameInvalid(f"expected ORG/TEAM, got {team[:100]!r}")
    return organization, name


def _team_json(team) -> dict:
    return {
        "organization": team.organization, "name": team.name, "role": team.role,
        "description": team.description, "created": quay_date(team.created),
    }


def create_team(config, args):
    organization, name = _split(args.team)
    team, created = team_changes.put_team(
        open_existing(config), organization, name, role=args.role, description=args.description, via="cli",
    )
    print_json({**_team_json(team), "new_team": created})


def delete_team(config, args):
    organization, name = _split(args.team)
    team_changes.delete_team(open_existing(config), organization, name, via="cli")
    print_json({"deleted": args.team})


def list_teams(config, args):
    teams = open_existing(config).list_teams(args.organization)
    print_json([{**_team_json(t), "member_count": t.member_count, "repo_count": t.repo_count} for t in teams])


def show_team(config, args):
    organization, name = _split(args.team)
    store = open_existing(config)
    team = store.get_team(organization, name)
    print_json({
        **_team_json(team),
        "members": [team_member_view(member) for member in store.list_team_members(organization, name)],
        "permissions": [team_repository_permission_view(p) for p in store.list_team_permissions(organization, name)],
    })


def add_member(config, args):
    organization, name = _split(args.team)
    member = team_changes.add_member(open_existing(config), organization, name, args.member, via="cli")
    print_json({"team": args.team, **team_member_view(member)})


def remove_member(config, args):
    organization, name = _split(args.team)
    team_changes.remove_member(open_existing(config), organization, name, args.member, via="cli")
    print_json({"removed": {"team": args.team, "member": args.member}})


def grant_repository(config, args):
    organization, name = _split(args.team)
    _same_organization(organization, args.repository)
    permission = team_changes.set_permission(open_existing(config), args.repository, name, args.role, via="cli")
    print_json({"team": args.team, **team_repository_permission_view(permission)})


def revoke_repository(config, args):
    organization, name = _split(args.team)
    _same_organization(organization, args.repository)
    team_changes.remove_permission(open_existing(config), args.repository, name, via="cli")
    print_json({"revoked": {"team": args.team, "repository": args.repository}})


def _same_organization(organization: str, repository: str) -> None:
    """Raise NameInvalid unless ``repository`` (ORG/REPO) is in ``organization``."""
    if repository.partition("/")[0] != organization:
        raise NameInvalid(f"a team of {organization!r} holds roles only on repositories of {organization!r}")
