"""The PostgreSQL backend's foundations against a real server: migrations, parity of the
schema with SQLite's, the connection (placeholders, transactions, the write lock, batches)
and what its errors become, including a server stopped, killed and started again."""

import sqlite3
import threading
import time

import psycopg
import pytest

from tests.disks import mounted
from tests.postgres_server import (  # noqa: F401 - fixtures
    FreshDatabases,
    PostgresServer,
    PostgresServerError,
)
from tokenstore.sqlite.database import initialise as initialise_sqlite
from tokenstore.errors import DuplicateRow, StoreBusy, StoreUnavailable
from tokenstore.postgres import errors as pg_errors
from tokenstore.postgres.connection import (
    BRIEF_LOCK_WAIT,
    PostgresDatabase,
    ThreadLocalConnections,
    initialise,
    translate,
)
from tokenstore.postgres.schema import (
    MIGRATIONS,
    SCRATCH_TABLES,
    TABLES,
    WRITE_LOCK_KEY,
    apply_migrations,
    reset_identities,
)

JOIN_TIMEOUT = 30


@pytest.fixture
def db(postgres_url):
    database = PostgresDatabase(postgres_url)
    yield database
    database.close()


OTHER_LOCK_TIMEOUT = 0.2


@pytest.fixture
def other(postgres_url):
    """A second connection to the same database, with a short lock wait."""
    database = PostgresDatabase(postgres_url, lock_timeout=OTHER_LOCK_TIMEOUT)
    yield database
    database.close()


@pytest.fixture
def new_database(postgres_server, request):
    """The URL of a new database with no tables (not even the migrations table)."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    postgres_server.drop_database(name)
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def own_server():
    """A server of its own for the tests that stop, kill or fill it."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def own_url(own_server, request):
    """A new migrated database on ``own_server`` (started again if a test left it down)."""
    own_server.start()
    name = "f_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    own_server.drop_database(name)
    url = own_server.create_database(name)
    initialise(url)
    return url


def add_namespace(db, name: str, created: float = 1.0) -> int:
    return db.execute(
        "INSERT INTO namespaces (name, kind, created) VALUES (?, 'user', ?) RETURNING id", [name, created]
    ).fetchone()[0]


def names(db) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM namespaces ORDER BY id")]


