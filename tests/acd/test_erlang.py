"""Erlang C against the worked example, and the distributor's EWT against Erlang C."""

from __future__ import annotations

import math

import pytest

from pbx.acd import erlang
from pbx.acd import events as ev
from pbx.acd.models import QueueConfig

from .helpers import agents, distributor


def test_worked_example_10_erlangs_14_agents() -> None:
    a = erlang.traffic(calls=100, period=1800, aht=180)
    assert a == 10.0
    assert erlang.erlang_c(a, 14) == pytest.approx(0.1741, abs=5e-5)
    assert erlang.service_level(a, 14, aht=180, target=20) == pytest.approx(0.8884, abs=5e-5)
    assert erlang.asa(a, 14, aht=180) == pytest.approx(7.84, abs=0.01)
    assert erlang.occupancy(a, 14) == pytest.approx(0.714, abs=5e-4)


def test_13_agents_just_miss_80_percent() -> None:
    assert erlang.service_level(10.0, 13, aht=180, target=20) == pytest.approx(0.7956, abs=5e-5)
    assert erlang.agents_for(0.80, target=20, traffic=10.0, aht=180) == 14


def test_overloaded_queue_never_answers_in_time() -> None:
    assert erlang.erlang_c(10.0, 10) == 1.0
    assert erlang.service_level(10.0, 9, aht=180, target=20) == 0.0
    assert erlang.asa(10.0, 10, aht=180) == math.inf
    assert erlang.erlang_b(0.0, 3) == 0.0


def test_ewt_is_the_mm_n_expectation_and_averages_to_erlang_c_asa() -> None:
    n, aht = 14, 180.0
    q = QueueConfig("sales", default_aht=aht)
    d = distributor([q], agents(n))
    for i in range(n):
        d.handle(ev.CallQueued(f"busy{i}", "sales"), 0.0)
        d.handle(ev.OfferAccepted(f"busy{i}", f"a{i + 1}"), 0.0)
    waiting = 300
    for i in range(waiting):
        d.handle(ev.CallQueued(f"w{i}", "sales"), 1.0 + i)
    ewts = [d.ewt(f"w{i}") for i in range(waiting)]
    # The k-th caller waits for k departures among n busy agents: k × AHT / n.
    assert ewts[:3] == pytest.approx([aht / n, 2 * aht / n, 3 * aht / n])
    # A waiting arrival finds j callers ahead with probability (1 − ρ) ρ^j (M/M/n).
    traffic = 10.0
    rho = traffic / n
    mean_ewt_given_wait = sum((1 - rho) * rho**j * ewts[j] for j in range(waiting))
    expected = erlang.asa(traffic, n, aht) / erlang.erlang_c(traffic, n)
    assert mean_ewt_given_wait == pytest.approx(expected, rel=1e-6)
    assert erlang.erlang_c(traffic, n) * mean_ewt_given_wait == pytest.approx(7.84, abs=0.01)
