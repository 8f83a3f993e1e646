"""A synthetic day of calls, placed through the simulator against the app: records to read.

Owns ``fill_day``: draws a day's callers (the hour each calls, what each calls about), runs
the agent queues of the day with ``ivr.planning.simulate.run_queue`` to learn who waits how
long, who gives up and how long each agent talks, and then places every call through a
``Simulator`` against the in-process app, at its own moment on a shared manual clock. The
records are written by the app itself (webhooks, engine, status callbacks), exactly as on a
real day: ``ivr report`` and ``/dashboard`` read them back, ``ivr capacity`` measures them.
Used by ``ivr demo calls`` and the tests. The callers (``SCENARIOS``) are of every kind the
records can tell apart: demo customers known by their number and callers on numbers of their
own who key in an account's, in both languages, by keys and by speech; some press a wrong key
or stay silent, some hang up mid-menu, some press 0; the self-served and the bridged answer
the survey or let it pass. Each listens a few seconds before each step (``THINK_S``), so the
time to an agent includes the menus.

Knows the shipped hotline's menus (which keys reach which queue, for which demo caller); a
flow with other menus needs other ``SCENARIOS``. Seeded: the same seed gives the same day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Flask

from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.planning.simulate import Caller
from ivr.planning.simulate import run_queue
from ivr.testing.simulator import Call
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet.demo import CHEN_JIE
from ivr.wallet.demo import DEMO_PIN
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import LIU_YANG
from ivr.wallet.demo import WANG_FANG
from ivr.wallet.demo import YANG_JING
from ivr.wallet.demo import ZHANG_WEI
from ivr.wallet.demo import ZHAO_MIN


@dataclass(frozen=True)
class Scenario:
    """What one kind of caller does: who calls, each step they take, and the queue they reach
    (None: they self-serve or hang up in the menu) and what the records should say of them.

    ``caller`` None is a caller on a number of their own, unknown to the wallet, who keys in
    an account's number. A step is keys to press, ``wait`` (silence), ``say:<words>``
    (speech), or ``survey`` (a score from 1 to 5, or silence). After the last step a caller
    who is not queued hangs up wherever they are."""

    caller: str | None
    steps: tuple[str, ...]
    queue: str | None = None
    outcome: str = "self_served"


def _by_phone(account: str, lang_key: str = "1") -> tuple[str, ...]:
    """A caller unknown by number: language, the account's number, yes, the PIN."""
    return (lang_key, account.removeprefix("+86") + "#", "1", DEMO_PIN + "#")


