"""Naming what made the database fail (``database_unavailable``), from real SQLite errors,
and noticing a database file removed or replaced while open."""

import logging
import os
import sqlite3

import pytest

from tests.conftest import FAST_BCRYPT_COST
from tests.disks import fill, small_disk
from tokenstore import Store
from tokenstore.sqlite.database import DatabaseReplaced, database_unavailable


def error_of(action) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        action()
    return caught.value


def make_database(path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (randomblob(50000))")
    conn.close()


@pytest.mark.parametrize("connected", [True, False], ids=["open-connection", "new-connection"])
def test_a_full_disk(tmp_path, connected):
    """A connection that was open writes nothing more (SQLITE_FULL); one opened on the full
    disk cannot even make its WAL index (SQLITE_IOERR_SHMSIZE): both are a full disk."""
    with small_disk(tmp_path / "disk") as disk:
        make_database(disk / "a.db")
        holder = sqlite3.connect(disk / "a.db") if connected else None
        if holder:
            holder.execute("SELECT count(*) FROM t").fetchone()
        conn = sqlite3.connect(disk / "a.db", isolation_level=None)
        try:
            fill(disk)
            exc = error_of(lambda: conn.execute("INSERT INTO t VALUES (randomblob(50000))"))
        finally:
            conn.close()
            if holder:
                holder.close()
    assert database_unavailable(exc) == "the database's disk is full"


def test_a_read_only_database(tmp_path):
    make_database(tmp_path / "a.db")
    holder = sqlite3.connect(tmp_path / "a.db")  # keeps the WAL index a read-only reader needs
    conn = sqlite3.connect(f"file:{tmp_path / 'a.db'}?mode=ro", uri=True)
    try:
        exc = error_of(lambda: conn.execute("INSERT INTO t VALUES (1)"))
    finally:
        conn.close()
        holder.close()
    assert database_unavailable(exc) == "the database is read-only"


def test_a_corrupt_file_and_a_file_that_is_no_database(tmp_path):
    make_database(tmp_path / "a.db")
    with open(tmp_path / "a.db", "r+b") as file:
        file.seek(4096)
        file.write(b"\x0d" + b"\xff" * 8191)  # the table's pages: garbage
    conn = sqlite3.connect(tmp_path / "a.db")
    try:
        corrupt = error_of(lambda: conn.execute("SELECT length(x) FROM t").fetchall())
    finally:
        conn.close()
    (tmp_path / "b.db").write_bytes(b"not a database at all" * 100)
    conn = sqlite3.connect(tmp_path / "b.db")
    try:
        not_a_database = error_of(lambda: conn.execute("SELECT * FROM sqlite_master").fetchall())
    finally:
        conn.close()
    assert database_unavailable(corrupt) == "the database file is corrupt"
    assert database_unavailable(not_a_database) == "the database file is not a database"


def test_a_lock_held_elsewhere(tmp_path):
    make_database(tmp_path / "a.db")
    holder = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(tmp_path / "a.db", timeout=0, isolation_level=None)
    try:
        exc = error_of(lambda: conn.execute("BEGIN IMMEDIATE"))
    finally:
        conn.close()
        holder.execute("ROLLBACK")
        holder.close()
    assert database_unavailable(exc) == "the database is busy with another writer"


def test_other_errors_are_not_named(tmp_path):
    make_database(tmp_path / "a.db")
    conn = sqlite3.connect(tmp_path / "a.db")
    try:
        conn.execute("CREATE TABLE u (x UNIQUE)")
        conn.execute("INSERT INTO u VALUES (1)")
        duplicate = error_of(lambda: conn.execute("INSERT INTO u VALUES (1)"))
        bad_sql = error_of(lambda: conn.execute("SELECT nothing FROM nowhere"))
    finally:
        conn.close()
    assert database_unavailable(duplicate) is None
    assert database_unavailable(bad_sql) is None
    assert database_unavailable(RuntimeError("database or disk is full")) is None


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_a_removed_or_replaced_file_refuses_every_use_and_logs_an_error(tmp_path, how, caplog):
    store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    try:
        store.create_namespace("before")
        os.rename(store.path, tmp_path / "moved.db")
        if how == "replaced":
            Store(store.path, bcrypt_cost=FAST_BCRYPT_COST).close()  # a new, empty database at the path
        with pytest.raises(DatabaseReplaced) as caught:
            store.ping()
        with pytest.raises(DatabaseReplaced):
            store.create_namespace("after")  # never acknowledged into the moved file
        with pytest.raises(DatabaseReplaced):
            store.list_namespaces()
    finally:
        store.close()
    assert database_unavailable(caught.value) == "the database file was removed or replaced while the server ran"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(store.path) in errors[0].getMessage()


def test_a_write_checks_the_file_before_it_begins(tmp_path):
    """No health check ran in between: the write itself notices."""
    store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    try:
        store.create_namespace("ns")
        store.create_robot("ns+ci")
        os.unlink(store.path)
        with pytest.raises(DatabaseReplaced):
            store.regenerate_secret("ns+ci")  # a transaction (atomic)
    finally:
        store.close()
    assert not store.path.exists()  # and no empty database was made in its place
