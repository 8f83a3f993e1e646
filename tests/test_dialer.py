"""The callback dialer (issue 14): when callbacks are due, pacing and caps, retries and the
ticket after the last, restarts, two dialers on PostgreSQL, and the callback call itself
(both languages, a person and a machine) with the simulator answering the phone.

Twilio's REST API is ``ivr.testing.twilio_api.FakeCallsApi`` behind twilio's own client; the
person who answers is ``Simulator.answer`` driving the real app in-process. Time is the
``clock`` fixture's manual clock: the dialer's waits move it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from twilio.http import HttpClient

import ivr.stores.schema  # noqa: F401  (registers every table on Base)
from ivr.cli.main import main
from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.errors import DialProblem
from ivr.errors import ScriptError
from ivr.errors import SimulationError
from ivr.flow.spec import Flow
from ivr.hotline.dialer import Dialer
from ivr.hotline.dialer import RetryPolicy
from ivr.stores.callbacks import CallbackBook
from ivr.stores.callbacks import CallbackRequest
from ivr.stores.callbacks import Claim
from ivr.telephony.calls import DryRunPlacer
from ivr.telephony.calls import OutboundCall
from ivr.telephony.calls import TwilioPlacer
from ivr.telephony.numbers import Credentials
from ivr.testing.factories import LocalSimulators
from ivr.testing.replay import format_result
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import parse_script
from ivr.testing.scripts import run_script
from ivr.testing.simulator import OutboundRequest
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.testing.twilio_api import FakeCallsApi
from ivr.wallet import Wallet
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import ZHANG_WEI
from ivr.web.runtime import Runtime
from tests import services
from tests.conftest import AUTH_TOKEN
from tests.conftest import BASE_URL
from tests.conftest import PIN_KEY
from tests.conftest import T0
from tests.conftest import MakeApp
from tests.conftest import post
from tests.conftest import runtime_of

SID = "AC" + "1" * 32
TOKEN = "rest-token"
OUR_NUMBER = "+864001234567"
STRANGER = "+8613900000099"
EVENING = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai: closed
HOLIDAY = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)  # National Day, 10:00 in Shanghai


@pytest.fixture
def api() -> FakeCallsApi:
    return FakeCallsApi(SID, TOKEN)


@pytest.fixture
def rt(make_app: MakeApp) -> Runtime:
    return runtime_of(make_app())


def book_of(rt: Runtime) -> CallbackBook:
    assert rt.callbacks is not None
    return rt.callbacks


def with_agents(flow: Flow, **agents: int) -> Flow:
    """``flow`` with some queues answered by more agents."""
    queues = {
        name: dataclasses.replace(
            queue, settings=dataclasses.replace(queue.settings, agents=agents[name])
        )
        if name in agents
        else queue
        for name, queue in flow.queues.items()
    }
    return dataclasses.replace(flow, queues=queues)


def make_dialer(rt: Runtime, clock: ManualClock, api: FakeCallsApi, **options: Any) -> Dialer:
    settings: dict[str, Any] = {
        "book": book_of(rt),
        "wallet": rt.services.wallet,
        "flow": rt.flows["hotline"].flow,
        "placer": TwilioPlacer(Credentials(SID, TOKEN), http_client=api),
        "clock": clock,
        "base_url": BASE_URL,
        "from_number": OUR_NUMBER,
        "sleep": clock.advance,
    }
    return Dialer(**{**settings, **options})


def ask(
    rt: Runtime,
    call_sid: str,
    phone: str = ZHANG_WEI,
    *,
    issue: str | None = "payment_failed",
    queue: str = "payments",
    preferred_at: datetime | None = None,
    lang: str = "zh-CN",
    account_id: int | None = None,
) -> CallbackRequest:
    if account_id is None and phone != STRANGER:
        found = rt.services.wallet.find_by_phone(phone)
        assert found is not None
        account_id = found.id
    return book_of(rt).request(
        call_sid,
        phone=phone,
        account_id=account_id,
        issue=issue,
        queue=queue,
        preferred_at=preferred_at,
        lang=lang,
        verified=True,
        steps=["payment_failed_details", "solved"],
    )


def person(app: Any, clock: ManualClock) -> Simulator:
    """The phone network and the people on it, for the app's callbacks."""
    return Simulator(WsgiTransport(app), base_url=BASE_URL, clock=clock, auth_token=AUTH_TOKEN)


def status_callback(app: Any, request: OutboundRequest, status: str) -> None:
    """Twilio reports the end of a call the simulator did not run (it rang out, say)."""
    assert request.status_callback is not None
    path = request.status_callback.removeprefix(BASE_URL)
    assert post(app, path, CallSid=request.call_sid, CallStatus=status).status_code == 200


# -- when a callback is due ---------------------------------------------------------------


