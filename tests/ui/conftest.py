"""Fixtures for the web UI tests: a real ``regauth serve`` process, Debian's chromium driven
by Playwright, screenshots of every step, and the end-to-end stack for the test that needs
the registry.

- ``ui_server``: regauth alone on a free port (one per session), with ``model``, a Store on
  the same database file for preparing users, organizations and robots.
- ``browser``: chromium from ``/usr/bin/chromium`` (Playwright never downloads a browser
  here); ``page`` gives each test a fresh context (no cookies) and fails the test on any
  script error or Content-Security-Policy violation in the browser console.
- ``shots``: ``shots(page, "what")`` saves ``test-artifacts/ui/<test>/NN-what.png``.
- ``stack``, ``regauth_cli``, ``new_client``: the end-to-end fixtures of ``tests/e2e``
  (registry, nginx, regauth; skopeo), reused as they are.

The tests are plain synchronous functions using Playwright's sync API, which runs its own
event loop and so must not share a test with an async fixture.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenstore import Store

from .browsing import BCRYPT_COST, PASSWORD, REGISTRY_HOST

E2E_DIR = Path(__file__).resolve().parents[1] / "e2e"
# The end-to-end helpers import one another by their bare module names.
sys.path.insert(0, str(E2E_DIR))

from e2e_stack import ISSUER, REPO_ROOT, SERVICE, START_TIMEOUT, RegauthCli, regauth_env  # noqa: E402
from e2e_support import Daemon, free_port, http_status  # noqa: E402


def _load_e2e_fixtures():
    """Import tests/e2e/conftest.py under its own name, to reuse its fixtures here."""
    spec = importlib.util.spec_from_file_location("e2e_fixtures", E2E_DIR / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_e2e = _load_e2e_fixtures()
stack = _e2e.stack
regauth_cli = _e2e.regauth_cli
oci_image = _e2e.oci_image
skopeo_tool = _e2e.skopeo_tool
new_client = _e2e.new_client

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs real registry, nginx, regauth and container clients")


# --------------------------------------------------------------------------- regauth alone


@dataclass(frozen=True)
class UiServer:
    url: str
    data_dir: Path
    log_path: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "regauth.db"


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """``regauth serve`` on a free port of 127.0.0.1, with a fresh data directory."""
    base = tmp_path_factory.mktemp("ui")
    port = free_port()
    cli = RegauthCli(
        base / "data",
        ("--service", SERVICE, "--issuer", ISSUER, "--realm", f"https://{REGISTRY_HOST}/token",
         "--bcrypt-cost", str(BCRYPT_COST)),
    )
    cli("init")
    daemon = Daemon("regauth", cli.argv("serve", "--listen", f"127.0.0.1:{port}"), base / "regauth.log",
                    env=regauth_env(), cwd=REPO_ROOT)
    try:
        daemon.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, START_TIMEOUT)
        yield UiServer(f"http://127.0.0.1:{port}", cli.data_dir, daemon.log_path)
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def model(ui_server: UiServer) -> Iterator[Store]:
    """The model on the server's database file, for preparing what a test needs."""
    store = Store(ui_server.database, bcrypt_cost=BCRYPT_COST)
    yield store
    store.close()


@dataclass(frozen=True)
class Scene:
    """An organization with an admin, a plain member and a robot, made for one test."""

    org: str
    admin: str
    member: str
    robot: str
    secret: str


@pytest.fixture
def scene(model: Store, unique: Callable[[str], str]) -> Scene:
    """A fresh organization: ``admin`` administers it, ``member`` belongs to it, robot
    ``ORG+builder`` has write on ``ORG/app``; repositories ``app`` and ``web`` exist."""
    admin, member, org = unique("admin"), unique("member"), unique("org")
    model.create_user(admin, PASSWORD)
    model.create_user(member, PASSWORD)
    model.create_organization(org, admin=admin)
    model.set_member(org, member, "member")
    model.create_repository(f"{org}/app")
    model.create_repository(f"{org}/web")
    issued = model.create_robot(f"{org}+builder", "Builds and pushes the app")
    model.grant(issued.robot.username, f"{org}/app", "write")
    return Scene(org, admin, member, issued.robot.username, issued.secret)


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through Playwright (one per test module)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium is not installed ({CHROMIUM} not found)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class ConsoleWatch:
    """Collects what the browser reports as wrong: script errors, failed requests the page
    did not expect, Content-Security-Policy violations."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def console(self, message) -> None:
        # Chromium logs every 4xx answer to the page's own requests as a console error; the
        # tests check those statuses themselves (a refusal is often what they expect).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def page_error(self, error) -> None:
        self.problems.append(f"page error: {error}")


@pytest.fixture
def context(browser):
    """A fresh browser context: no cookies, a laptop-sized window, UTC."""
    made = browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")
    made.set_default_timeout(10_000)
    yield made
    made.close()


@pytest.fixture
def watch() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(context, watch: ConsoleWatch):
    """A page in ``context``; the test fails if the browser logged an error on it."""
    opened = context.new_page()
    opened.on("console", watch.console)
    opened.on("pageerror", watch.page_error)
    yield opened
    assert not watch.problems, "the browser reported problems:\n" + "\n".join(watch.problems)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``shots(page, "what")``: save a screenshot of the page as the test's next step."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    steps = itertools.count(1)

    def take(page, what: str, *, full_page: bool = False, element=None) -> Path:
        """Screenshot the page (or only ``element``, a locator) into the next step's file."""
        path = folder / f"{next(steps):02d}-{what}.png"
        if element is not None:
            element.screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
