"""The keyring (``gateway.token.keyring``): an installation with one key file keeps working
as it is; add, activate and retire move keys between states, refuse what would fail a pull,
and write every file whole with private keys 0600; a worker's ``LiveKeyring`` takes a
change and never loses its key to a bad one."""

import json
import os
import stat

import pytest
from cryptography import x509

from gateway.cli import main
from gateway.registry import events_token
from gateway.token import keyring, keys
from gateway.token.keyring import ACTIVE, NEXT, PREVIOUS, KeyringError, KeyringInvalid
from gateway.token.keys import REGISTRY_EVENTS_PURPOSE, derived_secret
from gateway.token.live_keyring import LiveKeyring

NOW = 1_800_000_000.0


def cli(capsys, config, *argv) -> tuple[int, str, str]:
    status = main([*argv, "--data-dir", str(config.data_dir)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def bundle_kids(config) -> list[str]:
    certificates = x509.load_pem_x509_certificates(config.certificate_path.read_bytes())
    return [keys.libtrust_kid(certificate.public_key()) for certificate in certificates]


def jwks_kids(config) -> list[str]:
    return [jwk["kid"] for jwk in json.loads(config.jwks_path.read_text())["keys"]]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def records(ring) -> list[dict]:
    return [entry.record() for entry in ring.entries]


def no_temporary_files(config) -> bool:
    names = [path.name for path in config.data_dir.rglob("*")]
    return not [name for name in names if name.startswith(".")]


def test_one_key_file_from_init_is_the_active_key_with_nothing_to_migrate(config, capsys):
    legacy = keys.load(config.key_path, config.certificate_path)
    ring = keyring.load(config)
    assert ring.legacy and ring.signing.kid == legacy.kid
    assert [entry.state for entry in ring.entries] == [ACTIVE]
    status, out, _ = cli(capsys, config, "keys", "list", "--json")
    assert status == 0 and [(k["state"], k["kid"]) for k in json.loads(out)["keys"]] == [(ACTIVE, legacy.kid)]
    assert not keyring.state_path(config.data_dir).exists()  # listing writes nothing


def test_add_stages_a_key_that_the_bundle_and_the_key_set_trust(config):
    first = keyring.load(config).signing
    ring = keyring.add(config, now=NOW)
    staged = ring.staged
    assert ring.signing.kid == first.kid and staged.state == NEXT and staged.key.algorithm == "ES256"
    assert staged.added_at == NOW
    assert bundle_kids(config) == [first.kid, staged.kid]  # the active certificate first
    assert jwks_kids(config) == [first.kid, staged.kid]
    # Private keys are 0600, the directory 0700; the key path still holds the key that signs.
    for entry in ring.entries:
        assert mode(config.data_dir / entry.key_file) == 0o600
    assert mode(config.data_dir / keyring.KEYS_DIR) == 0o700
    assert mode(keyring.state_path(config.data_dir)) == 0o600
    assert keys.load(config.key_path, config.certificate_path).kid == first.kid
    assert no_temporary_files(config)
    assert records(keyring.load(config)) == records(ring)


def test_a_second_add_is_refused_until_the_staged_key_is_activated(config, capsys):
    staged = keyring.add(config, now=NOW).staged
    status, out, err = cli(capsys, config, "keys", "add")
    assert status == 1 and out == ""
    assert "already staged" in err and staged.kid in err and "keys activate" in err
    assert keyring.load(config).staged.kid == staged.kid


def test_activate_without_a_staged_key_is_refused_with_what_to_do(config, capsys):
    status, out, err = cli(capsys, config, "keys", "activate")
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "no key is staged" in err and "keys add" in err


def test_activate_makes_the_staged_key_sign_and_keeps_the_previous_one_trusted(config):
    first = keyring.load(config).signing
    staged = keyring.add(config, "RS256", now=NOW).staged
    ring = keyring.activate(config, now=NOW + 10)
    assert ring.signing.kid == staged.kid and ring.signing.algorithm == "RS256"
    assert ring.active.activated_at == NOW + 10
    [previous] = ring.previous
    assert previous.kid == first.kid and previous.stopped_at == NOW + 10
    # The registry tokens' lifetime, the registry's leeway, the workers' reload margin.
    assert previous.retirable_at == NOW + 10 + config.token_ttl + 60 + keyring.RELOAD_MARGIN_SECONDS
    assert bundle_kids(config) == [staged.kid, first.kid]
    assert jwks_kids(config) == [staged.kid, first.kid]
    assert keys.load(config.key_path, config.certificate_path).kid == staged.kid
    assert mode(config.key_path) == 0o600


def test_retire_is_refused_while_a_token_of_the_previous_key_may_be_valid(config, capsys):
    first = keyring.load(config).signing
    keyring.add(config, now=NOW)
    previous = keyring.activate(config, now=NOW).previous[0]
    with pytest.raises(KeyringError, match="allowed from 2027-01-15T08:") as refused:
        keyring.retire(config, now=previous.retirable_at - 1)
    assert first.kid in str(refused.value)
    status, _, err = cli(capsys, config, "keys", "retire")  # the real clock: just activated
    assert status == 1 and "may still be valid" in err and "retire is allowed from" in err
    assert jwks_kids(config)[1] == first.kid


def test_retire_removes_the_previous_key_from_the_keyring_bundle_key_set_and_disk(config):
    keyring.add(config, now=NOW)
    ring = keyring.activate(config, now=NOW)
    previous = ring.previous[0]
    ring, removed = keyring.retire(config, now=previous.retirable_at)
    assert [entry.kid for entry in removed] == [previous.kid]
    assert [entry.state for entry in ring.entries] == [ACTIVE]
    assert bundle_kids(config) == jwks_kids(config) == [ring.signing.kid]
    assert not (config.data_dir / previous.key_file).exists()
    assert not (config.data_dir / previous.certificate_file).exists()
    assert records(keyring.load(config)) == records(ring)
    with pytest.raises(KeyringError, match="no previous key"):
        keyring.retire(config, now=previous.retirable_at)
    assert no_temporary_files(config)


def test_the_events_token_derived_from_the_first_key_survives_its_rotation(config, capsys):
    first = keyring.load(config).signing
    derived = derived_secret(first, REGISTRY_EVENTS_PURPOSE)
    assert cli(capsys, config, "keys", "add")[0] == 0
    assert cli(capsys, config, "keys", "activate")[0] == 0
    # The file now holds the token the registry was configured with; the new key changes nothing.
    assert mode(events_token.token_path(config.data_dir)) == 0o600
    new_key = keyring.load(config).signing
    assert new_key.kid != first.kid
    assert events_token.load(config.data_dir, new_key).current == derived
    status, out, _ = cli(capsys, config, "registry-config")
    assert status == 0 and f"Bearer {derived}" in out
    # A rotated events token is kept as it is by a later key change.
    rotated = events_token.rotate(config.data_dir, new_key)
    keyring.add(config, now=NOW)
    keyring.activate(config, now=NOW, before_switch=lambda key: events_token.pin(config.data_dir, key))
    assert events_token.load(config.data_dir, None) == rotated


def test_list_prints_a_table_with_each_keys_state_and_times(config, capsys):
    keyring.add(config, now=NOW)
    keyring.activate(config, now=NOW)
    keyring.add(config, "RS256", now=NOW + 1)
    status, out, _ = cli(capsys, config, "keys", "list")
    lines = out.splitlines()
    assert status == 0 and lines[0].split()[:3] == ["STATE", "KID", "ALG"]
    assert [line.split()[0] for line in lines[1:]] == [ACTIVE, NEXT, PREVIOUS]
    assert "2027-01-15T08:00:00Z" in lines[1]  # activated at NOW
    assert lines[2].split()[2] == "RS256"
    retirable = keyring.load(config).previous[0].retirable_at
    assert keyring.format_time(retirable) in lines[3]


def test_a_broken_keyring_file_is_a_clear_error(config, capsys):
    keyring.add(config, now=NOW)
    keyring.state_path(config.data_dir).write_text('{"keys": [{"kid": 1}]}')
    with pytest.raises(KeyringInvalid, match="is not a keyring"):
        keyring.load(config)
    status, _, err = cli(capsys, config, "keys", "list")
    assert status == 1 and "keyring.json" in err and err.count("\n") == 1


def test_a_keyring_naming_a_file_outside_the_data_dir_is_refused(config):
    keyring.add(config, now=NOW)
    state = json.loads(keyring.state_path(config.data_dir).read_text())
    state["keys"][0]["key_file"] = "../elsewhere.pem"
    keyring.state_path(config.data_dir).write_text(json.dumps(state))
    with pytest.raises(KeyringInvalid):
        keyring.load(config)


def test_a_worker_takes_an_activation_and_keeps_its_key_when_the_keyring_is_bad(config):
    live = LiveKeyring(config)
    first = live.current.signing
    assert live.refresh() is False  # nothing changed
    keyring.add(config, now=NOW)
    assert live.refresh() is True and live.current.signing is first  # the same object kept
    assert len(live.current.entries) == 2
    ring = keyring.activate(config, now=NOW)
    assert live.refresh() is True and live.current.signing.kid == ring.signing.kid
    good = live.current
    keyring.state_path(config.data_dir).write_text("{not json")
    assert live.refresh() is False and live.current is good  # still signing
    keyring.write_atomically(keyring.state_path(config.data_dir), json.dumps(
        {"version": 1, "keys": [entry.record() for entry in good.entries]}).encode(), 0o600)
    assert live.refresh() is True and live.current.signing.kid == ring.signing.kid


def test_write_atomically_replaces_the_file_whole_with_its_mode(tmp_path):
    target = tmp_path / "file"
    target.write_text("old")
    target.chmod(0o644)
    keyring.write_atomically(target, b"new", 0o600)
    assert target.read_bytes() == b"new" and mode(target) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["file"]
