"""A writer batch on PostgreSQL costs a token request its reads alone: a job gets a savepoint
only once it writes, its rows for the commit go in one pipeline, and a job that fails is
undone alone whatever it did."""

import psycopg
import pytest

from tokenstore import StoreBusy
from tokenstore.postgres.connection import PostgresDatabase

pytestmark = pytest.mark.usefixtures("postgres_url")


@pytest.fixture
def db(postgres_url):
    opened = PostgresDatabase(postgres_url)
    opened.execute("INSERT INTO namespaces (name, kind, created) VALUES ('acme', 'organization', 1)")
    yield opened
    opened.close()


@pytest.fixture
def sent(db, monkeypatch) -> list[str]:
    """Every statement without parameters the connection sends (BEGIN, savepoints, COMMIT)."""
    plain: list[str] = []
    run_plain = db._run_plain
    monkeypatch.setattr(db, "_run_plain", lambda query: (plain.append(query), run_plain(query))[1])
    return plain


def audit_row(db, performer: str) -> None:
    db.execute_at_commit(
        "INSERT INTO audit_log (namespace_id, kind, performer, performer_kind, metadata, created)"
        " SELECT id, 'issue_token', ?, 'robot', '{}', 1 FROM namespaces WHERE name = 'acme'",
        [performer],
    )


def performers(db) -> list[str]:
    return [row[0] for row in db.execute("SELECT performer FROM audit_log ORDER BY id").fetchall()]


def namespace_id(db) -> int:
    return db.execute("SELECT id FROM namespaces WHERE name = 'acme'").fetchone()[0]


def test_jobs_that_only_read_and_log_need_no_savepoint(db, sent):
    def token(who):
        def job():
            found = namespace_id(db)
            audit_row(db, who)
            return found
        return job

    outcomes = db.run_batch([token("a"), token("b"), token("c")])
    assert [ok for ok, _ in outcomes] == [True] * 3
    assert not [query for query in sent if "SAVEPOINT" in query], sent
    assert sent == []  # BEGIN and the lock go with the first read, COMMIT with the rows
    assert performers(db) == ["a", "b", "c"]


def test_a_job_that_fails_after_logging_leaves_no_row(db):
    def refused():
        audit_row(db, "refused")
        raise ValueError("refused")

    outcomes = db.run_batch([lambda: audit_row(db, "before"), refused, lambda: audit_row(db, "after")])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert isinstance(outcomes[1][1], ValueError)
    assert performers(db) == ["before", "after"]


def test_a_job_that_wrote_and_failed_is_undone_alone(db, sent):
    def wrote_then_failed():
        db.execute("UPDATE namespaces SET created = 99 WHERE name = 'acme'")
        raise ValueError("after the write")

    def reads():
        return db.execute("SELECT created FROM namespaces WHERE name = 'acme'").fetchone()[0]

    outcomes = db.run_batch([wrote_then_failed, reads])
    assert outcomes[0][0] is False and outcomes[1] == (True, 1)
    assert any(query.startswith("SAVEPOINT") for query in sent)
    assert reads() == 1


def test_a_failed_read_without_a_savepoint_fails_its_job_and_the_others_run_again(db):
    runs = {"before": 0, "after": 0}

    def counted(who):
        def job():
            runs[who] += 1
            audit_row(db, who)
            return who
        return job

    def bad_read():
        db.execute("SELECT 1 / (id - id) FROM namespaces")

    outcomes = db.run_batch([counted("before"), bad_read, counted("after")])
    assert outcomes[0] == (True, "before") and outcomes[2] == (True, "after")
    assert outcomes[1][0] is False and isinstance(outcomes[1][1], psycopg.errors.DivisionByZero)
    assert runs == {"before": 2, "after": 1}  # "before" again, in the new transaction
    assert performers(db) == ["before", "after"]  # once each


def test_a_row_that_cannot_be_written_at_commit_fails_the_whole_batch(db):
    def bad_row():
        db.execute_at_commit("INSERT INTO audit_log (namespace_id) VALUES (-1)")

    outcomes = db.run_batch([lambda: audit_row(db, "a"), bad_row])
    assert [ok for ok, _ in outcomes] == [False, False]
    assert performers(db) == []


