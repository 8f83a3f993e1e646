"""A callback on the browser phone, in Debian's Chromium against a live ``ivr serve``: booked
after hours, time moved on to the opening, the page rings, the person answers, presses 1 and
is connected to the agents' queue. Leaves ``artifacts/screenshots/phone_ringing.png``."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import AGENT_TOKEN
from tests.browser.conftest import SCREENSHOTS

ZHANG_WEI = "+8613800000001"


def test_a_callback_booked_after_hours_rings_the_page_at_the_opening_and_is_connected(
    page: Any, live_server: str
) -> None:
    page.goto(f"{live_server}/phone/?token={AGENT_TOKEN}")
    page.wait_for_selector("#diagram svg g.node")
    page.select_option("#caller", ZHANG_WEI)
    page.select_option("#lang", "en-US")
    page.fill("#at", "2026-11-23T22:00")  # the line closes at 21:00
    page.click("#call")
    page.wait_for_selector("#transcript li:has-text('pressed 2')")
    page.keyboard.type("123456#")
    page.wait_for_selector("#transcript li:has-text('you are verified')")
    page.keyboard.press("0")
    page.wait_for_selector("#transcript li:has-text('The line is closed now')")
    page.keyboard.press("2")
    page.wait_for_selector("#ended:not([hidden])")
    assert "callback requested (pending)" in page.locator("#effects li").all_inner_texts()
    page.wait_for_selector("#callbacks-status:has-text('the next is due at 2026-11-24 09:00')")
    assert page.locator("#ringing").is_hidden()

    page.click("#run-due")  # time passes to 09:00, the dialer runs
    page.wait_for_selector("#ringing:not([hidden])")
    assert page.inner_text("#dial-time") == "2026-11-24 09:00+08:00"
    assert "callback #1, attempt 1" in page.inner_text("#ringing-about")
    page.screenshot(path=str(SCREENSHOTS / "phone_ringing.png"))

    page.click("#ring-answer")
    page.wait_for_selector("#transcript li:has-text('Hello Zhang Wei')")
    assert page.inner_text("#flow-name") == "callback"
    page.wait_for_selector("#diagram svg g.node.is-current")
    page.keyboard.press("1")
    page.wait_for_function("document.getElementById('state').textContent === 'agent'")
    page.wait_for_selector("#status:has-text('Waiting for an agent')")
    assert page.locator("#transcript li.caller span:nth-child(2)").all_inner_texts() == [
        "pressed 1"
    ]
    assert page.locator("#diagram g.node.is-current").count() == 1
    page.click("#hangup")
    page.wait_for_selector("#ended:not([hidden])")
    page.wait_for_selector("#callbacks li:has-text('done')")  # nothing waits: no more asking
