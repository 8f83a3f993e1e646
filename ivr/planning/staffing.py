"""Agents needed per queue and hour of the week: the measured traffic through Erlang C and A.

Owns ``WhatIf`` (a change to answer for: more containment, more arrivals, another handle
time), ``HourPlan`` and ``plan``: a ``Measurement`` and each queue's ``ServiceLevel`` →
the agents each hour needs by Erlang C, and by Erlang A where patience is known (the plan's
figures come from Erlang A then, since it counts the callers who give up). Optionally each
hour is checked by simulation (``ivr.planning.simulate``). Pure: no records, no IO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.flow.hours import ServiceLevel
from ivr.planning.erlang import Performance
from ivr.planning.erlang import Target
from ivr.planning.erlang import agents_needed
from ivr.planning.measure import HourTraffic
from ivr.planning.measure import Measurement
from ivr.planning.simulate import simulate_queue


@dataclass(frozen=True)
class WhatIf:
    """A change to plan for. ``containment_points``: that share of all calls (0.10 for ten
    points) now self-serves instead of reaching a queue, taken from every queue alike;
    ``arrivals_factor``: every queue's arrivals multiplied; ``handle_time_s``: every queue's
    handle time replaced."""

    containment_points: float = 0.0
    arrivals_factor: float = 1.0
    handle_time_s: float | None = None

    def __post_init__(self) -> None:
        if not -1 < self.containment_points < 1:
            raise ValueError("the containment change must be between -100% and +100%")
        if self.arrivals_factor < 0:
            raise ValueError("the arrivals factor cannot be negative")
        if self.handle_time_s is not None and not self.handle_time_s > 0:
            raise ValueError("the handle time must be a positive number of seconds")

    @property
    def changes_anything(self) -> bool:
        return self != WhatIf()

    def describe(self) -> str:
        parts = []
        if self.containment_points:
            parts.append(f"containment {self.containment_points * 100:+g} points")
        if self.arrivals_factor != 1:
            parts.append(f"arrivals ×{self.arrivals_factor:g}")
        if self.handle_time_s is not None:
            parts.append(f"handle time {self.handle_time_s:g} s")
        return ", ".join(parts) or "as measured"


@dataclass(frozen=True)
class HourPlan:
    """One queue in one hour of the week: the traffic planned for and the agents it needs.

    ``erlang_c`` is always there; ``erlang_a`` where patience is known. ``projected`` is the
    plan's answer (Erlang A if there, else Erlang C); ``simulated`` the same staffing run
    through a simulation, when asked for."""

    traffic: HourTraffic
    calls_per_hour: float
    handle_time_s: float
    patience_s: float | None
    target: Target
    erlang_c: Performance
    erlang_a: Performance | None
    simulated: Performance | None = None

    @property
    def projected(self) -> Performance:
        return self.erlang_a if self.erlang_a is not None else self.erlang_c

    @property
    def model(self) -> str:
        return "Erlang A" if self.erlang_a is not None else "Erlang C"


def target_of(level: ServiceLevel) -> Target:
    return Target(float(level.answer_within_s), level.target, level.max_abandon)


def plan(
    measured: Measurement,
    targets: Mapping[str, Target],
    what_if: WhatIf = WhatIf(),
    *,
    simulate_hours: float | None = None,
) -> list[HourPlan]:
    """The agents every measured queue-hour needs to meet its queue's target.

    ``simulate_hours``: also run each hour's staffing through a simulation this many hours
    long (steady state), to check the formula."""
    keep = _kept_share(measured, what_if)
    plans = []
    for hour in measured.hours:
        target = targets[hour.queue]
        rate = hour.calls_per_hour * keep * what_if.arrivals_factor
        handle = what_if.handle_time_s or hour.handle_time.value
        assert handle is not None  # a handle time always falls back to the flow's
        patience = hour.patience.value
        by_c = agents_needed(rate, handle, target)
        by_a = agents_needed(rate, handle, target, patience) if patience else None
        simulated = None
        if simulate_hours and rate > 0:
            staffed = (by_a or by_c).agents
            simulated = simulate_queue(
                rate,
                handle,
                staffed,
                target.answer_within_s,
                patience_s=patience,
                hours=simulate_hours,
            ).performance
        plans.append(HourPlan(hour, rate, handle, patience, target, by_c, by_a, simulated))
    return plans


def _kept_share(measured: Measurement, what_if: WhatIf) -> float:
    """The share of today's queue arrivals that still reach a queue after the containment
    change: ``(r - p) / r`` for a queue share ``r`` of all calls and ``p`` points more
    self-service (never below nothing)."""
    if not what_if.containment_points:
        return 1.0
    reach = measured.queue_share
    if reach == 0:
        return 1.0
    return max(0.0, (reach - what_if.containment_points) / reach)
