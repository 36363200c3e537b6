"""A writer batch on PostgreSQL reads its token issuances' confirmations and roles ahead, two
statements for the whole batch: what it remembers is what each job would have read itself,
a job's own write makes the rest read afresh, and a change committed before the batch is
seen by every job of it."""

import pytest

from tests.conftest import FAST_BCRYPT_COST, FakeClock
from tokenstore import AccessReads, InvalidCredentials, Principal, Resource, hashing
from tokenstore.federation import credential_hash
from tokenstore.names import parse_repository_name
from tokenstore.postgres.read_ahead import confirmations, read_ahead, redeemed_roles, redemptions, roles
from tokenstore.refresh_tokens import new_refresh_token
from tokenstore.postgres.store import PostgresStore
from tokenstore.sql.access import confirm_key, role_key
from tokenstore.sql.refresh_tokens import redemption_key, redemption_sql

REPOSITORIES = (
    "acme/app", "acme/pub", "acme/teamrepo", "acme/missing", "acme/deep/nested", "other/thing", "gone/old",
    "acme/BAD name",
)
PULL_PUSH = ("pull", "push")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(postgres_url, clock):
    opened = PostgresStore(postgres_url, bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def recorded(store, monkeypatch) -> tuple[list[str], list[int]]:
    """Every statement with parameters the store's connection sends, and the number of
    statements of each read_together round trip, from now on."""
    db = store.db
    sent: list[str] = []
    trips: list[int] = []
    run, read_together = db._run, db.read_together
    monkeypatch.setattr(db, "_run", lambda query, params: (sent.append(query), run(query, params))[1])

    def reading_together(statements):
        trips.append(len(statements))
        sent.extend(sql for sql, _ in statements)
        return read_together(statements)

    monkeypatch.setattr(db, "read_together", reading_together)
    return sent, trips


def login(store, username: str, secret: str) -> Principal:
    return store.authenticate(username, secret, record_use=False)


@pytest.fixture
def principals(world) -> dict[str, Principal]:
    """Robots in every state a confirmation or a role can be in, each logged in while it worked."""
    return world[0]


@pytest.fixture
def refresh_tokens(world) -> dict[str, str]:
    """A refresh token of each robot of ``principals``, issued while it worked."""
    return world[1]


@pytest.fixture
def world(store, clock) -> tuple[dict[str, Principal], dict[str, str]]:
    """``principals`` and their ``refresh_tokens``."""
    for namespace in ("acme", "other", "gone"):
        store.create_namespace(namespace)
    for name, visibility in (("acme/app", "private"), ("acme/pub", "public"), ("acme/teamrepo", "private"),
                             ("acme/deep/nested", "private"), ("other/thing", "private"), ("gone/old", "public")):
        store.create_repository(name, visibility=visibility)
    secrets = {}
    for robot in ("writer", "namespace_admin", "teamed", "creator", "plain", "disabled", "deleted",
                  "replaced"):
        secrets[f"acme+{robot}"] = store.create_robot(f"acme+{robot}").secret
    secrets["other+bot"] = store.create_robot("other+bot").secret
    secrets["gone+bot"] = store.create_robot("gone+bot").secret
    store.grant("acme+writer", "acme/app", "write")
    store.grant("acme+writer", "acme/pub", "read")
    store.grant("acme+namespace_admin", "acme", "admin")
    store.grant("other+bot", "other/thing", "read")
    store.create_team("acme", "builders", "member")
    store.add_team_member("acme", "builders", "acme+teamed")
    store.set_team_permission("acme", "builders", "acme/teamrepo", "write")
    store.create_team("acme", "makers", "creator")
    store.add_team_member("acme", "makers", "acme+creator")
    store.add_team_member("acme", "builders", "acme+creator")
    principals = {name: login(store, name, secret) for name, secret in secrets.items()}
    expiring = store.create_robot_expiring("acme+soon", expires_at=clock() + 60)
    principals["acme+soon"] = login(store, "acme+soon", expiring.secret)
    tokens = {name: store.issue_refresh_token(principal) for name, principal in principals.items()}
    # Then taken away, in every way there is.
    store.set_robot_disabled("acme+disabled", True)
    store.delete_robot("acme+deleted")
    store.regenerate_secret("acme+replaced")
    store.delete_namespace("gone")
    clock.advance(120)  # acme+soon's secret has expired
    return principals, tokens


def test_what_is_read_ahead_is_what_each_job_would_read(store, principals, clock):
    reads = [AccessReads(principal, REPOSITORIES) for principal in principals.values()]
    db = store.db
    with store.transaction():
        read_ahead(db, reads, clock)
        for principal in principals.values():
            ahead = db.recall(confirm_key(principal))
            assert ahead is not None, principal.username
            assert ahead == store._confirmation_rows(principal, clock()), principal.username
            for repository in REPOSITORIES[:-1]:
                name = parse_repository_name(repository)
                ahead = db.recall(role_key(principal, name))
                assert ahead is not None, (principal.username, repository)
                assert sorted(ahead, key=repr) == sorted(store._role_rows(principal, name), key=repr), (
                    principal.username, repository)
    confirmed = {name for name, principal in principals.items() if store._confirmation_rows(principal, clock())}
    assert confirmed == {"acme+writer", "acme+namespace_admin", "acme+teamed", "acme+creator", "acme+plain",
                         "other+bot"}


def test_a_batch_answers_from_what_it_read_ahead_in_two_statements(store, principals, clock, recorded):
    sent, trips = recorded

    def issue(principal: Principal, repository: str):
        def job():
            if not store.confirm(principal):
                return "refused"
            return sorted(store.authorize(principal, Resource("repository", repository), PULL_PUSH))
        return job

    asked = [("acme+writer", "acme/app"), ("acme+writer", "acme/pub"), ("acme+teamed", "acme/teamrepo"),
             ("acme+namespace_admin", "acme/deep/nested"), ("acme+plain", "acme/app"), ("acme+plain", "acme/pub"),
             ("acme+disabled", "acme/app"), ("acme+deleted", "acme/app"), ("acme+replaced", "acme/app"),
             ("acme+soon", "acme/app"), ("other+bot", "other/thing"), ("other+bot", "acme/pub"),
             ("gone+bot", "gone/old")]
    # Uses recorded now, so that confirming writes nothing (a write ends the read-ahead answers).
    with store.transaction():
        for principal in principals.values():
            store.confirm(principal)
    sent.clear()
    trips.clear()
    outcomes = store.run_batch(
        [issue(principals[robot], repository) for robot, repository in asked],
        [AccessReads(principals[robot], (repository,)) for robot, repository in asked],
    )
    assert [result for ok, result in outcomes if ok] == [
        ["pull", "push"], ["pull"], ["pull", "push"], ["pull", "push"], [], ["pull"],
        "refused", "refused", "refused", "refused", ["pull"], ["pull"], "refused",
    ]
    assert len(sent) == 2, "\n".join(sent)  # the confirmations and the roles, for all thirteen
    assert trips == [2]  # in one round trip (with the BEGIN and the lock)
    # The same jobs without the reads named give the same answers, a statement or two each.
    sent.clear()
    again = store.run_batch([issue(principals[robot], repository) for robot, repository in asked])
    assert again == outcomes
    assert len(sent) > 13


def test_a_jobs_own_write_makes_the_jobs_after_it_read_afresh(store, principals, clock):
    writer = principals["acme+writer"]
    resource = Resource("repository", "acme/app")

    def pull_push():
        return sorted(store.authorize(writer, resource, PULL_PUSH))

    def revoke():
        store.revoke("acme+writer", "acme/app")

    outcomes = store.run_batch([pull_push, revoke, pull_push], [AccessReads(writer, ("acme/app",))] * 3)
    assert outcomes == [(True, ["pull", "push"]), (True, None), (True, [])]


def test_a_change_committed_before_the_batch_is_seen_by_every_job(store, principals, clock):
    """What the batch reads ahead it reads after taking the write lock: a regenerate that
    committed before it refuses every job of the old secret, and a new secret is confirmed."""
    old = principals["acme+writer"]
    issued = store.regenerate_secret("acme+writer")
    new = login(store, "acme+writer", issued.secret)
    outcomes = store.run_batch([lambda: store.confirm(old), lambda: store.confirm(new)],
                               [AccessReads(old), AccessReads(new)])
    assert outcomes == [(True, False), (True, True)]
    assert hashing.selector(issued.secret) is not None


def test_the_statements_read_ahead_find_their_rows_through_indexes(store, principals, refresh_tokens, clock):
    """As every statement of the token path (tests/unit/test_hot_path_queries.py): with
    sequential scans disabled none is chosen, so no table is read whole however many robots
    and grants there are."""
    robots = [principals[name] for name in ("acme+writer", "acme+teamed", "other+bot")]
    asked = [(p, parse_repository_name(r)) for p in robots for r in ("acme/app", "acme/teamrepo", "other/x")]
    db = store.db
    tokens = [credential_hash(refresh_tokens[name]) for name in ("acme+writer", "acme+teamed", "other+bot")]
    redeeming = [(token_hash, name) for token_hash in tokens for _, name in asked[:3]]
    for sql, params in (confirmations(robots, clock()), roles(asked), redemptions(tokens, clock()),
                        redeemed_roles(redeeming)):
        with store.transaction():
            db.execute("SET LOCAL enable_seqscan = off")
            plan = [row[0] for row in db.execute("EXPLAIN " + sql, params)]
        assert [step for step in plan if "Seq Scan" in step] == [], "\n".join(plan)


def test_what_is_read_ahead_for_refresh_tokens_is_what_each_redemption_would_read(
        store, principals, refresh_tokens, clock):
    unknown = new_refresh_token()  # the right shape, never issued
    tokens = {**refresh_tokens, "unknown": unknown, "malformed": "not-a-refresh-token"}
    reads = [AccessReads(None, REPOSITORIES, refresh_token=token) for token in tokens.values()]
    db = store.db
    with store.transaction():
        read_ahead(db, reads, clock)
        for name, token in tokens.items():
            token_hash = credential_hash(token)
            ahead = db.recall(redemption_key(token_hash))
            if name == "malformed":  # refused before anything is read
                assert ahead is None
                continue
            assert ahead is not None, name
            assert ahead == db.execute(redemption_sql("?"), [token_hash, clock(), clock()]).fetchall(), name
            if name not in principals:
                continue
            for repository in REPOSITORIES[:-1]:
                repository_name = parse_repository_name(repository)
                roles_ahead = db.recall(role_key(principals[name], repository_name))
                own = store._role_rows(principals[name], repository_name)
                # Nothing is kept for a namespace that is not live (the job reads for itself).
                assert roles_ahead is not None or own == [], (name, repository)
                if roles_ahead is not None:
                    assert sorted(roles_ahead, key=repr) == sorted(own, key=repr), (name, repository)
    redeemable = {name for name, token in tokens.items()
                  if db.execute(redemption_sql("?"), [credential_hash(token), clock(), clock()]).fetchall()}
    assert redeemable == {"acme+writer", "acme+namespace_admin", "acme+teamed", "acme+creator", "acme+plain",
                          "other+bot"}


def test_a_batch_of_refresh_token_grants_answers_from_two_statements_in_one_round_trip(
        store, principals, refresh_tokens, clock, recorded):
    sent, trips = recorded

    def issue(token: str, repository: str):
        def job():
            try:
                principal = store.redeem_refresh_token(token)
            except InvalidCredentials:
                return "refused"
            return principal.username, sorted(store.authorize(principal, Resource("repository", repository), PULL_PUSH))
        return job

    asked = [("acme+writer", "acme/app"), ("acme+writer", "acme/pub"), ("acme+teamed", "acme/teamrepo"),
             ("acme+namespace_admin", "acme/deep/nested"), ("acme+plain", "acme/app"), ("acme+disabled", "acme/app"),
             ("acme+deleted", "acme/app"), ("acme+replaced", "acme/app"), ("acme+soon", "acme/app"),
             ("other+bot", "other/thing"), ("other+bot", "acme/pub"), ("gone+bot", "gone/old")]
    for token in refresh_tokens.values():  # uses recorded now: redeeming writes nothing in the batch
        try:
            store.redeem_refresh_token(token)
        except InvalidCredentials:
            pass
    sent.clear()
    trips.clear()
    outcomes = store.run_batch(
        [issue(refresh_tokens[robot], repository) for robot, repository in asked],
        [AccessReads(None, (repository,), refresh_token=refresh_tokens[robot]) for robot, repository in asked],
    )
    assert [result for ok, result in outcomes if ok] == [
        ("acme+writer", ["pull", "push"]), ("acme+writer", ["pull"]), ("acme+teamed", ["pull", "push"]),
        ("acme+namespace_admin", ["pull", "push"]), ("acme+plain", []), "refused", "refused", "refused", "refused",
        ("other+bot", ["pull"]), ("other+bot", ["pull"]), "refused",
    ]
    assert len(sent) == 2, "\n".join(sent)  # the redemptions and the roles, for all twelve
    assert trips == [2]
    sent.clear()
    again = store.run_batch([issue(refresh_tokens[robot], repository) for robot, repository in asked])
    assert again == outcomes
    assert len(sent) > 12


def test_a_regenerate_committed_before_the_batch_refuses_its_refresh_tokens(store, principals, refresh_tokens):
    token = refresh_tokens["acme+writer"]
    store.regenerate_secret("acme+writer")

    def redeem():
        try:
            return store.redeem_refresh_token(token).username
        except InvalidCredentials:
            return "refused"

    assert store.run_batch([redeem], [AccessReads(None, ("acme/app",), refresh_token=token)]) == [(True, "refused")]
