"""A secret that was taken away stays dead whatever the clock does; a robot has at most two
live secrets; a wrong secret costs one bcrypt check whatever the robot's state."""

import hashlib
import time

import pytest

from tokenstore import InvalidCredentials, Store, hashing
from tokenstore.sqlite.database import connect, initialise
from tokenstore.sqlite.schema import migrations
from tokenstore.secret_lifecycle import MAX_GRACE_SECONDS

HOUR = 3600


# -- a backward clock step -----------------------------------------------------------------


def test_replaced_secret_and_its_refresh_tokens_stay_dead_when_the_clock_steps_back(store, robot, clock):
    old_principal = store.authenticate("acme+ci", robot.secret)
    refresh_token = store.issue_refresh_token(old_principal, "docker")
    new = store.rotate_secret("acme+ci")
    clock.advance(-HOUR)
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", robot.secret)
    assert not store.confirm(old_principal)
    with pytest.raises(InvalidCredentials):
        store.redeem_refresh_token(refresh_token)
    assert store.count_refresh_tokens("acme+ci") == 0
    assert [s.id for s in store.list_secrets("acme+ci")] == [new.secret_id]
    assert store.authenticate("acme+ci", new.secret).secret_id == new.secret_id


def test_secret_pushed_out_of_its_grace_stays_dead_when_the_clock_steps_back(store, robot, clock):
    second = store.rotate_secret("acme+ci", grace_seconds=600)
    refresh_token = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret))
    store.rotate_secret("acme+ci", grace_seconds=600)  # ends the first secret's grace for good
    clock.advance(-HOUR)
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", robot.secret)
    with pytest.raises(InvalidCredentials):
        store.redeem_refresh_token(refresh_token)
    # The secret now in grace still works: grace stays a time.
    assert store.authenticate("acme+ci", second.secret).secret_id == second.secret_id


# -- the cap and the cost of a wrong secret ------------------------------------------------------


def test_thirty_regenerates_with_grace_leave_two_live_secrets_and_one_check_per_login(store, robot, bcrypt_runs):
    issued = [robot] + [store.rotate_secret("acme+ci", grace_seconds=MAX_GRACE_SECONDS) for _ in range(30)]
    current, in_grace = issued[-1], issued[-2]
    assert [s.id for s in store.list_secrets("acme+ci")] == [current.secret_id, in_grace.secret_id]
    for ended in issued[:-2]:
        with pytest.raises(InvalidCredentials):
            store.authenticate("acme+ci", ended.secret)
    bcrypt_runs.clear()
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", hashing.generate_secret())
    assert len(bcrypt_runs) == 1
    for secret in (current, in_grace):
        bcrypt_runs.clear()
        assert store.authenticate("acme+ci", secret.secret).secret_id == secret.secret_id
        assert len(bcrypt_runs) == 1


@pytest.mark.parametrize("username", ["acme+ci", "acme+nobody", "not a robot name"])
def test_every_refusal_costs_exactly_one_check(store, robot, bcrypt_runs, username):
    store.rotate_secret("acme+ci", grace_seconds=600)
    bcrypt_runs.clear()
    with pytest.raises(InvalidCredentials):
        store.authenticate(username, hashing.generate_secret())
    assert len(bcrypt_runs) == 1


def test_the_secret_in_grace_and_the_new_one_never_share_a_selector(store, robot):
    for _ in range(20):
        live = store.db.execute(
            "SELECT selector FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
            " WHERE r.shortname = 'ci' AND s.ended = 0"
        ).fetchall()
        assert len({row[0] for row in live}) == len(live) <= 2
        store.rotate_secret("acme+ci", grace_seconds=600)


def test_a_secret_stored_without_selector_gets_one_at_its_next_login(store, robot, bcrypt_runs):
    store.db.execute("UPDATE robot_secrets SET selector = NULL WHERE id = ?", [robot.secret_id])
    assert store.authenticate("acme+ci", robot.secret).secret_id == robot.secret_id
    (selector,) = store.db.execute("SELECT selector FROM robot_secrets WHERE id = ?", [robot.secret_id]).fetchone()
    assert selector == hashing.selector(robot.secret)
    new = store.rotate_secret("acme+ci", grace_seconds=600)
    bcrypt_runs.clear()
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", hashing.generate_secret())
    assert len(bcrypt_runs) == 1
    assert store.authenticate("acme+ci", new.secret).secret_id == new.secret_id


def test_selector_is_sixteen_bits_of_sha256():
    assert hashing.selector("A" * 64) == int.from_bytes(hashlib.sha256(b"A" * 64).digest()[:2], "big")
    assert all(0 <= hashing.selector(hashing.generate_secret()) < 2**16 for _ in range(50))


# -- the migration for existing rows ---------------------------------------------------------


def test_migration_ends_lapsed_secrets_and_caps_the_ones_in_grace(tmp_path):
    path = tmp_path / "old.db"
    db = connect(path)
    db.enable_wal()
    migrations.apply(db, stop_before="0009_secret_state")
    now = time.time()
    db.execute("INSERT INTO namespaces (id, name, kind, created) VALUES (1, 'acme', 'organization', ?)", [now])
    db.execute("INSERT INTO robots (id, namespace_id, shortname, created) VALUES (1, 1, 'ci', ?)", [now])
    secrets = [hashing.generate_secret() for _ in range(5)]
    # lapsed grace, three still in grace (oldest first), the current one
    for index, (secret, revoked_at) in enumerate(zip(secrets, [now - 10, now + 100, now + 200, now + 300, None]), 1):
        db.execute(
            "INSERT INTO robot_secrets (id, robot_id, hash, created, revoked_at) VALUES (?, 1, ?, ?, ?)",
            [index, hashing.hash_secret(secret, 4), now, revoked_at],
        )
    db.conn.commit()
    db.close()
    initialise(path)
    store = Store(path, bcrypt_cost=4)
    try:
        ended = dict(store.db.execute("SELECT id, ended FROM robot_secrets ORDER BY id").fetchall())
        assert ended == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0}
        assert store.authenticate("acme+ci", secrets[3]).secret_id == 4
        assert store.authenticate("acme+ci", secrets[4]).secret_id == 5
        with pytest.raises(InvalidCredentials):
            store.authenticate("acme+ci", secrets[2])
    finally:
        store.close()