def test_an_asap_callback_is_due_while_its_queue_is_open(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    dialer = make_dialer(rt, clock, api)
    assert dialer.due(ask(rt, "CA1"))


def test_an_asap_callback_waits_while_the_line_is_closed(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    clock.set(EVENING)
    dialer = make_dialer(rt, clock, api)
    assert not dialer.due(ask(rt, "CA1"))
    assert dialer.run_once() == []
    assert api.created == []


def test_nobody_is_called_back_on_a_holiday(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    clock.set(HOLIDAY)
    dialer = make_dialer(rt, clock, api)
    ask(rt, "CA1")
    assert dialer.run_once() == []
    clock.advance(24 * 3600)  # the day after: open at 10:00
    assert [p.request.call_sid for p in dialer.run_once()] == ["CA1"]


def test_a_callback_booked_for_the_opening_is_due_when_that_time_comes(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    clock.set(EVENING)
    opening = rt.flows["hotline"].flow.hours.next_opening(clock.now())
    assert opening == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 the next morning
    dialer = make_dialer(rt, clock, api)
    ask(rt, "CA1", preferred_at=opening)
    clock.set(opening - timedelta(minutes=1))
    assert dialer.run_once() == []
    clock.set(opening)
    assert [p.request.call_sid for p in dialer.run_once()] == ["CA1"]


# -- pacing and caps ----------------------------------------------------------------------


def test_calls_are_placed_at_the_configured_rate(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    flow = with_agents(rt.flows["hotline"].flow, payments=10)
    dialer = make_dialer(rt, clock, api, flow=flow, rate=0.5)
    for n in range(5):
        ask(rt, f"CA{n}")
    placed = dialer.run_once()
    assert [p.at for p in placed] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert [r.call_sid for r in api.requests] == [p.call_sid for p in placed]
    assert clock.now() == T0 + timedelta(seconds=8)


def test_the_default_rate_is_one_call_a_second(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    flow = with_agents(rt.flows["hotline"].flow, payments=3)
    dialer = make_dialer(rt, clock, api, flow=flow)
    for n in range(3):
        ask(rt, f"CA{n}")
    assert [p.at for p in dialer.run_once()] == [0.0, 1.0, 2.0]


def test_a_queue_has_no_more_callbacks_in_progress_than_agents(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi, make_app: MakeApp
) -> None:
    flow = with_agents(rt.flows["hotline"].flow, payments=2)
    dialer = make_dialer(rt, clock, api, flow=flow)
    for n in range(3):
        ask(rt, f"CA{n}")
    ask(rt, "CA9", LI_NA, issue="complaint", queue="general")
    placed = dialer.run_once()
    assert sorted(p.request.call_sid for p in placed) == ["CA0", "CA1", "CA9"]
    assert book_of(rt).in_progress() == {"payments": 2, "general": 1}
    assert dialer.run_once() == []  # payments has two calls going, general its one
    settle = book_of(rt).settle
    settle(placed[0].attempt.id, "busy", retry_after=timedelta(hours=1), max_attempts=3)
    assert [p.request.call_sid for p in dialer.run_once()] == ["CA2"]


# -- retries, and the ticket after the last -----------------------------------------------


def test_an_unanswered_callback_is_retried_after_the_delay_then_becomes_a_ticket(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    policy = RetryPolicy(max_attempts=3, retry_after=timedelta(minutes=10))
    dialer = make_dialer(rt, clock, api, policy=policy)
    network = person(app, clock)
    request = ask(rt, "CA1")

    [first] = dialer.run_once()
    network.answer(api.requests[0], network="busy")
    waiting = book_of(rt).by_id(request.id)
    assert waiting is not None
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.next_try_at == clock.now() + timedelta(minutes=10)

    clock.advance(9 * 60)
    assert dialer.run_once() == []  # not yet
    clock.advance(60)
    [second] = dialer.run_once()
    status_callback(app, api.requests[1], "no-answer")  # it rang out

    clock.advance(10 * 60)
    [third] = dialer.run_once()
    network.answer(api.requests[2], answered_by="machine_end_beep")

    assert dialer.run_once() == []
    done = book_of(rt).by_id(request.id)
    assert done is not None
    assert (done.status, done.attempts) == ("failed", 3)
    attempts = book_of(rt).attempts(request.id)
    assert [(a.number, a.outcome) for a in attempts] == [
        (1, "busy"),
        (2, "no-answer"),
        (3, "machine"),
    ]
    assert [a.call_sid for a in attempts] == [r.call_sid for r in api.requests]
    assert done.ticket is not None
    ticket = rt.services.wallet.ticket(done.ticket)
    assert ticket is not None
    assert (ticket.kind, ticket.account_id, ticket.caller_phone) == (
        "callback",
        request.account_id,
        ZHANG_WEI,
    )
    assert ticket.summary == (
        "callback about payment_failed not reached after 3 attempts (busy, no-answer, "
        "machine); call the customer"
    )


def test_a_call_twilio_refuses_becomes_a_ticket_at_once(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    dialer = make_dialer(rt, clock, api)
    request = ask(rt, "CA1")
    api.fail_next(400, 21215, "Geo permission configuration is not permitting call")
    [placed] = dialer.run_once()
    assert placed.call_sid is None
    assert placed.describe() == (
        "could not call +86*******0001 for payments about payment_failed (callback 1, "
        "attempt 1): Twilio refused to place the call +86*******0001 from +864001234567, "
        "answer URL http://localhost/voice/callback?attempt=1 (error 21215): Unable to create "
        "record: Geo permission configuration is not permitting call"
    )
    [attempt] = book_of(rt).attempts(request.id)
    assert attempt.outcome == "failed"
    failed = book_of(rt).by_id(request.id)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.ticket is not None


def test_a_twilio_server_error_is_retried_later(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    dialer = make_dialer(rt, clock, api)
    request = ask(rt, "CA1")
    api.fail_next(503, 20500, "Internal Server Error")
    [placed] = dialer.run_once()
    assert placed.problem is not None
    waiting = book_of(rt).by_id(request.id)
    assert waiting is not None
    assert (waiting.status, waiting.ticket) == ("pending", None)
    clock.advance(600)
    [again] = dialer.run_once()
    assert again.call_sid is not None
    assert again.attempt.number == 2


# -- restarts -----------------------------------------------------------------------------


def test_a_dialer_killed_after_placing_leaves_the_callback_to_the_status_callback(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    request = ask(rt, "CA1")
    make_dialer(rt, clock, api, name="killed").run_once()  # then the process dies
    call = person(app, clock).answer(api.requests[0])
    call.press("2")  # no longer needed
    assert call.ended

    clock.advance(3600)
    assert make_dialer(rt, clock, api, name="restarted").run_once() == []
    assert len(api.requests) == 1  # dialled once
    settled = book_of(rt).by_id(request.id)
    assert settled is not None
    assert settled.status == "cancelled"
    [attempt] = book_of(rt).attempts(request.id)
    assert (attempt.dialer, attempt.outcome) == ("killed", "answered")


def test_a_dialer_killed_before_twilio_took_the_call_is_dialled_again_after_the_lease(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    request = ask(rt, "CA1")
    dialer = make_dialer(rt, clock, api, name="second")
    book = book_of(rt)
    # The first dialer claimed the callback and died before asking Twilio.
    [claim] = book.claim("first", lease=timedelta(minutes=2), due=dialer.due, cap=dialer.cap)
    assert dialer.run_once() == []  # held by the first dialer's lease
    clock.advance(121)
    [placed] = dialer.run_once()
    assert placed.request.id == request.id
    assert len(api.requests) == 1
    attempts = book.attempts(request.id)
    assert [(a.dialer, a.outcome) for a in attempts] == [("first", "lost"), ("second", None)]
    assert placed.attempt.number == 1  # a lost attempt does not count against the limit


def test_a_lease_that_runs_out_during_a_call_asks_twilio_instead_of_dialling_again(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    request = ask(rt, "CA1")
    [placed] = make_dialer(rt, clock, api, name="killed").run_once()
    assert placed.call_sid is not None
    api.statuses[placed.call_sid] = "ringing"  # no status callback has come
    clock.advance(121)
    restarted = make_dialer(rt, clock, api, name="restarted")
    assert restarted.run_once() == []
    held = book_of(rt).by_id(request.id)
    assert held is not None
    assert (held.status, held.lease_until) == ("dialing", clock.now() + timedelta(minutes=2))
    api.statuses[placed.call_sid] = "completed"
    clock.advance(121)
    assert restarted.run_once() == []
    done = book_of(rt).by_id(request.id)
    assert done is not None
    assert done.status == "done"
    assert len(api.requests) == 1


def test_a_duplicate_status_callback_settles_nothing_twice(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    request = ask(rt, "CA1")
    make_dialer(rt, clock, api).run_once()
    status_callback(app, api.requests[0], "busy")
    status_callback(app, api.requests[0], "busy")
    settled = book_of(rt).by_id(request.id)
    assert settled is not None
    assert (settled.status, settled.attempts) == ("pending", 1)
    assert [a.outcome for a in book_of(rt).attempts(request.id)] == ["busy"]


# -- several dialers ---------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[sa.Engine]:
    for url in services.postgres_schema_url():
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("dialers", [2, 4])
def test_dialers_sharing_postgresql_place_each_callback_exactly_once(
    postgres: sa.Engine, clock: ManualClock, rt: Runtime, dialers: int
) -> None:
    book = CallbackBook(postgres, clock)
    wallet = Wallet(postgres, clock)
    flow = with_agents(rt.flows["hotline"].flow, general=100)
    wanted = 40
    for n in range(wanted):
        book.request(
            f"CA{n}", phone=f"+86139000{n:05d}", account_id=None, issue=None, queue="general"
        )
    apis = [FakeCallsApi(SID, TOKEN, first_call=0x1000 * (i + 1)) for i in range(dialers)]
    start = threading.Barrier(dialers)
    failures: list[BaseException] = []

    def work(i: int) -> None:
        dialer = make_dialer(
            rt,
            clock,
            apis[i],
            book=book,
            wallet=wallet,
            flow=flow,
            name=f"dialer-{i}",
            rate=100.0,
            sleep=lambda _: None,
        )
        start.wait()
        try:
            while dialer.run_once():
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(dialers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    dialled = sorted(r.to for api in apis for r in api.requests)
    assert dialled == sorted(f"+86139000{n:05d}" for n in range(wanted))
    assert len(book.attempts()) == wanted
    assert {r.status for r in book.listed()} == {"dialing"}


@pytest.mark.postgres
def test_dialers_sharing_postgresql_keep_to_the_queues_agents_together(
    postgres: sa.Engine, clock: ManualClock, rt: Runtime
) -> None:
    book = CallbackBook(postgres, clock)
    flow = with_agents(rt.flows["hotline"].flow, general=3)
    for n in range(12):
        book.request(
            f"CA{n}", phone=f"+86139000{n:05d}", account_id=None, issue=None, queue="general"
        )
    dialers = 4
    apis = [FakeCallsApi(SID, TOKEN, first_call=0x1000 * (i + 1)) for i in range(dialers)]
    start = threading.Barrier(dialers)

    def work(i: int) -> None:
        dialer = make_dialer(
            rt,
            clock,
            apis[i],
            book=book,
            wallet=Wallet(postgres, clock),
            flow=flow,
            name=f"dialer-{i}",
            rate=100.0,
            sleep=lambda _: None,
        )
        start.wait()
        dialer.run_once()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(dialers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(api.requests) for api in apis) == 3
    assert book.in_progress() == {"general": 3}


def test_one_dialer_on_sqlite_claims_each_callback_once(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    flow = with_agents(rt.flows["hotline"].flow, payments=100)
    for n in range(5):
        ask(rt, f"CA{n}")
    dialer = make_dialer(rt, clock, api, flow=flow, rate=100.0)
    assert len(dialer.run_once()) == 5
    assert dialer.run_once() == []
    assert len(api.requests) == 5


# -- the callback call --------------------------------------------------------------------


def place_one(app: Any, clock: ManualClock, api: FakeCallsApi) -> OutboundRequest:
    rt = runtime_of(app)
    [placed] = make_dialer(rt, clock, api).run_once()
    assert placed.call_sid is not None
    return api.requests[-1]


def test_the_dialer_asks_twilio_for_the_callback_url_status_callback_and_machine_detection(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    ask(runtime_of(app), "CA1")
    place_one(app, clock, api)
    assert api.created[0].form == {
        "To": ZHANG_WEI,
        "From": OUR_NUMBER,
        "Url": "http://localhost/voice/callback?attempt=1",
        "Method": "POST",
        "StatusCallback": "http://localhost/voice/callback/status?attempt=1",
        "StatusCallbackMethod": "POST",
        "Timeout": "30",
        "MachineDetection": "DetectMessageEnd",
    }


def test_a_callback_in_chinese_greets_by_name_says_why_and_puts_the_person_through(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    request = ask(rt, "CA1")
    call = person(app, clock).answer(place_one(app, clock, api))
    assert call.heard() == (
        "张伟您好，这里是数字钱包客服中心。您之前来电咨询支付失败，并预约了回电，现在为您回电。"
        "如果不再需要，取消本次回电请按2。现在接通客服人员请按1。重听请按9。"
    )
    call.press("1")
    assert call.heard() == "正在为您转接支付问题专员，请稍候。"
    assert call.waiting_for == "queue"
    [handoff] = rt.records.waiting()
    assert (handoff.queue, handoff.caller_name, handoff.account_id) == (
        "payments",
        "张伟",
        request.account_id,
    )
    assert (handoff.verified, handoff.issue, handoff.steps_tried, handoff.reason) == (
        True,
        "payment failed",
        ["payment_failed_details", "solved"],
        "callback: the customer asked to be called back",
    )
    call.agent_answers(talk_seconds=120)
    assert call.heard() == "感谢您的耐心等待，祝您生活愉快，再见。"
    assert call.ended
    record = rt.records.record(call.call_sid)  # the callback call has its record, like any
    assert record is not None
    assert (record.flow, record.caller, record.lang) == ("callback", ZHANG_WEI, "zh-CN")
    done = book_of(rt).by_id(request.id)
    assert done is not None
    assert done.status == "done"
    [attempt] = book_of(rt).attempts(request.id)
    assert (attempt.outcome, attempt.answered_by, attempt.call_sid) == (
        "answered",
        "human",
        call.call_sid,
    )


def test_a_callback_in_english_can_be_cancelled_with_2(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    request = ask(rt, "CA1", LI_NA, issue="complaint", queue="general", lang="en-US")
    call = person(app, clock).answer(place_one(app, clock, api))
    assert call.heard() == (
        "Hello Li Na, this is the digital wallet customer service team. You called us about "
        "complaint and asked us to call you back, so here we are. If you no longer need us, "
        "press 2 to cancel this call back. To speak to an agent now, press 1. To hear this "
        "again, press 9."
    )
    call.press("2")
    assert call.heard() == "Your call back is cancelled. Thank you, goodbye."
    assert call.ended
    cancelled = book_of(rt).by_id(request.id)
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert [a.outcome for a in book_of(rt).attempts(request.id)] == ["answered"]
    assert make_dialer(rt, clock, api).run_once() == []


def test_a_caller_without_an_account_or_issue_is_greeted_without_a_name(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    ask(rt, "CA1", STRANGER, issue=None, queue="general", lang="en-US")
    call = person(app, clock).answer(place_one(app, clock, api))
    assert call.heard().startswith(
        "Hello, this is the digital wallet customer service team. You called us about your "
        "question and asked us to call you back"
    )
    call.press("1")
    assert call.waiting_for == "queue"
    [handoff] = rt.records.waiting()
    assert (handoff.queue, handoff.caller_name, handoff.verified) == ("general", None, True)


def test_a_machine_hears_a_short_message_and_the_callback_is_tried_again(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    rt = runtime_of(app)
    request = ask(rt, "CA1")
    call = person(app, clock).answer(place_one(app, clock, api), answered_by="machine_end_beep")
    assert call.heard() == (
        "您好，这里是数字钱包客服中心，回复您预约的回电。我们稍后会再给您打来，"
        "您也可以在服务时间拨打客服热线。再见。"
    )
    assert call.ended
    assert call.result.outcome is not None
    assert call.result.outcome.kind == "hangup"
    again = book_of(rt).by_id(request.id)
    assert again is not None
    assert (again.status, again.next_try_at) == ("pending", clock.now() + timedelta(minutes=10))
    [attempt] = book_of(rt).attempts(request.id)
    assert (attempt.outcome, attempt.answered_by) == ("machine", "machine_end_beep")
    assert rt.records.waiting() == []


def test_a_repeated_answer_webhook_says_the_same_and_starts_nothing_twice(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    ask(runtime_of(app), "CA1")
    request = place_one(app, clock, api)
    path = request.url.removeprefix(BASE_URL)
    form = {"CallSid": request.call_sid, "From": OUR_NUMBER, "To": ZHANG_WEI}
    first = post(app, path, **form, AnsweredBy="human")
    again = post(app, path, **form, AnsweredBy="human")
    assert first.status_code == again.status_code == 200
    assert again.get_data(as_text=True) == first.get_data(as_text=True)
    assert first.headers["X-IVR-Flow"] == "callback"


def test_an_unsigned_answer_webhook_is_refused(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    response = app.test_client().post(
        "/voice/callback?attempt=1", data={"CallSid": "CA1", "From": OUR_NUMBER}
    )
    assert response.status_code == 403


def test_an_answer_for_an_unknown_callback_apologises_and_queues_rather_than_dead_air(
    make_app: MakeApp,
) -> None:
    app = make_app()
    response = post(app, "/voice/callback?attempt=99", CallSid="CA9", From=OUR_NUMBER)
    assert response.status_code == 200
    assert response.headers["X-IVR-State"] == "error"
    assert "<Enqueue" in response.get_data(as_text=True)


# -- ivr callbacks ------------------------------------------------------------------------

NOW = "2026-11-23T10:00:00+08:00"


def cli_book(cli_env: dict[str, str | None]) -> Iterator[CallbackBook]:
    url = cli_env["IVR_DATABASE_URL"]
    assert url is not None
    engine = make_engine(url)
    try:
        yield CallbackBook(engine, ManualClock(T0))
    finally:
        engine.dispose()


def test_callbacks_run_without_credentials_is_a_dry_run_saying_who_it_would_call(
    runner: CliRunner, cli_env: dict[str, str | None]
) -> None:
    env = {"IVR_CLOCK": NOW}
    assert runner.invoke(main, ["callbacks", "list"], env=env).output == "no callbacks waiting\n"
    for book in cli_book(cli_env):
        book.request("CA1", phone=ZHANG_WEI, account_id=1, issue="refund", queue="payments")
        book.request("CA2", phone=LI_NA, account_id=2, issue=None, queue="general")
    result = runner.invoke(main, ["callbacks", "run", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "dry run (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not both set): no call is placed\n"
        "+0.0s would call +86*******0001 for payments about refund (callback 1, attempt 1)\n"
        "+1.0s would call +86*******0002 for general (callback 2, attempt 1)\n"
        "would place 2 call(s)\n"
    )
    off = runner.invoke(
        main,
        ["callbacks", "run", "--once"],
        env={
            **env,
            "IVR_DIAL": "off",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_PIN_KEY": PIN_KEY,
        },
    )
    assert off.output.splitlines()[0] == "dry run (IVR_DIAL is off): no call is placed"
    listed = runner.invoke(main, ["callbacks", "list"], env=env)
    assert listed.output == (
        "#1 pending   +86*******0001 payments (refund), as soon as possible, 0 attempt(s)\n"
        "#2 pending   +86*******0002 general (no issue), as soon as possible, 0 attempt(s)\n"
    )


def test_callbacks_run_places_calls_through_twilio_and_list_shows_the_attempts(
    runner: CliRunner, cli_env: dict[str, str | None], api: FakeCallsApi
) -> None:
    env = {
        "IVR_CLOCK": NOW,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_PIN_KEY": PIN_KEY,
        "IVR_PUBLIC_URL": "https://ivr.example.com",
        "IVR_CALLBACK_FROM": OUR_NUMBER,
    }
    runner.invoke(main, ["callbacks", "list"], env=env)
    for book in cli_book(cli_env):
        book.request("CA1", phone=ZHANG_WEI, account_id=1, issue="refund", queue="payments")
    result = runner.invoke(
        main, ["callbacks", "run", "--max-time", "1", "--name", "d1"], obj=api, env=env
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "+0.0s called +86*******0001 for payments about refund (callback 1, attempt 1)\n"
        "placed 1 call(s)\n"
    )
    [request] = api.requests
    assert request.url == "https://ivr.example.com/voice/callback?attempt=1"
    listed = runner.invoke(main, ["callbacks", "list", "--all"], env=env)
    assert listed.output == (
        "#1 dialing   +86*******0001 payments (refund), as soon as possible, 1 attempt(s)\n"
        "    attempt 1 10:00:00 by d1: in progress\n"
    )


def test_callbacks_run_needs_a_public_url_and_a_number_to_call_from(
    runner: CliRunner, api: FakeCallsApi
) -> None:
    env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_PIN_KEY": PIN_KEY}
    no_url = runner.invoke(main, ["callbacks", "run", "--once"], obj=api, env=env)
    assert no_url.exit_code == 2
    assert "no public URL for Twilio to fetch the callback call from" in no_url.output
    env["IVR_PUBLIC_URL"] = "https://ivr.example.com"
    no_number = runner.invoke(main, ["callbacks", "run", "--once"], obj=api, env=env)
    assert no_number.exit_code == 2
    assert "IVR_CALLBACK_FROM=None is not a number in E.164 form" in no_number.output
    env["TWILIO_ACCOUNT_SID"] = "SK123"
    bad_sid = runner.invoke(main, ["callbacks", "run", "--once"], obj=api, env=env)
    assert bad_sid.exit_code == 2
    assert "is not an Account SID" in bad_sid.output


# -- the pieces, at their edges -----------------------------------------------------------


def test_a_dry_run_reports_each_due_callback_once_and_claims_nothing(
    rt: Runtime, clock: ManualClock
) -> None:
    placer = DryRunPlacer()
    dialer = make_dialer(rt, clock, FakeCallsApi(SID, TOKEN), placer=placer)
    ask(rt, "CA1")
    ask(rt, "CA2", LI_NA)  # payments has one agent: one call at a time
    [would] = dialer.run_once()
    assert (would.request.call_sid, would.call_sid, would.attempt.id) == ("CA1", None, 0)
    assert would.describe().startswith("would call +86*******0001 for payments")
    assert dialer.run_once() == []  # said once
    assert [r.status for r in book_of(rt).pending()] == ["pending", "pending"]
    assert placer.status("DRY1") is None
    assert placer.place(dialer.outbound(Claim(would.request, would.attempt))).startswith("DRY")


def test_run_repeats_rounds_until_max_time(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    dialer = make_dialer(rt, clock, api)
    rounds: list[int] = []
    ask(rt, "CA1")
    assert dialer.run(max_time=30, poll=10, report=lambda p: rounds.append(len(p))) == 1
    assert rounds == [1, 0, 0, 0]  # at 0, 10, 20 and 30 seconds
    assert clock.now() == T0 + timedelta(seconds=30)


def test_a_lease_run_out_while_twilio_cannot_be_asked_is_asked_again_later(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    request = ask(rt, "CA1")
    make_dialer(rt, clock, api, name="killed").run_once()
    clock.advance(121)
    api.fail_next(500, 20500, "Internal Server Error")
    restarted = make_dialer(rt, clock, api, name="restarted")
    assert restarted.recover() == []
    held = book_of(rt).by_id(request.id)
    assert held is not None
    assert held.status == "dialing"
    api.statuses[api.requests[0].call_sid] = "no-answer"
    [settled] = restarted.recover()
    assert (settled.outcome, settled.status) == ("no-answer", "pending")


def test_a_dry_run_lease_expiry_keeps_the_claim_when_the_status_cannot_be_known(
    rt: Runtime, clock: ManualClock, api: FakeCallsApi
) -> None:
    request = ask(rt, "CA1")
    [placed] = make_dialer(rt, clock, api).run_once()
    clock.advance(121)
    dry = make_dialer(rt, clock, api, placer=DryRunPlacer())
    assert dry.recover() == []
    held = book_of(rt).by_id(request.id)
    assert held is not None
    assert (held.status, held.lease_until) == ("dialing", clock.now() + timedelta(minutes=2))
    assert placed.call_sid is not None


def test_twilio_placer_reports_refusals_and_unknown_calls_as_dial_problems(
    api: FakeCallsApi,
) -> None:
    placer = TwilioPlacer(Credentials(SID, TOKEN), http_client=api)
    call = OutboundCall("12345", OUR_NUMBER, "https://ivr.example.com/voice/callback", "x")
    with pytest.raises(DialProblem, match="error 21211") as refused:
        placer.place(call)
    assert refused.value.retry is False
    with pytest.raises(DialProblem, match="look up call CA") as unknown:
        placer.status("CA" + "0" * 32)
    assert unknown.value.retry is False
    wrong = TwilioPlacer(Credentials(SID, "wrong"), http_client=api)
    with pytest.raises(DialProblem, match="error 20003"):
        wrong.place(dataclasses.replace(call, to=ZHANG_WEI))
    no_url = dataclasses.replace(call, to=ZHANG_WEI, url="")
    with pytest.raises(DialProblem, match="error 21205"):
        placer.place(no_url)


class Offline(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    def __init__(self) -> None:
        super().__init__(logger=logging.getLogger("offline"), is_async=False)

    def request(self, method: str, uri: str, **kwargs: Any) -> Any:
        raise ConnectionError("Name or service not known")


def test_twilio_placer_says_when_twilio_cannot_be_reached() -> None:
    placer = TwilioPlacer(Credentials(SID, TOKEN), http_client=Offline())
    call = OutboundCall(ZHANG_WEI, OUR_NUMBER, "https://ivr.example.com/voice/callback", "x")
    with pytest.raises(DialProblem, match="cannot reach Twilio's API to place a call") as down:
        placer.place(call)
    assert down.value.retry is True
    with pytest.raises(DialProblem, match="cannot reach Twilio's API to look up a call"):
        placer.status("CA" + "0" * 32)


def test_the_simulator_answers_only_as_twilio_can(make_app: MakeApp, clock: ManualClock) -> None:
    network = person(make_app(), clock)
    request = OutboundRequest("CA" + "1" * 32, ZHANG_WEI, OUR_NUMBER, BASE_URL + "/voice/callback")
    with pytest.raises(SimulationError, match="network must be one of busy"):
        network.answer(request, network="engaged")
    with pytest.raises(SimulationError, match="answered_by must be one of human"):
        network.answer(request, answered_by="robot")


def test_without_machine_detection_no_answered_by_is_sent_and_a_person_is_assumed(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    ask(runtime_of(app), "CA1")
    request = dataclasses.replace(place_one(app, clock, api), machine_detection=None)
    call = person(app, clock).answer(request)
    url, form = call.result.requests[0]
    assert url == "http://localhost/voice/callback?attempt=1"
    assert "AnsweredBy" not in form
    assert (form["Direction"], form["From"], form["To"]) == ("outbound-api", OUR_NUMBER, ZHANG_WEI)
    assert call.state == "offer_by_name"


def test_a_webhook_for_a_callback_call_that_ended_hangs_up(
    make_app: MakeApp, clock: ManualClock, api: FakeCallsApi
) -> None:
    app = make_app()
    ask(runtime_of(app), "CA1")
    request = place_one(app, clock, api)
    call = person(app, clock).answer(request)
    call.press("9")  # heard again: the call has moved on from its first step
    path = request.url.removeprefix(BASE_URL)
    repeated = post(app, path, CallSid=request.call_sid, From=OUR_NUMBER, To=ZHANG_WEI)
    assert repeated.headers["X-IVR-State"] == "offer_by_name"
    call.press("2")
    ended = post(app, path, CallSid=request.call_sid, From=OUR_NUMBER, To=ZHANG_WEI)
    assert ended.headers["X-IVR-State"] == "ended"


def test_settling_an_unknown_or_unanswered_attempt_changes_nothing(rt: Runtime) -> None:
    book = book_of(rt)
    assert book.settle(99, "busy", retry_after=timedelta(0), max_attempts=3) is None
    assert book.answered(99, "CA9", "human", lease=timedelta(hours=1)) is None
    ask(rt, "CA1")
    [claim] = book.claim("d", lease=timedelta(minutes=2), due=lambda r: True, cap=lambda q: 9)
    with pytest.raises(ValueError, match="not a final call status: 'ringing'"):
        book.settle(claim.attempt.id, "ringing", retry_after=timedelta(0), max_attempts=3)


def test_callbacks_list_shows_preferred_times_retries_and_tickets(
    runner: CliRunner, cli_env: dict[str, str | None]
) -> None:
    env = {"IVR_CLOCK": NOW}
    runner.invoke(main, ["callbacks", "list"], env=env)
    for book in cli_book(cli_env):
        opening = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
        book.request(
            "CA1", phone=ZHANG_WEI, account_id=1, issue=None, queue="general", preferred_at=opening
        )
        book.request("CA2", phone=LI_NA, account_id=2, issue=None, queue="general")
        [claim] = book.claim(
            "d", lease=timedelta(minutes=2), due=lambda r: r.call_sid == "CA2", cap=lambda q: 9
        )
        book.settle(claim.attempt.id, "busy", retry_after=timedelta(minutes=10), max_attempts=1)
        book.note_ticket(claim.request.id, "T-1")
    listed = runner.invoke(main, ["callbacks", "list", "--all"], env=env)
    assert listed.output == (
        "#2 failed    +86*******0002 general (no issue), as soon as possible, 1 attempt(s), "
        "ticket T-1\n"
        "    attempt 1 10:00:00 by d: busy\n"
        "#1 pending   +86*******0001 general (no issue), from 2026-11-24 09:00, 0 attempt(s)\n"
    )
    assert runner.invoke(main, ["callbacks", "list"], env=env).output.startswith("#1 pending")


# -- call scripts with a callback ---------------------------------------------------------

FIRST_CALL = {
    "name": "Zhang Wei asks to be called back",
    "from": ZHANG_WEI,
    "lang": "en-US",
    "steps": [{"press": "2"}, {"press": "123456#"}, {"press": "0"}, "hold", {"press": "1"}],
}


def replayed(make_app: MakeApp, clock: ManualClock, data: dict[str, Any]) -> ScriptResult:
    app = make_app()
    simulator = LocalSimulators(app, clock=clock)()
    return run_script(parse_script(data, "call.yaml"), simulator)


@pytest.mark.parametrize(
    ("callback", "key", "message"),
    [
        ({"steps": "press"}, "callback.steps", "must be a list of steps, not the text 'press'"),
        ({"answer": "robot"}, "callback.answer", "unknown value 'robot'"),
        ({"after": 0}, "callback.after", "must be a whole number of at least 1"),
        ({"outcome": {"kind": "x"}}, "callback.outcome.kind", "unknown value 'x'"),
        ({"when": 1}, "callback.when", "unknown key 'when'"),
    ],
)
def test_a_malformed_callback_section_names_its_key(
    callback: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script({**FIRST_CALL, "callback": callback}, "call.yaml")
    assert caught.value.key == key
    assert message in caught.value.message


def test_a_script_with_a_callback_needs_a_simulator_that_runs_the_dialer(
    make_app: MakeApp, clock: ManualClock
) -> None:
    script = parse_script({**FIRST_CALL, "callback": {"steps": []}}, "call.yaml")
    result = run_script(script, person(make_app(), clock))
    assert result.failure is not None
    assert result.failure.message == (
        "this script describes a callback; replay it in-process, where the dialer runs"
    )


def test_a_script_whose_caller_booked_no_callback_fails_its_callback(
    make_app: MakeApp, clock: ManualClock
) -> None:
    data = {**FIRST_CALL, "steps": [{"press": "2"}, "hangup"], "callback": {"after": 60}}
    result = replayed(make_app, clock, data)
    assert result.failure is not None
    assert result.failure.message == (
        "expected the dialer to call +8613800000001 back once, it placed 0"
    )


def test_a_callback_step_that_fails_is_reported_as_the_callbacks(
    make_app: MakeApp, clock: ManualClock
) -> None:
    data = {**FIRST_CALL, "callback": {"steps": [{"expect": "Good evening"}]}}
    result = replayed(make_app, clock, data)
    assert result.failure is not None
    assert (result.failure.step_index, result.failure.step) == (
        None,
        "callback: expect: Good evening",
    )
    assert result.callback is not None
    assert "offer_by_name" in result.callback.states


def test_a_callback_that_ends_otherwise_than_expected_fails_the_script(
    make_app: MakeApp, clock: ManualClock
) -> None:
    data = {**FIRST_CALL, "callback": {"answer": "no-answer", "outcome": {"kind": "hangup"}}}
    result = replayed(make_app, clock, data)
    assert result.failure is not None
    assert result.failure.step == "callback: outcome: {kind: hangup}"
    assert result.failure.message == (
        "expected the call to end hangup, but it ended unanswered (no-answer)"
    )


def test_replay_prints_the_call_back_after_the_call(make_app: MakeApp, clock: ManualClock) -> None:
    data = {**FIRST_CALL, "callback": {"steps": [{"press": "2"}]}}
    result = replayed(make_app, clock, data)
    assert result.passed
    text = format_result(result, color=False)
    called_back = text[text.index("    called back") :]
    assert called_back.splitlines()[1] == "    · offer_by_name"
    assert called_back.splitlines()[-4:] == [
        "    caller presses 2",
        "    · cancelled",
        "    IVR    Your call back is cancelled. Thank you, goodbye.",
        "    outcome: ended hangup",
    ]


def test_the_callback_flow_knows_the_hotlines_issues_and_queues(rt: Runtime) -> None:
    hotline_flow = rt.flows["hotline"].flow
    callback_flow = rt.flows["callback"].flow
    assert callback_flow.issues == hotline_flow.issues
    assert set(callback_flow.queues) == set(hotline_flow.queues)
    assert callback_flow.hours == hotline_flow.hours
