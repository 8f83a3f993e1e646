"""The webhooks as Twilio meets them: the exact TwiML of the first answer, what callers send,
duplicate and concurrent deliveries, unknown calls, missing fields, status callbacks,
signatures, errors and the fallback URL.

Whole calls through the hotline's menus are call scripts (tests/calls, replayed by
tests/test_call_scripts.py); the engine's rules are tests/test_engine.py's. Where the database
matters (duplicates, locking, sessions, records) a test runs on SQLite and, where it runs,
PostgreSQL.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.clock import ManualClock
from ivr.testing.scripts import squash
from ivr.testing.simulator import Call
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import WANG_FANG
from ivr.wallet.demo import ZHANG_WEI
from ivr.web.voice import TwilioForm
from tests.conftest import AUTH_TOKEN
from tests.conftest import BASE_URL
from tests.conftest import MakeApp
from tests.conftest import post
from tests.conftest import runtime_of


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app(IVR_AUDIO="all")  # the shipped recordings are espeak-ng previews


@pytest.fixture
def app_on_each_database(make_app: MakeApp, database_url: str) -> Flask:
    return make_app(IVR_DATABASE_URL=database_url, IVR_AUDIO="all")  # shipped previews play


def simulator(app: Flask, clock: ManualClock) -> Simulator:
    # A played prompt shows in the transcript as the text it was recorded from.
    return Simulator(
        WsgiTransport(app),
        base_url=BASE_URL,
        auth_token=AUTH_TOKEN,
        clock=clock,
        play_text=runtime_of(app).play_text,
    )


def said(call: Call) -> str:
    """What the caller heard since their last action, compared as call scripts compare it: a
    played prompt reads as its text, and no space where a recording meets a said value in
    Chinese ("验证成功，" ▶ "张伟，" ▶ "您好。")."""
    return squash(call.heard())


def words(app: Flask, elements: list[ET.Element]) -> str:
    """The words of the <Say> and <Play> elements in ``elements``, a played prompt read as its
    text."""
    play_text = runtime_of(app).play_text
    spoken = [e for element in elements for e in element.iter() if e.tag in ("Say", "Play")]
    return squash(
        " ".join(
            (play_text(BASE_URL + (e.text or "")) or "?") if e.tag == "Play" else (e.text or "")
            for e in spoken
        )
    )


def document_words(app: Flask, response: Any) -> str:
    return words(app, [ET.fromstring(response.get_data(as_text=True))])


def verified(sim: Simulator, caller: str) -> Call:
    call = sim.dial(caller)
    call.press("1")
    call.press("123456")
    assert call.state == "main_menu"
    return call


def assert_queued(call: Call, queue: str) -> None:
    """The caller waits in ``queue``; hanging up there reports it."""
    assert call.waiting_for == "queue"
    call.hangup()
    assert call.result.outcome is not None
    assert (call.result.outcome.kind, call.result.outcome.queue) == ("queued", queue)


def wallet(app: Flask) -> Any:
    return runtime_of(app).services.wallet


def next_step(call: Call) -> int:
    """The step number the call's next webhook carries."""
    return int(call.result.requests[-1][0].split("n=")[1]) + 1


# -- exact TwiML of the first answer --------------------------------------------------------


def test_incoming_call_greets_in_both_languages_with_exact_twiml(make_app: MakeApp) -> None:
    app = make_app(IVR_AUDIO=False)  # every prompt said, as where no current recording exists

    response = post(app, "/voice", CallSid="CA1", From=ZHANG_WEI)

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.headers["X-IVR-State"] == "welcome"
    zh = 'language="cmn-CN" voice="Polly.Zhiyu-Neural"'
    en = 'language="en-US" voice="Polly.Joanna-Neural"'
    assert response.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Gather action="/voice/step?n=1" finishOnKey="#" input="dtmf" method="POST" numDigits="1" timeout="5">'
        f"<Say {zh}>您好，欢迎致电数字钱包客服热线。</Say>"
        f"<Say {en}>Welcome to the digital wallet hotline.</Say>"
        f"<Say {zh}>中文服务请按1。</Say>"
        f"<Say {en}>For English, press 2.</Say>"
        f"<Say {zh}>人工服务请按0。重听请按9。</Say>"
        f"<Say {en}>To speak to an agent, press 0. To hear these options again, press 9.</Say>"
        "</Gather>"
        '<Redirect method="POST">/voice/step?n=1</Redirect>'
        "</Response>"
    )


