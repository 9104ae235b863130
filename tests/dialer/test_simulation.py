"""Campaign days on a simulated clock with the real ACD: the abandon limit holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from pbx.dialer.campaign import Mode

from .sim import run_day


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(("agents", "seed"), [(3, 1), (5, 2), (12, 3)])
def test_progressive_never_abandons(agents: int, seed: int) -> None:
    day = run_day(Mode.PROGRESSIVE, agents, answer=0.3, handle=120.0, hours=2.0, seed=seed)
    assert day.live > 50
    assert day.abandoned == 0
    assert day.max_lines_seen <= 2 * agents + 20


@pytest.mark.parametrize(
    ("agents", "answer", "handle", "seed"),
    [(5, 0.3, 180.0, 1), (5, 0.3, 180.0, 2), (5, 0.6, 300.0, 3), (8, 0.2, 120.0, 4)],
)
def test_predictive_holds_the_abandon_rate_over_a_day(
    agents: int, answer: float, handle: float, seed: int
) -> None:
    day = run_day(Mode.PREDICTIVE, agents, answer, handle, hours=6.0, seed=seed)
    assert day.live > 300
    assert day.abandon_rate <= 0.03


def test_predictive_keeps_agents_busier_than_progressive() -> None:
    predictive = run_day(Mode.PREDICTIVE, 15, 0.3, 180.0, hours=3.0, seed=7)
    progressive = run_day(Mode.PROGRESSIVE, 15, 0.3, 180.0, hours=3.0, seed=7)
    assert predictive.abandon_rate <= 0.03
    assert predictive.occupancy > progressive.occupancy + 0.05
