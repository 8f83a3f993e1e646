"""Call records, their events and agent handoffs, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.stores.records import CallEvent
from ivr.stores.records import CallRecord
from ivr.stores.records import CallRecorder
from ivr.stores.records import Handoff
from tests.conftest import T0

SID = "CA00000000000000000000000000000001"
CALLER = "+8613800000001"


@pytest.fixture
def recorder(database_url: str, clock: ManualClock) -> Iterator[CallRecorder]:
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    yield CallRecorder(engine, clock)
    engine.dispose()


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


def started(recorder: CallRecorder, sid: str = SID) -> CallRecorder:
    recorder.start(sid, flow="hotline", caller=CALLER, lang="zh-CN")
    return recorder


def handoff(recorder: CallRecorder, sid: str = SID, **changes: Any) -> None:
    details: dict[str, Any] = {
        "queue": "wallet-support",
        "priority": 1,
        "account_id": 1001,
        "caller_name": "张三",
        "verified": True,
        "issue": "refund",
        "steps_tried": ["refund_status", "refund_request"],
        "reason": "asked for an agent",
    }
    recorder.handoff(sid, **{**details, **changes})


def record_of(recorder: CallRecorder, sid: str = SID) -> CallRecord:
    record = recorder.record(sid)
    assert record is not None
    return record


# --- start, events, updates ----------------------------------------------------------------


def test_start_opens_a_record_with_the_raw_caller_and_nothing_decided(
    recorder: CallRecorder,
) -> None:
    started(recorder)

    assert recorder.record(SID) == CallRecord(
        call_sid=SID,
        flow="hotline",
        caller="+8613800000001",
        account_id=None,
        lang="zh-CN",
        started_at=T0,
        ended_at=None,
        outcome=None,
        reason=None,
        queue=None,
        duration_s=None,
        events=[],
        handoff=None,
    )


def test_a_second_start_for_the_same_call_changes_nothing(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    clock.advance(3)
    recorder.start(SID, flow="other", caller="+10000000000", lang="en-US")

    record = record_of(recorder)
    assert (record.flow, record.caller, record.lang, record.started_at) == (
        "hotline",
        CALLER,
        "zh-CN",
        T0,
    )


def test_the_record_of_a_call_never_started_is_none(recorder: CallRecorder) -> None:
    assert recorder.record(SID) is None


def test_events_come_back_in_step_order_and_in_arrival_order_within_a_step(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    recorder.event(SID, seq=1, state="main_menu", kind="input", detail="2")
    clock.advance(1)
    recorder.event(SID, seq=0, state="welcome", kind="enter")
    recorder.event(SID, seq=1, state="verify_pin", kind="enter")
    recorder.event(SID, seq=1, state="verify_pin", kind="note", detail="pin ******")

    assert record_of(recorder).events == [
        CallEvent(seq=0, at=at(1), state="welcome", kind="enter", detail=""),
        CallEvent(seq=1, at=at(0), state="main_menu", kind="input", detail="2"),
        CallEvent(seq=1, at=at(1), state="verify_pin", kind="enter", detail=""),
        CallEvent(seq=1, at=at(1), state="verify_pin", kind="note", detail="pin ******"),
    ]


def test_a_webhooks_events_and_record_changes_are_written_in_one_transaction_at_its_end(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    engine = recorder._engine
    commits: list[int] = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))

    with recorder.holding_events():
        recorder.update(SID, lang="en-US", account_id=1001)
        recorder.event(SID, seq=1, state="main_menu", kind="input", detail="2")
        recorder.events(SID, [(1, "refund_status", "enter", ""), (1, "refund_status", "note", "x")])
        recorder.finish(SID, outcome="self_served", reason="first")
        recorder.update(SID, issue="refund", lang="zh-CN")
        recorder.finish(SID, outcome="agent", reason="second", queue="general")
        written_meanwhile = len(commits)

    record = record_of(recorder)
    assert (written_meanwhile, len(commits)) == (0, 1)
    # later values replace earlier ones; the first outcome stays
    assert (record.lang, record.account_id, record.issue) == ("zh-CN", 1001, "refund")
    assert (record.outcome, record.reason, record.queue) == ("self_served", "second", "general")
    assert [(e.state, e.kind, e.detail) for e in record.events] == [
        ("main_menu", "input", "2"),
        ("refund_status", "enter", ""),
        ("refund_status", "note", "x"),
    ]


def test_reading_a_record_while_holding_writes_what_is_held_for_it_first(
    recorder: CallRecorder,
) -> None:
    started(recorder)

    with recorder.holding_events():
        recorder.update(SID, issue="refund")
        recorder.event(SID, seq=1, state="main_menu", kind="input", detail="2")
        seen = record_of(recorder)
        recorder.event(SID, seq=2, state="main_menu", kind="input", detail="3")

    assert seen.issue == "refund"
    assert [e.detail for e in seen.events] == ["2"]
    assert [e.detail for e in record_of(recorder).events] == ["2", "3"]


def test_several_events_outside_a_webhook_are_one_insert(recorder: CallRecorder) -> None:
    started(recorder)
    statements: list[str] = []
    sa.event.listen(
        recorder._engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *_: statements.append(statement),
    )

    recorder.events(SID, [(0, "welcome", "enter", ""), (1, "main_menu", "enter", "")])
    recorder.events(SID, [(2, "a", "enter", ""), (2, "b", "enter", ""), (2, "c", "note", "")])

    assert len(statements) == 2
    assert [e.state for e in record_of(recorder).events] == ["welcome", "main_menu", "a", "b", "c"]


def test_an_event_of_an_unknown_kind_is_refused(recorder: CallRecorder) -> None:
    started(recorder)

    with pytest.raises(ValueError, match="unknown event kind 'digits'; allowed: enter, input"):
        recorder.event(SID, seq=0, state="welcome", kind="digits")


def test_an_event_for_a_call_never_started_fails(recorder: CallRecorder) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        recorder.event(SID, seq=0, state="welcome", kind="enter")


def test_update_sets_what_it_is_given_and_keeps_the_rest(recorder: CallRecorder) -> None:
    started(recorder)
    recorder.update(SID, account_id=1001)
    recorder.update(SID, lang="en-US")
    recorder.update(SID)

    record = record_of(recorder)
    assert (record.account_id, record.lang) == (1001, "en-US")


# --- outcomes ------------------------------------------------------------------------------


def test_the_first_outcome_wins_and_the_latest_reason_and_queue_stay(
    recorder: CallRecorder,
) -> None:
    started(recorder)
    recorder.finish(SID, outcome="agent", reason="verification failed", queue="security")
    recorder.finish(SID, outcome="self_served", reason="later", queue="general")

    record = record_of(recorder)
    assert (record.outcome, record.reason, record.queue) == ("agent", "later", "general")


def test_finish_without_an_outcome_records_the_reason_and_leaves_the_outcome_open(
    recorder: CallRecorder,
) -> None:
    started(recorder)
    recorder.finish(SID, reason="no input x3")
    recorder.finish(SID, outcome="agent", queue="general")

    record = record_of(recorder)
    assert (record.outcome, record.reason, record.queue) == ("agent", "no input x3", "general")


def test_finish_does_not_end_the_call(recorder: CallRecorder) -> None:
    started(recorder)
    recorder.finish(SID, outcome="self_served")

    assert record_of(recorder).ended_at is None


def test_an_unknown_outcome_is_refused(recorder: CallRecorder) -> None:
    started(recorder)

    with pytest.raises(ValueError, match="unknown outcome 'solved'"):
        recorder.finish(SID, outcome="solved")


# --- closing -------------------------------------------------------------------------------


def test_close_ends_the_call_and_keeps_its_outcome(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    recorder.finish(SID, outcome="self_served")
    clock.advance(95)
    recorder.close(SID, duration_s=95, status="completed")

    record = record_of(recorder)
    assert (record.ended_at, record.duration_s, record.outcome) == (at(95), 95, "self_served")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("completed", "abandoned"),
        ("canceled", "abandoned"),
        ("no-answer", "abandoned"),
        ("busy", "abandoned"),
        ("failed", "failed"),
    ],
)
def test_a_call_closed_without_an_outcome_gets_one_from_the_status(
    recorder: CallRecorder, status: str, outcome: str
) -> None:
    started(recorder)
    recorder.close(SID, duration_s=None, status=status)

    assert record_of(recorder).outcome == outcome


def test_a_repeated_status_callback_keeps_the_first_end_time(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    clock.advance(40)
    recorder.close(SID, duration_s=40, status="completed")
    clock.advance(30)
    recorder.close(SID, duration_s=40, status="completed")

    assert record_of(recorder).ended_at == at(40)


def test_close_with_a_status_that_is_not_final_is_refused(recorder: CallRecorder) -> None:
    started(recorder)

    with pytest.raises(ValueError, match="unknown final call status 'in-progress'"):
        recorder.close(SID, duration_s=None, status="in-progress")


def test_close_of_a_call_never_started_records_nothing(recorder: CallRecorder) -> None:
    recorder.close(SID, duration_s=12, status="completed")

    assert recorder.record(SID) is None


# --- handoffs ------------------------------------------------------------------------------


def test_a_handoff_puts_the_caller_in_the_queue_with_what_the_agent_needs(
    recorder: CallRecorder,
) -> None:
    started(recorder)
    handoff(recorder)

    expected = Handoff(
        call_sid=SID,
        queue="wallet-support",
        priority=1,
        enqueued_at=T0,
        account_id=1001,
        caller_name="张三",
        verified=True,
        issue="refund",
        steps_tried=["refund_status", "refund_request"],
        reason="asked for an agent",
        status="waiting",
    )
    assert recorder.waiting() == [expected]
    assert record_of(recorder).handoff == expected


def test_a_duplicate_handoff_keeps_one_row_and_the_callers_place_in_the_queue(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    handoff(recorder)
    clock.advance(10)
    handoff(recorder, issue="top-up", priority=2)

    [only] = recorder.waiting()
    assert (only.enqueued_at, only.issue, only.priority) == (T0, "top-up", 2)


def test_a_handoff_after_leaving_the_queue_waits_again_from_now(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    handoff(recorder)
    recorder.handoff_status(SID, "left")
    clock.advance(60)
    handoff(recorder)

    [only] = recorder.waiting()
    assert (only.status, only.enqueued_at) == ("waiting", at(60))


def test_waiting_lists_the_most_urgent_first_then_the_longest_waiting(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    for sid, priority in [("CA-early-low", 0), ("CA-urgent", 5), ("CA-late-low", 0)]:
        started(recorder, sid)
        handoff(recorder, sid, priority=priority)
        clock.advance(1)

    assert [h.call_sid for h in recorder.waiting()] == ["CA-urgent", "CA-early-low", "CA-late-low"]


def test_a_bridged_caller_is_no_longer_waiting(recorder: CallRecorder) -> None:
    started(recorder)
    handoff(recorder)
    recorder.handoff_status(SID, "bridged")

    assert recorder.waiting() == []
    handed = record_of(recorder).handoff
    assert handed is not None
    assert handed.status == "bridged"


def test_hanging_up_while_waiting_abandons_the_handoff(recorder: CallRecorder) -> None:
    for sid in ("CA-waiting", "CA-bridged"):
        started(recorder, sid)
        handoff(recorder, sid)
        recorder.finish(sid, outcome="agent", queue="wallet-support")
    recorder.handoff_status("CA-bridged", "bridged")

    recorder.close("CA-waiting", duration_s=200, status="completed")
    recorder.close("CA-bridged", duration_s=300, status="completed")

    statuses = {}
    for sid in ("CA-waiting", "CA-bridged"):
        record = record_of(recorder, sid)
        assert record.handoff is not None
        statuses[sid] = (record.outcome, record.handoff.status)
    assert statuses == {"CA-waiting": ("agent", "abandoned"), "CA-bridged": ("agent", "bridged")}


def test_an_unknown_handoff_status_is_refused(recorder: CallRecorder) -> None:
    started(recorder)
    handoff(recorder)

    with pytest.raises(ValueError, match="unknown handoff status 'done'"):
        recorder.handoff_status(SID, "done")


def test_a_handoff_for_a_call_never_started_fails(recorder: CallRecorder) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        handoff(recorder)


# --- ghosts: waiting callers who hung up unnoticed ----------------------------------------


@pytest.fixture
def ghostly(database_url: str, clock: ManualClock) -> Iterator[CallRecorder]:
    """A recorder whose waiting callers are gone when not seen for 15 minutes."""
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    yield CallRecorder(engine, clock, waiting_ttl=timedelta(minutes=15))
    engine.dispose()


def test_a_waiting_caller_not_seen_for_the_waiting_ttl_is_no_longer_listed(
    ghostly: CallRecorder, clock: ManualClock
) -> None:
    for sid in ("CA-ghost", "CA-holding"):
        started(ghostly, sid)
        handoff(ghostly, sid)
    clock.advance(14 * 60)
    ghostly.seen("CA-holding")  # Twilio fetched their hold page
    clock.advance(2 * 60)

    assert [h.call_sid for h in ghostly.waiting()] == ["CA-holding"]
    assert [h.call_sid for h in ghostly.handoffs(status="waiting")] == ["CA-ghost", "CA-holding"]


def test_expire_waiting_marks_the_ghosts_abandoned_and_counts_them(
    ghostly: CallRecorder, clock: ManualClock
) -> None:
    for sid in ("CA-ghost", "CA-holding"):
        started(ghostly, sid)
        handoff(ghostly, sid)
    clock.advance(10 * 60)
    ghostly.seen("CA-holding")
    clock.advance(6 * 60)

    assert ghostly.expire_waiting() == 1
    assert ghostly.expire_waiting() == 0
    assert {h.call_sid: h.status for h in ghostly.handoffs()} == {
        "CA-ghost": "abandoned",
        "CA-holding": "waiting",
    }


def test_without_a_waiting_ttl_no_caller_is_taken_for_gone(
    recorder: CallRecorder, clock: ManualClock
) -> None:
    started(recorder)
    handoff(recorder)
    clock.advance(24 * 3600)

    assert [h.call_sid for h in recorder.waiting()] == [SID]
    assert recorder.expire_waiting() == 0


def test_seeing_a_caller_who_is_no_longer_waiting_changes_nothing(
    ghostly: CallRecorder, clock: ManualClock
) -> None:
    started(ghostly)
    handoff(ghostly)
    ghostly.handoff_status(SID, "bridged")
    clock.advance(3600)
    ghostly.seen(SID)

    assert ghostly.waiting() == []
    assert record_of(ghostly).handoff.status == "bridged"


# --- restarts --------------------------------------------------------------------------------


def test_a_call_is_noted_restarted_once_and_refused_a_second_time(
    recorder: CallRecorder,
) -> None:
    started(recorder)

    assert recorder.note_restart(SID) is True
    assert recorder.note_restart(SID) is False
    notes = [(e.kind, e.detail) for e in record_of(recorder).events]
    assert notes == [("note", "restart")]


def test_a_call_with_no_record_may_always_start_over(recorder: CallRecorder) -> None:
    assert recorder.note_restart("CA-unknown") is True
    assert recorder.note_restart("CA-unknown") is True
    assert recorder.record("CA-unknown") is None
