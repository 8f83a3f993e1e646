"""Erlang C and Erlang A held to published figures and to exact identities.

Published Erlang C figures: pyworkforce's own tests (rodrigo-arenas/pyworkforce,
``pyworkforce/queuing/tests/test_erlang.py``, release 0.5.1): 100 transactions per 30 minutes,
a handle time of 3 minutes, a target answer time of 0.33 minutes, give 14 agents with service
level 0.888, occupancy 0.714 and waiting probability 0.174, and 15 agents 0.941, 0.667, 0.102.

Erlang A has no table as well known; it is held to two exact facts instead. When patience
has the same mean as the handle time, every caller leaves at rate 1/AHT whether talking or
waiting, so the number in the system is Poisson with mean ``a`` (the M/M/∞ queue): the chance
of waiting is P(N ≥ n) and the abandonment E[(N − n)+]/a. And as patience grows without end,
Erlang A becomes Erlang C.
"""

from __future__ import annotations

import math

import pytest

from ivr.planning.erlang import Target
from ivr.planning.erlang import agents_needed
from ivr.planning.erlang import erlang_a
from ivr.planning.erlang import erlang_b
from ivr.planning.erlang import erlang_c
from ivr.planning.erlang import offered_load


@pytest.mark.parametrize(
    ("agents", "service_level", "occupancy", "waiting"),
    [(14, 0.888, 0.714, 0.174), (15, 0.941, 0.667, 0.102)],
)
def test_erlang_c_matches_pyworkforces_published_figures(
    agents: int, service_level: float, occupancy: float, waiting: float
) -> None:
    # 100 calls per 30 minutes = 200 per hour; 3 minutes = 180 s; 0.33 minutes = 19.8 s
    found = erlang_c(200, 180, agents, 0.33 * 60)

    assert round(found.service_level, 3) == service_level
    assert round(found.occupancy, 3) == occupancy
    assert round(found.wait_probability, 3) == waiting
    assert found.abandon == 0


def test_erlang_c_average_speed_of_answer_is_the_waiting_chance_times_aht_over_spare_agents() -> (
    None
):
    found = erlang_c(200, 180, 14, 20)

    assert found.asa_s == pytest.approx(found.wait_probability * 180 / (14 - 10))


def test_erlang_b_of_one_erlang_on_one_line_is_a_half() -> None:
    assert erlang_b(1, 1.0) == 0.5
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


def test_an_overloaded_erlang_c_queue_never_answers_in_time() -> None:
    found = erlang_c(120, 300, 10, 20)  # 10 Erlangs on 10 agents

    assert (found.service_level, found.asa_s, found.occupancy) == (0.0, math.inf, 1.0)


def _poisson(load: float, k: int) -> float:
    return math.exp(k * math.log(load) - load - math.lgamma(k + 1))


@pytest.mark.parametrize(("load", "agents"), [(8.0, 8), (4.0, 6), (20.0, 18)])
def test_erlang_a_with_patience_equal_to_handle_time_is_the_poisson_of_mm_infinity(
    load: float, agents: int
) -> None:
    handle = 300.0
    found = erlang_a(load * 3600 / handle, handle, agents, 20, patience_s=handle)

    beyond = range(agents, 400)
    assert found.wait_probability == pytest.approx(sum(_poisson(load, k) for k in beyond))
    assert found.abandon == pytest.approx(
        sum((k - agents) * _poisson(load, k) for k in beyond) / load
    )


def test_erlang_a_becomes_erlang_c_as_patience_grows_without_end() -> None:
    c = erlang_c(100, 300, 10, 20)
    a = erlang_a(100, 300, 10, 20, patience_s=1e8)

    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-3)
    assert a.abandon < 1e-5


def test_erlang_a_is_stable_where_erlang_c_is_not() -> None:
    found = erlang_a(150, 300, 10, 20, patience_s=120)  # 12.5 Erlangs on 10 agents

    assert 0 < found.service_level < 0.5
    assert 0.1 < found.abandon < 0.5
    assert found.occupancy < 1


def test_agents_needed_by_erlang_c_is_the_fewest_that_meet_the_service_level() -> None:
    found = agents_needed(200, 180, Target(19.8, 0.8))

    assert found.agents == 14  # pyworkforce's required_positions gives 14 raw positions too
    assert found.service_level >= 0.8
    assert erlang_c(200, 180, 13, 19.8).service_level < 0.8


def test_agents_needed_by_erlang_a_also_keeps_abandonment_under_the_limit() -> None:
    loose = agents_needed(100, 300, Target(20, 0.8), patience_s=120)
    strict = agents_needed(100, 300, Target(20, 0.8, max_abandon=0.01), patience_s=120)

    assert loose.agents == 11
    assert erlang_a(100, 300, 10, 20, 120).service_level < 0.8
    assert strict.agents == 14
    assert strict.abandon <= 0.01
    assert erlang_a(100, 300, 13, 20, 120).abandon > 0.01


def test_no_calls_need_no_agents() -> None:
    assert agents_needed(0, 300, Target()).agents == 0
    assert offered_load(0, 300) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"share": 1.2}, "share must be between 0 and 1"),
        ({"max_abandon": 0}, "max_abandon must be between 0 and 1"),
        ({"answer_within_s": -1}, "cannot be negative"),
    ],
)
def test_a_target_outside_its_range_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target(**kwargs)  # type: ignore[arg-type]


def test_a_handle_time_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="handle_time_s must be a positive"):
        erlang_c(10, 0, 1, 20)
    with pytest.raises(ValueError, match="patience_s must be a positive"):
        erlang_a(10, 300, 1, 20, 0)