def test_outside_a_batch_a_row_for_the_commit_is_written_at_once(db):
    audit_row(db, "alone")
    with db.atomic():
        audit_row(db, "in a transaction")
        assert performers(db) == ["alone", "in a transaction"]


def test_a_batch_is_committed_for_every_other_connection_to_see(db, postgres_url):
    outcomes = db.run_batch([lambda: audit_row(db, "a"), lambda: audit_row(db, "b")])
    assert [ok for ok, _ in outcomes] == [True, True]
    assert not db.in_transaction
    other = PostgresDatabase(postgres_url)
    try:
        assert performers(other) == ["a", "b"]
        assert other.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'").fetchone()[0] == 0
    finally:
        other.close()


def test_a_batch_that_sends_no_statement_begins_no_transaction(db, sent):
    assert db.run_batch([lambda: "nothing to read", lambda: 2]) == [(True, "nothing to read"), (True, 2)]
    assert sent == []
    assert not db.in_transaction


def test_rows_alone_go_in_one_round_trip_with_begin_lock_and_commit(db, sent, monkeypatch):
    outcomes = db.run_batch([lambda: audit_row(db, "a"), lambda: audit_row(db, "b")])
    assert [ok for ok, _ in outcomes] == [True, True]
    assert sent == []  # BEGIN, the lock, the rows and COMMIT in the commit's pipeline
    assert performers(db) == ["a", "b"]


def test_reads_together_take_the_lock_in_their_round_trip(db, postgres_url):
    """The batch's BEGIN and lock go with its first reads: a change holding the lock makes
    them wait, and a lock not granted in time fails the batch, its connection usable after."""
    impatient = PostgresDatabase(postgres_url, lock_timeout=0.2)
    holder = PostgresDatabase(postgres_url)
    try:
        with holder.atomic():  # a delete, a regenerate: the write lock held exclusively
            outcomes = impatient.run_batch(
                [lambda: impatient.recall("k")],
                read_ahead=lambda: impatient.remember("k", impatient.read_together([("SELECT 1", [])])[0]),
            )
        assert [ok for ok, _ in outcomes] == [False]
        assert isinstance(outcomes[0][1], StoreBusy)
        outcomes = impatient.run_batch(
            [lambda: impatient.recall("k")],
            read_ahead=lambda: impatient.remember("k", impatient.read_together([("SELECT ?", [7])])[0]),
        )
        assert outcomes == [(True, [(7,)])]
        assert not impatient.in_transaction
    finally:
        impatient.close()
        holder.close()


def test_a_connection_found_dead_at_the_batchs_first_trip_is_replaced(db, postgres_url):
    """PostgreSQL restarted since the connection's last use: nothing was sent yet, so the
    first round trip of the batch runs again on a new connection."""
    pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    killer = PostgresDatabase(postgres_url)
    try:
        killer.execute("SELECT pg_terminate_backend(?)", [pid])
    finally:
        killer.close()
    outcomes = db.run_batch(
        [lambda: db.recall("k")],
        read_ahead=lambda: db.remember("k", db.read_together([("SELECT count(*) FROM namespaces", [])])[0]),
    )
    assert outcomes == [(True, [(1,)])]
    assert db.execute("SELECT pg_backend_pid()").fetchone()[0] != pid


def test_a_jobs_first_statement_carries_the_batchs_begin_and_lock(db, sent, postgres_url):
    """Without reads ahead, the batch's BEGIN and lock go in its first statement's round
    trip: the statement runs under the lock, and a change holding the lock waits for it."""
    holder = PostgresDatabase(postgres_url, lock_timeout=0.2)
    try:
        def job():
            found = namespace_id(db)
            with pytest.raises(StoreBusy):
                with holder.atomic():  # a change: waits for the batch's shared lock, here in vain
                    pass
            return found

        outcomes = db.run_batch([job])
        assert outcomes[0][0] is True, outcomes
        assert sent == []
    finally:
        holder.close()
