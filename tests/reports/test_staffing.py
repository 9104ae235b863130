"""Erlang A against the published example, its Erlang C limit, and staffing."""

from __future__ import annotations

import pytest

from pbx.acd import erlang
from pbx.reports.service_level import AbandonTreatment
from pbx.reports.staffing import ErlangA, agents_needed, erlang_a, erlang_a_service_level

# Published example: 100 calls per 30 min, 3 min handle time, 5 min patience, 14 agents.
EXAMPLE = {"arrival_rate": 100 / 30, "aht": 3.0, "patience": 5.0, "agents": 14}


def test_published_example_100_calls_per_30_min_14_agents() -> None:
    result = erlang_a(**EXAMPLE)  # type: ignore[arg-type]
    assert isinstance(result, ErlangA)
    assert result.p_wait == pytest.approx(0.14526, abs=1e-5)
    assert result.p_abandon == pytest.approx(0.013984, abs=1e-5)
    assert result.occupancy == pytest.approx(0.704297, abs=1e-5)
    assert result.asa == pytest.approx(0.069919, abs=1e-5)


def test_example_in_seconds_gives_the_same_probabilities() -> None:
    minutes = erlang_a(**EXAMPLE)  # type: ignore[arg-type]
    seconds = erlang_a(arrival_rate=100 / 1800, aht=180.0, patience=300.0, agents=14)
    assert seconds.p_wait == pytest.approx(minutes.p_wait, rel=1e-12)
    assert seconds.p_abandon == pytest.approx(minutes.p_abandon, rel=1e-12)
    assert seconds.asa == pytest.approx(60 * minutes.asa, rel=1e-12)


def test_service_level_of_example_in_each_treatment() -> None:
    # A FIFO simulation of 2 million callers with exponential patience agrees to 1e-4.
    levels = {
        t: erlang_a_service_level(**EXAMPLE, target=1 / 3, treatment=t)  # type: ignore[arg-type]
        for t in AbandonTreatment
    }
    assert levels[AbandonTreatment.AGAINST] == pytest.approx(0.91679, abs=1e-5)
    assert levels[AbandonTreatment.FOR] == pytest.approx(0.92396, abs=1e-5)
    assert levels[AbandonTreatment.IGNORED] == pytest.approx(0.92341, abs=1e-5)
    assert (
        levels[AbandonTreatment.AGAINST]
        < levels[AbandonTreatment.IGNORED]
        < levels[AbandonTreatment.FOR]
    )


def test_service_level_at_zero_target_is_answered_without_waiting() -> None:
    result = erlang_a(**EXAMPLE)  # type: ignore[arg-type]
    level = erlang_a_service_level(**EXAMPLE, target=0.0)  # type: ignore[arg-type]
    assert level == pytest.approx(1 - result.p_wait, abs=1e-12)


def test_service_level_for_ever_is_everyone_answered() -> None:
    result = erlang_a(**EXAMPLE)  # type: ignore[arg-type]
    level = erlang_a_service_level(**EXAMPLE, target=1e4)  # type: ignore[arg-type]
    assert level == pytest.approx(1 - result.p_abandon, abs=1e-12)


@pytest.mark.parametrize("patience", [1e7, 1e9])
def test_converges_to_erlang_c_as_patience_grows(patience: float) -> None:
    traffic, agents, aht = 10.0, 14, 180.0
    result = erlang_a(arrival_rate=traffic / aht, aht=aht, patience=patience, agents=agents)
    assert result.p_wait == pytest.approx(erlang.erlang_c(traffic, agents), abs=1e-5)
    assert result.asa == pytest.approx(erlang.asa(traffic, agents, aht), abs=1e-3)
    assert result.occupancy == pytest.approx(erlang.occupancy(traffic, agents), abs=1e-5)
    assert result.p_abandon < 1e-5
    for treatment in AbandonTreatment:
        level = erlang_a_service_level(
            arrival_rate=traffic / aht,
            aht=aht,
            patience=patience,
            agents=agents,
            target=20.0,
            treatment=treatment,
        )
        assert level == pytest.approx(erlang.service_level(traffic, agents, aht, 20.0), abs=1e-5)


