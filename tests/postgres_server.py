"""A throwaway PostgreSQL server for the tests: Debian's server binaries, a cluster made with
initdb in a temporary directory, listening on a free port of 127.0.0.1 with settings that
trade durability for speed; and empty, migrated databases for each test.

As root the server runs as the ``postgres`` OS user (PostgreSQL refuses to run as root).
Import the ``postgres_server`` fixture into a conftest to share one server per session.
"""

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import psycopg
import pytest

from tokenstore.postgres.connection import initialise
from tokenstore.postgres.schema import TABLES

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
INITDB_TIMEOUT = 120.0
# Attempts at a first start, each on a new free port (another process may take the one
# found free before the server binds it).
PORT_ATTEMPTS = 3
# Settings for tests only: nothing here survives a power cut, which a test never needs. A
# commit still writes its WAL to the OS before it returns (synchronous_commit on: with fsync
# off that costs nothing measurable), so that kill() loses no acknowledged commit.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "max_connections": "400",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


class PostgresServerError(RuntimeError):
    """Raised when initdb fails or the server does not start or stop in time; the message
    ends with the tail of the server's output."""


def bin_dir() -> Path:
    """Return the directory of Debian's newest installed PostgreSQL server binaries
    (/usr/lib/postgresql/<version>/bin); raises PostgresServerError when there is none."""
    found = []
    for postgres in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        version = postgres.parent.parent.name
        if version.replace(".", "").isdigit():
            found.append((tuple(int(part) for part in version.split(".")), postgres.parent))
    if found:
        return max(found)[1]
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise PostgresServerError(
        "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run scripts/install-deps.sh"
    )


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 free at the time of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Servers made and not yet closed.
_open: "set[PostgresServer]" = set()