SCENARIOS: Mapping[str, Scenario] = {
    "self_served": Scenario(ZHANG_WEI, ("1", "123456#", "7", "1", "survey")),
    "self_served_en": Scenario(ZHANG_WEI, ("2", "123456#", "8", "1", "survey")),
    "login_by_phone": Scenario(None, (*_by_phone(ZHANG_WEI), "7", "1", "survey")),
    "refund_by_phone": Scenario(None, (*_by_phone(ZHANG_WEI), "4", "1", "survey")),
    "payment_by_phone_en": Scenario(None, (*_by_phone(ZHAO_MIN, "2"), "2", "1", "survey")),
    "topup_said": Scenario(None, (*_by_phone(WANG_FANG), "say:充值", "1", "1", "survey")),
    "payment_said": Scenario(None, (*_by_phone(YANG_JING), "say:支付失败", "1", "survey")),
    "password_said_en": Scenario(None, (*_by_phone(CHEN_JIE, "2"), "say:password", "1", "survey")),
    "wrong_key_then_login": Scenario(None, (*_by_phone(ZHANG_WEI), "*", "7", "1", "survey")),
    "unclear_then_keys": Scenario(None, (*_by_phone(LI_NA), "say:天气怎么样", "7", "1", "survey")),
    "silent_then_limits": Scenario(None, (*_by_phone(ZHANG_WEI), "wait", "8", "1", "survey")),
    "menu_hangup": Scenario(ZHANG_WEI, ("1",), outcome="abandoned"),
    "hangup_at_greeting": Scenario(None, (), outcome="abandoned"),
    "hangup_at_phone": Scenario(None, ("1",), outcome="abandoned"),
    "hangup_at_menu": Scenario(None, _by_phone(ZHANG_WEI), outcome="abandoned"),
    "zero_at_greeting": Scenario(None, ("0",), "general", "agent"),
    "general": Scenario(ZHANG_WEI, ("1", "123456#", "0"), "general", "agent"),
    "payments": Scenario(LIU_YANG, ("1", "123456#", "2", "2"), "payments", "agent"),
    "security": Scenario(LIU_YANG, ("1", "123456#", "1"), "security", "agent"),
}
# The share of the day's callers in each scenario.
MIX: Mapping[str, float] = {
    "self_served": 0.06,
    "self_served_en": 0.03,
    "login_by_phone": 0.09,
    "refund_by_phone": 0.07,
    "payment_by_phone_en": 0.05,
    "topup_said": 0.05,
    "payment_said": 0.05,
    "password_said_en": 0.03,
    "wrong_key_then_login": 0.04,
    "unclear_then_keys": 0.03,
    "silent_then_limits": 0.03,
    "menu_hangup": 0.03,
    "hangup_at_greeting": 0.03,
    "hangup_at_phone": 0.02,
    "hangup_at_menu": 0.02,
    "zero_at_greeting": 0.05,
    "general": 0.14,
    "payments": 0.10,
    "security": 0.08,
}
# How a caller who answers the survey scores the call, and the share who stay silent.
SURVEY_SCORES: Mapping[int, float] = {5: 0.45, 4: 0.25, 3: 0.12, 2: 0.08, 1: 0.10}
SURVEY_SILENT = 0.2
THINK_S = (3.0, 12.0)  # seconds a caller listens before each step: the menus take time
# How busy each hour is (local time, opening hours 09:00-21:00): a morning and an evening peak.
HOURLY_PROFILE: Mapping[int, float] = {
    9: 6, 10: 10, 11: 10, 12: 7, 13: 6, 14: 8, 15: 8, 16: 7, 17: 6, 18: 5, 19: 7, 20: 4,
}  # fmt: skip


@dataclass(frozen=True)
class QueueTruth:
    """How a queue really behaves on the synthetic day: the agents on shift each hour, the
    mean talk time and the callers' mean patience (both exponential)."""

    agents: Mapping[int, int]
    handle_time_s: float
    patience_s: float


TRUTH: Mapping[str, QueueTruth] = {
    "general": QueueTruth({h: (2 if 10 <= h < 12 else 1) for h in range(24)}, 300, 180),
    "payments": QueueTruth(dict.fromkeys(range(24), 1), 360, 150),
    "security": QueueTruth(dict.fromkeys(range(24), 1), 420, 240),
}


@dataclass
class DaySummary:
    """What was placed: calls per scenario; per queue, callers answered and who gave up."""

    day: date
    calls: int = 0
    scenarios: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)  # as the records should say
    answered: dict[str, int] = field(default_factory=dict)
    gave_up: dict[str, int] = field(default_factory=dict)