def run_threads(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a thread did not finish in time"


# --- migrations -------------------------------------------------------------------------


def test_migrations_apply_once(new_database):
    assert initialise(new_database) == [name for name, _ in MIGRATIONS]
    assert initialise(new_database) == []
    with psycopg.connect(new_database) as conn:
        applied = [name for (name,) in conn.execute("SELECT name FROM regauth_migrations ORDER BY name")]
        assert applied == [name for name, _ in MIGRATIONS]


def test_migrations_started_at_once_apply_once(new_database):
    """Processes starting together: each migration is applied by exactly one of them."""
    start = threading.Barrier(6)
    applied, failures = [], []

    def migrate():
        with psycopg.connect(new_database, autocommit=True) as conn:
            start.wait(JOIN_TIMEOUT)
            try:
                applied.append(apply_migrations(conn))
            except Exception as exc:  # collected: an assertion in a thread would be lost
                failures.append(exc)

    run_threads(*[migrate] * 6)
    assert failures == []
    assert sorted(applied) == [[]] * 5 + [[name for name, _ in MIGRATIONS]]


def sqlite_columns(conn: sqlite3.Connection, table: str) -> list[tuple]:
    types = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text", "BLOB": "bytea"}
    return [
        (name, types[kind], bool(notnull or pk), default)
        for _, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")
    ]


def postgres_columns(conn: psycopg.Connection, table: str) -> list[tuple]:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'NO', column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [(name, kind, notnull, default and default.split("::")[0]) for name, kind, notnull, default in rows]


def test_tables_and_columns_match_sqlite(tmp_path, postgres_url):
    """Every table with the same columns in the same order, types mapped, the same NOT
    NULLs and defaults: the schemas can never drift apart silently."""
    initialise_sqlite(tmp_path / "regauth.db")
    lite = sqlite3.connect(tmp_path / "regauth.db")
    lite_tables = {
        name for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith(("sqlite_", "_sqlite"))
    }
    assert lite_tables == set(TABLES) | set(SCRATCH_TABLES)
    with psycopg.connect(postgres_url) as pg:
        pg_tables = {
            name for (name,) in pg.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }
        assert pg_tables == set(TABLES) | set(SCRATCH_TABLES) | {"regauth_migrations"}
        for table in TABLES + SCRATCH_TABLES:
            assert postgres_columns(pg, table) == sqlite_columns(lite, table), table
    lite.close()


def sqlite_indexes(conn: sqlite3.Connection) -> set[tuple]:
    found = set()
    for table in TABLES:
        for _, name, unique, _, partial in conn.execute(f"PRAGMA index_list({table})"):
            columns = tuple(column for _, _, column in conn.execute(f"PRAGMA index_info({name})"))
            found.add((None if name.startswith("sqlite_autoindex") else name, table, columns, bool(unique), bool(partial)))
    return found


def postgres_indexes(conn: psycopg.Connection) -> set[tuple]:
    rows = conn.execute(
        """SELECT i.relname, t.relname, ix.indisunique, ix.indpred IS NOT NULL, ix.indisprimary,
               array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n),
               EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)
           FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
           WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)""",
        [list(TABLES)],
    )
    found = set()
    for name, table, unique, partial, primary, columns, constraint in rows:
        if primary and columns == ["id"]:
            continue  # SQLite's INTEGER PRIMARY KEY is the rowid, no index
        found.add((None if constraint else name, table, tuple(columns), unique, partial))
    return found


def test_indexes_match_sqlite(tmp_path, postgres_url):
    """The same indexes, named alike, on the same columns, unique and partial alike."""
    initialise_sqlite(tmp_path / "regauth.db")
    lite = sqlite3.connect(tmp_path / "regauth.db")
    with psycopg.connect(postgres_url) as pg:
        assert postgres_indexes(pg) == sqlite_indexes(lite)
    lite.close()


def test_foreign_keys_match_sqlite_and_tables_list_parents_first(tmp_path, postgres_url):
    initialise_sqlite(tmp_path / "regauth.db")
    lite = sqlite3.connect(tmp_path / "regauth.db")
    actions = {"NO ACTION": "a", "CASCADE": "c"}
    lite_keys = {
        (table, source, parent, target, actions[on_delete])
        for table in TABLES
        for _, _, parent, source, target, _, on_delete, _ in lite.execute(f"PRAGMA foreign_key_list({table})")
    }
    lite.close()
    with psycopg.connect(postgres_url) as pg:
        pg_keys = set(pg.execute(
            """SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, p.attname, c.confdeltype
               FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = c.confkey[1]
               WHERE c.contype = 'f'"""
        ).fetchall())
    assert pg_keys == lite_keys
    for child, _, parent, _, _ in pg_keys:
        assert TABLES.index(parent) < TABLES.index(child), (parent, child)


def test_checks_hold(db):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO namespaces (name, kind, created) VALUES ('x', 'team', 1)")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute("INSERT INTO robots (namespace_id, shortname, created) VALUES (999, 'r', 1)")
    checked = db.execute(
        "SELECT conrelid::regclass::text, a.attname FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)"
        " WHERE c.contype = 'c' AND c.connamespace = current_schema()::regnamespace"
    ).fetchall()
    assert sorted(checked) == [
        ("namespaces", "kind"), ("org_members", "role"), ("permissions", "role"),
        ("prototypes", "activating_robot_id"), ("prototypes", "activating_user_id"),
        ("prototypes", "delegate_robot_id"), ("prototypes", "delegate_team_id"), ("prototypes", "role"),
        ("repositories", "visibility"),
        ("team_members", "robot_id"), ("team_members", "user_id"), ("team_permissions", "role"), ("teams", "role"),
    ]


def test_explicit_ids_then_reset_identities(db, postgres_url):
    db.execute("INSERT INTO namespaces (id, name, kind, created) VALUES (41, 'copied', 'user', 1)")
    with psycopg.connect(postgres_url) as conn:
        reset_identities(conn)
    assert add_namespace(db, "next") == 42
    assert add_namespace(db, "after") == 43
    db.execute("INSERT INTO registry_events_seen (event_id, received) VALUES ('e', 1)")  # keyed by text


def test_reset_identities_on_empty_tables_starts_at_one(db, postgres_url):
    add_namespace(db, "gone")
    db.execute("DELETE FROM namespaces")
    with psycopg.connect(postgres_url) as conn:
        reset_identities(conn)
    assert add_namespace(db, "first") == 1


# --- statements ---------------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT ?", "SELECT %s"),
    ("SELECT '100%' || ?", "SELECT '100%%' || %s"),
    ("SELECT 'why?', \"odd?name\" FROM t WHERE a = ? -- ok?\n AND b LIKE '%x'", "SELECT 'why?', \"odd?name\" FROM t WHERE a = %s -- ok?\n AND b LIKE '%%x'"),
    ("SELECT 'it''s ?', ? /* a ? here */", "SELECT 'it''s ?', %s /* a ? here */"),
    ("SELECT a % 2 FROM t", "SELECT a %% 2 FROM t"),
])
def test_translate_placeholders(sql, expected):
    assert translate(sql)[0] == expected


