"""The engine on a catalogue of small flows: ``tests/machines/*.yaml``, three to five states each.

Each machine file is laid over ``tests/machines/common.yaml`` (phrases, retry policy, the
general queue), loaded, validated and compiled once per test run with a tiny registry of fake
actions and guards. Calls are driven straight through ``ivr.engine.step.Engine`` (no Flask, no
TwiML), their sessions kept between steps in a ``MemorySessionStore`` as the webhooks keep them,
and the outside world is fake: a recorder that keeps what it is told, a one-account wallet and
a manual clock. Assertions are on ``ivr.engine.reply`` values, states and the recorder.

Owns only this module and ``tests/machines/``; the hotline flow and its actions are tested
through the call scripts (tests/test_call_scripts.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.clock import ManualClock
from ivr.engine.catalog import check_flows
from ivr.engine.compile import CompiledFlow
from ivr.engine.context import CallContext
from ivr.engine.context import Services
from ivr.engine.inputs import CallerInput
from ivr.engine.registry import Registry
from ivr.engine.reply import Hangup
from ivr.engine.reply import Listen
from ivr.engine.reply import RecordMessage
from ivr.engine.reply import Reply
from ivr.engine.reply import Restart
from ivr.engine.reply import Transfer
from ivr.engine.reply import Verb
from ivr.engine.session import CallSession
from ivr.engine.step import Engine
from ivr.stores.sessions import MemorySessionStore
from ivr.voice.speech import Part
from ivr.voice.speech import Speech
from ivr.wallet.demo import ZHANG_WEI

MACHINES = Path(__file__).parent / "machines"
COMMON = MACHINES / "common.yaml"
MACHINE_FILES = sorted(path for path in MACHINES.glob("*.yaml") if path != COMMON)
CALL_SID = "CAengine"
STRANGER = "+8613900000009"
PIN = "123456"
CLOSED = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai

# -- the fake world: actions and guards, a recorder, a wallet ---------------------------------

fakes = Registry()


@fakes.action(provides=["balance"])
def look_up_balance(call: CallContext) -> None:
    call.put("balance", 100)


@fakes.action()
def note_the_check(call: CallContext) -> None:
    call.tried("check")


@fakes.action()
def keep_the_message(call: CallContext) -> None:
    call.set_flag("message kept", bool(call.session.data.get("recording_url")))


@fakes.guard()
def pin_is_right(call: CallContext) -> bool:
    return call.entered("pin") == PIN


@fakes.guard()
def caller_is(call: CallContext, phone: str) -> bool:
    return call.caller == phone


class FakeRecorder:
    """The engine's ``Recorder``: keeps what it is told, in order, to compare exactly."""

    def __init__(self) -> None:
        self.started: list[dict[str, str]] = []
        self.events_written: list[tuple[int, str, str, str]] = []
        self.finished: list[dict[str, str | None]] = []
        self.handoffs: list[dict[str, Any]] = []

    def start(
        self, call_sid: str, *, flow: str, caller: str, lang: str, flow_version: str | None = None
    ) -> None:
        self.started.append({"call_sid": call_sid, "flow": flow, "caller": caller, "lang": lang})

    def event(self, call_sid: str, *, seq: int, state: str, kind: str, detail: str = "") -> None:
        self.events_written.append((seq, state, kind, detail))

    def events(self, call_sid: str, events: Sequence[tuple[int, str, str, str]]) -> None:
        self.events_written.extend(events)

    def update(
        self,
        call_sid: str,
        *,
        account_id: int | None = None,
        lang: str | None = None,
        issue: str | None = None,
    ) -> None:
        pass

    def finish(
        self,
        call_sid: str,
        *,
        outcome: str | None = None,
        reason: str | None = None,
        queue: str | None = None,
    ) -> None:
        self.finished.append({"outcome": outcome, "reason": reason, "queue": queue})

    def handoff(self, call_sid: str, **fields: Any) -> None:
        self.handoffs.append(fields)


