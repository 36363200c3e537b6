"""``regauth backup`` while ``regauth serve --workers 2`` takes writes, and ``regauth restore``.

Writer threads create robots through the API and log them in at /token (audit rows) while a
backup is taken; the copy passes SQLite's integrity and foreign key checks, is restored into
a fresh data folder holding the key files, and a server started there lets every robot
acknowledged before the backup began log in with its secret. Refusals are one line and exit 1,
with nothing half-written: a restore while a server has the database open, a damaged or
foreign or newer backup, a destination that exists, a database that does not, PostgreSQL.
"""

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway.cli import main
from tests.conftest import FAST_BCRYPT_COST, SERVICE
from tests.disks import fill, small_disk
from tests.serve.serving import init_data_dir
from tests.serve.test_workers import free_port, serving, wait_for
from tokenstore import Store

NAMESPACE = "acme"
WRITERS = 3
# Each writer's bound: this many robots, or this many seconds, whichever comes first.
WRITER_ROBOTS = 5000
WRITER_SECONDS = 60.0
# Robots acknowledged before the backup starts, and after it ended, at least.
BEFORE_BACKUP = 12
AFTER_BACKUP = 12
REQUEST_TIMEOUT = 10
KEY_FILES = ("signing-key.pem", "signing-cert.pem", "jwks.json")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None) -> tuple[int, dict]:
    """One HTTP request; returns (status, JSON body or {})."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=REQUEST_TIMEOUT) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def token_status(base: str, robot: str, secret: str) -> int:
    basic = base64.b64encode(f"{robot}:{secret}".encode()).decode()
    return call(f"{base}/token?service={SERVICE}&scope=repository:{NAMESPACE}/app:pull",
                headers={"Authorization": f"Basic {basic}"})[0]


class Writer(threading.Thread):
    """Creates robots through the API and logs each in once, until told to stop or its bound;
    ``acknowledged`` maps each robot whose creation was answered 201 to its secret, in order."""

    def __init__(self, index: int, base: str, api_token: str, stop: threading.Event):
        super().__init__(name=f"writer{index}", daemon=True)
        self.index, self.base, self.stop = index, base, stop
        self.headers = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}
        self.acknowledged: dict[str, str] = {}
        self.failures: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + WRITER_SECONDS
        for number in range(WRITER_ROBOTS):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            short = f"w{self.index}n{number}"
            try:
                status, body = call(f"{self.base}/api/v1/organization/{NAMESPACE}/robots/{short}", "PUT",
                                    self.headers, b"{}")
                if status != 201:
                    self.failures.append(f"create {short}: {status}")
                    continue
                self.acknowledged[f"{NAMESPACE}+{short}"] = body["token"]
                status = token_status(self.base, f"{NAMESPACE}+{short}", body["token"])
                if status != 200:
                    self.failures.append(f"token {short}: {status}")
            except OSError as exc:
                self.failures.append(f"{short}: {exc}")


def regauth(*argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *argv], check=False, capture_output=True, text=True,
                          env=env, timeout=60)


def error_line(stderr: str) -> str:
    """The one ``regauth: error:`` line of ``stderr``; fails when there is not exactly one."""
    lines = [line for line in stderr.splitlines() if line.startswith("regauth: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def checked(path: Path) -> None:
    """Assert that the SQLite file at ``path`` passes integrity_check and foreign_key_check."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def organization(tmp_path):
    """A data folder with organization ``acme``, its admin's API token, and the settings
    flags and environment of its commands."""
    data = tmp_path / "data"
    settings, env = init_data_dir(data)
    store = Store(data / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    try:
        store.create_user("keeper", "correct horse battery staple")
        store.create_organization(NAMESPACE, admin="keeper")
        token = store.create_api_token("keeper").token
    finally:
        store.close()
    return data, settings, env, token


def test_backup_under_write_load_restores_every_acknowledged_robot(tmp_path, organization):
    data, settings, env, api_token = organization
    backups = tmp_path / "backups"
    backups.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    with serving(tmp_path, settings, env, port):
        writers = [Writer(index, base, api_token, stop) for index in range(WRITERS)]
        for writer in writers:
            writer.start()
        try:
            wait_for(lambda: sum(len(w.acknowledged) for w in writers) >= BEFORE_BACKUP, 30, "robots created")
            before = {name: secret for w in writers for name, secret in list(w.acknowledged.items())}
            started = time.monotonic()
            result = regauth("backup", str(backups), *settings, env=env)
            took = time.monotonic() - started
            after_backup = sum(len(w.acknowledged) for w in writers)
            # The writers were still at work when the backup ended.
            wait_for(lambda: sum(len(w.acknowledged) for w in writers) >= after_backup + AFTER_BACKUP, 30,
                     "robots created after the backup")
        finally:
            stop.set()
            for writer in writers:
                writer.join(REQUEST_TIMEOUT + 5)
        assert result.returncode == 0, result.stderr
        written = json.loads(result.stdout)
        # The database in use by the server: a restore is refused, and changes nothing.
        inode, size = (data / "regauth.db").stat().st_ino, (data / "regauth.db").stat().st_size
        in_use = regauth("restore", written["backup"], *settings, env=env)
        assert in_use.returncode == 1 and in_use.stdout == ""
        assert "is open in process" in error_line(in_use.stderr)
        assert (data / "regauth.db").stat().st_ino == inode and (data / "regauth.db").stat().st_size >= size
        assert sorted(p.name for p in data.iterdir() if ".replaced-" in p.name or p.name.startswith(".")) == []
        assert healthy_answers(base)

    assert [f for w in writers for f in w.failures] == []
    backup = Path(written["backup"])
    assert backup.parent == backups and backup.name.startswith("regauth-") and backup.name.endswith(".db")
    assert sorted(p.name for p in backups.iterdir()) == [backup.name]  # no partial file left
    assert backup.stat().st_mode & 0o777 == 0o600 and written["bytes"] == backup.stat().st_size
    total = sum(len(w.acknowledged) for w in writers)
    assert len(before) <= written["robots"] < total
    assert {Path(p).name for p in written["not_in_backup"]} >= set(KEY_FILES)
    assert "signing-key.pem" in result.stderr and "regauth: note:" in result.stderr
    checked(backup)

    # A fresh data folder: the key files copied by hand, the database restored.
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    for name in KEY_FILES:
        shutil.copy2(data / name, fresh / name)
    fresh_settings = [str(fresh) if value == str(data) else value for value in settings]
    restored = regauth("restore", str(backup), *fresh_settings, env=env)
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["robots"] == written["robots"] and report["replaced"] == []
    assert report["database"] == str(fresh / "regauth.db") and restored.stderr == ""
    checked(fresh / "regauth.db")
    with serving(tmp_path, fresh_settings, env, port := free_port()):
        base = f"http://127.0.0.1:{port}"
        refused = [name for name, secret in before.items() if token_status(base, name, secret) != 200]
    assert refused == [], f"{len(refused)} of {len(before)} robots acknowledged before the backup cannot log in"
    print(f"backup of {written['robots']} robots ({written['bytes']} bytes) in {took:.2f} s"
          f" (the copy {written['seconds']} s); {len(before)} robots before it, {total} in all")


def healthy_answers(base: str) -> bool:
    return call(f"{base}/healthz")[0] == 200


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (status, stdout, stderr)."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def data_dir(tmp_path, capsys):
    """A data folder from ``regauth init`` with one robot; yields (folder, settings flags)."""
    data = tmp_path / "data"
    flags = ["--data-dir", str(data), "--service", SERVICE, "--bcrypt-cost", str(FAST_BCRYPT_COST)]
    assert cli(capsys, "init", *flags)[0] == 0
    assert cli(capsys, "org", "create", NAMESPACE, *flags)[0] == 0
    assert cli(capsys, "robot", "create", f"{NAMESPACE}+ci", *flags)[0] == 0
    return data, flags


def unchanged(data: Path):
    """Return a check that the data folder holds the same files, the database the same bytes."""
    names, database = sorted(p.name for p in data.iterdir()), digest(data / "regauth.db")
    return lambda: sorted(p.name for p in data.iterdir()) == names and digest(data / "regauth.db") == database


def test_backup_refusals_leave_nothing_half_written(tmp_path, data_dir, capsys):
    data, flags = data_dir
    target = tmp_path / "out"
    target.mkdir()
    status, out, err = cli(capsys, "backup", str(target / "one.db"), *flags)
    assert status == 0 and json.loads(out)["robots"] == 1
    before = digest(target / "one.db")

    status, out, err = cli(capsys, "backup", str(target / "one.db"), *flags)
    assert (status, out) == (1, "") and "exists: give --force" in error_line(err)
    assert digest(target / "one.db") == before
    assert cli(capsys, "backup", str(target / "one.db"), "--force", *flags)[0] == 0

    for destination, fragment in [
        (data / "regauth.db", "is the database"),
        (tmp_path / "nowhere" / "x.db", "does not exist"),
    ]:
        status, out, err = cli(capsys, "backup", str(destination), "--force", *flags)
        assert (status, out) == (1, "") and fragment in error_line(err)

    status, out, err = cli(capsys, "backup", str(target / "two.db"), "--data-dir", str(tmp_path / "empty"))
    assert (status, out) == (1, "") and "nothing to back up" in error_line(err)
    status, out, err = cli(capsys, "backup", str(target / "two.db"), "--database", "postgresql://u:pw@127.0.0.1:1/x")
    assert (status, out) == (1, "") and "pg_dump" in error_line(err) and "pw" not in err
    status, out, err = cli(capsys, "restore", str(target / "one.db"), "--database", "postgresql://u@127.0.0.1:1/x")
    assert (status, out) == (1, "") and "pg_restore" in error_line(err)
    assert sorted(p.name for p in target.iterdir()) == ["one.db"]


def test_backup_names_the_keyring_it_leaves_out(tmp_path, data_dir, capsys):
    data, flags = data_dir
    assert cli(capsys, "keys", "add", *flags)[0] == 0
    status, out, _ = cli(capsys, "backup", str(tmp_path / "one.db"), *flags)
    assert status == 0
    left_out = {Path(p).name for p in json.loads(out)["not_in_backup"]}
    assert left_out >= {*KEY_FILES, "keyring.json", "keys"} and "regauth.db" not in left_out


def test_backup_onto_a_full_disk_leaves_nothing(tmp_path, data_dir, capsys):
    _, flags = data_dir
    with small_disk(tmp_path / "disk") as disk:
        filler = fill(disk)
        status, out, err = cli(capsys, "backup", str(disk / "regauth.db"), *flags)
        assert (status, out) == (1, "") and "database or disk is full" in error_line(err), err
        assert sorted(p.name for p in disk.iterdir()) == [filler.name]


def damaged(backup: Path, tmp_path: Path) -> Path:
    """A copy of ``backup`` whose robots table's page is overwritten with other bytes."""
    conn = sqlite3.connect(backup)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'robots'").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    copy = tmp_path / "damaged.db"
    shutil.copy(backup, copy)
    with open(copy, "r+b") as file:
        file.seek((root - 1) * page + 8)
        file.write(b"\x7f" * 64)
    return copy


def newer(backup: Path, tmp_path: Path) -> Path:
    """A copy of ``backup`` with a migration this version does not have."""
    copy = tmp_path / "newer.db"
    shutil.copy(backup, copy)
    conn = sqlite3.connect(copy)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                 " VALUES ('tokenstore', '9999_next', '')")
    conn.commit()
    conn.close()
    return copy


