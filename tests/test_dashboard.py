"""`/dashboard`: the page and its JSON show ivr report's figures, behind the agent pages' guard.

The records are the hand-built day of ``tests/test_reports.py``, written into the app's own
database."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from ivr.clock import ManualClock
from ivr.stores.reports import Filters
from ivr.stores.reports import report
from ivr.web.dashboard import heat_map
from tests.conftest import T0
from tests.conftest import MakeApp
from tests.conftest import runtime_of
from tests.test_reports import SHANGHAI
from tests.test_reports import Day
from tests.test_reports import fill

TOKEN = "dashboard-secret"


def filled(app: Flask, clock: ManualClock) -> Flask:
    fill(Day(runtime_of(app).records, clock))
    return app


@pytest.fixture
def app(make_app: MakeApp, clock: ManualClock) -> Flask:
    return filled(make_app(IVR_AGENT_TOKEN=TOKEN), clock)


def get(app: Flask, path: str, **headers: str) -> Any:
    return app.test_client().get(path, headers=headers)


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/data"])
def test_a_public_server_without_an_agent_token_refuses_the_figures(
    make_app: MakeApp, path: str
) -> None:
    app = make_app()  # TWILIO_AUTH_TOKEN is set: a public server

    response = get(app, path)

    assert response.status_code == 403
    assert "IVR_AGENT_TOKEN" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/data"])
def test_with_an_agent_token_the_figures_need_it(app: Flask, path: str) -> None:
    assert get(app, path).status_code == 401
    assert get(app, path, Authorization="Bearer wrong").status_code == 401
    assert get(app, path, Authorization=f"Bearer {TOKEN}").status_code == 200
    assert get(app, f"{path}?token={TOKEN}").status_code == 200


def test_a_local_server_that_is_not_public_serves_a_local_browser(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = filled(make_app(TWILIO_AUTH_TOKEN=""), clock)

    assert get(app, "/dashboard/data").status_code == 200
    assert get(app, "/dashboard/data", **{"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def test_the_json_is_the_report_for_the_same_filters(app: Flask) -> None:
    response = get(app, f"/dashboard/data?token={TOKEN}&since=2026-11-23T11:00&flow=hotline")

    expected = report(
        runtime_of(app).database,
        Filters(since=datetime(2026, 11, 23, 11, tzinfo=SHANGHAI), flow="hotline"),
        SHANGHAI,
    ).as_json()
    assert response.get_json() == expected
    assert expected["calls"] == 5


def test_a_filter_that_does_not_read_is_a_400_that_says_how_to_write_it(app: Flask) -> None:
    for path in ("/dashboard/", "/dashboard/data"):
        response = get(app, f"{path}?token={TOKEN}&until=tomorrow")

        assert response.status_code == 400
        assert "until 'tomorrow' is neither a day" in response.get_data(as_text=True)


def test_the_page_shows_the_figures_as_tables(app: Flask) -> None:
    html = get(app, f"/dashboard/?token={TOKEN}").get_data(as_text=True)

    assert figure_in(html, "calls") == "8"
    assert figure_in(html, "containment") == "25.0%"
    assert figure_in(html, "outcomes.error") == "1"
    assert figure_in(html, "abandonment.in_queue_share") == "33.3%"
    assert figure_in(html, "time_to_agent_s.p90") == "160.0 s"
    assert figure_in(html, "input.keys") == "5"
    assert figure_in(html, "survey.mean") == "3.00"
    assert (
        '<tr data-group="login"><th scope="row">login <span lang="zh-CN">登录和密码</span>' in html
    )
    assert '<input type="hidden" name="token" value="dashboard-secret">' in html
    assert "vendor/echarts/echarts.min.js" in html


def figure_in(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{re.escape(name)}">([^<]*)<', html)
    assert found is not None, name
    return found.group(1)


def test_without_a_period_the_page_shows_the_seven_days_to_the_latest_call(
    app: Flask, clock: ManualClock
) -> None:
    clock.set(T0 + timedelta(days=30))  # a month after the only day of calls

    html = get(app, f"/dashboard/?token={TOKEN}").get_data(as_text=True)

    assert '<input type="date" name="since" value="2026-11-17">' in html
    assert '<input type="date" name="until" value="2026-11-23">' in html
    assert "The last 7 days of records, 2026-11-17 to 2026-11-23" in html
    assert figure_in(html, "calls") == "8"
    # the page's JSON is the same period's, and every record is a link away
    assert "/dashboard/data?since=2026-11-17&amp;until=2026-11-23&amp;token=" in html
    assert 'href="/dashboard/?period=all&amp;token=dashboard-secret">every record</a>' in html


def test_older_calls_leave_the_default_period_but_not_every_record(
    app: Flask, clock: ManualClock
) -> None:
    later = Day(runtime_of(app).records, clock)
    later.at(10 * 86400)  # 3 December
    later.start("LATER", "P9", "en-US", "v2")

    recent = get(app, f"/dashboard/?token={TOKEN}").get_data(as_text=True)
    everything = get(app, f"/dashboard/?token={TOKEN}&period=all").get_data(as_text=True)
    data = get(app, f"/dashboard/data?token={TOKEN}").get_json()

    assert '<input type="date" name="since" value="2026-11-27">' in recent
    assert '<input type="date" name="until" value="2026-12-03">' in recent
    assert figure_in(recent, "calls") == "1"
    assert figure_in(everything, "calls") == "9"
    assert '<input type="date" name="since" value="">' in everything
    assert "Every record" in everything
    assert data["calls"] == 9  # the JSON, as `ivr report`, has no default period


def test_with_no_calls_the_default_period_ends_today(make_app: MakeApp, clock: ManualClock) -> None:
    app = make_app(IVR_AGENT_TOKEN=TOKEN)

    html = get(app, f"/dashboard/?token={TOKEN}").get_data(as_text=True)

    assert "The last 7 days of records, 2026-11-17 to 2026-11-23" in html  # T0's day
    assert "No calls in the records for these filters." in html


def test_an_asked_period_is_shown_as_asked(app: Flask, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(days=30))

    html = get(app, f"/dashboard/?token={TOKEN}&since=2026-11-23").get_data(as_text=True)

    assert figure_in(html, "calls") == "8"
    assert '<input type="date" name="until" value="">' in html
    assert "The last 7 days" not in html
    assert "Every record" not in html


def test_an_empty_period_says_how_to_fill_it(app: Flask) -> None:
    html = get(app, f"/dashboard/?token={TOKEN}&since=2030-01-01").get_data(as_text=True)

    assert "No calls in the records for these filters." in html
    assert "ivr demo calls --day 2026-11-23" in html


def test_the_heat_map_fills_the_states_callers_reached_by_their_drop_off(app: Flask) -> None:
    rt = runtime_of(app)
    document = report(rt.database, Filters(), SHANGHAI).as_json()

    document["states"].append({"state": "retired_state", "entered": 4, "drop_off": 0.5})

    source = heat_map(rt.flows["hotline"], document)

    assert "flowchart TD" in source
    assert "    style main_menu fill:#991b1b,color:#ffffff,stroke:#334155" in source  # 33%
    assert "    style welcome fill:#f8fafc,color:#0f172a,stroke:#334155" in source  # 0%
    assert "classDef incoming" in source
    assert not re.search(r"^\s*classDef call\b", source, re.MULTILINE)
    assert "ask_phone" not in source  # no call entered it
    assert "retired_state" not in source  # an older version's state: not in this diagram


def test_the_static_files_are_served(app: Flask) -> None:
    client = app.test_client()
    for name in ("dashboard.js", "dashboard.css", "vendor/echarts/echarts.min.js"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        response.close()
