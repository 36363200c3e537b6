"""The service files in contrib/ and docker-compose.yml, checked by the tools that read them:
``systemd-analyze verify`` and ``security`` for the unit, ``docker-compose config`` for the
compose file (it needs no engine), and regauth's own settings parser for their env files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import Config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "regauth.service"
UNIT_ENV = ROOT / "contrib" / "systemd" / "regauth.env"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_ENV = ROOT / "contrib" / "compose" / "regauth.env"
EXEC_START = "/usr/local/bin/regauth"
# systemd-analyze security's exposure, 0 (locked down) to 10 (none), times ten: the unit
# scores 1.4; a lost hardening line or two would still pass, a lost block would not.
MAX_EXPOSURE = 25


def tool(binary: str) -> str:
    """Return the path of ``binary``; skip the test when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (not found on PATH)")
    return path


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- systemd


def installable_unit(directory: Path, text: str | None = None) -> Path:
    """Write the unit (or ``text``, a variant of it) into ``directory`` with ExecStart on an
    executable that exists here (verify refuses a missing one); return its path."""
    text = UNIT.read_text() if text is None else text
    assert f"ExecStart={EXEC_START} serve\n" in text, f"{UNIT} no longer starts {EXEC_START} serve"
    unit = directory / UNIT.name
    unit.write_text(text.replace(f"ExecStart={EXEC_START} ", f"ExecStart={sys.executable} "))
    return unit


def verify_problems(unit: Path) -> str:
    """Return what ``systemd-analyze verify`` says about ``unit``: empty for a clean unit.
    It exits 0 for a misspelt or unparsable setting, which it only reports and ignores, so
    any output counts as a problem, as does a non-zero exit."""
    verified = run([tool("systemd-analyze"), "verify", f"./{unit.name}"], cwd=unit.parent)
    output = (verified.stdout + verified.stderr).strip()
    if verified.returncode != 0:
        return f"exit status {verified.returncode}: {output}"
    return output


def test_the_unit_verifies_clean(tmp_path: Path) -> None:
    assert verify_problems(installable_unit(tmp_path)) == ""


@pytest.mark.parametrize("broken", [
    ("Restart=on-failure\n", "Restat=on-failure\n"),
    ("ProtectSystem=strict\n", "ProtectSystem=stricter\n"),
    (f"ExecStart={EXEC_START} serve\n", "ExecStart=/nonexistent/regauth serve\n"),
    ("[Service]\n", "[Servce]\n"),
], ids=["misspelt-key", "bad-value", "missing-binary", "misspelt-section"])
def test_a_broken_unit_does_not_verify(tmp_path: Path, broken: tuple[str, str]) -> None:
    """The check above can fail: each of these copies, broken in one line, is reported."""
    good, bad = broken
    text = UNIT.read_text()
    assert good in text
    if good.startswith("ExecStart="):
        unit = tmp_path / UNIT.name
        unit.write_text(text.replace(good, bad))
    else:
        unit = installable_unit(tmp_path, text.replace(good, bad))
    assert verify_problems(unit) != ""


def test_the_unit_is_hardened(tmp_path: Path) -> None:
    settings = {line.partition("=")[0]: line.partition("=")[2]
                for line in UNIT.read_text().splitlines() if re.match(r"^[A-Z]\w*=", line)}
    for key, value in {"User": "regauth", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "Restart": "on-failure", "PrivateTmp": "yes", "ProtectHome": "yes",
                       "CapabilityBoundingSet": "", "ReadWritePaths": "/var/lib/regauth",
                       "EnvironmentFile": "/etc/regauth/regauth.env"}.items():
        assert settings.get(key) == value, f"{UNIT.name}: {key}={settings.get(key)!r}, expected {value!r}"
    rated = run([tool("systemd-analyze"), "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}",
                 f"./{UNIT.name}"], cwd=installable_unit(tmp_path).parent)
    assert rated.returncode == 0, rated.stdout[-2000:] + rated.stderr


@pytest.mark.parametrize("env_file", [UNIT_ENV, COMPOSE_ENV], ids=["systemd", "compose"])
def test_the_env_files_hold_valid_settings(env_file: Path) -> None:
    """Every line is a known REGAUTH_* setting with a value regauth accepts."""
    environ = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    assert environ and all(key.startswith("REGAUTH_") for key in environ)
    config = Config.load(flags={}, environ=environ)
    assert config.realm == environ["REGAUTH_REALM"]


# --------------------------------------------------------------------------- docker-compose


def compose(*args: str, file: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    return run([tool("docker-compose"), "--project-directory", str(ROOT), "-f", str(file), *args], cwd=ROOT)


def test_compose_file_is_valid_with_the_three_services() -> None:
    assert sorted(compose("config", "--services").stdout.split()) == ["nginx", "regauth", "registry"]
    assert sorted(compose("config", "--volumes").stdout.split()) == ["regauth-data", "regauth-public", "registry-data"]


def test_compose_file_names_files_that_exist_and_checks_readiness() -> None:
    checked = compose("config")
    assert checked.returncode == 0, checked.stderr
    resolved = checked.stdout
    mounted = re.findall(r"^\s*- (/[^:\s]+):/", resolved, re.MULTILINE)
    assert len(mounted) == 4, resolved
    assert all(Path(path).is_file() for path in mounted), mounted
    text = COMPOSE.read_text()
    assert "http://127.0.0.1:5001/readyz" in text
    assert text.count("condition: service_healthy") == 2


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("condition: service_started", "condition: service_ready"))
    refused = compose("config", "--quiet", file=broken)
    assert refused.returncode != 0
    assert "service_ready" in refused.stderr