def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "foreign.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    return path


def not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_bytes(b"not a database\n" * 500)
    return path


@pytest.mark.parametrize("make,fragment", [
    (damaged, "failed its integrity check"),
    (newer, "made by a newer regauth"),
    (lambda backup, tmp_path: foreign(tmp_path), "is not a regauth database"),
    (lambda backup, tmp_path: not_sqlite(tmp_path), "is not a readable SQLite database"),
    (lambda backup, tmp_path: tmp_path / "absent.db", "does not exist"),
    (lambda backup, tmp_path: tmp_path / "data" / "regauth.db", "is the database itself"),
], ids=["damaged", "newer", "foreign", "not-sqlite", "missing", "the-database"])
def test_restore_refuses_a_bad_backup_and_changes_nothing(tmp_path, data_dir, capsys, make, fragment):
    data, flags = data_dir
    assert cli(capsys, "backup", str(tmp_path / "good.db"), *flags)[0] == 0
    source = make(tmp_path / "good.db", tmp_path)
    is_same = unchanged(data)
    status, out, err = cli(capsys, "restore", str(source), *flags)
    assert (status, out) == (1, "") and fragment in error_line(err)
    assert is_same()


def test_restore_keeps_the_replaced_database_and_its_log_aside(tmp_path, data_dir, capsys):
    data, flags = data_dir
    assert cli(capsys, "backup", str(tmp_path / "good.db"), *flags)[0] == 0
    # A change after the backup, left in the WAL alone as a crash leaves it.
    crash = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
             " c.execute('PRAGMA wal_autocheckpoint = 0');"
             " c.execute(\"UPDATE robots SET description = 'after the backup'\"); os._exit(0)")
    subprocess.run([sys.executable, "-c", crash, str(data / "regauth.db")], check=True, timeout=60)
    assert (data / "regauth.db-wal").stat().st_size > 0

    status, out, err = cli(capsys, "restore", str(tmp_path / "good.db"), *flags)
    assert status == 0 and err == "", err
    aside = [Path(path) for path in json.loads(out)["replaced"]]
    assert aside[0].name.startswith("regauth.db.replaced-") and aside[0].parent == data
    assert sorted(path.name for path in aside[1:]) == [aside[0].name + "-shm", aside[0].name + "-wal"]
    assert not (data / "regauth.db-wal").exists()
    old = sqlite3.connect(aside[0])  # opens with its log: the change made after the backup is there
    try:
        assert old.execute("SELECT description FROM robots").fetchall() == [("after the backup",)]
    finally:
        old.close()
    store = Store(data / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    try:
        assert [robot.description for robot in store.list_robots(NAMESPACE)] == [""]
    finally:
        store.close()