class NoWallet:
    """A wallet no machine may reach: the machines identify nobody, so the engine must not
    look an account up."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine asked the wallet for {name!r}")


# -- driving a call -----------------------------------------------------------------------------


class EngineCall:
    """One call through the engine. Between steps its session lives in the memory store, so
    every step works on a copy, as from a real store."""

    def __init__(self, engine: Engine, store: MemorySessionStore, flow: str, caller: str) -> None:
        self.engine = engine
        self.store = store
        session, self.reply = engine.start(CALL_SID, caller, flow)
        store.save(session)

    @property
    def session(self) -> CallSession:
        session = self.store.load(CALL_SID)
        assert session is not None
        return session

    def answer(self, given: CallerInput) -> Reply:
        session = self.session
        self.reply = self.engine.step(session, given)
        self.store.save(session)
        return self.reply

    def press(self, digits: str) -> Reply:
        return self.answer(CallerInput(digits=digits))

    def silence(self) -> Reply:
        return self.answer(CallerInput())

    def record(self, seconds: int) -> Reply:
        url = "https://api.twilio.com/Recordings/RE1"
        return self.answer(CallerInput(recording_url=url, recording_duration=seconds))

    def queue_ends(self, result: str) -> Reply:
        """Twilio's word on how the agent queue ended: bridged, leave, hangup or failed."""
        return self.answer(CallerInput(queue_result=result))


Dial = Callable[..., EngineCall]


@pytest.fixture(scope="session")
def machines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompiledFlow]:
    """Every machine laid over the common part, then loaded, validated and compiled once."""
    folder = tmp_path_factory.mktemp("machines")
    common = yaml.safe_load(COMMON.read_text(encoding="utf-8"))
    for path in MACHINE_FILES:
        machine = {**common, **yaml.safe_load(path.read_text(encoding="utf-8"))}
        text = yaml.safe_dump(machine, allow_unicode=True, sort_keys=False)
        (folder / path.name).write_text(text, encoding="utf-8")
    compiled, problems = check_flows(folder, fakes)
    assert problems == []
    return compiled


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()


@pytest.fixture
def dial(machines: dict[str, CompiledFlow], recorder: FakeRecorder, clock: ManualClock) -> Dial:
    services = Services(wallet=NoWallet(), clock=clock, recorder=recorder)
    engine = Engine(machines, services)
    store = MemorySessionStore(clock)

    def dial(flow: str, caller: str = STRANGER) -> EngineCall:
        return EngineCall(engine, store, flow, caller)

    return dial


# -- reading replies ----------------------------------------------------------------------------


def said(reply: Reply) -> list[str]:
    """What the step says before its verb, one entry per run of one language."""
    return [speech.text for speech in reply.say]


def prompted(reply: Reply) -> list[str]:
    """What the verb says while it waits: a prompt, or the hold message of a transfer."""
    verb = reply.verb
    if isinstance(verb, Listen | RecordMessage):
        return [speech.text for speech in verb.prompt]
    if isinstance(verb, Transfer):
        return [speech.text for speech in verb.hold]
    return []


def bare(verb: Verb) -> Verb:
    """The verb without its words, to compare the rest exactly."""
    if isinstance(verb, Listen | RecordMessage):
        return dataclasses.replace(verb, prompt=())
    if isinstance(verb, Transfer):
        return dataclasses.replace(verb, hold=())
    return verb


MENU = Listen((), timeout=5, finish_on_key="#", num_digits=1)
HOLD = ["Please hold."]


# -- the catalogue ------------------------------------------------------------------------------


def test_every_machine_has_three_to_five_states_and_compiles(
    machines: dict[str, CompiledFlow],
) -> None:
    assert sorted(machines) == sorted(path.stem for path in MACHINE_FILES)
    assert len(machines) == 7
    for name, compiled in machines.items():
        assert 3 <= len(compiled.flow.states) <= 5, name


# -- a two-option menu --------------------------------------------------------------------------