def test_the_greeting_played_from_recordings_says_the_same_words(app: Flask) -> None:
    response = post(app, "/voice", CallSid="CA1", From=ZHANG_WEI)

    gather = ET.fromstring(response.get_data(as_text=True))[0]
    assert gather.tag == "Gather"
    assert words(app, list(gather)) == squash(
        "您好，欢迎致电数字钱包客服热线。 Welcome to the digital wallet hotline. "
        "中文服务请按1。 For English, press 2. 人工服务请按0。重听请按9。 "
        "To speak to an agent, press 0. To hear these options again, press 9."
    )


def test_pin_prompt_gathers_six_digits_and_never_contains_the_pin(
    app_on_each_database: Flask,
) -> None:
    app = app_on_each_database
    post(app, "/voice", CallSid="CA2", From=ZHANG_WEI)
    post(app, "/voice/step?n=1", CallSid="CA2", From=ZHANG_WEI, Digits="1")

    response = post(app, "/voice/step?n=2", CallSid="CA2", From=ZHANG_WEI, Digits="123456")

    body = response.get_data(as_text=True)
    assert "123456" not in body
    root = ET.fromstring(body)
    assert [child.tag for child in root][-2:] == ["Gather", "Redirect"]
    assert words(app, list(root)[:-2]) == "验证成功，张伟，您好。"
    assert root[-2].attrib["action"] == "/voice/step?n=3"
    record = runtime_of(app).services.recorder.record("CA2")
    assert "entered ******" in [e.detail for e in record.events]
    assert not any("123456" in e.detail for e in record.events)


# -- what callers send ------------------------------------------------------------------------


def test_garbage_digits_are_an_invalid_key_not_an_error(app: Flask) -> None:
    post(app, "/voice", CallSid="CA9", From=ZHANG_WEI)

    markup = post(app, "/voice/step?n=1", CallSid="CA9", From=ZHANG_WEI, Digits="<Hangup/>")
    long = post(app, "/voice/step?n=2", CallSid="CA9", From=ZHANG_WEI, Digits="9" * 5000)

    assert (markup.status_code, markup.headers["X-IVR-State"]) == (200, "welcome")
    assert "抱歉，您的输入无效。" in document_words(app, markup)
    assert (long.status_code, long.headers["X-IVR-State"]) == (200, "welcome")
    assert "抱歉，您的输入无效。" in document_words(app, long)


def test_missing_parameters_get_a_400_that_names_them(app: Flask) -> None:
    response = post(app, "/voice", From=ZHANG_WEI)

    assert response.status_code == 400
    assert "'CallSid'" in response.get_data(as_text=True)


# -- duplicates, concurrency, unknown and ended calls -----------------------------------------


def test_a_duplicate_webhook_replays_its_reply_and_opens_no_second_ticket(
    app_on_each_database: Flask, clock: ManualClock
) -> None:
    app = app_on_each_database
    call = verified(simulator(app, clock), WANG_FANG)
    call.press("3")
    step = next_step(call)

    first = post(app, f"/voice/step?n={step}", CallSid=call.call_sid, From=WANG_FANG, Digits="1")
    again = post(app, f"/voice/step?n={step}", CallSid=call.call_sid, From=WANG_FANG, Digits="1")

    assert first.get_data() == again.get_data()
    tickets = wallet(app).tickets(wallet(app).find_by_phone(WANG_FANG).id)
    assert [t.kind for t in tickets].count("topup_investigation") == 1


def test_concurrent_duplicate_unlocks_apply_once(
    app_on_each_database: Flask, clock: ManualClock
) -> None:
    app = app_on_each_database
    call = verified(simulator(app, clock), LI_NA)
    call.press("1")
    step = next_step(call)
    responses: list[Any] = []

    def deliver() -> None:
        responses.append(
            post(app, f"/voice/step?n={step}", CallSid=call.call_sid, From=LI_NA, Digits="1")
        )

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(responses) == 4
    assert len({response.get_data() for response in responses}) == 1
    assert "您的账户已解锁，现在可以正常登录。" in document_words(app, responses[0])
    assert wallet(app).find_by_phone(LI_NA).status == "active"


def test_unknown_call_sid_on_an_action_url_starts_over_politely(
    app_on_each_database: Flask,
) -> None:
    response = post(
        app_on_each_database, "/voice/step?n=4", CallSid="CAnobody", From=ZHANG_WEI, Digits="1"
    )

    assert (response.status_code, response.headers["X-IVR-State"]) == (200, "restart")
    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Play", "Play", "Redirect"]  # the restart, recorded
    assert root[2].text == "/voice"


