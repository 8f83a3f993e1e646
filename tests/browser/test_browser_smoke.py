"""The browser harness itself: Debian's Chromium opens the served front page."""

from __future__ import annotations

from typing import Any


def test_the_front_page_opens_in_a_real_browser(page: Any, live_server: str) -> None:
    page.goto(live_server + "/")
    assert page.title() != ""
    assert page.locator("a[href='/health']").count() == 1
