"""A synthetic day of calls, placed through the simulator against the app: records to plan from.

Owns ``fill_day``: draws a day's callers (the hour each calls, what each calls about), runs
the agent queues of the day with ``ivr.planning.simulate.run_queue`` to learn who waits how
long, who gives up and how long each agent talks, and then places every call through a
``Simulator`` against the in-process app, at its own moment on a shared manual clock. The
records are written by the app itself (webhooks, engine, status callbacks), exactly as on a
real day: ``ivr capacity`` then measures them. Used by ``ivr demo calls`` and the tests.

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
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet.demo import LIU_YANG
from ivr.wallet.demo import ZHANG_WEI


@dataclass(frozen=True)
class Scenario:
    """What one kind of caller does: who calls, the keys they press, the queue they reach
    (None: they self-serve or hang up in the menu)."""

    caller: str
    keys: tuple[str, ...]
    queue: str | None = None


SCENARIOS: Mapping[str, Scenario] = {
    "self_served": Scenario(ZHANG_WEI, ("1", "123456#", "7", "1", "5")),
    "self_served_en": Scenario(ZHANG_WEI, ("2", "123456#", "8", "1", "5")),
    "menu_hangup": Scenario(ZHANG_WEI, ("1",)),
    "general": Scenario(ZHANG_WEI, ("1", "123456#", "0"), "general"),
    "payments": Scenario(LIU_YANG, ("1", "123456#", "2", "2"), "payments"),
    "security": Scenario(LIU_YANG, ("1", "123456#", "1"), "security"),
}
# The share of the day's callers in each scenario.
MIX: Mapping[str, float] = {
    "self_served": 0.35,
    "self_served_en": 0.10,
    "menu_hangup": 0.08,
    "general": 0.22,
    "payments": 0.15,
    "security": 0.10,
}
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
    fates = _queue_fates(planned, rng)
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
        _place(simulator, SCENARIOS[name], fates.get(index), summary)
        summary.calls += 1
        summary.scenarios[name] = summary.scenarios.get(name, 0) + 1
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


def _place(simulator: Simulator, scenario: Scenario, fate: Caller | None, day: DaySummary) -> None:
    call = simulator.dial(scenario.caller)
    for keys in scenario.keys:
        call.press(keys)
    if scenario.queue is not None:
        if call.waiting_for != "queue" or fate is None:
            raise SimulationError(
                f"call {call.call_sid}: pressing {', '.join(scenario.keys)} did not reach "
                f"the {scenario.queue} queue; the flow's menus differ from SCENARIOS"
            )
        simulator.clock.advance(fate.waited_s)
        if fate.answered:
            call.agent_answers(max(1, round(fate.talk_s)))
            day.answered[scenario.queue] = day.answered.get(scenario.queue, 0) + 1
        else:
            day.gave_up[scenario.queue] = day.gave_up.get(scenario.queue, 0) + 1
    if not call.ended:
        call.hangup()
