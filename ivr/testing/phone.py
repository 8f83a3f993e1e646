"""A phone in the terminal: a person plays the caller of a simulated call, line by line.

Owns the interactive loop behind ``ivr phone``: show what the IVR said since last shown, the
state it reports and (through ``describe_state``) that state's options, read one line, turn
it into a caller action on ``ivr.simulator.Call``, and show how the call ended.

Input and output are injected (``read_line`` like ``input``, raising ``EOFError`` at the end;
``write`` takes one line), so tests drive it with a list of lines. Depends on
``ivr.testing.simulator`` and ``ivr.testing.replay`` (for the turn format). It must not import
Flask or read
the terminal itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from ivr.errors import SimulationError
from ivr.testing.replay import format_turn
from ivr.testing.scripts import DIAL_STATUSES
from ivr.testing.scripts import describe_outcome
from ivr.testing.simulator import Call
from ivr.testing.simulator import Outcome

HELP = (
    "keys: digits, * and # are pressed (e.g. 1 or 123456#)",
    "say <words>: speak (where the menu listens for speech)",
    "Enter on an empty line: stay silent",
    "record [seconds] [finish key]: speak into a recording (default 5 seconds, then #)",
    "hold [cycles]: wait in the queue; agent [seconds]: an agent answers",
    "dial [status]: the dialled party answers (or busy, no-answer, failed...)",
    "hangup, q or Ctrl-D: hang up",
)
_KEYS_RE = re.compile(r"[0-9*#]+")
_PROMPTS = {
    "gather": "keys, say …, Enter for silence, ? for help",
    "record": "record [seconds], a key to stop, Enter for silence",
    "queue": "hold [cycles], agent, hangup",
    "dial": "dial [completed|busy|no-answer|failed]",
}


def run_phone(
    call: Call,
    *,
    read_line: Callable[[str], str],
    write: Callable[[str], None],
    describe_state: Callable[[str | None], str] | None = None,
    color: bool = False,
) -> Outcome | None:
    """Play the caller of ``call`` until it ends or the person hangs up; return the outcome."""
    shown = 0
    shown_state: str | None = None
    while True:
        turns = call.result.transcript
        for turn in turns[shown:]:
            if turn.speaker == "ivr":
                write(format_turn(turn, color=color))
        shown = len(turns)
        if call.ended:
            break
        state = call.state
        if state != shown_state:
            write(_dim(f"[state: {state or 'unknown'}]", color))
            if describe_state is not None:
                for line in describe_state(state).splitlines():
                    write(_dim(f"  {line}", color))
            shown_state = state
        prompt = f"({_PROMPTS.get(call.waiting_for or '', '? for help')}) > "
        try:
            line = read_line(prompt)
        except (EOFError, KeyboardInterrupt):
            line = "hangup"
        try:
            _act(call, line.strip(), write)
        except SimulationError as exc:
            # A reply Twilio would reject ends the call; an action the call was not waiting
            # for (hold outside a queue) changes nothing: say so and go on.
            failed = call.result.outcome is not None
            write(_paint(f"{'the call failed' if failed else 'not now'}: {exc}", "red", color))
    outcome = call.result.outcome
    write(_paint(f"call {describe_outcome(outcome)}", "green", color))
    return outcome


def _act(call: Call, line: str, write: Callable[[str], None]) -> None:  # noqa: C901 - one branch per command
    """Do what the line says; anything else (help, a typo) shows the commands."""
    command, _, rest = line.partition(" ")
    args = rest.split()
    if not line:
        call.silence()
    elif _KEYS_RE.fullmatch(line):
        call.press(line)
    elif command == "say" and rest.strip():
        call.say(rest.strip())
    elif command in ("hangup", "q", "quit", "exit") and not args:
        call.hangup()
    elif command == "hold" and _numbers(args, 1):
        call.hold(int(args[0]) if args else 1)
    elif command == "agent" and _numbers(args, 1):
        if args:
            call.agent_answers(int(args[0]))
        else:
            call.agent_answers()
    elif command == "record" and _record_args(args):
        seconds = int(args[0]) if args else 5
        call.record(seconds, finish=args[1] if len(args) > 1 else "#")
    elif command == "dial" and len(args) <= 1 and (not args or args[0] in DIAL_STATUSES):
        call.dial_result(args[0] if args else "completed")
    else:
        if line not in ("?", "help"):
            write(f"not understood: {line!r}")
        for text in HELP:
            write(f"  {text}")


def _numbers(args: list[str], most: int) -> bool:
    return len(args) <= most and all(arg.isdigit() and int(arg) > 0 for arg in args)


def _record_args(args: list[str]) -> bool:
    if len(args) > 2 or (args and not (args[0].isdigit() and int(args[0]) > 0)):
        return False
    return len(args) < 2 or args[1] == "hangup" or re.fullmatch(r"[0-9*#]", args[1]) is not None


def _paint(text: str, colour: str, color: bool) -> str:
    return click.style(text, fg=colour) if color else text


def _dim(text: str, color: bool) -> str:
    return click.style(text, dim=True) if color else text
