"""The verified-credential cache: bcrypt once, confirmation on every hit, bounded memory.

bcrypt runs are counted by wrapping ``bcrypt.checkpw`` where tokenstore calls it; the store is
the real one (bcrypt cost 4) and the thread pools are the real ones.
"""

import asyncio
import threading

import pytest

from gateway.offload import Offload
from gateway.token.credential_cache import CredentialChecker
from tokenstore import InvalidCredentials, hashing

from tests.conftest import FakeClock
from tests.stores import reopen

ROBOT = "myorg+ci"


@pytest.fixture
async def offload():
    pools = Offload()
    yield pools
    pools.close()


@pytest.fixture
def robot(store):
    store.create_namespace("myorg")
    return store.create_robot(ROBOT)


@pytest.fixture
def checker(store, offload):
    return CredentialChecker(store, offload)


async def test_a_hit_runs_no_bcrypt(checker, robot, bcrypt_runs):
    first = await checker.authenticate(ROBOT, robot.secret)
    assert len(bcrypt_runs) == 1
    for _ in range(5):
        assert await checker.authenticate(ROBOT, robot.secret) == first
    assert len(bcrypt_runs) == 1
    assert first.robot_id == robot.robot.id and first.secret_id == robot.secret_id


async def test_the_secret_is_not_held(checker, robot):
    await checker.authenticate(ROBOT, robot.secret)
    held = repr(checker._verified) + repr(vars(checker))
    assert robot.secret not in held
    for key in checker._verified:
        assert robot.secret.encode() not in key and len(key) == 32  # an HMAC-SHA256, nothing else


async def test_regenerate_refuses_the_cached_secret_at_once(checker, store, robot, bcrypt_runs):
    await checker.authenticate(ROBOT, robot.secret)
    new = store.regenerate_secret(ROBOT)
    with pytest.raises(InvalidCredentials):
        await checker.authenticate(ROBOT, robot.secret)
    assert len(checker) == 0
    assert (await checker.authenticate(ROBOT, new.secret)).secret_id == new.secret_id


async def test_a_grace_period_keeps_the_cached_secret_until_it_ends(checker, store, robot, clock):
    await checker.authenticate(ROBOT, robot.secret)
    store.regenerate_secret(ROBOT, grace_seconds=60)
    await checker.authenticate(ROBOT, robot.secret)
    clock.advance(61)
    with pytest.raises(InvalidCredentials):
        await checker.authenticate(ROBOT, robot.secret)


async def test_delete_refuses_the_cached_secret_at_once(checker, store, robot):
    await checker.authenticate(ROBOT, robot.secret)
    store.delete_robot(ROBOT)
    with pytest.raises(InvalidCredentials):
        await checker.authenticate(ROBOT, robot.secret)


async def test_deleting_the_namespace_refuses_the_cached_secret_at_once(checker, store, robot):
    await checker.authenticate(ROBOT, robot.secret)
    store.delete_namespace("myorg")
    with pytest.raises(InvalidCredentials):
        await checker.authenticate(ROBOT, robot.secret)


async def test_expiry_refuses_the_cached_secret_at_once(checker, store, clock):
    store.create_namespace("myorg")
    store.create_robot(ROBOT)
    issued = store.regenerate_secret(ROBOT, expires_at=clock() + 30)
    await checker.authenticate(ROBOT, issued.secret)
    clock.advance(31)
    with pytest.raises(InvalidCredentials) as refused:
        await checker.authenticate(ROBOT, issued.secret)
    assert refused.value.reason == "expired"


async def test_another_process_sees_a_regeneration_too(store, offload, robot, clock):
    """Two checkers on two Store objects (as two worker processes have) share only the file."""
    other_store = reopen(store, clock)
    try:
        mine, theirs = CredentialChecker(store, offload), CredentialChecker(other_store, offload)
        await mine.authenticate(ROBOT, robot.secret)
        await theirs.authenticate(ROBOT, robot.secret)
        other_store.regenerate_secret(ROBOT)
        for checker in (mine, theirs):
            with pytest.raises(InvalidCredentials):
                await checker.authenticate(ROBOT, robot.secret)
    finally:
        other_store.close()


async def test_identical_cold_checks_share_one_bcrypt_run(checker, robot, bcrypt_runs):
    principals = await asyncio.gather(*(checker.authenticate(ROBOT, robot.secret) for _ in range(20)))
    assert len(bcrypt_runs) == 1
    assert len(set(principals)) == 1