@atexit.register
def _close_leftovers() -> None:
    """Stop and remove the servers a test run left behind (one interrupted before its
    teardown)."""
    for server in list(_open):
        with contextlib.suppress(Exception):
            server.close()


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory made under ``base_dir`` (the system's
    temporary directory by default), started and stopped at will on the same port and data.

    ``start()`` the first time runs initdb; ``stop()`` shuts down fast; ``kill()`` SIGKILLs
    the postmaster as a crash would; ``start()`` again brings the same data back on the same
    port. ``close()`` stops it and removes the directory. A context manager too.
    """

    def __init__(self, base_dir: str | Path | None = None, settings: dict[str, str] | None = None):
        self.bin_dir = bin_dir()
        self.settings = {**SETTINGS, **(settings or {})}
        self.root = Path(tempfile.mkdtemp(prefix="regauth-pg-", dir=base_dir))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port: int | None = None
        self._process: subprocess.Popen | None = None
        self._admin: psycopg.Connection | None = None
        self._lock = threading.Lock()
        self._as_user: dict = {}
        self._started_once = False
        _open.add(self)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            self._as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            _check_reachable(self.root, account.pw_uid, account.pw_gid)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    # --- life cycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the postmaster runs."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> "PostgresServer":
        """Start the server (after initdb the first time) and wait until it accepts
        connections; returns self. Raises PostgresServerError, with the server's log tail,
        when it exits or does not answer within START_TIMEOUT."""
        if self.running:
            return self
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self._started_once:
            self._launch(self.port)
            return self
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._launch(free_port())
            except PostgresServerError as exc:
                if "could not bind" not in str(exc) or attempt == PORT_ATTEMPTS - 1:
                    raise
                continue
            self._started_once = True
            return self
        return self  # pragma: no cover - the loop returns or raises

    def stop(self) -> None:
        """Shut the server down fast (SIGINT: sessions end, the data is checkpointed) and
        wait for it; SIGKILL after STOP_TIMEOUT. Does nothing when it is not running."""
        self._close_admin()
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._process = None

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would, then the backends it leaves behind (they
        would live on until they notice), so that ``start()`` can follow at once and has to
        recover. Does nothing when it is not running."""
        self._close_admin()
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        for _ in range(int(STOP_TIMEOUT / 0.02)):
            left = self._leftover_processes()
            if not left or time.monotonic() > deadline:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        self._process = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        _open.discard(self)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- databases ----------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """Return the URL of database ``dbname`` (trust authentication on 127.0.0.1)."""
        if self.port is None:
            raise PostgresServerError("the server has no port yet: start() it first")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` when given, by file copy) and
        return its URL."""
        statement = f'CREATE DATABASE "{name}"'
        if template:
            statement += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        self.admin_execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, ending its sessions first."""
        self.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def admin_execute(self, sql: str, params: list | None = None) -> list[tuple]:
        """Run ``sql`` on the ``postgres`` database as the superuser, outside any
        transaction; returns its rows (empty when it has none)."""
        with self._lock:
            for attempt in range(2):
                if self._admin is None or self._admin.closed:
                    self._admin = psycopg.connect(self.url(), autocommit=True, connect_timeout=5)
                try:
                    cursor = self._admin.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    if attempt or not self._admin.closed:
                        raise
                    # A connection from before a restart: connect again, once.
            return []  # pragma: no cover - the loop returns or raises

    # --- inside -------------------------------------------------------------------------

    def _run_as_server_user(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, check=False, **self._as_user, **kwargs
        )

    def _initdb(self) -> None:
        command = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ]
        try:
            result = self._run_as_server_user(command, timeout=INITDB_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise PostgresServerError(f"initdb took more than {INITDB_TIMEOUT:.0f} s in {self.data_dir}") from None
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise PostgresServerError(f"initdb failed (exit {result.returncode}) in {self.data_dir}:\n{output}")

    def _launch(self, port: int) -> None:
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(port),
                   "-c", f"unix_socket_directories={self.root}"]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C meant for pytest does not reach the server.
            self._process = subprocess.Popen(
                command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **self._as_user,
            )
        self.port = port
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / 0.02)):
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise PostgresServerError(f"PostgreSQL exited at start (exit {code}):\n{self._log_since(log_offset)}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.kill()
        raise PostgresServerError(
            f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s:\n{self._log_since(log_offset)}"
        )

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-30:]) or "(the server wrote nothing)"

    def _leftover_processes(self) -> list[int]:
        """The PIDs of processes working in this server's data directory (every PostgreSQL
        process makes it its working directory)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "cwd") == str(self.data_dir):
                        pids.append(int(entry.name))
        return pids

    @property
    def owner(self) -> tuple[int, int]:
        """The (uid, gid) the server runs as."""
        if self._as_user:
            return self._as_user["user"], self._as_user["group"]
        return os.getuid(), os.getgid()

    def _close_admin(self) -> None:
        with self._lock:
            if self._admin is not None:
                with contextlib.suppress(Exception):
                    self._admin.close()
                self._admin = None


def _check_reachable(path: Path, uid: int, gid: int) -> None:
    """Raise PostgresServerError when the user ``uid`` cannot pass through every directory
    above ``path`` (pytest's own temporary directories, for one, are root's alone)."""
    for parent in path.parents:
        info = parent.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            raise PostgresServerError(
                f"the postgres OS user cannot reach {path}: {parent} is closed to it; use a base_dir"
                " under the system's temporary directory"
            )


# --- empty migrated databases, one per test ------------------------------------------------


class FreshDatabases:
    """Empty, migrated databases on one server, by one of three ways (the cost per test,
    measured on 2 cores with 0 and 30 rows left by the test before):

    - ``deleted()``: one migrated database emptied by DELETE of every regauth table and its
      identities set back to 1, in one round trip (0.5 ms; 1.6 ms);
    - ``truncated()``: the same database emptied by TRUNCATE ... RESTART IDENTITY (25 ms;
      52 ms: each truncated table and index gets new files);
    - ``cloned()``: a new database copied from a migrated template (CREATE DATABASE ...
      TEMPLATE ... STRATEGY FILE_COPY), dropped by ``drop_clones()`` (about 30 ms for the
      pair, 200 ms and more while the test's sessions are still ending: DROP waits for them).

    Before emptying, sessions a previous test left inside a transaction are ended: they would
    hold the write lock, or rows, and stall the next test.
    """

    def __init__(self, server: PostgresServer, name: str = "regauth_test"):
        self.server = server
        #: The shared database's name; the template's and the clones' begin with it.
        self.name = name
        self._shared: psycopg.Connection | None = None
        self._emptying: str | None = None
        self._template_ready = False
        self._clones: list[str] = []
        self._numbers = iter(range(1, 1 << 30))

    def truncated(self) -> str:
        """Return the URL of the shared test database, emptied of every row by TRUNCATE."""
        return self._empty(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")

    def deleted(self) -> str:
        """Return the URL of the shared test database, emptied of every row by DELETE (children
        first) with every identity set back to 1, in one round trip."""
        if self._emptying is None:
            self._shared_connection()
            sequences = [
                sequence for (sequence,) in self._shared.execute(
                    "SELECT pg_get_serial_sequence(c.table_name, c.column_name) FROM information_schema.columns c"
                    " WHERE c.table_schema = current_schema() AND c.is_identity = 'YES'"
                    " AND c.table_name = ANY(%s)", [list(TABLES)],
                )
            ]
            deletes = "".join(f"DELETE FROM {table}; " for table in reversed(TABLES))
            resets = ", ".join(f"setval('{sequence}', 1, false)" for sequence in sequences)
            self._emptying = f"{deletes}SELECT {resets}"
        return self._empty(self._emptying)

    def _shared_connection(self) -> psycopg.Connection:
        if self._shared is None or self._shared.closed:
            self.server.drop_database(self.name)
            url = self.server.create_database(self.name)
            initialise(url)
            self._shared = psycopg.connect(url, autocommit=True, connect_timeout=5)
            self._shared.execute("SET lock_timeout = '2s'")
        return self._shared

    def _empty(self, statement: str) -> str:
        """Run ``statement`` on the shared database, after ending the sessions left inside a
        transaction there, and return the database's URL."""
        for attempt in range(2):
            conn = self._shared_connection()
            try:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%%'", []
                )
                conn.execute(statement)
                break
            except psycopg.OperationalError:
                # The server was restarted, or the database dropped: make it anew, once.
                conn.close()
                self._shared = None
                if attempt:
                    raise
        return self.server.url(self.name)

    def cloned(self) -> str:
        """Return the URL of a new database copied from the migrated template."""
        template = f"{self.name}_template"
        if not self._template_ready:
            self.server.drop_database(template)
            initialise(self.server.create_database(template))
            self._template_ready = True
        name = f"{self.name}_clone_{next(self._numbers)}"
        url = self.server.create_database(name, template=template)
        self._clones.append(name)
        return url

    def drop_clones(self) -> None:
        """Drop every database ``cloned()`` made."""
        while self._clones:
            self.server.drop_database(self._clones.pop())

    def close(self) -> None:
        """Drop the clones and close the connection to the shared database."""
        self.drop_clones()
        if self._shared is not None:
            self._shared.close()
            self._shared = None


_fresh: dict[int, FreshDatabases] = {}


def fresh_database(server: PostgresServer) -> str:
    """Return the URL of an empty database with every migration applied, on ``server``: the
    shared test database emptied by DELETE, the fastest of the ways measured (see
    ``FreshDatabases``). A later call empties the same database again."""
    fresh = _fresh.get(id(server))
    if fresh is None or fresh.server is not server:
        fresh = _fresh[id(server)] = FreshDatabases(server)
    return fresh.deleted()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session, stopped and removed at its end."""
    with PostgresServer() as server:
        yield server
        fresh = _fresh.pop(id(server), None)
        if fresh is not None:
            fresh.close()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of an empty, migrated database for this test alone."""
    return fresh_database(postgres_server)
