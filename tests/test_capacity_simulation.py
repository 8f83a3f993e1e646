"""The formulas checked by simulation: a SimPy queue with the same arrivals, handle times and
patience reproduces what Erlang C and Erlang A project.

The stated tolerance: 0.02 on the service level and on the abandonment, absolute, for 400
simulated hours of each case (some 10,000 to 80,000 callers: three to four standard errors
of the simulated share, plus the start-up that the warm-up hours do not fully remove).
"""

from __future__ import annotations

import pytest

from ivr.planning.erlang import Target
from ivr.planning.erlang import agents_needed
from ivr.planning.erlang import erlang_a
from ivr.planning.simulate import run_queue
from ivr.planning.simulate import simulate_queue

TOLERANCE = 0.02
HOURS = 400.0

# (calls per hour, handle time s, patience s or None): the classic 80/20 staffing of each.
STANDARD_CASES = [
    (200.0, 180.0, None),  # pyworkforce's published case, Erlang C
    (60.0, 300.0, None),  # a small queue, Erlang C
    (100.0, 300.0, 120.0),  # Erlang A, impatient callers
    (30.0, 420.0, 240.0),  # a small Erlang A queue: the security desk
]


@pytest.mark.parametrize(("rate", "handle", "patience"), STANDARD_CASES)
def test_the_simulated_queue_reproduces_the_projected_service_level_and_abandonment(
    rate: float, handle: float, patience: float | None
) -> None:
    projected = agents_needed(rate, handle, Target(20, 0.8), patience)

    simulated = simulate_queue(
        rate, handle, projected.agents, 20, patience_s=patience, hours=HOURS, seed=7
    )

    assert simulated.callers > 10_000
    found = simulated.performance
    assert found.service_level == pytest.approx(projected.service_level, abs=TOLERANCE)
    assert found.abandon == pytest.approx(projected.abandon, abs=TOLERANCE)
    assert found.occupancy == pytest.approx(projected.occupancy, abs=TOLERANCE)


def test_an_understaffed_erlang_a_queue_is_reproduced_too() -> None:
    projected = erlang_a(100, 300, 8, 20, patience_s=120)  # 8.3 Erlangs on 8 agents

    found = simulate_queue(100, 300, 8, 20, patience_s=120, hours=HOURS, seed=3).performance

    assert projected.abandon > 0.1
    assert found.abandon == pytest.approx(projected.abandon, abs=TOLERANCE)
    assert found.service_level == pytest.approx(projected.service_level, abs=TOLERANCE)


def test_the_same_seed_gives_the_same_simulation() -> None:
    first = simulate_queue(60, 300, 7, 20, hours=20, seed=5)
    again = simulate_queue(60, 300, 7, 20, hours=20, seed=5)

    assert first == again
    assert first != simulate_queue(60, 300, 7, 20, hours=20, seed=6)


def test_a_caller_alone_with_a_free_agent_is_answered_at_once() -> None:
    (caller,) = run_queue([10.0], 300, lambda _: 1, seed=1)

    assert (caller.arrived_s, caller.waited_s, caller.answered) == (10.0, 0.0, True)
    assert caller.talk_s > 0


def test_a_caller_with_no_agent_on_shift_gives_up_after_their_patience() -> None:
    (caller,) = run_queue([10.0], 300, lambda _: 0, patience_s=60, seed=1)

    assert caller.answered is False
    assert caller.waited_s > 0
