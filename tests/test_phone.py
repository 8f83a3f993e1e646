"""The phone in the terminal, driven by scripted input lines against ``TinyHotline``."""

from __future__ import annotations

from collections.abc import Callable

from ivr.clock import ManualClock
from ivr.testing.phone import HELP
from ivr.testing.phone import run_phone
from ivr.testing.simulator import Outcome
from tests.test_scripts import LI_NA
from tests.test_scripts import MAIN_ZH
from tests.test_scripts import WELCOME
from tests.test_scripts import TinyHotline
from tests.test_scripts import make_simulator

GATHER_PROMPT = "(keys, say …, Enter for silence, ? for help) > "


class Person:
    """Types the given lines, then Ctrl-D; remembers the prompts and everything shown."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []
        self.shown: list[str] = []

    def read_line(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    def write(self, text: str) -> None:
        self.shown.append(text)


def phone(
    lines: list[str],
    clock: ManualClock,
    app: TinyHotline | None = None,
    describe_state: Callable[[str | None], str] | None = None,
) -> tuple[Outcome | None, Person]:
    person = Person(lines)
    call = make_simulator(app or TinyHotline(), clock).dial(LI_NA)
    outcome = run_phone(
        call, read_line=person.read_line, write=person.write, describe_state=describe_state
    )
    return outcome, person


def test_the_phone_shows_prompts_state_and_options_and_presses_keys(clock: ManualClock) -> None:
    outcome, person = phone(["1", "1"], clock, describe_state=lambda state: f"options of {state}")

    assert outcome == Outcome("hangup")
    assert person.shown == [
        f"    IVR    {WELCOME}",
        "[state: welcome]",
        "  options of welcome",
        f"    IVR    {MAIN_ZH}",
        "[state: main_menu]",
        "  options of main_menu",
        "    IVR    您的余额是一百元。再见。",
        "call ended hangup",
    ]
    assert person.prompts == [GATHER_PROMPT, GATHER_PROMPT]


def test_an_empty_line_is_silence_and_say_is_speech(clock: ManualClock) -> None:
    outcome, person = phone(["1", "", "say 我想查余额"], clock)

    assert outcome == Outcome("hangup")
    assert person.shown[2:] == [
        f"    IVR    {MAIN_ZH}",
        "[state: main_menu]",
        "    IVR    我们没有听到您的选择。",
        f"    IVR    {MAIN_ZH}",
        "    IVR    您的余额是一百元。再见。",
        "call ended hangup",
    ]


def test_the_end_of_input_hangs_up(clock: ManualClock) -> None:
    app = TinyHotline()
    outcome, person = phone([], clock, app)

    assert outcome == Outcome("caller-hangup")
    assert person.shown[-1] == "call ended caller-hangup"
    assert len(app.status_callbacks) == 1


def test_q_hangs_up(clock: ManualClock) -> None:
    outcome, person = phone(["1", "q", "1"], clock)

    assert outcome == Outcome("caller-hangup")
    assert person.lines == ["1"]


def test_an_unknown_command_shows_the_help_and_changes_nothing(clock: ManualClock) -> None:
    outcome, person = phone(["dance", "hangup"], clock)

    assert outcome == Outcome("caller-hangup")
    assert person.shown[2:-1] == ["not understood: 'dance'", *(f"  {line}" for line in HELP)]


def test_a_question_mark_shows_the_help_without_complaint(clock: ManualClock) -> None:
    outcome, person = phone(["?"], clock)

    assert person.shown[2:-1] == [f"  {line}" for line in HELP]


def test_hold_and_agent_take_the_caller_through_the_queue(clock: ManualClock) -> None:
    outcome, person = phone(["1", "2", "hold 2", "agent"], clock)

    assert outcome == Outcome("bridged", queue="security")
    assert person.shown[4:] == [
        "    IVR    正在为您转接人工服务。",
        "[state: queue]",
        "    IVR    您前面还有1位。",
        "    IVR    您前面还有1位。",
        "[state: hold]",
        "    IVR    感谢您的来电，再见。",
        "call ended bridged in 'security'",
    ]
    assert person.prompts[2:] == ["(hold [cycles], agent, hangup) > "] * 2


def test_record_speaks_into_a_recording(clock: ManualClock) -> None:
    app = TinyHotline()
    outcome, person = phone(["1", "3", "record 8"], clock, app)

    assert outcome == Outcome("hangup")
    assert person.prompts[2] == "(record [seconds], a key to stop, Enter for silence) > "
    assert person.shown[-2:] == ["    IVR    留言已保存。", "call ended hangup"]
    assert [caller for caller, _ in app.messages] == [LI_NA]


def test_an_action_the_call_is_not_waiting_for_is_refused_and_the_call_goes_on(
    clock: ManualClock,
) -> None:
    outcome, person = phone(["hold", "1", "1"], clock)

    assert outcome == Outcome("hangup")
    assert person.shown[2] == (
        "not now: call CA00000000000000000000000000000001 is not in a queue: it cannot hold"
    )


def test_a_reply_twilio_would_reject_ends_the_call_and_says_why(clock: ManualClock) -> None:
    outcome, person = phone(["1", "8"], clock)

    assert outcome is not None
    assert outcome.kind == "failed"
    assert person.shown[-3].startswith(
        "the call failed: https://ivr.example.test/main?lang=zh: <Sya>:"
    )
    assert (
        person.shown[-2] == "    IVR    We are sorry, an application error has occurred. Goodbye."
    )
    assert person.shown[-1].startswith("call ended failed (")
