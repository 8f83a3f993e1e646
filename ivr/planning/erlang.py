"""Erlang C and Erlang A: how a queue with ``n`` agents performs, and how many agents it needs.

Owns the queueing formulas, written once: ``erlang_c`` (M/M/n, callers wait for ever) and
``erlang_a`` (M/M/n+M, callers give up after an exponentially distributed patience), each
returning a ``Performance`` (service level, average speed of answer, abandonment, occupancy),
and ``agents_needed``, the smallest staffing that meets a ``Target``. Pure arithmetic on the
standard library: no records, no flows, no IO.

Why not a library: pyworkforce (the maintained Erlang C package for Python 3.11) has no
Erlang A and installs numpy, pandas, OR-Tools and joblib for what is a dozen lines here;
erlangccmath sends every computation to a web service. ``tests/test_erlang.py`` holds these
formulas to published figures (pyworkforce's own tests, Westbay's worked Erlang C example) and
to exact identities of Erlang A.

Erlang A is computed exactly from its birth-death chain (truncated where the remaining
probability is below 1e-15): the stationary distribution gives the chance of waiting, the
abandonment (rate of abandons over the arrival rate) and the mean wait (Little's law); the
service level follows each waiting caller's place in line forward in time by uniformisation.
Reference: Garnett, Mandelbaum and Reiman, "Designing a call center with impatient
customers", Manufacturing & Service Operations Management 4(3), 2002.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Where the chain is cut: states whose probability is this far below the largest are dropped.
_NEGLIGIBLE_LOG = math.log(1e-15)
# A queue never needs more agents than this; a search past it means the inputs are absurd.
MAX_AGENTS = 10_000


@dataclass(frozen=True)
class Target:
    """A service-level goal: ``share`` of callers answered within ``answer_within_s`` seconds,
    and (Erlang A only) at most ``max_abandon`` of them giving up (None: no limit)."""

    answer_within_s: float = 20.0
    share: float = 0.8
    max_abandon: float | None = None

    def __post_init__(self) -> None:
        if self.answer_within_s < 0:
            raise ValueError(f"answer_within_s cannot be negative ({self.answer_within_s})")
        if not 0 < self.share < 1:
            raise ValueError(f"the service-level share must be between 0 and 1 ({self.share})")
        if self.max_abandon is not None and not 0 < self.max_abandon < 1:
            raise ValueError(f"max_abandon must be between 0 and 1 ({self.max_abandon})")


@dataclass(frozen=True)
class Performance:
    """How a queue with ``agents`` performs in the long run.

    ``service_level``: the share of all callers answered within the target time (callers who
    give up count against it). ``asa_s``: the mean wait in queue over all callers, answered
    or not (Erlang C's average speed of answer). ``abandon``: the share who give up.
    ``occupancy``: the share of the agents' time spent talking. ``wait_probability``: the
    share who find every agent busy.
    """

    agents: int
    service_level: float
    asa_s: float
    abandon: float
    occupancy: float
    wait_probability: float

    def meets(self, target: Target) -> bool:
        if self.service_level < target.share:
            return False
        return target.max_abandon is None or self.abandon <= target.max_abandon


def offered_load(calls_per_hour: float, handle_time_s: float) -> float:
    """The traffic in Erlangs: how many agents would be busy if nobody ever waited."""
    return calls_per_hour * handle_time_s / 3600


def erlang_b(agents: int, load: float) -> float:
    """The chance that all ``agents`` are busy with ``load`` Erlangs and no queue (the
    stable recursion ``B(n) = a·B(n-1) / (n + a·B(n-1))``)."""
    blocked = 1.0
    for n in range(1, agents + 1):
        blocked = load * blocked / (n + load * blocked)
    return blocked


def erlang_c(
    calls_per_hour: float, handle_time_s: float, agents: int, answer_within_s: float
) -> Performance:
    """M/M/n: Poisson arrivals, exponential handle times, nobody gives up.

    Undefined when the load reaches the agents (the queue grows without end): then every
    caller waits for ever, which is what the result says (service level 0, infinite ASA).
    """
    _check_inputs(calls_per_hour, handle_time_s, agents)
    load = offered_load(calls_per_hour, handle_time_s)
    if load == 0:
        return Performance(agents, 1.0, 0.0, 0.0, 0.0, 0.0)
    if agents <= load:
        return Performance(agents, 0.0, math.inf, 0.0, 1.0, 1.0)
    blocked = erlang_b(agents, load)
    waits = agents * blocked / (agents - load * (1 - blocked))
    spare = agents - load
    service_level = 1 - waits * math.exp(-spare * answer_within_s / handle_time_s)
    return Performance(
        agents=agents,
        service_level=max(0.0, service_level),
        asa_s=waits * handle_time_s / spare,
        abandon=0.0,
        occupancy=load / agents,
        wait_probability=waits,
    )


def erlang_a(
    calls_per_hour: float,
    handle_time_s: float,
    agents: int,
    answer_within_s: float,
    patience_s: float,
) -> Performance:
    """M/M/n+M: as Erlang C, but each waiting caller hangs up after an exponentially
    distributed patience with mean ``patience_s``. Stable for any number of agents."""
    _check_inputs(calls_per_hour, handle_time_s, agents)
    if not patience_s > 0 or math.isinf(patience_s):
        raise ValueError(f"patience_s must be a positive number of seconds ({patience_s})")
    arrival = calls_per_hour / 3600
    if arrival == 0:
        return Performance(agents, 1.0, 0.0, 0.0, 0.0, 0.0)
    service = 1 / handle_time_s
    giving_up = 1 / patience_s
    states = _stationary(arrival, service, giving_up, agents)
    queued = states[agents:]
    waits = sum(queued)
    in_line = sum(j * p for j, p in enumerate(queued))
    abandon = giving_up * in_line / arrival
    answered_in_time = sum(states[:agents]) + _answered_within(
        queued, agents * service, giving_up, answer_within_s
    )
    served = arrival * (1 - abandon)
    return Performance(
        agents=agents,
        service_level=min(1.0, answered_in_time),
        asa_s=in_line / arrival,
        abandon=abandon,
        occupancy=0.0 if agents == 0 else min(1.0, served / (agents * service)),
        wait_probability=waits,
    )


def agents_needed(
    calls_per_hour: float,
    handle_time_s: float,
    target: Target,
    patience_s: float | None = None,
) -> Performance:
    """The fewest agents meeting ``target``: Erlang A when ``patience_s`` is known, else
    Erlang C (which cannot count abandonment, so ``target.max_abandon`` is not checked)."""
    _check_inputs(calls_per_hour, handle_time_s, 0)
    if calls_per_hour == 0:
        return Performance(0, 1.0, 0.0, 0.0, 0.0, 0.0)
    load = offered_load(calls_per_hour, handle_time_s)
    if patience_s is None:
        target = Target(target.answer_within_s, target.share, None)

    def perform(agents: int) -> Performance:
        if patience_s is None:
            return erlang_c(calls_per_hour, handle_time_s, agents, target.answer_within_s)
        return erlang_a(calls_per_hour, handle_time_s, agents, target.answer_within_s, patience_s)

    # Service level rises and abandonment falls with every agent added: search by halving
    # between a staffing that fails (Erlang C needs more agents than Erlangs) and one that meets.
    failing = math.floor(load) if patience_s is None else 0
    step = max(1, math.ceil(math.sqrt(load)))
    meeting = failing + step
    while not perform(meeting).meets(target):
        failing, step = meeting, step * 2
        meeting = failing + step
        if meeting > MAX_AGENTS:
            raise ValueError(f"no staffing up to {MAX_AGENTS} agents meets the target")
    while meeting - failing > 1:
        middle = (failing + meeting) // 2
        if perform(middle).meets(target):
            meeting = middle
        else:
            failing = middle
    return perform(meeting)


def _check_inputs(calls_per_hour: float, handle_time_s: float, agents: int) -> None:
    if calls_per_hour < 0 or not math.isfinite(calls_per_hour):
        raise ValueError(f"calls_per_hour must be 0 or more ({calls_per_hour})")
    if not handle_time_s > 0 or not math.isfinite(handle_time_s):
        raise ValueError(f"handle_time_s must be a positive number of seconds ({handle_time_s})")
    if agents < 0:
        raise ValueError(f"agents cannot be negative ({agents})")


def _stationary(arrival: float, service: float, giving_up: float, agents: int) -> list[float]:
    """P(k callers in the system), k = 0, 1, …, cut where the rest is negligible.

    Worked in logarithms: ``a^k/k!`` overflows a float for a few hundred Erlangs."""
    load = arrival / service
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents + 1)]
    k = agents
    while True:
        k += 1
        logs.append(logs[-1] + math.log(arrival / (agents * service + (k - agents) * giving_up)))
        shrinking = arrival < agents * service + (k - agents) * giving_up
        if shrinking and logs[-1] - max(logs) < _NEGLIGIBLE_LOG:
            break
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def _answered_within(
    queued: list[float], answering: float, giving_up: float, seconds: float
) -> float:
    """The share of callers who find ``j`` others in line (probability ``queued[j]``) and
    are answered within ``seconds`` without giving up.

    A caller with ``j`` ahead moves up at rate ``answering + j·giving_up`` (an agent frees
    up, or someone ahead hangs up) and hangs up at rate ``giving_up``. Uniformisation: at
    rate ``top`` something may happen; the chance of exactly ``m`` such moments by
    ``seconds`` is Poisson, and the chain's ``m``-step absorption into "answered" is summed.
    """
    if seconds <= 0 or not queued:
        return 0.0
    lines = len(queued)
    top = answering + lines * giving_up
    mean_steps = top * seconds
    steps = int(mean_steps + 12 * math.sqrt(mean_steps) + 30)
    mass = list(queued)
    answered_by_step = 0.0
    result = 0.0
    for m in range(steps + 1):
        weight = math.exp(m * math.log(mean_steps) - mean_steps - math.lgamma(m + 1))
        # P(exactly m moments) × answered within m steps
        result += weight * answered_by_step
        answered_by_step += mass[0] * answering / top
        moved = [0.0] * lines
        for j, p in enumerate(mass):
            if p == 0.0:
                continue
            moved[j] += p * (1 - (answering + (j + 1) * giving_up) / top)
            if j > 0:
                moved[j - 1] += p * (answering + j * giving_up) / top
        mass = moved
    return result