@pytest.mark.parametrize(("sql", "writes"), [
    ("SELECT 1", False),
    ("  insert INTO t VALUES (1)", True),
    ("UPDATE t SET a = 1", True),
    ("-- note\nDELETE FROM t", True),
    ("WITH x AS (SELECT 1) SELECT * FROM x", False),
    ("WITH x AS (DELETE FROM t RETURNING id) SELECT count(*) FROM x", True),
    ("SELECT 'UPDATE' FROM t", False),
])
def test_translate_knows_writes(sql, writes):
    assert translate(sql)[1] is writes


def test_percent_and_question_marks_in_literals_reach_the_server_intact(db):
    row = db.execute("SELECT '100%', 'why?', ? || '%', 'abc' LIKE ?, 7 % 4", ["50", "a%"]).fetchone()
    assert row == ("100%", "why?", "50%", True, 3)
    assert db.execute("SELECT 'only %'").fetchone() == ("only %",)


def test_parameters_are_bound_on_the_server_with_a_cast_where_no_type_follows(db):
    """Server-side binding: a parameter whose type nothing in the statement tells needs a
    CAST (which SQLite takes too); elsewhere PostgreSQL infers it from the column."""
    with pytest.raises(psycopg.errors.IndeterminateDatatype):
        db.execute("SELECT ? IS NULL", [None])
    assert db.execute("SELECT CAST(? AS BIGINT) IS NULL, CAST(? AS TEXT) IS NULL", [None, "x"]).fetchone() == (
        True, False)
    add_namespace(db, "a", created=5.0)
    query = "SELECT name FROM namespaces WHERE (CAST(? AS DOUBLE PRECISION) IS NULL OR created > ?)"
    assert db.execute(query, [None, None]).fetchall() == [("a",)]
    assert db.execute(query, [4.5, 4.5]).fetchall() == [("a",)]
    assert db.execute(query, [5.5, 5.5]).fetchall() == []


def test_a_statement_run_again_and_again_is_prepared_on_the_server(db):
    """The token path's statements run on every request: after a few runs each is prepared,
    so PostgreSQL plans it once per connection, not once per request."""
    add_namespace(db, "a", created=5.0)
    query = "SELECT id FROM namespaces WHERE name = ? AND deleted_at IS NULL"
    for _ in range(10):
        assert db.execute(query, ["a"]).fetchone() is not None
    prepared = db.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert any("FROM namespaces WHERE name = $1" in statement for statement, in prepared), prepared


def test_values_come_back_as_sqlite_gives_them(db):
    """Bools are stored as 1 and 0, floats exactly, sums of integers as ints."""
    namespace_id = add_namespace(db, "u", created=1_800_000_000.123456)
    db.execute(
        "INSERT INTO users (username, namespace_id, password_hash, superuser, created) VALUES (?, ?, 'h', ?, ?)",
        ["u", namespace_id, True, 0.1],
    )
    assert db.execute("SELECT superuser, created FROM users").fetchone() == (1, 0.1)
    assert db.execute("SELECT created FROM namespaces").fetchone() == (1_800_000_000.123456,)
    add_namespace(db, "v")
    assert db.execute("SELECT sum(id), count(*), avg(id) FROM namespaces").fetchone() == (3, 2, 1.5)
    cursor = db.execute("SELECT name FROM namespaces ORDER BY id")
    assert [row for row in cursor] == [("u",), ("v",)]
    assert db.execute("UPDATE namespaces SET deleted_at = 1").rowcount == 2


# --- errors ---------------------------------------------------------------------------------


