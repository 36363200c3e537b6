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


def test_the_benchmark_runs_every_phase_and_writes_its_table(tmp_path):
    table = tmp_path / "table.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--bcrypt-cost", "4", "--duration", "1", "--repeat", "1",
         "--registry-iterations", "1", "--robots", "200", "--large-robots", "2000", "--large-permissions", "20000",
         "--flood-seconds", "2", "--budget", "240", "--output", str(table)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = table.read_text()
    assert "stopped early" not in text and "skipped" not in text, text
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| |")]
    for section, measurements in SECTIONS.items():
        labels = [row.split(" | ")[1] for row in rows if row.startswith(f"| {section} |")]
        for measurement in measurements:
            assert any(label.startswith(measurement) for label in labels), (section, measurement, labels)
    assert "- machine: " in text and "- settings: " in text
