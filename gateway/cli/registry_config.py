"""``regauth registry-config``: the block of the registry's ``config.yml`` that points it at
regauth (token auth and notifications)."""

import json

from ..config import Config
from ..registry import events_token
from ..token import keyring


def registry_config(config: Config, args) -> int:
    signing_key = keyring.load(config).signing
    host, port = config.listen
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: the registry on this machine reaches it here
    events_url = f"http://{f'[{host}]' if ':' in host else host}:{port}/registry/events"
    print(
        "auth:\n"
        "  token:\n"
        f"    realm: {json.dumps(config.realm)}\n"
        f"    service: {json.dumps(config.service)}\n"
        f"    issuer: {json.dumps(config.issuer)}\n"
        f"    rootcertbundle: {json.dumps(str(config.certificate_path.resolve()))}\n"
        "    # registry 3.x may instead (or also) trust the published key set:\n"
        f"    # jwks: {json.dumps(str(config.jwks_path.resolve()))}\n"
        "# What the registry serves goes to regauth's audit log (push_repo, pull_repo, delete_tag).\n"
        "# Change the url if the registry reaches regauth at another address; keep the header secret.\n"
        "notifications:\n"
        "  endpoints:\n"
        "    - name: regauth\n"
        f"      url: {json.dumps(events_url)}\n"
        "      headers:\n"
        f"        Authorization: [{json.dumps('Bearer ' + events_token.load(config.data_dir, signing_key).current)}]\n"
        "      timeout: 2s\n"
        "      threshold: 5\n"
        "      backoff: 1s\n"
        "      # blob events: only manifests are logged\n"
        "      ignoredmediatypes:\n"
        "        - application/octet-stream\n"
    )
    return 0