async def test_identical_wrong_checks_share_one_bcrypt_run_and_all_fail(checker, robot, bcrypt_runs):
    results = await asyncio.gather(*(checker.authenticate(ROBOT, "WRONG" * 12) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(result, InvalidCredentials) for result in results)
    assert len(bcrypt_runs) == 1


async def test_a_caller_going_away_does_not_fail_the_others(checker, robot):
    first = asyncio.ensure_future(checker.authenticate(ROBOT, robot.secret))
    second = asyncio.ensure_future(checker.authenticate(ROBOT, robot.secret))
    await asyncio.sleep(0)
    first.cancel()
    principal = await second
    assert principal.robot_id == robot.robot.id
    assert len(checker) == 1


async def test_failures_are_not_cached(checker, robot, bcrypt_runs):
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await checker.authenticate(ROBOT, "WRONG" * 12)
    assert len(bcrypt_runs) == 3
    assert len(checker) == 0
    await checker.authenticate(ROBOT, robot.secret)
    assert len(checker) == 1


async def test_unknown_robots_are_not_cached(checker, robot, bcrypt_runs):
    for index in range(5):
        with pytest.raises(InvalidCredentials):
            await checker.authenticate(f"myorg+nobody{index}", robot.secret)
    assert len(checker) == 0 and len(bcrypt_runs) == 5


async def test_the_cache_is_bounded_least_recently_used_first(store, offload, bcrypt_runs):
    store.create_namespace("myorg")
    robots = [store.create_robot(f"myorg+bot{index}") for index in range(5)]
    checker = CredentialChecker(store, offload, max_entries=3)
    for issued in robots:
        await checker.authenticate(issued.robot.username, issued.secret)
    assert len(checker) == 3 and len(bcrypt_runs) == 5
    # The three most recent are hits; the first was evicted and costs bcrypt again.
    for issued in robots[2:]:
        await checker.authenticate(issued.robot.username, issued.secret)
    assert len(bcrypt_runs) == 5
    await checker.authenticate(robots[0].robot.username, robots[0].secret)
    assert len(bcrypt_runs) == 6 and len(checker) == 3


async def test_an_entry_is_reverified_after_its_ttl(store, offload, robot, bcrypt_runs):
    monotonic = FakeClock(start=0)
    checker = CredentialChecker(store, offload, ttl=60, clock=monotonic)
    await checker.authenticate(ROBOT, robot.secret)
    monotonic.advance(59)
    await checker.authenticate(ROBOT, robot.secret)
    assert len(bcrypt_runs) == 1
    monotonic.advance(2)
    await checker.authenticate(ROBOT, robot.secret)
    assert len(bcrypt_runs) == 2


async def test_a_hit_records_last_accessed(checker, store, robot, clock):
    await checker.authenticate(ROBOT, robot.secret)
    first = store.get_robot(ROBOT).last_accessed
    clock.advance(120)
    await checker.authenticate(ROBOT, robot.secret)
    assert store.get_robot(ROBOT).last_accessed == first + 120


async def test_the_token_endpoint_uses_the_cache(client, store, bcrypt_runs):
    import base64

    from tests.conftest import SERVICE

    store.create_namespace("myorg")
    issued = store.create_robot(ROBOT)
    store.grant(ROBOT, "myorg", "write")
    headers = {"Authorization": "Basic " + base64.b64encode(f"{ROBOT}:{issued.secret}".encode()).decode()}
    for _ in range(3):
        response = await client.get("/token", params={"service": SERVICE, "scope": "repository:myorg/app:pull,push"},
                                    headers=headers)
        assert response.status == 200
    assert len(bcrypt_runs) == 1
    store.regenerate_secret(ROBOT)
    response = await client.get("/token", params={"service": SERVICE}, headers=headers)
    assert response.status == 401


async def test_a_hit_confirms_and_runs_the_follow_up_in_one_writer_job(checker, offload, store, robot, monkeypatch):
    await checker.authenticate(ROBOT, robot.secret)
    jobs = []

    def counting(pool):
        real = getattr(offload, pool)

        async def run(fn, *args, **kwargs):
            jobs.append(pool)
            return await real(fn, *args, **kwargs)

        return run

    for pool in ("database", "write", "write_reading"):
        monkeypatch.setattr(offload, pool, counting(pool))
    seen = []
    principal, result = await checker.authenticate_then(ROBOT, robot.secret, lambda p: seen.append(p) or "granted")
    # One writer job, told what it will read (its confirmation: this follow-up names no roles).
    assert (result, seen, jobs) == ("granted", [principal], ["write_reading"])
    # A stale verification runs no follow-up for it: the full check fails and says why.
    store.regenerate_secret(ROBOT)
    seen.clear()
    with pytest.raises(InvalidCredentials):
        await checker.authenticate_then(ROBOT, robot.secret, seen.append)
    assert seen == []


async def test_a_cold_check_runs_the_follow_up_after_bcrypt(checker, robot, bcrypt_runs):
    principal, result = await checker.authenticate_then(ROBOT, robot.secret, lambda p: p.username)
    assert (result, len(bcrypt_runs)) == (ROBOT, 1)
    assert await checker.authenticate_then(ROBOT, robot.secret, None) == (principal, None)


async def test_a_cold_check_writes_nothing_on_the_bcrypt_thread(checker, store, robot, monkeypatch):
    """bcrypt threads run at low priority: one descheduled while it held the write lock would
    stall every writer, and every token waits for the writer. The use is recorded after."""
    writers = []
    real = store._brief_write

    def recording(what, write):
        writers.append(threading.current_thread().name)
        return real(what, write)

    monkeypatch.setattr(store, "_brief_write", recording)
    store.db.execute("UPDATE robot_secrets SET selector = NULL WHERE id = ?", [robot.secret_id])
    principal, _ = await checker.authenticate_then(ROBOT, robot.secret, lambda p: None)
    assert writers and not any(name.startswith("bcrypt") for name in writers)
    row = store.db.execute("SELECT selector, last_used FROM robot_secrets WHERE id = ?", [robot.secret_id]).fetchone()
    assert row == (hashing.selector(robot.secret), store.clock())
    assert store.get_robot(ROBOT).last_accessed == store.clock()
