"""A queue of callers and agents, simulated call by call: the check on the Erlang formulas.

Owns ``simulate_queue``: a discrete-event simulation (SimPy) of one agent queue with Poisson
arrivals, exponential handle times and, optionally, exponential patience, answered first come
first served. It measures what ``ivr.planning.erlang`` predicts (service level, mean wait,
abandonment, occupancy) so the two can be compared, in the tests and by ``ivr capacity
--simulate``; and ``run_queue``, the same queue over a day whose arrival rate and agents
change by the hour, for the demo generator. Seeded: the same seed gives the same numbers.
No records, no flows, no IO.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from ivr.planning.erlang import Performance


@dataclass(frozen=True)
class Caller:
    """One simulated caller: when they called, how long they waited, whether an agent
    answered (else they gave up after ``waited_s``), and how long the agent talked."""

    arrived_s: float
    waited_s: float
    answered: bool
    talk_s: float


@dataclass(frozen=True)
class SimulatedQueue:
    """What the simulation measured, beside the callers it counted (after the warm-up)."""

    performance: Performance
    callers: int


def simulate_queue(
    calls_per_hour: float,
    handle_time_s: float,
    agents: int,
    answer_within_s: float,
    *,
    patience_s: float | None = None,
    hours: float = 200.0,
    warm_up_hours: float = 2.0,
    seed: int = 1,
) -> SimulatedQueue:
    """Run the queue for ``warm_up_hours`` (not counted: it starts empty) and then ``hours``,
    with Poisson arrivals at a steady rate; measure the callers who arrived after the warm-up."""
    if agents < 1:
        raise ValueError(f"a simulated queue needs 1 agent or more ({agents})")
    rng = random.Random(seed)
    total_s = (warm_up_hours + hours) * 3600
    arrivals: list[float] = []
    at = 0.0
    while calls_per_hour > 0:
        at += rng.expovariate(calls_per_hour / 3600)
        if at >= total_s:
            break
        arrivals.append(at)
    callers = run_queue(
        arrivals, handle_time_s, lambda _: agents, patience_s=patience_s, seed=rng.random()
    )
    counted = [c for c in callers if c.arrived_s >= warm_up_hours * 3600]
    if not counted:
        return SimulatedQueue(Performance(agents, 1.0, 0.0, 0.0, 0.0, 0.0), 0)
    n = len(counted)
    in_time = sum(1 for c in counted if c.answered and c.waited_s <= answer_within_s)
    talk = sum(c.talk_s for c in counted if c.answered)
    return SimulatedQueue(
        Performance(
            agents=agents,
            service_level=in_time / n,
            asa_s=sum(c.waited_s for c in counted) / n,
            abandon=sum(1 for c in counted if not c.answered) / n,
            occupancy=min(1.0, talk / (agents * hours * 3600)),
            wait_probability=sum(1 for c in counted if c.waited_s > 0) / n,
        ),
        n,
    )


def run_queue(
    arrivals_s: Sequence[float],
    handle_time_s: float,
    agents_at: Callable[[float], int],
    *,
    patience_s: float | None = None,
    seed: float = 1,
) -> list[Caller]:
    """The callers arriving at ``arrivals_s`` (seconds from the start), in arrival order,
    each run to the end: answered (after a wait) and talked to, or gone when patience ran out.

    ``agents_at(t)`` may change with the time ``t``: a caller is answered only while fewer
    agents than that are talking. Talk times and patience are exponential.
    """
    run = _QueueRun(sorted(arrivals_s), handle_time_s, agents_at, patience_s, seed)
    return run.callers()


class _QueueRun:
    """One run of ``run_queue``: the SimPy processes and what they share."""

    def __init__(
        self,
        arrivals_s: Sequence[float],
        handle_time_s: float,
        agents_at: Callable[[float], int],
        patience_s: float | None,
        seed: float,
    ) -> None:
        self.arrivals_s = arrivals_s
        self.handle_time_s = handle_time_s
        self.agents_at = agents_at
        self.patience_s = patience_s
        self.rng = random.Random(seed)
        self.env = simpy.Environment()
        self.done: list[Caller] = []
        self.talking = 0
        self.line: list[simpy.Event] = []  # waiting callers, first come first served

    def callers(self) -> list[Caller]:
        self.env.process(self._arrivals())
        self.env.run()
        return sorted(self.done, key=lambda c: c.arrived_s)

    def _answer_waiting(self) -> None:
        while self.line and self.talking < self.agents_at(self.env.now):
            ticket = self.line.pop(0)
            self.talking += 1
            ticket.succeed()

    def _caller(self, arrived: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        ticket = env.event()
        self.line.append(ticket)
        self._answer_waiting()
        if self.patience_s is None:
            yield ticket
        else:
            yield ticket | env.timeout(self.rng.expovariate(1 / self.patience_s))
        if not ticket.triggered:
            self.line.remove(ticket)
            self.done.append(Caller(arrived, env.now - arrived, False, 0.0))
            return
        waited = env.now - arrived
        talk = self.rng.expovariate(1 / self.handle_time_s)
        yield env.timeout(talk)
        self.talking -= 1
        self.done.append(Caller(arrived, waited, True, talk))
        self._answer_waiting()

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for at in self.arrivals_s:
            yield env.timeout(at - env.now)
            env.process(self._caller(at))
            if self.line:  # agents who came on shift since the last caller take the waiting
                self._answer_waiting()
