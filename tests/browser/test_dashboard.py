"""`/dashboard` in a real browser: a demo day of calls fills the records, and every figure the
page shows equals `ivr report --format json` for the same filters; the charts and the heat
map draw offline, at a desktop's width and a phone's, and the keyboard reaches the filters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import AGENT_TOKEN
from tests.browser.conftest import ROOT
from tests.browser.conftest import local_only
from tests.browser.conftest import start_server
from tests.conftest import stop

DAY = "2026-11-23"
CALLS = "80"


def _ivr(tmp_path: Path, *args: str) -> str:
    """``ivr`` on the server's database, as a user runs it next to ``ivr serve``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    env.update(
        IVR_DATABASE_URL=f"sqlite:///{tmp_path / 'console.db'}",
        IVR_AUDIO="off",
        IVR_LOG_LEVEL="WARNING",
    )
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli.main", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's folder; its database gets a demo day once, and the tests only read it."""
    made = tmp_path_factory.mktemp("dashboard")
    _ivr(made, "demo", "calls", "--day", DAY, "--calls", CALLS)
    return made


@pytest.fixture(scope="module")
def demo_server(folder: Path) -> Iterator[str]:
    """``ivr serve`` on the demo day's records."""
    process, url = start_server(folder)
    try:
        yield url
    finally:
        stop(process, wait=10)


def _shown(path: str, value: Any) -> str:
    """A figure as the page writes it."""
    if value is None:
        return "–"
    if path.endswith("share") or path == "containment":
        return f"{value * 100:.1f}%"
    if path.endswith((".median", ".p90")):
        return f"{value:.1f} s"
    if path == "survey.mean":
        return f"{value:.2f}"
    return str(value)


def _lookup(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def _open(page: Any, url: str) -> None:
    page.route("**/*", local_only(url.split("/dashboard")[0]))
    page.goto(url)
    page.wait_for_selector("#heat-map[data-drawn=yes] svg", state="attached", timeout=30_000)


def test_the_dashboard_shows_the_figures_of_ivr_report(
    page: Any, demo_server: str, folder: Path
) -> None:
    expected = json.loads(_ivr(folder, "report", "--format", "json", "--since", DAY,
                               "--until", DAY))  # fmt: skip
    _open(page, f"{demo_server}/dashboard/?token={AGENT_TOKEN}&since={DAY}&until={DAY}")

    assert expected["calls"] == int(CALLS)
    summary = page.eval_on_selector_all(
        "[data-figure]:not([data-state] *):not([data-group] *)",
        "cells => cells.map(c => [c.dataset.figure, c.textContent.trim()])",
    )
    assert len(summary) > 30
    for path, text in summary:
        assert text == _shown(path, _lookup(expected, path)), path
    rows = page.eval_on_selector_all(
        "tr[data-state]",
        """rows => rows.map(r => [r.dataset.state, Object.fromEntries(
            [...r.querySelectorAll('[data-figure]')].map(c => [c.dataset.figure,
                                                                 Number(c.textContent)]))])""",
    )
    states = {s["state"]: s for s in expected["states"]}
    assert [name for name, _ in rows] == list(states)
    for name, shown in rows:
        assert shown == {k: states[name][k] for k in shown}, name
    for split, groups in expected["by"].items():
        for group, figures in groups.items():
            row = page.locator(f"table[data-split='{split}'] tr[data-group='{group}']")
            assert row.locator("[data-figure='calls']").text_content() == str(figures["calls"])
            assert row.locator("[data-figure='outcomes.agent']").text_content() == str(
                figures["outcomes"]["agent"]
            )
    assert page.get_attribute("body", "data-charts") == "3"
    assert page.locator("#chart-funnel svg").count() == 1
    assert "登录和密码" in page.locator("table[data-split='issue']").inner_text()
    assert "main_menu" in (page.locator("#heat-map svg").text_content() or "")


def test_the_keyboard_reaches_the_filters_and_the_figures(
    page: Any, demo_server: str, folder: Path
) -> None:
    _open(page, f"{demo_server}/dashboard/?token={AGENT_TOKEN}")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the figures"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "since"
    page.fill("input[name=since]", DAY)
    page.fill("input[name=until]", DAY)
    page.focus("input[name=until]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/?since=*")
    page.wait_for_selector("#heat-map[data-drawn=yes] svg", state="attached", timeout=30_000)
    assert f"since={DAY}" in page.url
    assert f"token={AGENT_TOKEN}" in page.url  # the token rides along with the filters
    expected = json.loads(_ivr(folder, "report", "--format", "json", "--since", DAY,
                               "--until", DAY))  # fmt: skip
    assert page.text_content("[data-figure='calls']") == str(expected["calls"])
    labels = page.eval_on_selector_all(
        "input, select, button", "els => els.filter(e => e.type !== 'hidden').map(e => "
        "(e.labels && e.labels[0] ? e.labels[0].textContent : e.textContent).trim())",
    )  # fmt: skip
    assert all(labels), labels


def test_the_dashboard_fits_a_phones_width(phone_page: Any, demo_server: str) -> None:
    _open(phone_page, f"{demo_server}/dashboard/?token={AGENT_TOKEN}")

    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= phone_page.viewport_size["width"]
    assert phone_page.locator("#chart-hours svg").count() == 1


def test_the_dashboard_without_the_token_is_refused(page: Any, demo_server: str) -> None:
    response = page.request.get(f"{demo_server}/dashboard/data")

    assert response.status == 401
