"""Measuring traffic from the call records: known arrivals, handle times and patience in,
the same figures out; and a synthetic day placed through the app, measured back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.flow.hours import ServiceLevel
from ivr.flow.hours import parse_queue_settings
from ivr.flow.loader import load_flow
from ivr.flow.spec import Flow
from ivr.planning.erlang import Target
from ivr.planning.measure import Figure
from ivr.planning.measure import measure
from ivr.planning.staffing import WhatIf
from ivr.planning.staffing import plan
from ivr.settings import Settings
from ivr.stores.records import CallRecorder
from ivr.stores.traffic import calls_between
from ivr.testing.traffic_day import fill_day
from ivr.web.app import create_app
from tests.conftest import T0

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = T0.astimezone(load_flow(ROOT / "flows" / "hotline.yaml").hours.timezone)
DAY_START = SHANGHAI.replace(hour=0)  # Monday 2026-11-23, 00:00 in Shanghai
DAY_END = DAY_START + timedelta(days=1)


@pytest.fixture
def flow() -> Flow:
    return load_flow(ROOT / "flows" / "hotline.yaml")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def queued(recorder: CallRecorder, clock: ManualClock, sid: str, at: datetime, queue: str) -> None:
    clock.set(at)
    recorder.start(sid, flow="hotline", caller="+8613800000001", lang="zh-CN")
    recorder.finish(sid, outcome="agent", queue=queue)
    recorder.handoff(
        sid, queue=queue, priority=0, account_id=None, caller_name=None, verified=False,
        issue=None, steps_tried=[], reason=None,
    )  # fmt: skip


def answered(recorder: CallRecorder, clock: ManualClock, sid: str, waited: int, talk: int) -> None:
    clock.advance(waited + talk)  # Twilio calls the Enqueue action after the talk
    recorder.handoff_status(sid, "bridged", waited_s=waited)
    recorder.close(sid, duration_s=waited + talk, status="completed")


def self_served(recorder: CallRecorder, clock: ManualClock, sid: str, at: datetime) -> None:
    clock.set(at)
    recorder.start(sid, flow="hotline", caller="+8613800000001", lang="zh-CN")
    recorder.finish(sid, outcome="self_served")
    recorder.close(sid, duration_s=60, status="completed")


@pytest.fixture
def known_day(engine: sa.Engine, clock: ManualClock) -> sa.Engine:
    """Monday 10:00-11:00: four payments callers (two answered after 30 s, talking 200 and
    400 s; one gave up after 60 s by the Enqueue action, one after 90 s by the status
    callback alone) and two self-served; 11:00-12:00 one general caller still waiting
    and one self-served."""
    recorder = CallRecorder(engine, clock)
    ten = SHANGHAI.replace(hour=10)
    queued(recorder, clock, "CA1", ten, "payments")
    answered(recorder, clock, "CA1", 30, 200)
    queued(recorder, clock, "CA2", ten + timedelta(minutes=10), "payments")
    answered(recorder, clock, "CA2", 30, 400)
    queued(recorder, clock, "CA3", ten + timedelta(minutes=20), "payments")
    clock.advance(60)
    recorder.handoff_status("CA3", "abandoned", waited_s=60)
    recorder.close("CA3", duration_s=80, status="completed")
    queued(recorder, clock, "CA4", ten + timedelta(minutes=30), "payments")
    clock.advance(90)
    recorder.close("CA4", duration_s=100, status="completed")
    self_served(recorder, clock, "CA5", ten + timedelta(minutes=40))
    self_served(recorder, clock, "CA6", ten + timedelta(minutes=50))
    queued(recorder, clock, "CA7", ten + timedelta(hours=1), "general")
    self_served(recorder, clock, "CA8", ten + timedelta(hours=1, minutes=5))
    return engine


def test_a_bridged_handoff_keeps_when_it_was_answered_and_when_it_ended(
    known_day: sa.Engine,
) -> None:
    calls = {c.call_sid: c for c in calls_between(known_day, DAY_START, DAY_END)}

    ten = SHANGHAI.replace(hour=10)
    assert calls["CA1"].answered_at == ten + timedelta(seconds=30)
    assert calls["CA1"].left_at == ten + timedelta(seconds=230)
    assert (calls["CA3"].status, calls["CA3"].answered_at) == ("abandoned", None)
    assert calls["CA4"].left_at == ten + timedelta(minutes=30, seconds=90)
    assert calls["CA5"].queue is None


def test_measurement_finds_the_known_arrivals_handle_time_and_patience(
    known_day: sa.Engine, flow: Flow
) -> None:
    calls = calls_between(known_day, DAY_START, DAY_END)

    measured = measure(calls, flow, DAY_START, DAY_END, min_calls=1)

    assert (measured.calls, measured.self_served, measured.reached_queue) == (8, 3, 5)
    general, payments = measured.hours  # queues in name order
    assert (payments.queue, payments.label) == ("payments", "Mon 10:00")
    assert (payments.calls_per_hour, payments.queued, payments.calls) == (4.0, 4, 6)
    assert payments.share == pytest.approx(4 / 6)
    assert payments.handle_time == Figure(300.0, 2, "hour")
    # exponential patience: (30 + 30 + 60 + 90) s waited in all, over 2 who gave up
    assert payments.patience == Figure(105.0, 2, "hour")
    assert (general.queue, general.label, general.calls_per_hour) == ("general", "Mon 11:00", 1.0)
    assert general.handle_time == Figure(300.0, 0, "flow")  # nobody answered: the flow's
    assert general.patience == Figure(None, 0, "queue")  # nobody gave up: unknown


def test_an_hour_with_too_few_calls_takes_the_queues_figure_over_the_period(
    known_day: sa.Engine, flow: Flow
) -> None:
    measured = measure(calls_between(known_day, DAY_START, DAY_END), flow, DAY_START, DAY_END)

    payments = measured.hours[1]
    assert payments.handle_time == Figure(300.0, 2, "queue")
    assert measured.handle_times["security"] == Figure(420.0, 0, "flow")


def test_a_period_of_a_week_divides_the_arrivals_by_the_one_monday_in_it(
    known_day: sa.Engine, flow: Flow
) -> None:
    week_end = DAY_START + timedelta(days=7)
    measured = measure(calls_between(known_day, DAY_START, week_end), flow, DAY_START, week_end)
    assert measured.hours[1].calls_per_hour == 4.0

    fortnight = DAY_START + timedelta(days=14)
    measured = measure(calls_between(known_day, DAY_START, fortnight), flow, DAY_START, fortnight)
    assert measured.hours[1].calls_per_hour == 2.0


def test_the_what_ifs_change_arrivals_and_handle_time_as_they_say(
    known_day: sa.Engine, flow: Flow
) -> None:
    measured = measure(calls_between(known_day, DAY_START, DAY_END), flow, DAY_START, DAY_END)
    targets = dict.fromkeys(flow.queues, Target(20, 0.8))

    base = plan(measured, targets)[1]  # payments
    # 5 of 8 calls reached a queue; 10 points more self-service leaves (0.625 - 0.1) / 0.625
    contained = plan(measured, targets, WhatIf(containment_points=0.10))[1]
    busier = plan(measured, targets, WhatIf(arrivals_factor=1.5))[1]
    slower = plan(measured, targets, WhatIf(handle_time_s=900))[1]

    assert base.calls_per_hour == 4.0
    assert contained.calls_per_hour == pytest.approx(4.0 * 0.525 / 0.625)
    assert busier.calls_per_hour == 6.0
    assert (slower.handle_time_s, slower.calls_per_hour) == (900, 4.0)
    assert slower.projected.agents > base.projected.agents
    assert base.model == "Erlang A"  # patience is known for payments


def test_a_simulated_check_comes_with_the_plan_when_asked(known_day: sa.Engine, flow: Flow) -> None:
    measured = measure(calls_between(known_day, DAY_START, DAY_END), flow, DAY_START, DAY_END)
    targets = dict.fromkeys(flow.queues, Target(20, 0.8))

    checked = plan(measured, targets, simulate_hours=50)

    assert all(p.simulated is not None for p in checked)
    assert checked[1].simulated is not None
    assert checked[1].simulated.agents == checked[1].projected.agents


def test_a_queues_service_level_is_read_from_the_flow(flow: Flow) -> None:
    assert flow.queues["security"].settings.service_level == ServiceLevel(15, 0.9, 0.03)
    assert parse_queue_settings({}, "queues.x").service_level == ServiceLevel(20, 0.8, None)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"target": 80}, "queues.x.service_level.target: expected a share between 0 and 1"),
        ({"answer_within_s": "20s"}, "queues.x.service_level.answer_within_s: expected a whole"),
        ({"max_abandon": True}, "queues.x.service_level.max_abandon: expected a share"),
        ({"within": 20}, "queues.x.service_level: unknown key 'within'; allowed: answer_within_s"),
        ("80/20", "queues.x.service_level: expected a mapping"),
    ],
)
def test_a_wrong_service_level_names_its_key_path(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_queue_settings({"service_level": value}, "queues.x")


def test_a_synthetic_day_through_the_app_is_measured_back_call_for_call(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        Settings.read({}),
        database_url=f"sqlite:///{tmp_path / 'day.sqlite3'}",
        audio=False,
        flows_dir=ROOT / "flows",
    )
    clock = ManualClock(T0)
    app = create_app(settings=settings, clock=clock)
    flow = app.extensions["ivr"].flows["hotline"].flow

    summary = fill_day(app, clock, date(2026, 11, 23), 40, timezone=flow.hours.timezone, seed=3)

    engine = app.extensions["ivr"].database
    calls = calls_between(engine, DAY_START, DAY_END)
    measured = measure(calls, flow, DAY_START, DAY_END)
    assert (summary.calls, measured.calls) == (40, 40)
    assert measured.self_served == summary.outcomes.get("self_served", 0)
    for queue in ("general", "payments", "security"):
        mine = [c for c in calls if c.queue == queue]
        assert sum(c.status == "bridged" for c in mine) == summary.answered.get(queue, 0)
        assert sum(c.status == "abandoned" for c in mine) == summary.gave_up.get(queue, 0)
        assert all(c.answered_at is not None for c in mine if c.status == "bridged")
        assert all(c.left_at is not None for c in mine)
    engine.dispose()
