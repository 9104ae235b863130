"""Pacers on hand-built states: progressive coverage, the predictive risk law, feedback."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.dialer.compliance import AbandonStats
from pbx.dialer.measures import AnswerDistribution, HandleTimeDistribution
from pbx.dialer.pacing import (
    BlindPacer,
    LinePacer,
    PacingState,
    PredictivePacer,
    PreviewPacer,
    ProgressivePacer,
    _exact,
    _normal,
    calls_within_risk,
)

NO_ABANDONS = AbandonStats(0.0, 0, 0, 0, 0, 0, 0.0)


def state(
    ready: int = 0,
    busy: tuple[float, ...] = (),
    ringing: tuple[float, ...] = (),
    waiting: int = 0,
    lines: int = 0,
    max_lines: int = 100,
    abandon: AbandonStats = NO_ABANDONS,
    answer_rate: float = 0.3,
    handle_times: tuple[float, ...] = (),
) -> PacingState:
    return PacingState(
        campaign="c",
        ready=ready,
        busy=busy,
        handle_times=HandleTimeDistribution.of(tuple(sorted(handle_times)), 180.0),
        ringing=ringing,
        waiting=waiting,
        offers=0,
        answers=AnswerDistribution.of((), (), answer_rate),
        abandon=abandon,
        max_abandon_rate=0.03,
        lines_in_use=lines,
        max_lines=max_lines,
    )


def test_progressive_places_one_call_per_uncovered_ready_agent() -> None:
    pacer = ProgressivePacer()
    assert pacer.decide(state(ready=3), 0.0).calls == 3
    assert pacer.decide(state(ready=3, ringing=(4.0, 9.0)), 0.0).calls == 1
    assert pacer.decide(state(ready=3, ringing=(1.0,), waiting=2), 0.0).calls == 0
    assert pacer.decide(state(ready=5, lines=98), 0.0).calls == 2


def test_preview_offers_one_lead_per_ready_agent_and_lines_fill_lines() -> None:
    assert PreviewPacer().decide(state(ready=2, busy=(10.0,)), 0.0).calls == 2
    assert LinePacer().decide(state(lines=27, max_lines=30), 0.0).calls == 3


def test_blind_pacer_keeps_its_rate_whatever_the_agents() -> None:
    pacer = BlindPacer(rate=0.5)
    total = sum(pacer.decide(state(), float(t)).calls for t in range(0, 101))
    assert total == 50
    assert pacer.decide(state(max_lines=0), 200.0).calls == 0


def test_predictive_dials_ahead_of_busy_agents_and_logs_its_inputs() -> None:
    pacer = PredictivePacer()
    measured = tuple(170.0 + i / 10 for i in range(200))  # calls last 170–190 s
    # Twenty agents all 175 s into their calls: most are about to be free.
    decision = pacer.decide(state(busy=(175.0,) * 20, handle_times=measured), 0.0)
    assert decision.calls > 0
    assert decision.inputs["busy"] == 20
    assert decision.inputs["expected_free"] > 0
    assert {"answer_rate", "time_to_answer", "handle_time", "risk", "abandon_24h"} <= set(
        decision.inputs
    )
    # Just started calls free nobody soon: fewer calls.
    assert pacer.decide(state(busy=(1.0,) * 20, handle_times=measured), 0.0).calls == 0


def test_predictive_never_places_fewer_calls_than_progressive() -> None:
    over = AbandonStats(0.0, 100, 10, 100, 10, 0, 0.0)  # 10 %: the feedback cuts to zero risk
    pacer = PredictivePacer()
    assert pacer.risk(over, 0.03) == 0.0
    assert pacer.decide(state(ready=4, abandon=over), 0.0).calls == 4


def test_feedback_raises_the_risk_below_target_and_lowers_it_above() -> None:
    pacer = PredictivePacer()
    at_target = pacer.risk(NO_ABANDONS, 0.03)
    clean = AbandonStats(0.0, 2000, 0, 2000, 0, 0, 0.0)
    high = AbandonStats(0.0, 2000, 56, 2000, 56, 0, 0.0)  # 2.8 %
    assert pacer.risk(clean, 0.03) > at_target > pacer.risk(high, 0.03)
    # The Ofcom figure with AMD false positives counts too.
    machines = AbandonStats(0.0, 2000, 40, 2000, 40, 1000, 0.02)
    assert pacer.risk(machines, 0.03) < pacer.risk(
        AbandonStats(0.0, 2000, 40, 2000, 40, 0, 0.0), 0.03
    )


def test_risk_is_exact_for_a_small_team() -> None:
    # One spare agent, one call ringing with p = 0.5, nobody busy: the first new call
    # finds no agent only if the ringing call answers (0.5).
    assert _exact([0.5], [], 1, 0.3, 0.49, 10) == 0
    assert _exact([0.5], [], 1, 0.3, 0.5, 10) >= 1
    # Two spare agents, nothing ringing, p = 1: exactly two calls are risk-free.
    assert _exact([], [], 2, 1.0, 0.0, 10) == 2
    # A busy agent surely finishing adds one.
    assert _exact([], [1.0], 2, 1.0, 0.0, 10) == 3


@settings(max_examples=60, deadline=None)
@given(
    ringing=st.lists(st.floats(0.0, 1.0), max_size=12),
    finishing=st.lists(st.floats(0.0, 1.0), max_size=12),
    spare=st.integers(-3, 6),
    p=st.floats(0.05, 1.0),
    theta=st.floats(0.01, 0.6),
)
def test_more_risk_allowed_never_means_fewer_calls(
    ringing: list[float], finishing: list[float], spare: int, p: float, theta: float
) -> None:
    low = calls_within_risk(ringing, finishing, spare, p, theta / 2, 200)
    high = calls_within_risk(ringing, finishing, spare, p, theta, 200)
    assert 0 <= low <= high <= 200


def test_normal_law_agrees_with_the_exact_one_for_a_large_team() -> None:
    rng = random.Random(3)
    for _ in range(20):
        ringing = [rng.uniform(0.05, 0.4) for _ in range(40)]
        finishing = [rng.uniform(0.0, 0.3) for _ in range(100)]
        exact = _exact(ringing, finishing, 2, 0.3, 0.1, 300)
        normal = _normal(ringing, finishing, 2, 0.3, 0.1, 300)
        assert abs(exact - normal) <= max(2, exact // 10)
