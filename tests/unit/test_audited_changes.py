"""Robot and grant changes write their audit row in the same transaction, whoever asks."""

import pytest

from tokenstore import RobotNotFound

ACTOR = {"performer": "alice", "performer_kind": "user", "ip": "192.0.2.7"}


@pytest.fixture
def org(store):
    store.create_namespace("myorg")
    store.create_repository("myorg/app")
    return store


def events(store):
    rows, _ = store.list_events("myorg", start=0, end=store.clock() + 1)
    return [(e.kind, e.performer, e.repository, e.metadata) for e in reversed(rows)]


def test_each_change_logs_one_row_with_the_same_shape(org):
    issued = org.create_robot_audited("myorg+ci", "CI", actor=ACTOR)
    org.regenerate_robot_audited("myorg+ci", grace_seconds=60, actor=ACTOR)
    org.grant_audited("myorg+ci", "myorg/app", "write", actor=ACTOR)
    org.grant_audited("myorg+ci", "myorg", "read", via="cli")
    org.revoke_audited("myorg+ci", "myorg/app", actor=ACTOR)
    org.revoke_audited("myorg+ci", "myorg", via="cli")
    org.delete_robot_audited("myorg+ci", actor=ACTOR)
    assert events(org) == [
        ("create_robot", "alice", None, {"robot": "ci", "description": "CI", "unstructured_metadata": None}),
        ("regenerate_robot_token", "alice", None, {"robot": "ci", "grace_seconds": 60, "expiration": None}),
        ("change_repo_permission", "alice", "app",
         {"repo": "app", "namespace": "myorg", "username": "myorg+ci", "role": "write"}),
        ("change_namespace_permission", None, None,
         {"namespace": "myorg", "username": "myorg+ci", "role": "read", "via": "cli"}),
        ("delete_repo_permission", "alice", "app", {"repo": "app", "namespace": "myorg", "username": "myorg+ci"}),
        ("delete_namespace_permission", None, None, {"namespace": "myorg", "username": "myorg+ci", "via": "cli"}),
        ("delete_robot", "alice", None, {"robot": "ci"}),
    ]
    assert all(issued.secret not in str(row) for row in events(org))


def test_a_failed_audit_write_undoes_the_change(org, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(org, "record_event", refuse)
    with pytest.raises(RuntimeError):
        org.create_robot_audited("myorg+ci", actor=ACTOR)
    with pytest.raises(RobotNotFound):
        org.get_robot("myorg+ci")


def test_a_failed_change_logs_nothing(org):
    with pytest.raises(RobotNotFound):
        org.delete_robot_audited("myorg+ghost", actor=ACTOR)
    assert events(org) == []
