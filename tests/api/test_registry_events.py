"""``POST /registry/events``: the registry's notifications become push_repo, pull_repo and
delete_tag rows in the audit log. Envelopes are shaped as distribution 2.8 sends them."""


import pytest

from gateway.token import keys
from tokenstore.errors import StoreBusy
from tokenstore.registry_activity import SEEN_RETENTION

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def event(event_id: str, action: str = "push", repository: str = "acme/app", *, media_type: str = MANIFEST,
          actor: str | None = "acme+ci", tag: str | None = "v1", address: str = "198.51.100.7:40000") -> dict:
    return {
        "id": event_id, "timestamp": "2026-11-28T06:00:00.000000000Z", "action": action,
        "target": {"mediaType": media_type, "size": 1234, "digest": "sha256:" + "ab" * 32, "length": 1234,
                   "repository": repository, "url": f"http://registry/v2/{repository}/manifests/sha256:ab", "tag": tag},
        "request": {"id": "r-" + event_id, "addr": address, "host": "registry.example.com",
                    "method": "PUT" if action == "push" else "GET", "useragent": "skopeo/1.9.3"},
        "actor": {"name": actor} if actor else {},
        "source": {"addr": "registry:5000", "instanceID": "i-1"},
    }


@pytest.fixture
def events_token(config) -> str:
    return keys.derived_secret(keys.load(config.key_path, config.certificate_path), keys.REGISTRY_EVENTS_PURPOSE)


@pytest.fixture
def acme(store):
    store.create_namespace("acme")
    store.create_robot("acme+ci")


async def post(client, token: str | None, body=None, *, data=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/registry/events", json=body, data=data, headers=headers)


def kinds(store, namespace: str = "acme") -> list:
    events, _ = store.list_events(namespace, start=0, end=4e9)
    return sorted((e.kind, e.performer, e.performer_kind, e.repository, e.ip, e.metadata.get("tag")) for e in events)


async def test_manifest_pushes_and_pulls_are_logged(client, store, events_token, acme):
    envelope = {"events": [
        event("e1", "push"),
        event("e2", "pull", actor=None, tag=None, address="[2001:db8::1]:5000"),  # anonymous, by digest
        event("e3", "pull", media_type="application/octet-stream"),  # a blob: not logged
        event("e4", "mount"),  # an action we do not log
        event("e5", "push", repository="library-less"),  # no namespace of ours
        event("e6", "delete", actor="acme+ci"),
        {"id": "e7", "action": "push", "target": "not an object"},  # malformed: dropped
    ]}
    reply = await post(client, events_token, envelope)
    assert reply.status == 200
    assert await reply.json() == {"received": 7, "written": 3, "dropped": 1}
    assert kinds(store) == [
        ("delete_tag", "acme+ci", "robot", "app", "198.51.100.7", "v1"),
        ("pull_repo", None, None, "app", "2001:db8::1", None),
        ("push_repo", "acme+ci", "robot", "app", "198.51.100.7", "v1"),
    ]
    pushed = next(e for e in store.list_events("acme", start=0, end=4e9)[0] if e.kind == "push_repo")
    assert pushed.metadata["manifest_digest"] == "sha256:" + "ab" * 32
    assert pushed.metadata["useragent"] == "skopeo/1.9.3" and pushed.metadata["robot"] == "acme+ci"


async def test_a_retried_delivery_writes_nothing_twice(client, store, events_token, acme, clock):
    envelope = {"events": [event("same-id")]}
    assert (await (await post(client, events_token, envelope)).json())["written"] == 1
    assert (await (await post(client, events_token, envelope)).json())["written"] == 0
    assert len(kinds(store)) == 1
    clock.advance(SEEN_RETENTION)
    assert store.collect_garbage() == {"registry_events_seen": 1}


async def test_events_of_unknown_namespaces_are_acknowledged_and_dropped(client, store, events_token):
    reply = await post(client, events_token, {"events": [event("x1", repository="nobody/app")]})
    assert (reply.status, await reply.json()) == (200, {"received": 1, "written": 0, "dropped": 0})


@pytest.mark.parametrize("token", [None, "rg_wrong", "Basic x"])
async def test_the_registrys_token_is_required(client, store, events_token, acme, token):
    reply = await post(client, token, {"events": [event("t1")]})
    assert reply.status == 401
    assert "registry-config" in (await reply.json())["details"]
    assert kinds(store) == []


@pytest.mark.parametrize("body,fragment", [
    ("not json", "JSON envelope"), ("[]", '"events" list'), ('{"events": {}}', '"events" list'),
    ('{"events": [' + ",".join(["{}"] * 1001) + "]}", "at most 1000"),
])
async def test_what_is_not_an_envelope_is_a_clear_400(client, events_token, body, fragment):
    reply = await post(client, events_token, data=body)
    assert reply.status == 400
    assert fragment in (await reply.json())["details"]


async def test_a_database_failure_asks_the_registry_to_send_again(client, store, events_token, acme, monkeypatch):
    def locked(events):
        raise StoreBusy("the database is busy with another writer", "database is locked")

    monkeypatch.setattr(store, "record_repository_events", locked)
    reply = await post(client, events_token, {"events": [event("d1")]})
    assert reply.status == 503 and reply.headers["Retry-After"] == "1"
    assert "send the events again" in (await reply.json())["details"]
