"""The benchmark the project keeps still runs end to end (``python -m bench``).

Only that it runs and reports every figure is checked here, on small settings; what the
figures are is for the benchmark itself to show (docs/performance.md), not for a timed test.
"""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {
    "a": ["warm /token, c=1", "warm /token, c=16", "warm /token, c=64", "cold /token, c=1", "cold /token, c=64"],
    "b": ["/healthz while 32 cold logins are in flight"],
    "c": ["bare aiohttp handler, 2 workers", "handler that only signs a token", "warm /token c=64 ÷ bare handler"],
    "d": ["registry, no auth", "nginx + regauth + registry", "registry htpasswd", "push: nginx + regauth ÷",
          "pull: nginx + regauth ÷", "regauth's own part of those copies"],
    "e": ["large ÷ small"],
    "f": ["resident memory per worker at rest", "resident memory per worker after (e), 2,000 robots"],
    "g": ["flood of wrong secrets, 20 connections, one address", "flood of wrong secrets, 64 connections, 5,000 addresses",
          "meanwhile: a fresh robot's first login", "meanwhile: warm /token"],
}


# The PostgreSQL phases, asked for by name: SQLite and each replica count, warm and cold.
SETUPS = ("SQLite, one host", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas", "PostgreSQL, 3 replicas")
# wrk splits connections evenly over its threads, one thread per replica.
OPENED = {("PostgreSQL, 3 replicas", 16): " (15 connections)", ("PostgreSQL, 3 replicas", 64): " (63 connections)"}
POSTGRES_SECTIONS = {
    "h": [
        *(f"warm /token, c={c}{OPENED.get((setup, c), '')}, {setup}" for setup in SETUPS for c in (16, 64)),
        *(f"cold /token, c={c}, {setup}" for setup in SETUPS for c in (16, 64)),
        "warm /token c=64, PostgreSQL ÷ SQLite on one host",
        *(f"warm /token c=64, {setup}: the machine's CPU per token" for setup in SETUPS[:2]),
        *(f"warm refresh-token grant (POST /token), c=64, {setup}" for setup in SETUPS[:2]),
        "warm refresh-token grant c=64, PostgreSQL ÷ SQLite on one host",
        "PostgreSQL connections of each replica's serving processes",
        *(f"write lock during warm /token c=64, {setup}" for setup in SETUPS[1:]),
        "write lock alone",
    ],
    "i": ["warm /token c=64 on PostgreSQL, 3,000 robots / 20,000 grants", "large ÷ small on PostgreSQL",
          "resident memory per worker, PostgreSQL, 3,000 robots"],
}


def run_bench(tmp_path, *args: str) -> tuple[str, list[str]]:
    """Run ``python -m bench`` on small settings with ``args``; return its table and the
    table's rows. Fails the test when the run fails, stops early or skips a phase."""
    table = tmp_path / "table.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--bcrypt-cost", "4", "--duration", "1", "--repeat", "1", "--robots", "200",
         *args, "--output", str(table)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = table.read_text()
    assert "stopped early" not in text and "skipped" not in text, text
    assert "- machine: " in text and "- settings: " in text
    return text, [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| |")]


def assert_reported(rows: list[str], sections: dict[str, list[str]]) -> None:
    for section, measurements in sections.items():
        labels = [row.split(" | ")[1] for row in rows if row.startswith(f"| {section} |")]
        for measurement in measurements:
            assert any(label.startswith(measurement) for label in labels), (section, measurement, labels)


def test_the_benchmark_runs_every_phase_and_writes_its_table(tmp_path):
    _, rows = run_bench(tmp_path, "--registry-iterations", "1", "--large-robots", "2000",
                        "--large-permissions", "20000", "--flood-seconds", "2", "--budget", "240")
    assert_reported(rows, SECTIONS)


def test_the_postgresql_phases_run_and_report_their_rows(tmp_path):
    text, rows = run_bench(tmp_path, "--phases", "hi", "--large-robots", "3000", "--large-permissions", "20000",
                           "--budget", "240")
    assert_reported(rows, POSTGRES_SECTIONS)
    assert "fsync on, synchronous_commit on" in text
    # Every warm row says what the load generator spent too: it shares the machine's cores.
    warm = [row for row in rows if row.startswith("| h | warm /token, c=")]
    assert warm and all("µs of the load generator's" in row for row in warm), warm
