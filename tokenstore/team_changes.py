"""Changes to teams together with their audit rows, in one transaction.

The API, the web UI and the command line change teams through these functions, so each
change is logged once with Quay's kind and metadata (``org_create_team``,
``org_set_team_role``, ``org_add_team_member``, ``change_repo_permission`` with ``team`` ...)
whatever asked for it. ``actor`` and ``via`` are as in ``audited_changes``: the performer
fields of the row, or ``via="cli"`` for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import TeamNotFound
from .names import parse_repository_name
from .teams import Team, TeamMember, TeamPermission

if TYPE_CHECKING:
    from .interface import TokenStore


def put_team(
    store: TokenStore, organization: str, name: str, *, role: str | None = None, description: str | None = None,
    actor: dict | None = None, via: str | None = None,
) -> tuple[Team, bool]:
    """Create the team (role ``member`` and no description unless given) or change what is
    given of an existing one, as Quay's ``PUT .../team/{team}`` does, logging
    ``org_create_team``, ``org_set_team_description`` and ``org_set_team_role`` for what
    changed.

    Returns (the Team, True when it was created). Raises NameInvalid or NamespaceNotFound.
    """
    with store.transaction():
        try:
            team = store.get_team(organization, name)
        except TeamNotFound:
            team = store.create_team(organization, name, role or "member", description or "")
            _log(store, "org_create_team", organization, actor, via, team=name)
            return team, True
        if description is not None and description != team.description:
            team = store.update_team(organization, name, description=description)
            _log(store, "org_set_team_description", organization, actor, via, team=name, description=description)
        if role is not None and role != team.role:
            team = store.update_team(organization, name, role=role)
            _log(store, "org_set_team_role", organization, actor, via, team=name, role=role)
    return team, False


def delete_team(store: TokenStore, organization: str, name: str, *, actor: dict | None = None,
                via: str | None = None) -> None:
    """Delete the team and log ``org_delete_team``; raises what ``store.delete_team`` raises."""
    with store.transaction():
        store.delete_team(organization, name)
        _log(store, "org_delete_team", organization, actor, via, team=name)


def add_member(store: TokenStore, organization: str, team: str, member: str, *, actor: dict | None = None,
               via: str | None = None) -> TeamMember:
    """Add a user or robot to the team and log ``org_add_team_member``; returns the
    TeamMember and raises what ``store.add_team_member`` raises."""
    with store.transaction():
        added = store.add_team_member(organization, team, member)
        _log(store, "org_add_team_member", organization, actor, via, member=member, team=team)
    return added


def remove_member(store: TokenStore, organization: str, team: str, member: str, *, actor: dict | None = None,
                  via: str | None = None) -> None:
    """Take a user or robot out of the team and log ``org_remove_team_member``; raises what
    ``store.remove_team_member`` raises."""
    with store.transaction():
        store.remove_team_member(organization, team, member)
        _log(store, "org_remove_team_member", organization, actor, via, member=member, team=team)


def set_permission(store: TokenStore, full_name: str, team: str, role: str, *, actor: dict | None = None,
                   via: str | None = None) -> TeamPermission:
    """Give the team a role on repository ``full_name`` (of the team's organization) and log
    ``change_repo_permission``; returns the TeamPermission and raises what
    ``store.set_team_permission`` raises."""
    name = parse_repository_name(full_name)
    with store.transaction():
        permission = store.set_team_permission(name.namespace, team, full_name, role)
        _log(store, "change_repo_permission", name.namespace, actor, via, repository=name.name,
             team=team, repo=name.name, role=permission.role.value)
    return permission


def remove_permission(store: TokenStore, full_name: str, team: str, *, actor: dict | None = None,
                      via: str | None = None) -> None:
    """Take the team's role on repository ``full_name`` away and log ``delete_repo_permission``;
    raises what ``store.remove_team_permission`` raises."""
    name = parse_repository_name(full_name)
    with store.transaction():
        store.remove_team_permission(name.namespace, team, full_name)
        _log(store, "delete_repo_permission", name.namespace, actor, via, repository=name.name,
             team=team, repo=name.name)


def _log(store: TokenStore, kind: str, namespace: str, actor: dict | None, via: str | None, /, *,
         repository: str | None = None, **metadata) -> None:
    if via is not None:
        metadata["via"] = via
    store.record_event(kind, namespace, **(actor or {}), repository=repository, metadata=metadata)
