"""The browser phone (/phone) and the agent page in Debian's Chromium, against a live ``ivr
serve``: a whole call dialled, keyed and spoken, its diagram, its outcome, the call saved as a
script that ``ivr replay`` passes, and an agent picking a queued browser call up.

The README's pictures are the screenshots ``artifacts/screenshots/phone.png`` and
``agents.png`` these tests leave (copied to ``docs/images/``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.browser.conftest import AGENT_TOKEN
from tests.browser.conftest import ROOT
from tests.browser.conftest import SCREENSHOTS

LI_NA = "+8613800000002"
ZHANG_WEI = "+8613800000001"


def _open_phone(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/phone/?token={AGENT_TOKEN}")
    page.wait_for_selector("#diagram svg g.node")


def _place(page: Any, caller: str, lang: str) -> None:
    page.select_option("#caller", caller)
    page.select_option("#lang", lang)
    page.click("#call")
    page.wait_for_selector("#transcript li.caller")


def _hang_up(page: Any) -> None:
    """End the call, so that the page stops asking the server about it before the server
    stops (a request to a stopped server is an error in the console)."""
    page.click("#hangup")
    page.wait_for_selector("#ended:not([hidden])")


def _replay(script: Path) -> subprocess.CompletedProcess[str]:
    """``ivr replay`` as a person runs it: this checkout, no setting from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli.main", "replay", str(script)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_demo_caller_keys_and_speaks_through_a_call_saved_as_a_script_that_replays(
    page: Any, live_server: str, tmp_path: Path
) -> None:
    _open_phone(page, live_server)
    _place(page, LI_NA, "en-US")
    page.wait_for_selector("#transcript li:has-text('pressed 2')")
    assert page.inner_text("#state") == "ask_pin"
    page.keyboard.type("123456")  # the keyboard's digits; the PIN's six digits end the Gather
    page.wait_for_selector("#transcript li:has-text('Thank you, Li Na, you are verified.')")
    page.fill("#say", "my account is locked")
    page.click("#say-button")
    page.wait_for_selector("#transcript li:has-text('said “my account is locked”')")
    page.wait_for_function("document.getElementById('state').textContent === 'locked_offer'")
    current = page.locator("#diagram g.node.is-current")
    assert current.count() == 1
    assert current.get_attribute("id").endswith(
        "flowchart-locked_offer-" + _index(page, "locked_offer")
    )
    assert page.locator("#diagram g.node.on-path").count() >= 5
    page.set_viewport_size({"width": 1280, "height": 1200})  # keypad and transcript in view
    page.screenshot(path=str(SCREENSHOTS / "phone.png"))
    page.click(".key[data-key='1']")  # unlock it now
    page.wait_for_selector("#transcript li:has-text('Did that solve your problem?')")
    page.click(".key[data-key='1']")
    page.wait_for_selector("#transcript li:has-text('Please rate this call.')")
    page.keyboard.press("5")
    page.wait_for_selector("#ended:not([hidden])")
    assert page.inner_text("#outcome") == "ended hangup"
    assert page.locator("#effects li").all_inner_texts() == ["account locked → active"]
    assert page.locator("#transcript li.caller span:nth-child(2)").all_inner_texts() == [
        "pressed 2",
        "pressed 123456",
        "said “my account is locked”",
        "pressed 1",
        "pressed 1",
        "pressed 5",
    ]
    page.click("#save")
    page.wait_for_selector("#script:not([hidden])")
    script = page.inner_text("#script")
    assert '  - say: "my account is locked"\n' in script
    assert '  - account: {phone: "+8613800000002", status: active}\n' in script
    saved = tmp_path / "saved_from_the_browser.yaml"
    saved.write_text(script, encoding="utf-8")
    replayed = _replay(saved)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "1 passed, 0 failed" in replayed.stdout


def _index(page: Any, state: str) -> str:
    """Mermaid numbers its nodes in the order the source names them."""
    ids = page.eval_on_selector_all("#diagram g.node", "nodes => nodes.map(n => n.id)")
    [found] = [i for i in ids if f"flowchart-{state}-" in i]
    return str(found.rsplit("-", 1)[1])


def test_at_a_phones_width_the_page_fits_and_shows_chinese(
    phone_page: Any, live_server: str
) -> None:
    _open_phone(phone_page, live_server)
    _place(phone_page, ZHANG_WEI, "zh-CN")
    phone_page.wait_for_selector("#transcript li:has-text('请输入6位数字电话密码')")
    chinese = phone_page.locator("#transcript li.ivr span[lang='zh-CN']").first
    assert chinese.is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    for button in phone_page.locator("button").all():
        label = button.get_attribute("aria-label") or button.inner_text()
        assert label.strip(), "every button has a label"
    _hang_up(phone_page)
    assert phone_page.inner_text("#outcome") == "ended caller-hangup"


def test_a_queued_browser_call_shows_on_the_agent_page_and_is_picked_up_there(
    page: Any, live_server: str
) -> None:
    _open_phone(page, live_server)
    _place(page, ZHANG_WEI, "zh-CN")
    page.keyboard.type("123456")
    page.wait_for_selector("#transcript li:has-text('pressed 123456')")
    page.click(".key[data-key='2']")  # a failed payment; then an agent
    page.wait_for_function("document.getElementById('state').textContent === 'solved'")
    page.keyboard.type("0")
    page.wait_for_selector("#status:has-text('Waiting for an agent')")
    agents = page.context.new_page()
    errors: list[str] = []
    agents.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    agents.on("pageerror", lambda exc: errors.append(str(exc)))
    agents.goto(f"{live_server}/agent/?token={AGENT_TOKEN}")
    button = agents.locator("button.pickup")
    assert button.count() == 1
    assert agents.title() == "Waiting callers (1)"
    payments = agents.locator(".totals .card[data-queue='payments']")
    assert payments.locator("strong").inner_text() == "1"
    row = agents.inner_text("tbody")
    assert "张伟 (Zhang Wei)" in row
    assert "a failed payment, payment details, advice limit" in row  # steps, not state names
    waited = agents.locator("td.waited")
    first = waited.inner_text()
    agents.wait_for_function(
        f"document.querySelector('td.waited').textContent !== {first!r}", timeout=5000
    )
    agents.screenshot(path=str(SCREENSHOTS / "agents.png"))
    button.click()
    agents.wait_for_selector("#status:has-text('Picked up')")
    page.wait_for_selector("#transcript li:has-text('现在为您接通人工客服。')", timeout=15_000)
    page.wait_for_function("document.getElementById('state').textContent === 'survey'")
    agents.wait_for_selector("text=Nobody is waiting.", timeout=15_000)
    assert errors == []
    agents.close()
    _hang_up(page)


def test_a_call_at_a_chosen_evening_time_hears_the_after_hours_menu(
    page: Any, live_server: str
) -> None:
    _open_phone(page, live_server)
    assert page.inner_text("#at-zone") == "(Asia/Shanghai, optional)"
    page.fill("#at", "2026-11-23T23:10")
    _place(page, LI_NA, "en-US")
    page.keyboard.type("123456")
    page.wait_for_selector("#transcript li:has-text('pressed 123456')")
    page.keyboard.type("0")
    page.wait_for_selector("#transcript li:has-text('The line is closed now')")
    assert page.inner_text("#state") == "after_hours"
    _hang_up(page)