def test_unique_violation_is_a_duplicate_row_without_the_values(db):
    add_namespace(db, "taken")
    with pytest.raises(DuplicateRow) as caught:
        add_namespace(db, "taken")
    assert "taken" not in str(caught.value)
    assert "namespaces_live_name" in str(caught.value)
    user = add_namespace(db, "owner")
    db.execute("INSERT INTO users (username, namespace_id, password_hash, created) VALUES ('o', ?, 'h', 1)", [user])
    db.execute("INSERT INTO ui_sessions (user_id, hash, created, expires_at, last_seen) VALUES (1, 'secret-digest', 1, 2, 1)")
    with pytest.raises(DuplicateRow) as caught:
        db.execute("INSERT INTO ui_sessions (user_id, hash, created, expires_at, last_seen) VALUES (1, 'secret-digest', 1, 2, 1)")
    assert "secret-digest" not in str(caught.value) and caught.value.__cause__ is None
    assert names(db) == ["taken", "owner"]  # the failed writes left nothing; the connection goes on


def test_a_write_waiting_for_the_lock_ends_busy(db, other):
    with db.atomic():
        started = time.monotonic()
        with pytest.raises(StoreBusy) as caught:
            # No row of this table is locked: only the write lock can hold it up.
            other.execute("INSERT INTO signin_failures (username, address, failed_at) VALUES ('u', 'a', 1)")
        assert 0.15 < time.monotonic() - started < 5
    assert caught.value.cause == pg_errors.BUSY_CAUSE
    other.execute("INSERT INTO signin_failures (username, address, failed_at) VALUES ('u', 'a', 1)")
    assert db.execute("SELECT count(*) FROM signin_failures").fetchone() == (1,)


def test_a_brief_lock_wait(db, postgres_url):
    patient = PostgresDatabase(postgres_url)  # the full 10 s lock timeout
    try:
        with db.atomic():
            started = time.monotonic()
            with pytest.raises(StoreBusy):
                with patient.atomic(lock_wait=BRIEF_LOCK_WAIT):
                    pytest.fail("the write lock was granted while held")
            assert time.monotonic() - started < 2
        with patient.atomic(lock_wait=BRIEF_LOCK_WAIT):
            patient.execute("INSERT INTO signin_failures (username, address, failed_at) VALUES ('u', 'a', 1)")
        # The brief wait was for that transaction only.
        assert patient.execute("SHOW lock_timeout").fetchone() == ("10s",)
    finally:
        patient.close()


