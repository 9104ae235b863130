"""Fairness over 10,000 simulated calls: no agent starves.

Handle times are exponential, so an agent who drew long calls takes fewer of them: the
even share that longest-idle guarantees is of *work* (talk time, i.e. occupancy), while
least-calls evens out the number of calls.
"""

from __future__ import annotations

import random
import statistics

from pbx.acd.models import QueueConfig

from .helpers import agents, distributor
from .sim import run_day


def shares(strategy: str) -> tuple[list[int], list[float]]:
    """Calls and talk seconds per agent: 20 agents, 17 Erlangs offered (85 % occupancy)."""
    d = distributor([QueueConfig("sales", strategy=strategy)], agents(20))
    handled, waits = run_day(d, "sales", 10_000, rate=17 / 180, aht=180.0, rng=random.Random(3))
    assert len(waits) == 10_000
    ids = [f"a{i}" for i in range(1, 21)]
    return [handled[a] for a in ids], [d.agent(a).talk_today for a in ids]


def spread(values: list[int] | list[float]) -> float:
    """The largest relative distance from the mean."""
    mean = statistics.fmean(values)
    return max(abs(v - mean) / mean for v in values)


def test_longest_idle_shares_the_work_evenly() -> None:
    calls, talk = shares("longest_idle")
    assert sum(calls) == 10_000
    assert spread(talk) < 0.03
    assert spread(calls) < 0.10
    assert min(calls) > 450


def test_least_calls_shares_the_calls_evenly() -> None:
    calls, _ = shares("least_calls")
    assert spread(calls) < 0.02


def test_linear_strategy_is_unfair_by_design() -> None:
    calls, talk = shares("linear")
    assert calls[0] > 1.5 * calls[-1]
    assert spread(talk) > 0.2
