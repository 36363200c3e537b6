"""``regauth events-token show|rotate|retire``: a new bearer token for the registry's
notifications without a new signing key; the server takes it (and keeps the previous one
until retired) at once, and ``regauth registry-config`` prints it."""

import json
import re

from gateway.cli import main
from gateway.registry import events_token
from gateway.token import keys
from tests.api.test_registry_events import acme, event, events_token as derived_token, post  # noqa: F401 - fixtures


def cli(capsys, config, *argv) -> tuple[int, str, str]:
    status = main([*argv, "--data-dir", str(config.data_dir)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def printed_token(capsys, config) -> str:
    status, out, _ = cli(capsys, config, "registry-config")
    assert status == 0
    return re.search(r'Authorization: \["Bearer ([^"]+)"\]', out).group(1)


def test_rotate_writes_a_private_file_that_registry_config_prints(capsys, config, derived_token):  # noqa: F811
    status, out, _ = cli(capsys, config, "events-token", "show")
    assert status == 0 and json.loads(out)["token"] == derived_token
    assert json.loads(out)["previous_accepted"] is False
    assert printed_token(capsys, config) == derived_token

    status, out, _ = cli(capsys, config, "events-token", "rotate")
    rotated = json.loads(out)
    assert status == 0 and rotated["previous_accepted"] is True
    assert rotated["token"] != derived_token and rotated["token"].startswith("rg_")
    path = events_token.token_path(config.data_dir)
    assert rotated["file"] == str(path) and path.stat().st_mode & 0o777 == 0o600
    assert printed_token(capsys, config) == rotated["token"]

    status, out, _ = cli(capsys, config, "events-token", "rotate")
    again = json.loads(out)["token"]
    assert again not in (rotated["token"], derived_token)
    assert events_token.load(config.data_dir, None).previous == rotated["token"]  # the key is not needed any more

    status, out, _ = cli(capsys, config, "events-token", "retire")
    assert status == 0 and json.loads(out) == {"token": again, "previous_accepted": False, "file": str(path)}
    assert printed_token(capsys, config) == again
    assert [p.name for p in config.data_dir.iterdir() if p.name.startswith(".")] == []  # no temporary left


async def test_the_server_takes_a_rotation_at_once_and_a_retirement_too(client, store, config, acme,  # noqa: F811
                                                                        derived_token):  # noqa: F811
    envelope = {"events": [event("e1")]}
    assert (await post(client, derived_token, envelope)).status == 200
    rotated = events_token.rotate(config.data_dir, _key(config))
    # The registry may still hold the old configuration: both are taken until retired.
    assert (await post(client, derived_token, {"events": [event("e2")]})).status == 200
    assert (await post(client, rotated.current, {"events": [event("e3")]})).status == 200
    events_token.retire(config.data_dir, _key(config))
    refused = await post(client, derived_token, {"events": [event("e4")]})
    assert refused.status == 401
    assert (await post(client, rotated.current, {"events": [event("e5")]})).status == 200
    assert (await post(client, "Bearer" + rotated.current, None, data="{}")).status == 401


async def test_an_unreadable_token_file_is_a_503_and_a_clear_cli_error(client, config, capsys, acme,  # noqa: F811
                                                                      derived_token):  # noqa: F811
    events_token.token_path(config.data_dir).write_text("not json")
    reply = await post(client, derived_token, {"events": [event("b1")]})
    assert reply.status == 503
    assert "events token file" in (await reply.json())["details"]
    status, out, err = cli(capsys, config, "events-token", "show")
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "registry-events-token" in err and "events-token rotate" in err


def _key(config):
    return keys.load(config.key_path, config.certificate_path)
