"""Seeding the benchmark's database directly with SQL, in bulk.

Creating 100,000 robots through the API would run 100,000 bcrypt hashes (about 7 hours at
cost 12). Instead one hash is computed per kind of robot and shared:

- the *warm* robots (``ns+warm00`` ...) share one secret and its hash; each has write on
  namespace ``ns``. The verified-credential cache is keyed by name and secret together, so
  they are distinct cache entries;
- the *cold* robots (``ns+cold0000`` ...) share another; each is used for one token request
  only, so every one of those requests is a full bcrypt check at the configured cost (a check
  costs the same whatever the hash's value);
- the *filler* robots (``orgNNNN+botNNN``) share a hash of a secret nobody presents; they are
  there to make the tables big, each with grants on repositories of its namespace.

The schema is regauth's own (``regauth init`` created it); rows are inserted as the store
would write them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tokenstore import hashing

WARM_NAMESPACE = "ns"
WARM_REPOSITORY = "app"
FILLER_ROBOTS_PER_NAMESPACE = 100
FILLER_REPOSITORIES_PER_NAMESPACE = 16


@dataclass(frozen=True)
class Credentials:
    """Robot names and the one secret they share."""

    names: tuple[str, ...]
    secret: str = field(repr=False)


@dataclass
class Seeded:
    warm: Credentials
    cold: Credentials
    robots: int = 0
    permissions: int = 0


def seed_base(database: Path, *, bcrypt_cost: int, warm_robots: int, cold_robots: int, total_robots: int,
              filler_permissions: int) -> Seeded:
    """Create namespace ``ns`` (repository ``ns/app``), the warm and cold robots, and filler
    robots up to ``total_robots``; returns their credentials and the table sizes."""
    warm_secret, cold_secret = hashing.generate_secret(), hashing.generate_secret()
    warm_hash = hashing.hash_secret(warm_secret, bcrypt_cost)
    cold_hash = hashing.hash_secret(cold_secret, bcrypt_cost)
    now = time.time()
    conn = sqlite3.connect(database, timeout=30)
    try:
        with conn:
            ns_id = conn.execute(
                "INSERT INTO namespaces (name, kind, created) VALUES (?, 'organization', ?)", [WARM_NAMESPACE, now]
            ).lastrowid
            conn.execute(
                "INSERT INTO repositories (namespace_id, name, visibility, created) VALUES (?, ?, 'private', ?)",
                [ns_id, WARM_REPOSITORY, now],
            )
            warm = tuple(f"{WARM_NAMESPACE}+warm{i:02d}" for i in range(warm_robots))
            cold = tuple(f"{WARM_NAMESPACE}+cold{i:04d}" for i in range(cold_robots))
            for names, hashed, secret in ((warm, warm_hash, warm_secret), (cold, cold_hash, cold_secret)):
                for name in names:
                    robot_id = conn.execute(
                        "INSERT INTO robots (namespace_id, shortname, created) VALUES (?, ?, ?)",
                        [ns_id, name.partition("+")[2], now],
                    ).lastrowid
                    conn.execute(
                        "INSERT INTO robot_secrets (robot_id, hash, selector, created) VALUES (?, ?, ?, ?)",
                        [robot_id, hashed, hashing.selector(secret), now],
                    )
                    conn.execute(
                        "INSERT INTO permissions (robot_id, namespace_id, repository_id, role, created)"
                        " VALUES (?, ?, NULL, 'write', ?)",
                        [robot_id, ns_id, now],
                    )
        seeded = Seeded(Credentials(warm, warm_secret), Credentials(cold, cold_secret))
        add_fillers(conn, total_robots=total_robots, total_permissions=filler_permissions, bcrypt_cost=bcrypt_cost)
        checkpoint(conn)
        seeded.robots, seeded.permissions = counts(conn)
        return seeded
    finally:
        conn.close()


def grow(database: Path, *, total_robots: int, total_permissions: int, bcrypt_cost: int) -> tuple[int, int]:
    """Add filler robots and grants until the tables hold ``total_robots`` robots and
    ``total_permissions`` grants; returns the new (robots, permissions) counts."""
    conn = sqlite3.connect(database, timeout=30)
    try:
        add_fillers(conn, total_robots=total_robots, total_permissions=total_permissions, bcrypt_cost=bcrypt_cost)
        checkpoint(conn)
        return counts(conn)
    finally:
        conn.close()


def checkpoint(conn: sqlite3.Connection) -> None:
    """Move the bulk insert out of the WAL into the database file, as a database that has been
    in use for a while would be: otherwise the server's first commit would pay for it."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    (robots,) = conn.execute("SELECT count(*) FROM robots").fetchone()
    (permissions,) = conn.execute("SELECT count(*) FROM permissions").fetchone()
    return robots, permissions


