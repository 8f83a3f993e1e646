"""A real browser for the web console's tests: Playwright (Python) driving Debian's Chromium.

Playwright's own browser download is not used (nor reachable): the tests launch the system's
``chromium`` (``apt-get install chromium``; ``IVR_TEST_CHROMIUM`` names another binary). Where
no browser can be had the tests skip and say why; ``IVR_REQUIRE_SERVICES=1`` (set by
``.ci/run``) turns that into a failure. Every browser test is marked ``slow`` (its own CI
stage), fails on a console error or an uncaught page error, and leaves a screenshot of its page
in ``artifacts/screenshots/`` (kept by CI as a test artifact).

Fixtures:
- ``live_server``: ``ivr serve`` in a process of its own, on a free port, with a fresh SQLite
  database of demo data, the clock fixed at a weekday morning (queues open) and a known agent
  token (``AGENT_TOKEN``); yields its base URL.
- ``page``: a fresh browser page (desktop width); ``phone_page`` is the same at a phone's width.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.conftest import serve
from tests.conftest import stop
from tests.services import REQUIRED

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AGENT_TOKEN = "browser-test-token"
# A Monday, 10:00 in Shanghai: the demo queues are open.
CLOCK = "2026-11-23T10:00:00+08:00"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.slow)


def chromium_path() -> str | None:
    named = os.environ.get("IVR_TEST_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}; IVR_REQUIRE_SERVICES=1 makes it required", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    binary = chromium_path()
    if binary is None:
        _unavailable("no Chromium found (apt-get install chromium, or set IVR_TEST_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=binary, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def _page(browser: Any, request: pytest.FixtureRequest, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    finally:
        context.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from _page(browser, request, {"width": 1280, "height": 900})


@pytest.fixture
def phone_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from _page(browser, request, {"width": 390, "height": 844})


def local_only(base: str) -> Any:
    """A route handler that aborts any request leaving the test server at ``base``: the page
    must need nothing from elsewhere."""

    def handle(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            route.abort()

    return handle


def start_server(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """``ivr serve`` on a free port with a fresh demo database; returns the process and URL."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(
        IVR_DATABASE_URL=f"sqlite:///{tmp_path / 'console.db'}",
        IVR_CLOCK=CLOCK,
        IVR_AGENT_TOKEN=AGENT_TOKEN,
        IVR_AUDIO="off",
        IVR_LOG_LEVEL="WARNING",
    )
    environ.update(env)
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ivr.cli.main", "serve", "--host", "127.0.0.1"]
    return serve(
        command + ["--port", str(port)], environ, tmp_path / "server.log", url, within=30
    ), url


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    process, url = start_server(tmp_path)
    try:
        yield url
    finally:
        stop(process, wait=10)
