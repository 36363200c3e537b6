"""Running ``python -m gateway`` in subprocesses for the serve tests."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAST_BCRYPT_COST, ISSUER, SERVICE

REPO_ROOT = Path(__file__).resolve().parents[2]


def init_data_dir(data: Path) -> tuple[list[str], dict[str, str]]:
    """Run ``regauth init`` on ``data``; return the settings flags every command of the test
    takes and the environment to run them in (this checkout importable, no REGAUTH_*
    inherited). Raises CalledProcessError when init fails."""
    settings = ["--data-dir", str(data), "--service", SERVICE, "--issuer", ISSUER,
                "--bcrypt-cost", str(FAST_BCRYPT_COST)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-m", "gateway", "init", *settings], check=True, capture_output=True, env=env,
                   timeout=60)
    return settings, env