def test_status_callback_ends_the_session_and_closes_the_record(
    app_on_each_database: Flask, clock: ManualClock
) -> None:
    app = app_on_each_database
    call = verified(simulator(app, clock), ZHANG_WEI)

    call.hangup()

    runtime = runtime_of(app)
    assert runtime.store.load(call.call_sid).ended_at is not None
    record = runtime.services.recorder.record(call.call_sid)
    assert record.ended_at is not None
    assert record.outcome == "abandoned"


# -- signatures -------------------------------------------------------------------------------


def test_forged_webhook_gets_403(app: Flask) -> None:
    client = app.test_client()
    form = {"CallSid": "CA1", "From": ZHANG_WEI}

    unsigned = client.post("/voice", data=form)
    forged = client.post("/voice", data=form, headers={"X-Twilio-Signature": "AAAA"})

    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert "IVR_PUBLIC_URL" in forged.get_data(as_text=True)


def test_signature_is_checked_against_the_public_url_behind_a_tunnel(make_app: MakeApp) -> None:
    app = make_app(IVR_PUBLIC_URL="https://abc.example-tunnel.app")
    form = {"CallSid": "CA1", "From": ZHANG_WEI}
    validator = RequestValidator(AUTH_TOKEN)
    public = validator.compute_signature("https://abc.example-tunnel.app/voice", form)
    local = validator.compute_signature("http://localhost/voice", form)
    client = app.test_client()

    assert (
        client.post("/voice", data=form, headers={"X-Twilio-Signature": public}).status_code == 200
    )
    assert (
        client.post("/voice", data=form, headers={"X-Twilio-Signature": local}).status_code == 403
    )


# -- errors: never dead air -------------------------------------------------------------------


class BrokenWallet:
    """A wallet whose every use fails, as when its database is down."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("wallet down")


def test_an_unexpected_error_still_answers_twiml_with_an_apology_and_a_queue(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = make_app(wallet=BrokenWallet())
    call = simulator(app, clock).dial(ZHANG_WEI)

    call.press("1")  # identifying the caller asks the wallet

    assert "抱歉，系统暂时出现问题" in said(call)
    assert_queued(call, "general")


def test_fallback_logs_the_error_apologises_and_queues_for_an_agent(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    post(app, "/voice", CallSid="CAfb", From=ZHANG_WEI)

    with caplog.at_level("ERROR"):
        response = post(
            app,
            "/voice/fallback",
            CallSid="CAfb",
            From=ZHANG_WEI,
            ErrorCode="11200",
            ErrorUrl="https://x/voice/step?n=1",
        )

    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Play", "Play", "Enqueue"]  # the apology, recorded
    assert root[2].text == "general"
    assert "error 11200 on https://x/voice/step?n=1" in caplog.text
    assert runtime_of(app).services.recorder.record("CAfb").reason is None  # not yet: ...
    response.close()  # ... the record is written once the answer is out
    record = runtime_of(app).services.recorder.record("CAfb")
    assert record.reason == "twilio fallback"


# -- faults: answered in time, never on the store that failed -----------------------------------


class FailingStore:
    """A real session store that raises ``error`` from ``lock`` and ``load`` once told to."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.error: Exception | None = None

    def lock(self, call_sid: str, *, wait: float = 10.0) -> Any:
        if self.error is not None:
            raise self.error
        return self.inner.lock(call_sid, wait=wait)

    def load(self, call_sid: str) -> Any:
        if self.error is not None:
            raise self.error
        return self.inner.load(call_sid)

    def save(self, session: Any, *, unlock: bool = False) -> None:
        self.inner.save(session, unlock=unlock)

    def end(self, call_sid: str) -> None:
        self.inner.end(call_sid)

    def purge(self) -> int:
        return int(self.inner.purge())

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def failing_store_app(make_app: MakeApp, clock: ManualClock) -> tuple[Flask, FailingStore]:
    from ivr.stores.sessions import MemorySessionStore

    store = FailingStore(MemorySessionStore(clock))
    return make_app(store=store), store


def database_locked() -> Exception:
    import sqlalchemy as sa

    return sa.exc.OperationalError("INSERT INTO call_locks", {}, Exception("database is locked"))


