"""`ivr.stores.reports`: every figure of a small hand-built day of records, exactly, on SQLite
and PostgreSQL.

The day (times from T0, 10:00 in Shanghai): eight calls.

    A  +0 s     P1 zh v1 login    welcome 1, main_menu: 9 (no-match), said "login"; self-served;
                                  survey 4
    B  +60 s    P2 en v1 refund   self-served, but P2 calls again an hour later (C): not contained
    C  +3600 s  P2 zh v1 -        0 at the welcome; queued 10 s after the start, answered after 30
    D  +7200 s  P3 zh v1 payment  1, 2; queued 20 s after the start; hangs up in the queue
    E  +10800 s P4 zh v2 -        silent at the main menu, then hangs up there
    F  +14400 s P5 en v2 -        Twilio reports the call failed (flow "other")
    G  +18000 s P6 zh v2 login    self-served; survey 2
    H  +21600 s P7 zh v2 frozen   queued 100 s after the start, answered after 60
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.stores.records import CallRecorder
from ivr.stores.reports import Filters
from ivr.stores.reports import Spread
from ivr.stores.reports import period
from ivr.stores.reports import report
from tests.conftest import T0

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Day:
    """Writes calls as the app would, at chosen times."""

    def __init__(self, recorder: CallRecorder, clock: ManualClock) -> None:
        self.recorder = recorder
        self.clock = clock
        self.seq: dict[str, int] = {}

    def at(self, seconds: float) -> None:
        self.clock.set(T0 + timedelta(seconds=seconds))

    def start(self, sid: str, caller: str, lang: str, version: str, flow: str = "hotline") -> None:
        self.recorder.start(sid, flow=flow, caller=caller, lang=lang, flow_version=version)

    def event(self, sid: str, state: str, kind: str, detail: str = "") -> None:
        self.seq[sid] = self.seq.get(sid, 0) + 1
        self.recorder.event(sid, seq=self.seq[sid], state=state, kind=kind, detail=detail)

    def queue(self, sid: str, queue: str) -> None:
        self.recorder.handoff(
            sid, queue=queue, priority=0, account_id=None, caller_name=None, verified=False,
            issue=None, steps_tried=[], reason=None,
        )  # fmt: skip
        self.recorder.finish(sid, outcome="agent", queue=queue)


def fill(day: Day) -> None:
    r = day.recorder
    day.at(0)
    day.start("A", "P1", "zh-CN", "v1")
    day.event("A", "welcome", "enter")
    day.event("A", "welcome", "input", "key_1 1")
    day.event("A", "main_menu", "enter")
    day.event("A", "main_menu", "input", "no_match 9")
    day.event("A", "main_menu", "input", "key_7 (speech)")
    r.update("A", issue="login")
    day.event("A", "solved", "enter")
    r.finish("A", outcome="self_served")
    day.event("A", "survey", "note", "satisfaction 4/5")
    r.close("A", duration_s=50, status="completed")

    day.at(60)
    day.start("B", "P2", "en-US", "v1")
    r.update("B", issue="refund")
    r.finish("B", outcome="self_served")
    r.close("B", duration_s=40, status="completed")

    day.at(3600)
    day.start("C", "P2", "zh-CN", "v1")
    day.event("C", "welcome", "enter")
    day.event("C", "welcome", "input", "agent_key 0")
    day.event("C", "agent", "enter")
    day.at(3610)
    day.queue("C", "general")
    day.at(3610 + 30 + 120)
    r.handoff_status("C", "bridged", waited_s=30)
    r.close("C", duration_s=160, status="completed")

    day.at(7200)
    day.start("D", "P3", "zh-CN", "v1")
    day.event("D", "welcome", "enter")
    day.event("D", "welcome", "input", "key_1 1")
    day.event("D", "main_menu", "enter")
    day.event("D", "main_menu", "input", "key_2 2")
    r.update("D", issue="payment_failed")
    day.event("D", "payment_failed", "enter")
    day.event("D", "agent", "enter")
    day.at(7220)
    day.queue("D", "payments")
    day.at(7270)
    r.close("D", duration_s=70, status="completed")

    day.at(10800)
    day.start("E", "P4", "zh-CN", "v2")
    day.event("E", "welcome", "enter")
    day.event("E", "main_menu", "enter")
    day.event("E", "main_menu", "input", "no_input")
    r.close("E", duration_s=20, status="completed")

    day.at(14400)
    day.start("F", "P5", "en-US", "v2", flow="other")
    day.event("F", "welcome", "enter")
    r.close("F", duration_s=1, status="failed")

    day.at(18000)
    day.start("G", "P6", "zh-CN", "v2")
    r.update("G", issue="login")
    r.finish("G", outcome="self_served")
    day.event("G", "survey", "note", "satisfaction 2/5")
    r.close("G", duration_s=45, status="completed")

    day.at(21600)
    day.start("H", "P7", "zh-CN", "v2")
    r.update("H", issue="frozen")
    day.at(21700)
    day.queue("H", "security")
    day.at(21700 + 60 + 300)
    r.handoff_status("H", "bridged", waited_s=60)
    r.close("H", duration_s=460, status="completed")


@pytest.fixture
def engine(database_url: str, clock: ManualClock) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    fill(Day(CallRecorder(engine, clock), clock))
    yield engine
    engine.dispose()


def document(engine: sa.Engine, **filters: Any) -> dict[str, Any]:
    return report(engine, Filters(**filters), SHANGHAI).as_json()


def test_calls_and_outcomes_are_counted(engine: sa.Engine) -> None:
    doc = document(engine)
    assert doc["calls"] == 8
    assert doc["outcomes"] == {"self_served": 3, "agent": 3, "abandoned": 1, "error": 1, "open": 0}


def test_containment_leaves_out_a_self_served_caller_who_calls_again_within_a_day(
    engine: sa.Engine,
) -> None:
    doc = document(engine)
    assert doc["contained"] == 2
    assert doc["containment"] == 0.25


def test_a_repeat_call_after_the_period_still_counts_against_containment(
    engine: sa.Engine,
) -> None:
    doc = document(engine, until=T0 + timedelta(seconds=120))
    assert (doc["calls"], doc["contained"]) == (2, 1)


def test_abandonment_in_the_menus_and_in_the_queue_are_apart(engine: sa.Engine) -> None:
    assert document(engine)["abandonment"] == {
        "in_ivr": 1,
        "in_ivr_share": 0.125,
        "queued": 3,
        "answered": 2,
        "in_queue": 1,
        "in_queue_share": 0.3333,
        "left_queue": 0,
    }


def test_time_to_agent_and_in_queue_have_a_median_and_a_nearest_rank_p90(
    engine: sa.Engine,
) -> None:
    doc = document(engine)
    assert doc["time_to_agent_s"] == {"calls": 2, "median": 100.0, "p90": 160.0}
    assert doc["time_in_queue_s"] == {"calls": 2, "median": 45.0, "p90": 60.0}


def test_drop_off_by_state_counts_where_callers_hung_up_and_pressed_0(engine: sa.Engine) -> None:
    states = {s["state"]: s for s in document(engine)["states"]}
    assert states["welcome"] == {
        "state": "welcome",
        "entered": 5,
        "hung_up": 0,  # F ended there, but failed: an error, not a hang-up
        "drop_off": 0.0,
        "pressed_0": 1,
        "answers": 3,
        "no_match": 0,
        "no_input": 0,
        "reprompt_share": 0.0,
    }
    assert states["main_menu"] == {
        "state": "main_menu",
        "entered": 3,
        "hung_up": 1,
        "drop_off": 0.3333,
        "pressed_0": 0,
        "answers": 4,
        "no_match": 1,
        "no_input": 1,
        "reprompt_share": 0.5,
    }
    assert list(states) == ["welcome", "main_menu", "agent", "payment_failed", "solved"]


def test_speech_is_counted_against_keys(engine: sa.Engine) -> None:
    assert document(engine)["input"] == {"keys": 5, "speech": 1, "speech_share": 0.1667}


def test_survey_scores_are_counted_and_averaged(engine: sa.Engine) -> None:
    assert document(engine)["survey"] == {
        "answers": 2,
        "mean": 3.0,
        "scores": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0},
    }


def test_every_figure_is_split_by_issue_language_and_flow_version(engine: sa.Engine) -> None:
    by = document(engine)["by"]
    calls = {split: {g: f["calls"] for g, f in groups.items()} for split, groups in by.items()}
    assert calls == {
        "issue": {"frozen": 1, "login": 2, "none": 3, "payment_failed": 1, "refund": 1},
        "lang": {"en-US": 2, "zh-CN": 6},
        "version": {"v1": 4, "v2": 4},
    }
    login = by["issue"]["login"]
    assert (login["contained"], login["survey"]["mean"]) == (2, 3.0)
    assert by["issue"]["frozen"]["time_to_agent_s"] == {"calls": 1, "median": 160.0, "p90": 160.0}
    assert by["lang"]["en-US"]["outcomes"]["error"] == 1
    assert by["version"]["v2"]["abandonment"]["in_ivr"] == 1


def test_calls_by_hour_and_the_timeline_are_in_the_lines_timezone(engine: sa.Engine) -> None:
    doc = document(engine)
    assert doc["by_hour"][10:17] == [2, 1, 1, 1, 1, 1, 1]
    assert sum(doc["by_hour"]) == 8
    timeline = doc["timeline"]
    assert timeline["step"] == "hour"
    assert [p["start"][11:16] for p in timeline["points"]] == [
        "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00",
    ]  # fmt: skip
    assert timeline["points"][0] == {
        "start": "2026-11-23T10:00:00+08:00",
        "calls": 2,
        "contained": 1,
        "containment": 0.5,
        "abandoned_in_ivr": 0,
        "in_ivr_share": 0.0,
        "queued": 0,
        "abandoned_in_queue": 0,
        "in_queue_share": None,
    }


def test_since_until_and_flow_filter_the_calls(engine: sa.Engine) -> None:
    assert document(engine, since=T0 + timedelta(seconds=3600))["calls"] == 6
    assert document(engine, flow="hotline")["calls"] == 7
    none = document(engine, flow="nothing")
    assert (none["calls"], none["states"], none["timeline"]["points"]) == (0, [], [])


def test_a_long_period_is_drawn_day_by_day(database_url: str, clock: ManualClock) -> None:
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    day = Day(CallRecorder(engine, clock), clock)
    for n, seconds in enumerate((0, 3 * 86400)):
        day.at(seconds)
        day.start(f"X{n}", f"P{n}", "zh-CN", "v1")
    doc = document(engine)
    engine.dispose()
    assert doc["timeline"]["step"] == "day"
    assert [p["start"][:10] for p in doc["timeline"]["points"]] == [
        "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26",
    ]  # fmt: skip
    assert [p["calls"] for p in doc["timeline"]["points"]] == [1, 0, 0, 1]


def test_period_reads_days_in_the_lines_timezone_and_times() -> None:
    since, until = period("2026-11-23", "2026-11-23", SHANGHAI)
    assert (since, until) == (
        T0.astimezone(SHANGHAI) - timedelta(hours=10),
        T0.astimezone(SHANGHAI) + timedelta(hours=14),
    )
    assert period("2026-11-23T09:30", None, SHANGHAI)[0] == T0 - timedelta(minutes=30)
    assert period(None, " ", SHANGHAI) == (None, None)
    with pytest.raises(ValueError, match="since 'soon' is neither a day"):
        period("soon", None, SHANGHAI)


def test_filters_refuse_naive_or_backward_bounds() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Filters(since=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="is not after since"):
        Filters(since=T0, until=T0)


def test_spread_of_no_values_is_empty_and_of_odd_counts_is_the_middle() -> None:
    assert Spread.of([]) == Spread(0, None, None)
    assert Spread.of([30, 10, 20]) == Spread(3, 20.0, 30.0)
    assert Spread.of(range(1, 11)) == Spread(10, 5.5, 9.0)


def test_a_survey_note_that_does_not_read_is_left_out(
    engine: sa.Engine, clock: ManualClock
) -> None:
    recorder = CallRecorder(engine, clock)
    recorder.event("A", seq=99, state="survey", kind="note", detail="satisfaction 7/5")
    assert document(engine)["survey"]["answers"] == 2
