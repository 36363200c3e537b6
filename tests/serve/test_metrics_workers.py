"""``/metrics`` under ``regauth serve --workers 2``: whichever worker answers a scrape, the
counts are those of every worker added up; a killed worker's counts stay in the sum, its
pending checks leave it; the shared directory is private and removed at exit, or, when the
server was killed, by the next server to start."""

import os
import signal
import stat
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.serving import init_data_dir
from tests.serve.test_workers import (  # noqa: F401 - server
    WORKERS, children, free_port, healthy, server, serving, token_requests, wait_for,
)

SCRAPES = 8


@pytest.fixture
def metrics_tmp(tmp_path, monkeypatch):
    """The TMPDIR the served processes make their metrics directory in."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp


def issued_tokens(port: int) -> float:
    """GET /metrics on ``port`` (a new connection: any worker may answer); returns the count
    of issued token requests."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "regauth_token_requests_total" and sample.labels == {"outcome": "issued"}:
                return sample.value
    raise AssertionError("no regauth_token_requests_total{outcome=\"issued\"} in /metrics")


async def test_counts_add_up_across_workers_and_survive_a_killed_worker(metrics_tmp, server):  # noqa: F811
    process, port, _, secrets = server
    (shared,) = metrics_tmp.iterdir()
    assert shared.name.startswith("regauth-metrics-")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700
    assert await token_requests(port, secrets, count=40, concurrency=4) == [200] * 40
    # Both workers counted some of them (one file each); every scrape sees the sum.
    workers = children(process.pid)
    files = {path.name for path in shared.iterdir()}
    assert {f"counter_{pid}.db" for pid in workers} | {f"gauge_livesum_{pid}.db" for pid in workers} <= files
    assert [issued_tokens(port) for _ in range(SCRAPES)] == [40] * SCRAPES

    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(set(children(process.pid)) - set(workers)) == 1, 5.0, "a new worker started")
    wait_for(lambda: len(children(process.pid)) == WORKERS, 5.0, "two workers again")
    # Its live gauges (pending bcrypt checks) were dropped from the sums: it has none pending.
    assert not (shared / f"gauge_livesum_{workers[0]}.db").exists()
    assert await token_requests(port, secrets, count=10, concurrency=2) == [200] * 10
    assert [issued_tokens(port) for _ in range(SCRAPES)] == [50] * SCRAPES

    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(15) == 0
    assert not shared.exists()


def ended(pid: int) -> bool:
    """True when process ``pid`` has exited (gone, or a zombie not yet reaped): its files,
    and the locks they held, are closed."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


def another_server(tmp_path: Path, name: str):
    """``serving`` a second, empty data directory ``tmp_path/name`` on a free port."""
    (tmp_path / name).mkdir()
    settings, env = init_data_dir(tmp_path / name / "data")
    return serving(tmp_path / name, settings, env, free_port())


def test_the_directory_of_a_killed_server_is_removed_by_the_next_one(metrics_tmp, server, tmp_path):  # noqa: F811
    """The OOM killer, a stop timeout or ``kill -9`` leaves no ``finally`` to run: the next
    server to start in the same TMPDIR removes what the dead one left."""
    process, _, _, _ = server
    (killed,) = metrics_tmp.iterdir()
    group = [process.pid, *children(process.pid)]
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(5) == -signal.SIGKILL
    wait_for(lambda: all(ended(pid) for pid in group), 5.0, "the workers ended")
    assert killed.is_dir()

    with another_server(tmp_path, "next"):
        assert not killed.exists()
        (shared,) = metrics_tmp.iterdir()
        assert shared.name.startswith("regauth-metrics-")


async def test_a_running_servers_directory_is_kept_when_another_starts(metrics_tmp, server, tmp_path):  # noqa: F811
    _, port, _, secrets = server
    (first,) = metrics_tmp.iterdir()
    assert await token_requests(port, secrets, count=4, concurrency=2) == [200] * 4
    with another_server(tmp_path, "second") as second:
        assert len(list(metrics_tmp.iterdir())) == 2
        assert first.is_dir() and healthy(port)
        os.killpg(second.pid, signal.SIGTERM)
        assert second.wait(15) == 0
    assert list(metrics_tmp.iterdir()) == [first]
    assert issued_tokens(port) == 4  # its files are intact: a scrape still adds them up
