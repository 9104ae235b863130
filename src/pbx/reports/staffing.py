"""Erlang A (M/M/n+M) performance and staffing for a service-level target.

Theory of operation
-------------------
Calls arrive as a Poisson process at rate λ (``arrival_rate``), handle times are
exponential with mean 1/μ (``aht``), and every caller has an exponential patience with
mean 1/θ (``patience``): a caller still waiting when patience runs out abandons. ``n``
agents serve the queue (Palm's model; Garnett, Mandelbaum & Reiman 2002, "Designing a
call center with impatient customers"). All times are in one unit of the caller's choice
(seconds or minutes); λ is per that unit.

With x = nμ/θ, y = λ/θ and ρ = λ/(nμ), the function

    A(x, y) = Σ_{j≥0} y^j / ((x+1)(x+2)…(x+j)) = (x·e^y / y^x) · γ(x, y)

(γ the lower incomplete gamma function) weighs the queue lengths a caller can find on
arrival. With E = Erlang B for n servers offered λ/μ Erlangs:

* P(wait)              = A·E / (1 + (A − 1)·E)
* P(abandon | wait)    = 1/(ρA) + 1 − 1/ρ  (= mean queue length met, over y)
* P(abandon)           = P(abandon | wait) · P(wait)
* ASA (mean wait)      = P(abandon) / θ  (Little's law on the abandoning callers)
* occupancy            = λ·(1 − P(abandon)) / (nμ)

For the service level within t, let z = y·e^{−θt}; the offered wait V (the wait of a
caller who never gives up) has P(V > t) = P(wait) · γ(x, z)/γ(x, y), and the fraction
of all callers answered within t is

    P(answered, wait ≤ t) = 1 − P(wait) + P(wait) · (γ(x+1, y) − γ(x+1, z)) / (y·γ(x, y)).

Callers who abandon within t are P(wait ≤ t) − P(answered, wait ≤ t) with
P(wait ≤ t) = 1 − P(V > t)·e^{−θt}; the three treatments of abandons then follow
:mod:`pbx.reports.service_level`. A is computed by its series when y < x + 1 and from the
upper incomplete gamma function's continued fraction otherwise (Numerical Recipes §6.2),
always in log space, so heavy loads and long patience neither overflow nor cancel.
As patience grows the model tends to Erlang C (:mod:`pbx.acd.erlang`).

Published example (100 calls per 30 min, AHT 3 min, patience 5 min, 14 agents):
P(wait) 0.14526, P(abandon) 0.013984, occupancy 0.704297, ASA 0.069919 min.

Staffing: :func:`agents_needed` finds the fewest agents on the phones that meet a
service-level target, then divides by (1 − shrinkage) and rounds up to get the agents to
schedule.
"""

from __future__ import annotations

import math

from attrs import frozen

from pbx.acd import erlang
from pbx.reports.service_level import AbandonTreatment

_EPS = 1e-17
_TINY = 1e-300
# Slack when rounding staff up, so 14 / (1 − 0.3) schedules 20 agents, not 21.
_ROUNDING_SLACK = 1e-9


@frozen
class ErlangA:
    """Steady-state figures of an M/M/n+M queue, per offered call."""

    p_wait: float
    """Probability that a caller finds every agent busy and waits (0..1)."""
    p_abandon: float
    """Probability that a caller hangs up before being answered (0..1)."""
    asa: float
    """Mean wait over all callers, answered or abandoned, in the model's time unit."""
    occupancy: float
    """Fraction of agent time spent handling calls (0..1)."""


def _log_a(x: float, y: float) -> tuple[float, float]:
    """``(log A(x, y), P(abandon | wait))`` for x = nμ/θ > 0, y = λ/θ ≥ 0."""
    if y < x + 1.0:
        # Terms t_j = Π y/(x+k) shrink from the start; P(ab | wait) = Σ j·t_j / (y·Σ t_j).
        total, weighted, term, j = 1.0, 0.0, 1.0, 0
        while True:
            j += 1
            term *= y / (x + j)
            total += term
            weighted += j * term
            if term < _EPS * total and j * term <= _EPS * weighted:
                break
        p_abandon_wait = weighted / (y * total) if y > 0.0 else 0.0
        return math.log(total), p_abandon_wait
    # Upper incomplete gamma Γ(x, y) = e^{−y}·y^x·h by modified Lentz (NR gcf).
    b = y + 1.0 - x
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - x)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    log_upper = -y + x * math.log(y) + math.log(h)
    log_gamma = math.lgamma(x)
    log_lower = log_gamma + math.log1p(-math.exp(log_upper - log_gamma))
    log_a = math.log(x) + y - x * math.log(y) + log_lower
    rho = y / x
    # ρ > 1 here, so neither term can cancel.
    p_abandon_wait = 1.0 - 1.0 / rho + math.exp(-log_a) / rho
    return log_a, p_abandon_wait


def _check(arrival_rate: float, aht: float, patience: float, agents: int) -> None:
    if arrival_rate < 0.0:
        raise ValueError("arrival rate must not be negative")
    if aht <= 0.0:
        raise ValueError("mean handle time must be positive")
    if patience <= 0.0:
        raise ValueError("mean patience must be positive")
    if agents < 1:
        raise ValueError("Erlang A needs at least one agent")