def test_busy_and_unavailable_errors_from_a_real_server(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as holder, psycopg.connect(postgres_url) as conn:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE namespaces IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(psycopg.Error) as nowait:
            conn.execute("LOCK TABLE namespaces NOWAIT")
        conn.rollback()
        holder.execute("ROLLBACK")
        conn.execute("SET statement_timeout = 50")
        with pytest.raises(psycopg.Error) as statement_timeout:
            conn.execute("SELECT pg_sleep(2)")
        conn.rollback()
        conn.execute("SET TRANSACTION READ ONLY")
        with pytest.raises(psycopg.Error) as read_only:
            conn.execute("INSERT INTO signin_failures (username, address, failed_at) VALUES ('u', 'a', 1)")
    for exc in (nowait.value, statement_timeout.value):
        assert pg_errors.is_busy(exc)
        assert pg_errors.unavailable_cause(exc) == pg_errors.BUSY_CAUSE
    assert not pg_errors.is_busy(read_only.value)
    assert pg_errors.unavailable_cause(read_only.value) == "the database is read-only"


def test_a_read_only_database_is_unavailable(db, postgres_server, postgres_url):
    name = postgres_url.rsplit("/", 1)[1]
    postgres_server.admin_execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            db.execute("INSERT INTO signin_failures (username, address, failed_at) VALUES ('u', 'a', 1)")
    finally:
        postgres_server.admin_execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")
    assert caught.value.cause == "the database is read-only"
    assert not isinstance(caught.value, StoreBusy)


def test_too_many_connections(postgres_server, postgres_url):
    postgres_server.admin_execute("DROP ROLE IF EXISTS regauth_limited")
    postgres_server.admin_execute("CREATE ROLE regauth_limited LOGIN CONNECTION LIMIT 0")
    try:
        limited = PostgresDatabase(postgres_url.replace("postgres@", "regauth_limited@"))
        with pytest.raises(StoreUnavailable) as caught:
            limited.execute("SELECT 1")
    finally:
        postgres_server.admin_execute("DROP ROLE regauth_limited")
    assert caught.value.cause == "PostgreSQL has too many connections"


@pytest.mark.parametrize(("message", "cause"), [
    ("connection failed: FATAL:  the database system is starting up", "PostgreSQL is starting up"),
    ("connection failed: FATAL:  the database system is shutting down", "PostgreSQL is shutting down"),
    ("connection failed: FATAL:  sorry, too many clients already", "PostgreSQL has too many connections"),
    ("connection failed: Connection refused", "PostgreSQL cannot be reached"),
    ("consuming input failed: server closed the connection unexpectedly", "PostgreSQL cannot be reached"),
])
def test_connection_failures_are_named_by_their_words(message, cause):
    """libpq reports failures to connect as text without a SQLSTATE."""
    assert pg_errors.unavailable_cause(psycopg.OperationalError(message)) == cause


def test_a_statement_canceled_by_an_operator_is_not_busy():
    exc = psycopg.errors.QueryCanceled("canceling statement due to user request")
    assert not pg_errors.is_busy(exc)
    assert pg_errors.unavailable_cause(exc) == "PostgreSQL canceled the statement"


def test_bugs_are_not_unavailability(db):
    with pytest.raises(psycopg.errors.UndefinedTable) as caught:
        db.execute("SELECT * FROM no_such_table")
    assert pg_errors.unavailable_cause(caught.value) is None
    assert pg_errors.unavailable_cause(ValueError("x")) is None
    assert db.execute("SELECT 1").fetchone() == (1,)


def test_a_full_disk_is_unavailable(own_server, own_url):
    """A tablespace on a small disk filled up (53100)."""
    uid, gid = own_server.owner
    target = own_server.root / "small"
    options = f"size=1m,mode=0700,uid={uid},gid={gid}"
    with mounted(target, "-t", "tmpfs", "-o", options) as disk:
        db = PostgresDatabase(own_url)
        try:
            db.execute(f"CREATE TABLESPACE small LOCATION '{disk}'")
            db.execute("CREATE TABLE filler (data TEXT) TABLESPACE small")
            db.execute("ALTER TABLE filler ALTER COLUMN data SET STORAGE EXTERNAL")  # no compression
            with pytest.raises(StoreUnavailable) as caught:
                for _ in range(100):  # 64 KiB each: the 1 MiB disk is full long before
                    db.execute("INSERT INTO filler SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 2048)")
            assert caught.value.cause == "the database's disk is full"
            db.execute("DROP TABLE filler")
            db.execute("DROP TABLESPACE small")
        finally:
            db.close()


# --- a server stopped, killed, started again ------------------------------------------------


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_the_store_recovers_by_itself_when_the_server_is_back(own_server, own_url, how):
    db = PostgresDatabase(own_url)
    try:
        add_namespace(db, "before")
        getattr(own_server, how)()
        with pytest.raises(StoreUnavailable) as lost:
            db.execute("SELECT count(*) FROM namespaces")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as refused:
            add_namespace(db, "while-down")
        assert time.monotonic() - started < 4  # the connect timeout bounds it
        assert lost.value.cause in ("PostgreSQL is shutting down", "PostgreSQL cannot be reached")
        assert refused.value.cause == "PostgreSQL cannot be reached"
        own_server.start()
        add_namespace(db, "after")  # the same object, nothing reopened
        assert names(db) == ["before", "after"]
    finally:
        db.close()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_restart_between_two_statements_goes_unnoticed(own_server, own_url, how):
    """A connection that died while idle is replaced at once for a read or a new
    transaction: nothing had been sent on it."""
    db = PostgresDatabase(own_url)
    try:
        add_namespace(db, "before")
        getattr(own_server, how)()
        own_server.start()
        assert names(db) == ["before"]
        getattr(own_server, how)()
        own_server.start()
        add_namespace(db, "after")
        assert names(db) == ["before", "after"]
    finally:
        db.close()


def test_a_url_that_cannot_be_parsed_is_not_quoted():
    with pytest.raises(ValueError) as caught:
        PostgresDatabase("postgresql://user:hunter2@127.0.0.1:5432/db?sslmode").execute("SELECT 1")
    assert "hunter2" not in str(caught.value)


def test_a_connection_lost_inside_a_transaction(own_server, own_url):
    db = PostgresDatabase(own_url)
    try:
        with pytest.raises(StoreUnavailable), db.atomic():
            add_namespace(db, "lost")
            own_server.kill()
            with pytest.raises(StoreUnavailable):
                add_namespace(db, "during")
            own_server.start()
            # Never a silent reconnection halfway through a transaction.
            assert db.in_transaction
            add_namespace(db, "after-restart")
        assert not db.in_transaction
        assert names(db) == []
    finally:
        db.close()


def test_writers_under_load_ride_out_a_restart(own_server, own_url):
    """Four writers while PostgreSQL stops and comes back: each failure is a tokenstore
    error, never psycopg's, and every writer writes again once the server is back."""
    connections = ThreadLocalConnections(own_url, lock_timeout=2)
    stop_at = time.monotonic() + 10
    restarted = threading.Event()
    outcomes: dict[str, list] = {}

    def writer(name: str):
        seen = outcomes.setdefault(name, [])
        db = connections.get()
        for n in range(5000):
            if time.monotonic() > stop_at:
                break
            try:
                with db.atomic():
                    db.execute("INSERT INTO signin_failures (username, address, failed_at) VALUES (?, 'a', ?)", [name, n])
                seen.append("ok-after" if restarted.is_set() else "ok")
            except StoreUnavailable as exc:
                seen.append(type(exc).__name__)
                time.sleep(0.01)
            except Exception as exc:  # collected: the test fails on any other error
                seen.append(repr(exc))
            if restarted.is_set() and seen.count("ok-after") >= 20:
                break

    def operator():
        time.sleep(0.3)
        own_server.stop()
        time.sleep(0.3)
        own_server.start()
        restarted.set()

    try:
        run_threads(operator, *[lambda name=f"w{i}": writer(name) for i in range(4)])
    finally:
        connections.close_all()
    for name, seen in outcomes.items():
        assert set(seen) <= {"ok", "ok-after", "StoreUnavailable", "StoreBusy"}, (name, set(seen))
        assert "ok" in seen and "StoreUnavailable" in seen and seen.count("ok-after") >= 20, name


def test_thread_local_connections_recover(own_server, own_url):
    connections = ThreadLocalConnections(own_url)
    try:
        add_namespace(connections.get(), "one")
        own_server.stop()
        with pytest.raises(StoreUnavailable):
            names(connections.get())
        own_server.start()
        assert names(connections.get()) == ["one"]
    finally:
        connections.close_all()


def test_each_thread_has_its_own_connection(postgres_url):
    connections = ThreadLocalConnections(postgres_url)
    seen = []
    try:
        run_threads(*[lambda: seen.append(connections.get())] * 2)
        mine = connections.get()
        assert mine is connections.get()
        assert len({id(db) for db in seen + [mine]}) == 3
        assert mine.execute("SELECT 1").fetchone() == (1,)
    finally:
        connections.close_all()


# --- transactions ----------------------------------------------------------------------------


def test_atomic_commits_and_rolls_back(db):
    with db.atomic():
        assert db.in_transaction
        add_namespace(db, "kept")
    assert not db.in_transaction
    with pytest.raises(ZeroDivisionError), db.atomic():
        add_namespace(db, "undone")
        raise ZeroDivisionError
    assert not db.in_transaction
    assert names(db) == ["kept"]


def test_nested_atomic_blocks_are_savepoints(db):
    with db.atomic():
        add_namespace(db, "outer")
        with pytest.raises(DuplicateRow), db.atomic():
            add_namespace(db, "inner-undone")
            add_namespace(db, "outer")
        with db.atomic():
            add_namespace(db, "inner-kept")
            with pytest.raises(KeyError), db.atomic():
                add_namespace(db, "deepest-undone")
                raise KeyError("x")
        assert db.in_transaction
    assert names(db) == ["outer", "inner-kept"]


def test_a_failed_statement_spoils_its_transaction(db):
    """PostgreSQL aborts the transaction; committing it then would silently roll back."""
    with pytest.raises(RuntimeError, match="rolled back"), db.atomic():
        add_namespace(db, "a")
        with pytest.raises(DuplicateRow):
            add_namespace(db, "a")
    assert names(db) == []
    add_namespace(db, "b")
    assert names(db) == ["b"]


def test_write_transactions_are_serialized(postgres_url):
    """A read then a write in one transaction never overlaps another's: no lost update."""
    setup = PostgresDatabase(postgres_url)
    counter = add_namespace(setup, "counter", created=0)
    setup.close()
    failures = []

    def increment():
        db = PostgresDatabase(postgres_url)
        try:
            for _ in range(40):
                with db.atomic():
                    (value,) = db.execute("SELECT created FROM namespaces WHERE id = ?", [counter]).fetchone()
                    db.execute("UPDATE namespaces SET created = ? WHERE id = ?", [value + 1, counter])
        except Exception as exc:  # collected: an assertion in a thread would be lost
            failures.append(exc)
        finally:
            db.close()

    run_threads(increment, increment, increment)
    check = PostgresDatabase(postgres_url)
    assert failures == []
    assert check.execute("SELECT created FROM namespaces WHERE id = ?", [counter]).fetchone() == (120,)
    check.close()


def test_a_transaction_waits_for_the_one_before(db, postgres_url):
    entered = threading.Event()
    times = {}

    def second():
        waiting = PostgresDatabase(postgres_url)
        try:
            entered.wait(JOIN_TIMEOUT)
            with waiting.atomic():
                times["second"] = time.monotonic()
        finally:
            waiting.close()

    thread = threading.Thread(target=second)
    thread.start()
    with db.atomic():
        entered.set()
        time.sleep(0.3)
        times["first_done"] = time.monotonic()
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive()
    assert times["second"] >= times["first_done"]


# --- batches ------------------------------------------------------------------------------


def test_run_batch_rolls_back_a_failing_job_alone(db):
    def boom():
        add_namespace(db, "undone")
        raise ValueError("job failed")

    results = db.run_batch([
        lambda: add_namespace(db, "a"),
        lambda: add_namespace(db, "a"),
        boom,
        lambda: add_namespace(db, "b"),
    ])
    assert [ok for ok, _ in results] == [True, False, False, True]
    assert isinstance(results[1][1], DuplicateRow)
    assert isinstance(results[2][1], ValueError)
    assert results[0][1] == 1 and not db.in_transaction
    assert names(db) == ["a", "b"]
    assert db.run_batch([]) == []


def test_run_batch_when_the_lock_is_not_granted(db, other):
    """A batch takes the lock with its first statement: not granted, every job hears it at
    once, after one wait, even one whose own error handling catches everything."""
    ran = []

    def catches_everything():
        try:
            ran.append(other.execute("SELECT 2").fetchone())
        except Exception:  # noqa: BLE001 - what a careless job does
            ran.append("caught")

    with db.atomic():
        began = time.monotonic()
        results = other.run_batch([lambda: ran.append(other.execute("SELECT 1").fetchone()), catches_everything])
        waited = time.monotonic() - began
    assert ran == []
    assert [ok for ok, _ in results] == [False, False]
    assert all(isinstance(error, StoreBusy) for _, error in results)
    assert waited < 2 * OTHER_LOCK_TIMEOUT


def test_run_batch_when_the_connection_is_lost(own_server, own_url):
    db = PostgresDatabase(own_url)
    try:
        results = db.run_batch([
            lambda: add_namespace(db, "first"),
            own_server.kill,
            lambda: add_namespace(db, "third"),
        ])
        assert [ok for ok, _ in results] == [False, False, False]
        assert all(isinstance(error, StoreUnavailable) for _, error in results)
        own_server.start()
        assert names(db) == []
    finally:
        db.close()


# --- the test server --------------------------------------------------------------------------


def test_the_server_comes_back_on_its_port_with_its_data(own_server):
    own_server.start()
    port = own_server.port
    url = own_server.create_database("kept")
    own_server.stop()
    assert not own_server.running
    own_server.start()
    assert own_server.port == port
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("kept",)
    own_server.drop_database("kept")


def test_a_server_that_cannot_start_says_why():
    server = PostgresServer(settings={"max_connections": "many"})
    try:
        with pytest.raises(PostgresServerError, match="max_connections"):
            server.start()
        assert not server.running
    finally:
        server.close()
    assert not server.root.exists()


def test_fresh_databases_are_empty_and_count_from_one(postgres_server):
    fresh = FreshDatabases(postgres_server, name="regauth_fresh_test")
    try:
        for empty in (fresh.deleted, fresh.truncated, fresh.cloned):
            url = empty()
            db = PostgresDatabase(url)
            add_namespace(db, "left-behind")
            # A test that left a transaction open, holding the write lock.
            leaked = psycopg.connect(url, autocommit=True)
            leaked.execute("BEGIN")
            leaked.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
            db.close()
            db = PostgresDatabase(empty())
            try:
                assert names(db) == []
                assert add_namespace(db, "first") == 1
            finally:
                db.close()
                leaked.close()
    finally:
        fresh.close()
