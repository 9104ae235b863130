"""Erlang C: waiting probability, service level, ASA and staffing for workforce planning.

Theory of operation
-------------------
Calls arrive as a Poisson process and handle times are exponential with mean ``aht``;
``traffic`` A = arrival rate × AHT in Erlangs is served by ``agents`` N (the M/M/N queue,
callers never abandon). Erlang B is computed by the stable recursion
``B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1))`` and then

* P(wait) = C(N, A) = N·B / (N − A·(1 − B))
* service level within t seconds = 1 − C · exp(−(N − A) · t / AHT)
* ASA (average speed of answer) = C · AHT / (N − A)
* occupancy = A / N

With N ≤ A the queue grows without bound: P(wait) = 1, service level 0, ASA infinite.
Worked example (Call Centre Helper): 10 Erlangs, 14 agents, AHT 180 s, 20 s target →
P(wait) 0.1741, service level 88.84 %, ASA 7.84 s.
"""

from __future__ import annotations

import math


def traffic(calls: float, period: float, aht: float) -> float:
    """Offered load in Erlangs: ``calls`` in ``period`` seconds with handle time ``aht``."""
    return calls * aht / period


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of ``agents`` servers offered ``traffic`` Erlangs."""
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a caller waits (Erlang C)."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1.0 - b))


def service_level(traffic: float, agents: int, aht: float, target: float) -> float:
    """Fraction of callers answered within ``target`` seconds."""
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * target / aht)


def asa(traffic: float, agents: int, aht: float) -> float:
    """Average speed of answer in seconds (mean wait over all callers)."""
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht / (agents - traffic)


def occupancy(traffic: float, agents: int) -> float:
    """Fraction of time agents are busy."""
    return min(1.0, traffic / agents)


def agents_for(sla: float, target: float, traffic: float, aht: float) -> int:
    """The fewest agents that answer ``sla`` (0..1) of callers within ``target`` seconds."""
    agents = max(1, math.floor(traffic) + 1)
    while service_level(traffic, agents, aht, target) < sla:
        agents += 1
    return agents
