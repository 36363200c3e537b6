"""Seeding the benchmark's PostgreSQL databases in bulk, with COPY.

A database is first made a row-for-row copy of the benchmark's SQLite database (the same
robots, secrets, hashes and grants, so that both stores answer the same requests), then grown
with the filler rows of ``seed.filler_rows`` (one bcrypt hash shared by every filler robot).
Both end with VACUUM ANALYZE, as autovacuum would have left a database in use: planner
statistics and the visibility map that index-only scans rely on.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg

from tokenstore import hashing
from tokenstore.postgres.connection import initialise
from tokenstore.postgres.schema import TABLES, reset_identities

from . import seed


def copy_sqlite(sqlite_path: Path, url: str) -> tuple[int, int]:
    """Make the database at ``url`` hold exactly the rows of the SQLite database at
    ``sqlite_path``: apply regauth's migrations, empty every table, COPY each in; returns
    (robots, permissions). Raises what psycopg and sqlite3 raise."""
    initialise(url)
    source = sqlite3.connect(sqlite_path, timeout=30)
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            with conn.cursor() as cur:
                cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
                for table in TABLES:
                    columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                    _copy(cur, table, columns, source.execute(f"SELECT {', '.join(columns)} FROM {table}"))
            conn.commit()
            reset_identities(conn)
        settle(url)
        return seed.counts(source)
    finally:
        source.close()


def grow(url: str, *, total_robots: int, total_permissions: int, bcrypt_cost: int) -> tuple[int, int]:
    """Add filler robots and grants to the database at ``url`` until it holds
    ``total_robots`` robots and ``total_permissions`` grants, in one transaction of COPYs;
    returns the new (robots, permissions)."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        robots, permissions = counts(conn)
        next_ids = tuple(
            conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]
            for table in ("namespaces", "repositories", "robots", "robot_secrets")
        )
        plan = seed.plan_fillers(robots=robots, permissions=permissions, total_robots=total_robots,
                                 total_permissions=total_permissions, next_ids=next_ids)
        if plan is not None:
            hashed = hashing.hash_secret(hashing.generate_secret(), bcrypt_cost)
            with conn.cursor() as cur:
                for table, columns, rows in seed.filler_rows(plan, hashed, time.time()):
                    _copy(cur, table, columns, rows)
            conn.commit()
            reset_identities(conn)
    settle(url)
    with psycopg.connect(url, connect_timeout=5) as conn:
        return counts(conn)


def settle(url: str) -> None:
    """VACUUM ANALYZE every table (outside a transaction, as VACUUM must run)."""
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def counts(conn: psycopg.Connection) -> tuple[int, int]:
    """Return (robots, permissions) of the database ``conn`` is on."""
    (robots,) = conn.execute("SELECT count(*) FROM robots").fetchone()
    (permissions,) = conn.execute("SELECT count(*) FROM permissions").fetchone()
    return robots, permissions


def _copy(cur: psycopg.Cursor, table: str, columns, rows) -> None:
    """COPY ``rows`` (tuples in the order of ``columns``) into ``table``."""
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