def _p_wait(arrival_rate: float, aht: float, agents: int, log_a: float) -> float:
    blocking = erlang.erlang_b(arrival_rate * aht, agents)
    if blocking <= 0.0:
        return 0.0
    if blocking >= 1.0:
        return 1.0
    # A·E / (1 + (A − 1)·E) = 1 / (1 + (1 − E) / (A·E)), safe for huge A.
    return 1.0 / (1.0 + math.exp(math.log1p(-blocking) - log_a - math.log(blocking)))


def erlang_a(*, arrival_rate: float, aht: float, patience: float, agents: int) -> ErlangA:
    """P(wait), P(abandon), ASA and occupancy of ``agents`` serving impatient callers.

    ``arrival_rate`` is calls per time unit; ``aht`` and ``patience`` are the mean handle
    time and mean patience in that unit.
    """
    _check(arrival_rate, aht, patience, agents)
    x = agents * patience / aht
    y = arrival_rate * patience
    log_a, p_abandon_wait = _log_a(x, y)
    p_wait = _p_wait(arrival_rate, aht, agents, log_a)
    p_abandon = min(1.0, max(0.0, p_abandon_wait)) * p_wait
    # ASA = P(abandon) / θ; P(abandon | wait) comes from a sum of positive terms, so
    # multiplying by a long patience does not magnify a cancellation error.
    asa = p_abandon * patience
    occupancy = arrival_rate * (1.0 - p_abandon) * aht / agents
    return ErlangA(p_wait=p_wait, p_abandon=p_abandon, asa=asa, occupancy=occupancy)


def erlang_a_service_level(
    *,
    arrival_rate: float,
    aht: float,
    patience: float,
    agents: int,
    target: float,
    treatment: AbandonTreatment = AbandonTreatment.AGAINST,
) -> float:
    """Service level (0..1) within ``target`` time units under Erlang A.

    With abandons counted ``AGAINST`` this is the fraction of all callers answered within
    ``target``; ``FOR`` adds callers who abandon within it; ``IGNORED`` divides the
    answered fraction by the callers who did not abandon within ``target``.
    """
    _check(arrival_rate, aht, patience, agents)
    if target < 0.0:
        raise ValueError("service level target must not be negative")
    x = agents * patience / aht
    y = arrival_rate * patience
    log_a, p_abandon_wait = _log_a(x, y)
    p_wait = _p_wait(arrival_rate, aht, agents, log_a)
    theta_t = target / patience
    z = y * math.exp(-theta_t)
    y_minus_z = -y * math.expm1(-theta_t)
    log_a_z, _ = _log_a(x, z)
    log_a1_z, _ = _log_a(x + 1.0, z)
    # P(V > t) / P(wait) = γ(x, z) / γ(x, y)
    v_over = math.exp(log_a_z - log_a - agents * target / aht + y_minus_z)
    # γ(x+1, z) / (y·γ(x, y))
    served_after = (x / (x + 1.0)) * math.exp(
        log_a1_z - log_a - agents * target / aht - theta_t + y_minus_z
    )
    served_given_wait = 1.0 - min(1.0, max(0.0, p_abandon_wait))
    answered = 1.0 - p_wait + p_wait * max(0.0, served_given_wait - served_after)
    waited_at_most = 1.0 - p_wait * min(1.0, v_over) * math.exp(-theta_t)
    abandoned = max(0.0, waited_at_most - answered)
    if treatment is AbandonTreatment.AGAINST:
        return answered
    if treatment is AbandonTreatment.FOR:
        return min(1.0, answered + abandoned)
    remaining = 1.0 - abandoned
    return min(1.0, answered / remaining) if remaining > 0.0 else 0.0


def agents_needed(
    *,
    arrival_rate: float,
    aht: float,
    sla: float,
    target: float,
    shrinkage: float = 0.0,
    patience: float | None = None,
    treatment: AbandonTreatment = AbandonTreatment.AGAINST,
) -> int:
    """Agents to schedule so that ``sla`` (0..1) of callers are served within ``target``.

    With ``patience`` None callers never abandon (Erlang C); otherwise callers have that
    mean patience (Erlang A) and ``treatment`` says how abandons within ``target`` count.
    The fewest agents on the phones meeting the target are divided by
    (1 − ``shrinkage``), the fraction of paid time lost to breaks, training and absence,
    and rounded up. Times are in one unit; ``arrival_rate`` is calls per that unit.
    """
    if not 0.0 < sla < 1.0:
        raise ValueError("service level objective must be between 0 and 1, exclusive")
    if not 0.0 <= shrinkage < 1.0:
        raise ValueError("shrinkage must be at least 0 and less than 1")
    if patience is None:
        if arrival_rate < 0.0 or aht <= 0.0:
            raise ValueError("arrival rate must not be negative and handle time positive")
        on_phones = erlang.agents_for(sla, target=target, traffic=arrival_rate * aht, aht=aht)
    else:

        def meets(agents: int) -> bool:
            level = erlang_a_service_level(
                arrival_rate=arrival_rate,
                aht=aht,
                patience=patience,
                agents=agents,
                target=target,
                treatment=treatment,
            )
            return level >= sla

        # The service level rises with every agent added: double until the target is
        # met, then bisect between the last miss and the first hit.
        hit = 1
        while not meets(hit):
            hit *= 2
        miss = hit // 2
        while hit - miss > 1:
            middle = (hit + miss) // 2
            if meets(middle):
                hit = middle
            else:
                miss = middle
        on_phones = hit
    return math.ceil(on_phones / (1.0 - shrinkage) - _ROUNDING_SLACK)
