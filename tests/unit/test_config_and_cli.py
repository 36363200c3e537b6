"""Settings validation, the README's settings table, and the CLI end to end in-process."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import SETTINGS, Config, ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults():
    config = Config.load({}, environ={})
    assert config.token_ttl == 300 and config.bcrypt_cost == 12 and config.signing_alg == "ES256"
    assert config.listen == ("127.0.0.1", 5001)


def test_audit_retention_is_days_and_zero_keeps_every_row():
    assert Config.load({}, environ={}).audit_retention_seconds == 90 * 86400
    assert Config.load({"audit_retention": "7"}, environ={}).audit_retention_seconds == 7 * 86400
    assert Config.load({}, environ={"REGAUTH_AUDIT_RETENTION": "0"}).audit_retention_seconds is None


def test_flag_beats_environment_beats_default():
    assert Config.load({"token_ttl": "120"}, environ={"REGAUTH_TOKEN_TTL": "90"}).token_ttl == 120
    assert Config.load({}, environ={"REGAUTH_TOKEN_TTL": "90"}).token_ttl == 90


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("token_ttl", "59", "--token-ttl / REGAUTH_TOKEN_TTL: must be between 60"),
        ("token_ttl", "abc", "--token-ttl / REGAUTH_TOKEN_TTL: must be a whole number"),
        ("bcrypt_cost", "3", "--bcrypt-cost / REGAUTH_BCRYPT_COST"),
        ("listen", "localhost", "--listen / REGAUTH_LISTEN: must be HOST:PORT"),
        ("listen", "127.0.0.1:99999", "--listen / REGAUTH_LISTEN"),
        ("realm", "ftp://x/token", "--realm / REGAUTH_REALM"),
        ("service", " ", "--service / REGAUTH_SERVICE: must not be empty"),
        ("signing_alg", "HS256", "--signing-alg / REGAUTH_SIGNING_ALG"),
        ("audit_retention", "-1", "--audit-retention / REGAUTH_AUDIT_RETENTION: must be between 0"),
        ("audit_retention", "ninety", "--audit-retention / REGAUTH_AUDIT_RETENTION: must be a whole number"),
        ("login_failures_per_address", "lots", "--login-failures-per-address / REGAUTH_LOGIN_FAILURES_PER_ADDRESS: must be a count"),
        ("login_failures_per_robot", "0/minute", "--login-failures-per-robot / REGAUTH_LOGIN_FAILURES_PER_ROBOT: must be a count of at least 1"),
        ("max_pending_bcrypt", "0", "--max-pending-bcrypt / REGAUTH_MAX_PENDING_BCRYPT: must be between 1"),
        ("log_format", "xml", "--log-format / REGAUTH_LOG_FORMAT: must be one of text, json, got 'xml'"),
    ],
)
def test_invalid_settings_name_the_setting(name, value, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        Config.load({name: value}, environ={})


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert setting.flag in readme, setting.flag
        assert setting.env in readme, setting.env


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_workflow(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path / "data"), "--bcrypt-cost", "4"]
    status, out, _ = run(capsys, "init", *d)
    assert status == 0 and json.loads(out)["certificate_expires"].startswith("20")
    assert (tmp_path / "data" / "signing-key.pem").stat().st_mode & 0o077 == 0
    status, out, _ = run(capsys, "registry-config", *d, "--realm", "https://reg.example/token", "--service", "svc")
    assert status == 0
    assert 'realm: "https://reg.example/token"' in out and 'service: "svc"' in out
    assert f'rootcertbundle: "{tmp_path / "data" / "signing-cert.pem"}"' in out
    assert run(capsys, "org", "create", "myorg", *d)[0] == 0
    status, out, _ = run(capsys, "robot", "create", "myorg+ci", "--description", "CI", *d)
    created = json.loads(out)
    assert set(created) == {"name", "created", "last_accessed", "description", "unstructured_metadata", "enabled", "token"}
    assert created["name"] == "myorg+ci" and re.fullmatch(r"[A-Z0-9]{64}", created["token"])
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} -0000", created["created"])
    assert run(capsys, "repo", "create", "myorg/app", "--public", *d)[0] == 0
    status, out, _ = run(capsys, "grant", "myorg+ci", "myorg/app", "write", *d)
    assert json.loads(out)["role"] == "write"
    status, out, _ = run(capsys, "robot", "list", "myorg", *d)
    listed = json.loads(out)["robots"]
    assert [r["name"] for r in listed] == ["myorg+ci"] and "token" not in listed[0]
    status, out, _ = run(capsys, "robot", "regenerate", "myorg+ci", *d)
    assert json.loads(out)["token"] != created["token"]
    assert run(capsys, "revoke", "myorg+ci", "myorg/app", *d)[0] == 0
    assert run(capsys, "robot", "delete", "myorg+ci", *d)[0] == 0


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["robot", "create", "nosuch+ci"], "namespace 'nosuch' does not exist"),
        (["robot", "create", "Bad+Name"], "invalid namespace name"),
        (["grant", "myorg+ci", "myorg/app", "read"], "robot 'myorg+ci' does not exist"),
        (["org", "create", "myorg"], "already exists"),
        (["org", "create", "x", "--token-ttl", "5"], "--token-ttl / REGAUTH_TOKEN_TTL"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, argv, fragment):
    d = ["--data-dir", str(tmp_path), "--bcrypt-cost", "4"]
    run(capsys, "init", *d)
    run(capsys, "org", "create", "myorg", *d)
    status, out, err = run(capsys, *argv, *d)
    assert status == 1 and out == ""
    lines = [line for line in err.splitlines() if line.startswith("regauth: error:")]
    assert len(lines) == 1 and fragment in lines[0]
    assert "Traceback" not in err


def test_cli_without_init_explains(tmp_path, capsys):
    status, _, err = run(capsys, "robot", "list", "myorg", "--data-dir", str(tmp_path / "none"))
    assert status == 1 and "regauth init" in err


def test_python_dash_m_gateway_runs():
    result = subprocess.run([sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "registry-config" in result.stdout


def test_skip_integrity_check_is_a_switch_or_a_yes_no_variable():
    from gateway.cli.parser import build_parser

    assert build_parser().parse_args(["serve", "--skip-integrity-check"]).skip_integrity_check == "yes"
    assert build_parser().parse_args(["serve"]).skip_integrity_check is None
    assert Config.load({"skip_integrity_check": "yes"}, environ={}).skip_integrity_check is True
    assert Config.load({}, environ={"REGAUTH_SKIP_INTEGRITY_CHECK": "no"}).skip_integrity_check is False
    assert Config.load({}, environ={}).skip_integrity_check is False
    with pytest.raises(ConfigError, match="--skip-integrity-check / REGAUTH_SKIP_INTEGRITY_CHECK: must be yes or no"):
        Config.load({}, environ={"REGAUTH_SKIP_INTEGRITY_CHECK": "maybe"})
