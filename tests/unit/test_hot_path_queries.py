"""Every statement a token request runs finds its rows through an index: no table scan, so
the cost does not grow with the number of robots, secrets or grants."""

import pytest

from tokenstore import Principal, Resource

# About SQLite itself: its file on disk, its query planner.
pytestmark = pytest.mark.sqlite_only

ROBOT = "myorg+ci"


@pytest.fixture
def principal(store) -> Principal:
    store.create_namespace("myorg")
    store.create_namespace("other")
    store.create_repository("myorg/app")
    for index in range(30):
        store.create_robot(f"myorg+filler{index}")
        store.grant(f"myorg+filler{index}", "myorg/app", "read")
    issued = store.create_robot(ROBOT)
    store.grant(ROBOT, "myorg", "write")
    return store.authenticate(ROBOT, issued.secret)


def statements(store, action) -> list[str]:
    """The SQL statements ``action()`` runs, with their parameters filled in."""
    seen: list[str] = []
    conn = store.db.conn
    conn.set_trace_callback(seen.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    return [sql for sql in seen if sql.lstrip().upper().startswith(("SELECT", "UPDATE"))]


def scans(store, sql: str) -> list[str]:
    plan = [row[-1] for row in store.db.execute("EXPLAIN QUERY PLAN " + sql)]
    return [step for step in plan if step.startswith("SCAN")]


@pytest.mark.parametrize("what", ["confirm", "authorize existing", "authorize new", "authorize public elsewhere"])
def test_token_request_statements_use_indexes(store, principal, clock, what):
    clock.advance(3600)  # so that confirm also records last_accessed
    actions = {
        "confirm": lambda: store.confirm(principal),
        "authorize existing": lambda: store.authorize(principal, Resource("repository", "myorg/app"), ["pull", "push"]),
        "authorize new": lambda: store.authorize(principal, Resource("repository", "myorg/fresh"), ["pull"]),
        "authorize public elsewhere": lambda: store.authorize(principal, Resource("repository", "other/x"), ["pull"]),
    }
    executed = statements(store, actions[what])
    assert executed
    for sql in executed:
        assert scans(store, sql) == [], sql


def test_a_cold_check_uses_indexes(store, principal, clock):
    clock.advance(3600)
    issued = store.regenerate_secret(ROBOT, grace_seconds=60)
    executed = statements(store, lambda: store.authenticate(ROBOT, issued.secret))
    assert executed
    for sql in executed:
        assert scans(store, sql) == [], sql