def fill_day(
    app: Flask,
    clock: ManualClock,
    day: date,
    calls: int,
    *,
    timezone: ZoneInfo,
    seed: int = 16,
    first_call: int = 1,
) -> DaySummary:
    """Place ``calls`` calls on ``day`` (local to ``timezone``) through the app. ``clock``
    must be the app's clock; it is left at the end of the day's last call. CallSids are
    numbered from ``first_call`` (give another range to add a second day to the records)."""
    if calls < 1:
        raise ValueError(f"a day needs 1 call or more ({calls})")
    rng = random.Random(seed)
    midnight = datetime.combine(day, time(), tzinfo=timezone)
    hours = list(HOURLY_PROFILE)
    planned = sorted(
        (
            rng.choices(hours, weights=list(HOURLY_PROFILE.values()))[0] * 3600
            + rng.random() * 3600,
            rng.choices(list(MIX), weights=list(MIX.values()))[0],
        )
        for _ in range(calls)
    )
    # Every call's listening time before each of its steps, drawn now: a queued caller
    # reaches the queue that much after dialling, which the queues' simulation must know.
    thinking = [[rng.uniform(*THINK_S) for _ in SCENARIOS[name].steps] for _, name in planned]
    fates = _queue_fates(
        [(offset + sum(thinking[i]), name) for i, (offset, name) in enumerate(planned)], rng
    )
    settings = app.extensions["ivr"].settings
    simulator = Simulator(
        WsgiTransport(app),
        base_url=settings.public_url or "http://localhost",
        auth_token=settings.twilio_auth_token,
        clock=clock,
        first_call=first_call,
    )
    summary = DaySummary(day)
    for index, (offset, name) in enumerate(planned):
        clock.set(midnight + timedelta(seconds=offset))
        scenario = SCENARIOS[name]
        caller = scenario.caller or f"+86139{rng.randrange(10**8):08d}"
        _place(simulator, scenario, caller, thinking[index], fates.get(index), summary, rng)
        summary.calls += 1
        summary.scenarios[name] = summary.scenarios.get(name, 0) + 1
        summary.outcomes[scenario.outcome] = summary.outcomes.get(scenario.outcome, 0) + 1
    return summary


def _queue_fates(planned: list[tuple[float, str]], rng: random.Random) -> dict[int, Caller]:
    """Each queued caller's wait, answer and talk, from a simulation of the day's queues."""
    fates: dict[int, Caller] = {}
    for queue, truth in TRUTH.items():
        mine = [i for i, (_, name) in enumerate(planned) if SCENARIOS[name].queue == queue]
        if not mine:
            continue
        callers = run_queue(
            [planned[i][0] for i in mine],
            truth.handle_time_s,
            _on_shift(truth.agents),
            patience_s=truth.patience_s,
            seed=rng.random(),
        )
        fates.update(zip(mine, callers, strict=True))
    return fates


def _on_shift(agents: Mapping[int, int]) -> Callable[[float], int]:
    """Agents on shift ``at`` seconds after midnight, from agents per hour of the day."""

    def at(seconds: float) -> int:
        return agents.get(int(seconds // 3600) % 24, 0)

    return at


def _place(
    simulator: Simulator,
    scenario: Scenario,
    caller: str,
    thinking: list[float],
    fate: Caller | None,
    day: DaySummary,
    rng: random.Random,
) -> None:
    call = simulator.dial(caller)
    for step, think in zip(scenario.steps, thinking, strict=True):
        simulator.clock.advance(think)
        _take(call, step, rng)
    if scenario.queue is not None:
        if call.waiting_for != "queue" or fate is None:
            raise SimulationError(
                f"call {call.call_sid}: {', '.join(scenario.steps)} did not reach "
                f"the {scenario.queue} queue; the flow's menus differ from SCENARIOS"
            )
        simulator.clock.advance(fate.waited_s)
        if fate.answered:
            call.agent_answers(max(1, round(fate.talk_s)))
            day.answered[scenario.queue] = day.answered.get(scenario.queue, 0) + 1
            if _asks(call):
                _take(call, "survey", rng)  # the flow asks for a score after the agent
        else:
            day.gave_up[scenario.queue] = day.gave_up.get(scenario.queue, 0) + 1
    if not call.ended:
        call.hangup()


def _asks(call: Call) -> bool:
    """The call goes on with a question (after the agent: the flow's survey)."""
    return not call.ended and call.waiting_for == "gather"


def _take(call: Call, step: str, rng: random.Random) -> None:
    """One step of a caller: keys, silence, words, or a survey score."""
    if step == "survey":
        if rng.random() < SURVEY_SILENT:
            call.silence()
        else:
            call.press(str(rng.choices(list(SURVEY_SCORES), list(SURVEY_SCORES.values()))[0]))
    elif step == "wait":
        call.silence()
    elif step.startswith("say:"):
        call.say(step.removeprefix("say:"))
    else:
        call.press(step)