@dataclass(frozen=True)
class FillerPlan:
    """Where new filler rows start (the next free id of each table) and how many to add."""

    first_namespace: int
    first_repository: int
    first_robot: int
    first_secret: int
    robots: int
    permissions: int

    @property
    def namespaces(self) -> int:
        return -(-self.robots // FILLER_ROBOTS_PER_NAMESPACE)


def plan_fillers(*, robots: int, permissions: int, total_robots: int, total_permissions: int,
                 next_ids: tuple[int, int, int, int]) -> FillerPlan | None:
    """Return the filler rows needed to grow tables holding ``robots`` robots and
    ``permissions`` grants to the totals, starting at ``next_ids`` (namespace, repository,
    robot, secret), or None when there are robots enough. Raises ValueError when the grants
    would not fit the repositories of each filler robot's namespace."""
    new_robots = total_robots - robots
    if new_robots <= 0:
        return None
    plan = FillerPlan(*next_ids, robots=new_robots, permissions=max(0, total_permissions - permissions))
    per_robot, extra = divmod(plan.permissions, new_robots)
    if per_robot + (1 if extra else 0) > FILLER_REPOSITORIES_PER_NAMESPACE:
        raise ValueError("too many grants per filler robot for the repositories of its namespace")
    return plan


def filler_rows(plan: FillerPlan, hashed: str, now: float) -> list[tuple[str, tuple[str, ...], Iterator[tuple]]]:
    """Return, per table in the order to insert them, (table, columns, rows) of the filler
    namespaces, repositories, robots, secrets and grants ``plan`` asks for; the rows are
    generated as they are read."""
    first_ns, first_repo, first_robot = plan.first_namespace, plan.first_repository, plan.first_robot
    per_robot, extra = divmod(plan.permissions, plan.robots)

    def grants():
        for i in range(plan.robots):
            ns_index = i // FILLER_ROBOTS_PER_NAMESPACE
            for g in range(per_robot + (1 if i < extra else 0)):
                # Rotate the starting repository so grants spread over all of them.
                repo = (i + g) % FILLER_REPOSITORIES_PER_NAMESPACE
                yield (first_robot + i, first_ns + ns_index,
                       first_repo + ns_index * FILLER_REPOSITORIES_PER_NAMESPACE + repo,
                       ("read", "write", "admin")[(i + g) % 3], now)

    return [
        ("namespaces", ("id", "name", "kind", "created"),
         ((first_ns + n, f"org{first_ns + n:06d}", "organization", now) for n in range(plan.namespaces))),
        ("repositories", ("id", "namespace_id", "name", "visibility", "created"),
         ((first_repo + n * FILLER_REPOSITORIES_PER_NAMESPACE + r, first_ns + n, f"repo{r:02d}", "private", now)
          for n in range(plan.namespaces) for r in range(FILLER_REPOSITORIES_PER_NAMESPACE))),
        ("robots", ("id", "namespace_id", "shortname", "created"),
         ((first_robot + i, first_ns + i // FILLER_ROBOTS_PER_NAMESPACE,
           f"bot{i % FILLER_ROBOTS_PER_NAMESPACE:03d}", now) for i in range(plan.robots))),
        ("robot_secrets", ("id", "robot_id", "hash", "created"),
         ((plan.first_secret + i, first_robot + i, hashed, now) for i in range(plan.robots))),
        ("permissions", ("robot_id", "namespace_id", "repository_id", "role", "created"), grants()),
    ]


def add_fillers(conn: sqlite3.Connection, *, total_robots: int, total_permissions: int, bcrypt_cost: int) -> None:
    """Insert filler namespaces, repositories, robots, secrets and grants in bulk."""
    robots, permissions = counts(conn)
    next_ids = tuple(
        conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]
        for table in ("namespaces", "repositories", "robots", "robot_secrets")
    )
    plan = plan_fillers(robots=robots, permissions=permissions, total_robots=total_robots,
                        total_permissions=total_permissions, next_ids=next_ids)
    if plan is None:
        return
    hashed = hashing.hash_secret(hashing.generate_secret(), bcrypt_cost)
    with conn:
        for table, columns, rows in filler_rows(plan, hashed, time.time()):
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
            )