def test_overloaded_queue_stays_finite_because_callers_abandon() -> None:
    # 20 Erlangs on 10 agents: half the callers must give up.
    result = erlang_a(arrival_rate=20.0, aht=1.0, patience=2.0, agents=10)
    assert result.p_wait == pytest.approx(1.0, abs=1e-3)
    assert result.p_abandon == pytest.approx(0.5, abs=1e-3)
    assert result.occupancy == pytest.approx(1.0, abs=1e-3)
    assert result.asa == pytest.approx(2.0 * result.p_abandon)


def test_heavy_overload_with_long_patience_does_not_overflow() -> None:
    result = erlang_a(arrival_rate=20.0, aht=1.0, patience=1e6, agents=10)
    assert result.p_wait == 1.0
    assert result.p_abandon == pytest.approx(0.5)
    level = erlang_a_service_level(arrival_rate=20.0, aht=1.0, patience=1e6, agents=10, target=1.0)
    assert 0.0 <= level < 1e-6


def test_more_agents_never_lower_the_service_level() -> None:
    levels = [
        erlang_a_service_level(
            arrival_rate=100 / 1800, aht=180.0, patience=300.0, agents=n, target=20.0
        )
        for n in range(1, 30)
    ]
    assert levels == sorted(levels)
    assert levels[-1] > 0.999


def test_erlang_c_staffing_80_in_20_matches_acd_helper() -> None:
    assert agents_needed(arrival_rate=100 / 1800, aht=180.0, sla=0.8, target=20.0) == 14


def test_shrinkage_divides_and_rounds_up() -> None:
    # 14 on the phones with 30 % shrinkage is exactly 20 to schedule, not 21.
    base = {"arrival_rate": 100 / 1800, "aht": 180.0, "sla": 0.8, "target": 20.0}
    assert agents_needed(**base, shrinkage=0.3) == 20  # type: ignore[arg-type]
    assert agents_needed(**base, shrinkage=0.35) == 22  # type: ignore[arg-type]


def test_erlang_a_staffing_needs_fewer_agents_when_callers_abandon() -> None:
    base = {"arrival_rate": 100 / 1800, "aht": 180.0, "sla": 0.8, "target": 20.0}
    needed = agents_needed(**base, patience=300.0)  # type: ignore[arg-type]
    assert needed == 13
    level = erlang_a_service_level(
        arrival_rate=100 / 1800, aht=180.0, patience=300.0, agents=needed, target=20.0
    )
    below = erlang_a_service_level(
        arrival_rate=100 / 1800, aht=180.0, patience=300.0, agents=needed - 1, target=20.0
    )
    assert below < 0.8 <= level
    assert agents_needed(**base, patience=300.0, shrinkage=0.3) == 19  # type: ignore[arg-type]


def test_erlang_a_staffing_with_long_patience_matches_erlang_c() -> None:
    base = {"arrival_rate": 100 / 1800, "aht": 180.0, "sla": 0.8, "target": 20.0}
    assert agents_needed(**base, patience=1e9) == agents_needed(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sla": 1.0}, "service level objective must be between 0 and 1, exclusive"),
        ({"shrinkage": 1.0}, "shrinkage must be at least 0 and less than 1"),
        ({"patience": 0.0}, "mean patience must be positive"),
    ],
)
def test_impossible_staffing_inputs_are_refused(kwargs: dict[str, float], message: str) -> None:
    base: dict[str, float] = {"arrival_rate": 1.0, "aht": 1.0, "sla": 0.8, "target": 1.0}
    with pytest.raises(ValueError, match=f"^{message}$"):
        agents_needed(**{**base, **kwargs})  # type: ignore[arg-type]


def test_erlang_a_staffing_matches_one_by_one_search() -> None:
    rate, aht, patience = 1000 / 1800, 180.0, 120.0
    needed = agents_needed(arrival_rate=rate, aht=aht, sla=0.9, target=15.0, patience=patience)
    first = next(
        n
        for n in range(1, 500)
        if erlang_a_service_level(
            arrival_rate=rate, aht=aht, patience=patience, agents=n, target=15.0
        )
        >= 0.9
    )
    assert needed == first
