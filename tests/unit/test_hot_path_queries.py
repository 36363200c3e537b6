"""Every statement a token request runs finds its rows through an index: no table scan, so
the cost does not grow with the number of robots, secrets or grants. On PostgreSQL the plan
is asked for with sequential scans disabled: one still chosen means no index can serve."""

import pytest

from tokenstore import Principal, Resource
from tokenstore.postgres.store import PostgresStore

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


def statements(store, action) -> list[tuple[str, list]]:
    """The SELECT and UPDATE statements ``action()`` runs, with their parameters."""
    seen: list[tuple[str, list]] = []
    db = store.db
    real = db.execute

    def recording(sql, params=()):
        seen.append((sql, list(params)))
        return real(sql, params)

    db.execute = recording
    try:
        action()
    finally:
        del db.execute
    return [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith(("SELECT", "UPDATE"))]


def scans(store, statement: tuple[str, list]) -> list[str]:
    sql, params = statement
    if isinstance(store, PostgresStore):
        with store.db.atomic():
            store.db.execute("SET LOCAL enable_seqscan = off")
            plan = [row[0] for row in store.db.execute("EXPLAIN " + sql, params)]
        return [step for step in plan if "Seq Scan" in step]
    plan = [row[-1] for row in store.db.execute("EXPLAIN QUERY PLAN " + sql, params)]
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
