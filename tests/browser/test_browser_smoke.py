"""The browser harness itself: Debian's Chromium opens the served front page."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import local_only


def test_the_front_page_opens_in_a_real_browser(page: Any, live_server: str) -> None:
    page.goto(live_server + "/")
    assert page.title() != ""
    assert page.locator("a[href='/health']").count() == 1


def test_the_vendored_diagram_library_renders_the_hotline_offline(
    page: Any, live_server: str
) -> None:
    page.route("**/*", local_only(live_server))
    page.goto(live_server + "/")
    page.add_script_tag(url=live_server + "/static/vendor/mermaid/mermaid.min.js")
    svg = page.evaluate(
        """async () => {
            mermaid.initialize({startOnLoad: false});
            const {svg} = await mermaid.render('d', 'flowchart TD\\n  a[问候] --> b[Menu]');
            return svg;
        }"""
    )
    assert "问候" in svg
    assert "<svg" in svg