def test_a_database_failure_is_apologised_for_without_waiting_to_record_it(
    make_app: MakeApp, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    app, store = failing_store_app(make_app, clock)
    post(app, "/voice", CallSid="CAdb", From=ZHANG_WEI)
    store.error = database_locked()

    with caplog.at_level("ERROR"):
        response = post(app, "/voice/step?n=1", CallSid="CAdb", Digits="1")
    response.close()

    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Say", "Say", "Enqueue"]
    assert root[2].text == "general"
    assert runtime_of(app).services.recorder.record("CAdb").reason is None
    assert "call CAdb: database unavailable; 'system error' not recorded" in caplog.text


def test_a_redis_failure_is_apologised_for_and_recorded_in_the_database_after_the_answer(
    make_app: MakeApp, clock: ManualClock
) -> None:
    from redis.exceptions import TimeoutError as RedisTimeout

    app, store = failing_store_app(make_app, clock)
    post(app, "/voice", CallSid="CAredis", From=ZHANG_WEI)
    store.error = RedisTimeout("Timeout reading from socket")

    response = post(app, "/voice/step?n=1", CallSid="CAredis", Digits="1")
    assert response.headers["X-IVR-State"] == "error"
    recorder = runtime_of(app).services.recorder
    assert recorder.record("CAredis").reason is None  # the answer went out first
    response.close()
    assert (recorder.record("CAredis").outcome, recorder.record("CAredis").reason) == (
        "agent",
        "system error",
    )


def test_webhooks_wait_for_a_busy_call_lock_only_as_long_as_ivr_lock_wait(
    make_app: MakeApp,
) -> None:
    app = make_app(IVR_LOCK_WAIT="0.2")
    post(app, "/voice", CallSid="CAbusy", From=ZHANG_WEI)
    held = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        with runtime_of(app).store.lock("CAbusy"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait(5)
    try:
        response = post(app, "/voice/step?n=1", CallSid="CAbusy", Digits="1")
    finally:
        release.set()
        holder.join()

    assert response.headers["X-IVR-State"] == "error"
    assert "<Enqueue" in response.get_data(as_text=True)


def test_the_hold_page_apologises_without_an_enqueue_when_it_fails(app: Flask) -> None:
    from ivr.telephony.twiml_schema import check_document

    runtime_of(app).engine.flows.clear()  # a bug: the hold page cannot find its flow

    response = post(app, "/voice/hold?queue=general", CallSid="CAhold", QueuePosition="1")

    root = ET.fromstring(response.get_data(as_text=True))
    assert response.headers["X-IVR-State"] == "hold"
    assert check_document(root, wait_url=True) == []
    # the apology (recorded), then hold music: the caller stays in the queue
    assert [c.tag for c in root] == ["Play", "Play", "Play"]
    assert "apology" in (root[0].text or "")
    assert "hold" in (root[2].text or "")


def test_the_hold_page_holds_in_the_flows_language_when_the_session_store_fails(
    make_app: MakeApp, clock: ManualClock
) -> None:
    from redis.exceptions import ConnectionError as RedisDown

    app, store = failing_store_app(make_app, clock)
    store.error = RedisDown("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    response = post(app, "/voice/hold?queue=general", CallSid="CAgone", QueuePosition="1")

    assert response.headers["X-IVR-State"] == "hold"
    assert "<Enqueue" not in response.get_data(as_text=True)
    assert "请稍候" in document_words(app, response) or "客服" in document_words(app, response)


def test_a_queued_caller_whose_session_was_lost_still_gets_the_callback_they_ask_for(
    make_app: MakeApp, clock: ManualClock
) -> None:
    import sqlalchemy as sa

    app = make_app()
    call = verified(simulator(app, clock), ZHANG_WEI)
    call.press("0")
    assert call.waiting_for == "queue"
    with runtime_of(app).database.begin() as conn:  # the session store loses the call
        conn.execute(sa.text("DELETE FROM call_sessions"))

    call.hold(1, position=2)
    call.press("1")

    assert "已为您预约回电，客服人员会尽快给您回电。" in call.heard()
    assert call.ended
    [booked] = runtime_of(app).services.callbacks.pending()
    assert (booked.call_sid, booked.phone) == (call.call_sid, ZHANG_WEI)


def test_a_queue_result_for_a_call_unknown_everywhere_apologises_and_queues(app: Flask) -> None:
    response = post(app, "/voice/queue-result?n=3", CallSid="CAnone", QueueResult="error")

    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root][-1] == "Enqueue"


# -- no loops -----------------------------------------------------------------------------------


def test_a_call_is_started_over_at_most_once(app: Flask) -> None:
    post(app, "/voice", CallSid="CAlost", From=ZHANG_WEI)
    with runtime_of(app).database.begin() as conn:
        conn.execute(__import__("sqlalchemy").text("DELETE FROM call_sessions"))

    first = post(app, "/voice/step?n=1", CallSid="CAlost", Digits="1")
    with runtime_of(app).database.begin() as conn:
        conn.execute(__import__("sqlalchemy").text("DELETE FROM call_sessions"))
    second = post(app, "/voice/step?n=1", CallSid="CAlost", Digits="1")

    assert first.headers["X-IVR-State"] == "restart"
    assert second.headers["X-IVR-State"] == "error"
    assert [c.tag for c in ET.fromstring(second.get_data(as_text=True))][-1] == "Enqueue"


def test_a_repeated_incoming_webhook_for_a_queued_caller_keeps_them_in_the_queue(
    app: Flask, clock: ManualClock
) -> None:
    call = verified(simulator(app, clock), ZHANG_WEI)
    call.press("0")
    assert call.waiting_for == "queue"

    response = post(app, "/voice", CallSid=call.call_sid, From=ZHANG_WEI)

    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root][-1] == "Enqueue"
    assert "<Redirect" not in response.get_data(as_text=True)
    assert runtime_of(app).services.recorder.waiting()[0].call_sid == call.call_sid


def set_state(app: Flask, sid: str, **changes: Any) -> None:
    store = runtime_of(app).store
    with store.lock(sid):
        session = store.load(sid)
        for name, value in changes.items():
            setattr(session, name, value)
        store.save(session)


def test_a_late_step_after_goodbye_hangs_up_instead_of_starting_over(app: Flask) -> None:
    post(app, "/voice", CallSid="CAbye", From=ZHANG_WEI)
    set_state(app, "CAbye", state="goodbye", seq=4)

    step = post(app, "/voice/step?n=2", CallSid="CAbye", Digits="1")
    again = post(app, "/voice", CallSid="CAbye", From=ZHANG_WEI)

    hangup = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
    assert (step.get_data(as_text=True), again.get_data(as_text=True)) == (hangup, hangup)


def test_a_step_for_an_ended_call_hangs_up(app: Flask) -> None:
    post(app, "/voice", CallSid="CAended", From=ZHANG_WEI)
    post(app, "/voice/status", CallSid="CAended", CallStatus="completed")

    response = post(app, "/voice/step?n=1", CallSid="CAended", Digits="1")

    assert response.headers["X-IVR-State"] == "ended"
    assert "<Hangup />" in response.get_data(as_text=True)


def test_a_call_at_a_state_a_deploy_removed_goes_to_an_agent(app: Flask) -> None:
    post(app, "/voice", CallSid="CArenamed", From=ZHANG_WEI)
    set_state(app, "CArenamed", state="old_main_menu")

    response = post(app, "/voice/step?n=1", CallSid="CArenamed", Digits="1")

    assert response.headers["X-IVR-State"] == "agent"
    assert [c.tag for c in ET.fromstring(response.get_data(as_text=True))][-1] == "Enqueue"
    session = runtime_of(app).store.load("CArenamed")
    assert (session.state, session.seq) == ("agent", 2)
    handoff = runtime_of(app).services.recorder.record("CArenamed").handoff
    assert handoff.reason == "the flow changed during the call"


def test_a_call_whose_flow_is_gone_starts_over_once_on_a_fresh_session(app: Flask) -> None:
    post(app, "/voice", CallSid="CAflow", From=ZHANG_WEI)
    set_state(app, "CAflow", flow="old_hotline")

    restart = post(app, "/voice/step?n=1", CallSid="CAflow", Digits="1")
    fresh = post(app, "/voice", CallSid="CAflow", From=ZHANG_WEI)

    assert restart.headers["X-IVR-State"] == "restart"
    assert fresh.headers["X-IVR-State"] == "welcome"
    session = runtime_of(app).store.load("CAflow")
    assert (session.flow, session.state, session.seq) == ("hotline", "welcome", 1)


# -- status callbacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "ringing", "initiated", "in-progress"])
def test_a_status_callback_that_is_not_final_ends_nothing(app: Flask, status: str) -> None:
    post(app, "/voice", CallSid="CAlive", From=ZHANG_WEI)

    response = post(app, "/voice/status", CallSid="CAlive", CallStatus=status)

    assert response.get_data(as_text=True).endswith("<Response />")
    assert runtime_of(app).store.load("CAlive").ended_at is None
    record = runtime_of(app).services.recorder.record("CAlive")
    assert (record.ended_at, record.outcome) == (None, None)
    assert post(app, "/voice/step?n=1", CallSid="CAlive", Digits="1").headers[
        "X-IVR-State"
    ] not in {"error", "restart", "ended"}


def test_a_step_costs_two_database_transactions_with_its_events_written_by_the_second(
    make_app: MakeApp,
) -> None:
    import sqlalchemy as sa

    app = make_app()
    post(app, "/voice", CallSid="CAtwo", From=ZHANG_WEI)
    post(app, "/voice/step?n=1", CallSid="CAtwo", Digits="1")
    post(app, "/voice/step?n=2", CallSid="CAtwo", Digits="123456")
    database = runtime_of(app).database
    statements: list[str] = []

    def note(conn: object, cursor: object, statement: str, *_: object) -> None:
        words = statement.split()
        statements.append(" ".join(words[:3:2] if words[0] == "INSERT" else words[:1]))

    sa.event.listen(database, "before_cursor_execute", note)
    sa.event.listen(database, "commit", lambda conn: statements.append("COMMIT"))

    response = post(app, "/voice/step?n=3", CallSid="CAtwo", Digits="9")

    assert response.headers["X-IVR-State"] == "main_menu"
    assert statements == [
        "INSERT call_locks",
        "SELECT",
        "COMMIT",
        "UPDATE",
        "INSERT call_events",
        "DELETE",
        "COMMIT",
    ]
    record = runtime_of(app).services.recorder.record("CAtwo")
    assert record is not None
    assert [(e.seq, e.state, e.kind) for e in record.events][-1] == (3, "main_menu", "input")


# -- the request path: the form, the signed URL and the reply's URLs, each read once ----------


def test_each_reply_carries_the_url_prefix_of_its_own_request_behind_a_proxy(
    make_app: MakeApp,
) -> None:
    app = make_app(IVR_TRUST_PROXY="1")
    validator = RequestValidator(AUTH_TOKEN)
    client = app.test_client()

    def first_action(call_sid: str, prefix: str | None) -> tuple[int, str]:
        form = {"CallSid": call_sid, "From": ZHANG_WEI}
        headers = {
            "X-Twilio-Signature": validator.compute_signature(
                f"http://localhost{prefix or ''}/voice", form
            )
        }
        if prefix is not None:
            headers["X-Forwarded-Prefix"] = prefix
        response = client.post("/voice", data=form, headers=headers)
        gather = ET.fromstring(response.get_data()).find("Gather")
        return response.status_code, gather.get("action", "") if gather is not None else ""

    assert first_action("CAprefix1", "/ivr") == (200, "/ivr/voice/step?n=1")
    assert first_action("CAprefix2", None) == (200, "/voice/step?n=1")
    assert first_action("CAprefix3", "/other") == (200, "/other/voice/step?n=1")
    assert first_action("CAprefix4", "/ivr") == (200, "/ivr/voice/step?n=1")


def test_a_signature_for_one_step_url_does_not_pass_for_another(app: Flask) -> None:
    form = {"CallSid": "CAurl", "From": ZHANG_WEI}
    signed = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + "/voice/step?n=1", form)
    client = app.test_client()

    def status(path: str) -> int:
        return client.post(path, data=form, headers={"X-Twilio-Signature": signed}).status_code

    assert status("/voice/step?n=1") == 200
    assert status("/voice/step?n=2") == 403
    assert status("/voice/step?n=1") == 200


def test_a_multipart_webhook_form_is_read_as_a_urlencoded_one(app: Flask) -> None:
    form = {"CallSid": "CAmultipart", "From": ZHANG_WEI}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + "/voice", form)

    response = app.test_client().post(
        "/voice",
        data=form,
        content_type="multipart/form-data",
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 200
    assert response.headers["X-IVR-State"] == "welcome"


def test_a_field_in_the_query_string_comes_before_the_form_as_in_werkzeugs_values() -> None:
    query = {"CallSid": "CAquery", "CallDuration": "soon"}
    body = {"CallSid": "CAform", "CallDuration": "42", "From": ZHANG_WEI, "Digits": ""}

    form = TwilioForm.read(query, body)

    assert form.call_sid == "CAquery"
    assert form.call_duration == 42  # the query's is not a number: the form's is read
    assert form.caller == ZHANG_WEI
    assert form.digits is None
    assert TwilioForm.read(query).call_duration is None