def test_the_call_is_answered_with_the_menu_in_the_first_language_with_every_prompt_id(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = dial("two_option_menu")

    prompt = Speech(
        "您好。查询余额请按1。结束通话请按2。人工服务请按0。重听请按9。",
        "zh-CN",
        (
            Part("您好。", "two_option_menu.main_menu.prompt"),
            Part("查询余额请按1。", "two_option_menu.main_menu.option.1"),
            Part("结束通话请按2。", "two_option_menu.main_menu.option.2"),
            Part("人工服务请按0。", "two_option_menu.phrases.agent"),
            Part("重听请按9。", "two_option_menu.phrases.repeat"),
        ),
    )
    assert call.reply == Reply(
        say=(),
        verb=Listen((prompt,), timeout=5, finish_on_key="#", num_digits=1),
        flow="two_option_menu",
        state="main_menu",
        step=1,
        path=("main_menu",),
    )
    assert recorder.started == [
        {"call_sid": CALL_SID, "flow": "two_option_menu", "caller": STRANGER, "lang": "zh-CN"}
    ]
    assert call.session.state == "main_menu"


def test_an_option_runs_through_its_say_state_into_the_hangup_with_the_value_said(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = dial("two_option_menu")

    reply = call.press("1")

    assert reply.say == (
        Speech(
            "您的余额是100元。再见。",
            "zh-CN",
            (
                Part("您的余额是", "two_option_menu.balance.prompt.0"),
                Part("100"),
                Part("元。", "two_option_menu.balance.prompt.1"),
                Part("再见。", "two_option_menu.goodbye.prompt"),
            ),
        ),
    )
    assert (reply.verb, reply.state, reply.path, reply.step) == (
        Hangup(),
        "goodbye",
        ("balance", "goodbye"),
        2,
    )
    assert recorder.finished == [{"outcome": "self_served", "reason": None, "queue": None}]
    assert recorder.events_written == [
        (0, "main_menu", "enter", ""),
        (1, "main_menu", "input", "key_1 1"),
        (1, "balance", "enter", ""),
        (1, "goodbye", "enter", ""),
    ]


def test_the_other_option_hangs_up_without_the_say_state(dial: Dial) -> None:
    reply = dial("two_option_menu").press("2")

    assert (said(reply), reply.verb, reply.path) == (["再见。"], Hangup(), ("goodbye",))


# -- a menu with retries ------------------------------------------------------------------------


def main_menu_of_retries(dial: Dial) -> EngineCall:
    call = dial("menu_with_retries")
    call.press("1")
    assert call.session.state == "main_menu"
    return call


MAIN_MENU = (
    "Main menu. For closing your account, press 1. For an agent, press 0. "
    "To hear this again, press 9."
)
MAIN_MENU_OPTIONS = (
    "For closing your account, press 1. For an agent, press 0. To hear this again, press 9."
)


def test_invalid_digit_reprompts_then_transfers_after_three_attempts(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = main_menu_of_retries(dial)

    first = call.press("7")
    second = call.press("8")
    third = call.press("5")

    assert [(said(r), r.state) for r in (first, second)] == [
        (["That is not a valid choice."], "main_menu"),
        (["That is not a valid choice."], "main_menu"),
    ]
    assert said(third) == ["That is not a valid choice. Let me put you through."]
    assert (bare(third.verb), prompted(third), third.state) == (
        Transfer("general", 0, ()),
        HOLD,
        "agent",
    )
    reason = "invalid input x3 at main_menu"
    assert recorder.handoffs == [
        {
            "queue": "general",
            "priority": 0,
            "account_id": None,
            "caller_name": None,
            "verified": False,
            "issue": None,
            "steps_tried": [],
            "reason": reason,
        }
    ]
    assert recorder.finished == [{"outcome": "agent", "reason": reason, "queue": "general"}]


def test_the_first_reprompt_is_short_and_the_second_says_the_whole_menu_again(
    dial: Dial,
) -> None:
    call = main_menu_of_retries(dial)

    short = call.press("7")
    full = call.silence()

    assert (said(short), prompted(short)) == (["That is not a valid choice."], [MAIN_MENU_OPTIONS])
    assert (said(full), prompted(full)) == (["I didn't hear a key."], [MAIN_MENU])
    assert bare(short.verb) == bare(full.verb) == MENU


def test_silence_and_invalid_keys_count_together_and_the_last_failure_names_the_reason(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = main_menu_of_retries(dial)

    call.press("7")
    call.silence()
    last = call.silence()

    assert said(last) == ["I didn't hear a key. Let me put you through."]
    assert last.state == "agent"
    assert recorder.handoffs[0]["reason"] == "no input x3 at main_menu"


def test_garbage_from_the_form_is_an_invalid_key(dial: Dial) -> None:
    call = main_menu_of_retries(dial)

    reply = call.answer(CallerInput(garbage=True))

    assert (said(reply), reply.state) == (["That is not a valid choice."], "main_menu")
    assert call.session.data["counters"] == {"retry:main_menu": 1}


def test_a_right_key_after_a_failure_moves_on_and_forgets_the_failures(dial: Dial) -> None:
    call = main_menu_of_retries(dial)

    call.press("7")
    reply = call.press("1")

    assert (said(reply), reply.state) == ([], "confirm")
    assert call.session.data["counters"] == {}


def test_a_state_with_its_own_retry_uses_its_words_and_its_two_attempts(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = main_menu_of_retries(dial)
    call.press("1")

    first = call.silence()
    second = call.press("3")

    assert (said(first), first.state) == (["Still there?"], "confirm")
    assert (said(second), second.state) == (["Only 1 works here. An agent will help."], "agent")
    assert recorder.handoffs[0]["reason"] == "invalid input x2 at confirm"


def test_silence_at_a_state_with_on_no_input_goes_on_instead_of_reprompting(dial: Dial) -> None:
    call = dial("menu_with_retries")

    reply = call.silence()

    assert (said(reply), reply.state, prompted(reply)) == ([], "main_menu", [MAIN_MENU])
    assert call.session.data.get("counters", {}) == {}


# -- an entry with a finish key -----------------------------------------------------------------


def test_an_entry_waits_for_exactly_its_digits_or_the_finish_key(dial: Dial) -> None:
    call = dial("entry_with_finish_key")

    assert call.reply.state == "ask_pin"
    assert bare(call.reply.verb) == Listen((), timeout=8, finish_on_key="#", num_digits=6)
    assert prompted(call.reply) == ["Enter your 6-digit PIN, then the pound key."]


def test_a_right_pin_ended_by_the_finish_key_passes_the_guard_and_is_never_kept(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = dial("entry_with_finish_key")

    reply = call.press(f"{PIN}#")

    assert (said(reply), reply.verb, reply.state) == (["You are verified."], Hangup(), "verified")
    assert PIN not in json.dumps(call.session.data)
    assert recorder.events_written == [
        (0, "ask_pin", "enter", ""),
        (1, "ask_pin", "input", "entered *******"),  # every key masked, the # too
        (1, "verified", "enter", ""),
    ]


def test_a_wrong_pin_takes_the_other_route_and_comes_back_to_the_entry(dial: Dial) -> None:
    call = dial("entry_with_finish_key")

    reply = call.press("654321#")

    assert (said(reply), reply.path, reply.state) == (
        ["That PIN is not right."],
        ("wrong_pin", "ask_pin"),
        "ask_pin",
    )
    assert prompted(reply) == ["Enter your 6-digit PIN, then the pound key."]


@pytest.mark.parametrize("digits", ["123#", "1234567#", "12345a"])
def test_an_entry_of_the_wrong_length_is_an_invalid_answer(dial: Dial, digits: str) -> None:
    call = dial("entry_with_finish_key")

    reply = call.answer(CallerInput.from_form({"Digits": digits}))

    assert (said(reply), reply.state) == (["That is not a valid choice."], "ask_pin")


def test_the_agent_key_alone_in_a_long_entry_reaches_an_agent(
    dial: Dial, recorder: FakeRecorder
) -> None:
    reply = dial("entry_with_finish_key").press("0")

    assert (said(reply), reply.state, prompted(reply)) == ([], "agent", HOLD)
    assert recorder.handoffs[0]["reason"] == "caller asked for an agent"


# -- say, then route with a guard ---------------------------------------------------------------


def test_say_and_route_run_through_in_the_answer_and_the_guard_sends_a_stranger_to_the_menu(
    dial: Dial,
) -> None:
    call = dial("say_route_guard")

    assert (said(call.reply), call.reply.path, call.reply.state) == (
        ["Hello."],
        ("greet", "check", "main_menu"),
        "main_menu",
    )
    assert prompted(call.reply) == [
        "Main menu. For goodbye, press 1. For an agent, press 0. To hear this again, press 9."
    ]


def test_the_guard_sends_the_vip_to_an_agent_with_the_routes_reason_and_the_step_tried(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = dial("say_route_guard", caller=ZHANG_WEI)

    assert (said(call.reply), call.reply.path, prompted(call.reply)) == (
        ["Hello."],
        ("greet", "check", "agent"),
        HOLD,
    )
    assert [(h["reason"], h["steps_tried"]) for h in recorder.handoffs] == [
        ("a VIP called", ["check"])
    ]


# -- a record state -----------------------------------------------------------------------------


def test_a_record_state_asks_for_a_message_with_its_limits(dial: Dial) -> None:
    call = dial("record_state")

    assert call.reply.verb == RecordMessage(
        (
            Speech(
                "Leave a message after the tone.",
                "en-US",
                (Part("Leave a message after the tone.", "record_state.leave_message.prompt"),),
            ),
        ),
        max_length=60,
        finish_on_key="#",
        timeout=4,
        status_callback=True,
    )


def test_a_recording_is_kept_for_the_routes_actions_and_the_call_ends(
    dial: Dial, recorder: FakeRecorder
) -> None:
    call = dial("record_state")

    reply = call.record(12)

    assert (said(reply), reply.verb, reply.state) == (
        ["Your message is saved."],
        Hangup(),
        "saved",
    )
    session = call.session
    assert session.data["recording_url"] == "https://api.twilio.com/Recordings/RE1"
    assert session.data["flags"] == {"message kept": True}
    assert (1, "leave_message", "input", "recorded recording 12s") in recorder.events_written


def test_no_recording_is_silence_reprompted_then_an_agent(dial: Dial) -> None:
    call = dial("record_state")

    replies = [call.silence() for _ in range(3)]

    assert [(said(r), r.state) for r in replies] == [
        (["I didn't hear a key."], "leave_message"),
        (["I didn't hear a key."], "leave_message"),
        (["I didn't hear a key. Let me put you through."], "agent"),
    ]


# -- a transfer with queue results --------------------------------------------------------------


def queued(dial: Dial) -> EngineCall:
    call = dial("transfer_with_queue_results")
    reply = call.press("0")
    assert (reply.state, bare(reply.verb)) == ("agent", Transfer("general", 0, ()))
    return call


def test_after_the_agent_the_call_comes_back_to_the_survey(dial: Dial) -> None:
    reply = queued(dial).queue_ends("bridged")

    assert (said(reply), reply.state, bare(reply.verb)) == ([], "survey", MENU)
    assert prompted(reply) == [
        "How did we do? If it was good, press 1. For an agent, press 0. To hear this again, press 9."
    ]


def test_a_caller_who_left_the_queue_for_a_callback_hears_goodbye(dial: Dial) -> None:
    reply = queued(dial).queue_ends("leave")

    assert (said(reply), reply.state, reply.verb) == (["Goodbye."], "goodbye", Hangup())


def test_a_caller_who_hung_up_in_the_queue_ends_without_a_word(dial: Dial) -> None:
    call = queued(dial)

    reply = call.queue_ends("hangup")

    assert reply == Reply((), Hangup(), "transfer_with_queue_results", "agent", 3, ("agent",))


def test_a_queue_result_the_flow_does_not_route_ends_the_call_politely(dial: Dial) -> None:
    reply = queued(dial).queue_ends("failed")

    assert (reply.say, reply.verb, reply.state) == ((), Hangup(), "agent")


def test_outside_opening_hours_the_transfer_runs_on_to_the_closed_announcement(
    dial: Dial, clock: ManualClock, recorder: FakeRecorder
) -> None:
    clock.set(CLOSED)
    call = dial("transfer_with_queue_results")

    reply = call.press("0")

    assert (said(reply), reply.path, reply.verb) == (
        ["We are closed. Call us from 9 to 9."],
        ("agent", "after_hours"),
        Hangup(),
    )
    assert call.session.data["steps"] == ["line closed"]
    assert recorder.handoffs == []  # nobody was waiting for the caller


# -- the back, repeat and agent keys ------------------------------------------------------------


PAYMENTS = (
    "Payments. For goodbye, press 1. For an agent, press 0. To go back, press star. "
    "To hear this again, press 9."
)


def in_payments(dial: Dial) -> EngineCall:
    call = dial("back_repeat_agent_keys")
    call.press("1")
    assert call.session.state == "payments"
    return call


def test_a_menu_with_a_way_back_announces_the_back_key(dial: Dial) -> None:
    call = in_payments(dial)

    assert prompted(call.reply) == [PAYMENTS]


def test_the_back_key_returns_to_the_state_back_names(dial: Dial) -> None:
    reply = in_payments(dial).press("*")

    assert (said(reply), reply.state, reply.path) == ([], "main_menu", ("main_menu",))


def test_the_back_key_where_there_is_no_way_back_is_an_invalid_key(dial: Dial) -> None:
    reply = dial("back_repeat_agent_keys").press("*")

    assert (said(reply), reply.state) == (["That is not a valid choice."], "main_menu")


def test_the_repeat_key_says_the_whole_menu_again_without_counting_a_failure(
    dial: Dial,
) -> None:
    call = in_payments(dial)
    call.press("7")

    reply = call.press("9")

    assert (said(reply), prompted(reply), reply.state) == ([], [PAYMENTS], "payments")
    assert call.session.data["counters"] == {"retry:payments": 1}


def test_the_agent_key_from_any_menu_reaches_an_agent_with_the_reason(
    dial: Dial, recorder: FakeRecorder
) -> None:
    reply = in_payments(dial).press("0")

    assert (said(reply), reply.state, prompted(reply)) == ([], "agent", HOLD)
    assert recorder.finished == [
        {"outcome": "agent", "reason": "caller asked for an agent", "queue": "general"}
    ]


# -- calls the engine cannot place --------------------------------------------------------------


def test_a_session_whose_state_left_the_flow_goes_on_at_the_agent_state(dial: Dial) -> None:
    call = dial("two_option_menu")
    session = call.session
    session.state = "removed_state"

    reply = call.engine.step(session, CallerInput(digits="1"))

    assert (reply.state, reply.step, reply.path) == ("agent", 2, ("agent",))
    assert isinstance(reply.verb, Transfer)
    assert (reply.verb.queue, session.state, session.seq) == ("general", "agent", 2)
    assert session.data["reason"] == "the flow changed during the call"


def test_a_session_whose_flow_is_gone_is_a_restart(dial: Dial) -> None:
    call = dial("two_option_menu")
    session = call.session
    session.flow = "renamed_flow"

    reply = call.engine.step(session, CallerInput(digits="1"))

    assert reply == Reply((), Restart(), "renamed_flow", session.state, 1)


def test_repeating_a_waiting_state_says_its_prompt_without_applying_anything(
    dial: Dial,
) -> None:
    call = dial("back_repeat_agent_keys")
    call.press("1")

    reply = call.engine.repeat(call.session)

    assert (reply.say, prompted(reply), reply.state, reply.step) == ((), [PAYMENTS], "payments", 2)


def test_a_thread_keeps_its_machine_across_calls_that_reach_a_final_state(
    machines: dict[str, CompiledFlow], recorder: FakeRecorder, clock: ManualClock
) -> None:
    engine = Engine(machines, Services(wallet=NoWallet(), clock=clock, recorder=recorder))
    compiled = machines["two_option_menu"]

    def call_to_the_end(key: str) -> Reply:
        """A call of its own (its own store) that presses ``key`` and reaches goodbye."""
        return EngineCall(engine, MemorySessionStore(clock), "two_option_menu", STRANGER).press(key)

    call_to_the_end("1")  # this thread's machine exists from here on
    built = compiled.instances_built()

    first = call_to_the_end("1")
    second = call_to_the_end("2")
    third = call_to_the_end("1")

    assert compiled.instances_built() == built
    assert (first.state, second.state, third.state) == ("goodbye", "goodbye", "goodbye")
    assert third.path == ("balance", "goodbye")


def test_a_template_value_is_read_alone_as_values_reads_it_and_a_missing_one_is_a_key_error(
    recorder: FakeRecorder, clock: ManualClock
) -> None:
    now = clock.now()
    session = CallSession("CA-values", "two_option_menu", "main_menu", "en-US", {}, now, now)
    call = CallContext(session, Services(wallet=NoWallet(), clock=clock, recorder=recorder), 0)
    call.put("balance", 100)
    call.keep_entry("mobile", "13800000001", secret=False)

    assert {name: call.value(name) for name in ("balance", "mobile")} == call.values()
    with pytest.raises(KeyError, match="amount"):
        call.value("amount")


# -- what is made once --------------------------------------------------------------------------


def test_one_menu_is_said_to_each_caller_in_their_own_language_full_then_short(
    machines: dict[str, CompiledFlow], recorder: FakeRecorder, clock: ManualClock
) -> None:
    """The menu's words are made once per language and length: callers in two languages,
    and a short reprompt between full ones, each hear their own."""
    engine = Engine(machines, Services(wallet=NoWallet(), clock=clock, recorder=recorder))
    heard = []
    for lang in ("en-US", "zh-CN", "en-US"):
        session, reply = engine.start(f"CA-{lang}", STRANGER, "menu_with_retries", lang=lang)
        reply = engine.step(session, CallerInput(digits="1"))  # to the main menu
        short = engine.step(session, CallerInput(digits="7"))
        full = engine.step(session, CallerInput(digits="7"))
        heard.append([prompted(r)[0] for r in (reply, short, full)])

    english, chinese, english_again = heard
    assert english == english_again
    assert english[0] == english[2] != english[1]
    assert english[1] == english[0].removeprefix("Main menu. ")
    assert chinese[0] == "主菜单。销户请按1。人工服务请按0。重听请按9。"
    assert chinese[1] == "销户请按1。人工服务请按0。重听请按9。"


def test_a_menu_whose_prompt_reads_a_value_says_the_value_it_has_now_on_every_visit(
    machines: dict[str, CompiledFlow], recorder: FakeRecorder, clock: ManualClock
) -> None:
    compiled = machines["two_option_menu"]
    menu = dataclasses.replace(
        compiled.flow.states["main_menu"],
        prompt={"zh-CN": "您的余额是{balance}元。", "en-US": "Your balance is {balance} yuan."},
    )
    flow = dataclasses.replace(compiled.flow, states={**compiled.flow.states, "main_menu": menu})
    flows = {"two_option_menu": dataclasses.replace(compiled, flow=flow)}
    engine = Engine(flows, Services(wallet=NoWallet(), clock=clock, recorder=recorder))

    session, first = engine.start(
        CALL_SID, STRANGER, "two_option_menu", lang="en-US", data={"vars": {"balance": 5}}
    )
    CallContext(session, engine.services, session.seq).put("balance", 7)
    again = engine.step(session, CallerInput(digits="9"))

    assert prompted(first)[0].startswith("Your balance is 5 yuan. For your balance, press 1.")
    assert prompted(again)[0].startswith("Your balance is 7 yuan. For your balance, press 1.")
