"""``regauth serve`` refuses a database that fails SQLite's quick_check, in one line naming
the file and the check's first message; ``--skip-integrity-check`` starts it anyway."""

import signal
import sqlite3
import subprocess
import sys
import time

from tests.conftest import FAST_BCRYPT_COST
from tests.serve.test_workers import ENV, free_port, healthy

PAGE = 4096


def damaged_data_dir(tmp_path):
    """A data directory from ``regauth init`` whose database has a table of its own (filling
    its last pages) with those pages overwritten; regauth's own tables stay readable."""
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "gateway", "init", "--data-dir", str(data), "--bcrypt-cost",
                    str(FAST_BCRYPT_COST)], check=True, capture_output=True, env=ENV, timeout=60)
    database = data / "regauth.db"
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("CREATE TABLE filler (x)")
    conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
                 "INSERT INTO filler SELECT randomblob(300) FROM n")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = database.stat().st_size
    with open(database, "r+b") as file:
        file.seek(size - 20 * PAGE)
        file.write(b"\x05" + b"\xa5" * (10 * PAGE - 1))  # ten pages of filler's tree: garbage
    return data


def serve(data, port, *extra):
    return [sys.executable, "-m", "gateway", "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}", *extra]


def test_a_damaged_database_refuses_to_start_in_one_line(tmp_path):
    data = damaged_data_dir(tmp_path)
    before = (data / "regauth.db").read_bytes()
    result = subprocess.run(serve(data, free_port()), capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"regauth: error: the database {data / 'regauth.db'} failed its integrity check "
                           "(quick_check: "), line
    assert "--skip-integrity-check" in line and "Traceback" not in result.stderr
    assert (data / "regauth.db").read_bytes() == before  # nothing was written to it


def test_skip_integrity_check_starts_a_damaged_database_for_recovery(tmp_path):
    data = damaged_data_dir(tmp_path)
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(serve(data, port, "--skip-integrity-check"), stdout=log, stderr=subprocess.STDOUT,
                               env=ENV)
    try:
        deadline = time.monotonic() + 30
        while not healthy(port):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not answer within 30 s"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        log.close()
    assert "integrity check is skipped" in (tmp_path / "serve.log").read_text()
