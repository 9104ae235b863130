"""Pacing: from the live state of a campaign to the number of calls to place now.

Theory of operation
-------------------
A pacer is any object with ``decide(state, now) -> PacingDecision`` (:class:`Pacer`).
The :class:`~pbx.dialer.dialer.Dialer` builds a :class:`PacingState` for a running
campaign at most every ``pace_interval`` seconds and on the events that change it, asks
the campaign's pacer, places at most that many calls (fewer if leads, lines or calling
hours run out) and logs the decision with the inputs the pacer names.

* :class:`PreviewPacer`: one offer per ready agent; nothing is dialled ahead.
* :class:`ProgressivePacer`: one call per ready agent not already covered by a call
  ringing or an answered call waiting, so every answered call has an agent: no abandons
  while agents stay.
* :class:`LinePacer` (agentless): fill the free lines.
* :class:`BlindPacer`: a fixed rate with no live state, the baseline pacing is measured
  against.
* :class:`PredictivePacer`, below.

Predictive pacing
-----------------
A call placed now reaches a person, if at all, after about ``T`` seconds (the measured
time to answer, to the end of the greeting), and then needs an agent within ``W = 2``
seconds (the abandon rule, :mod:`pbx.dialer.compliance`). At that moment the agents who
can take it are the spare ready agents ``M = ready − waiting`` plus the busy agents who
finish by then; each busy agent ``i``, ``eᵢ`` seconds into a call, does so with
``qᵢ = P(H ≤ eᵢ + T + W | H > eᵢ)`` from the measured handle-time distribution ``H``.
The calls ahead of it are the calls ringing, each reaching a person with
``pⱼ = P(person | ringing for aⱼ seconds)``, and the new calls placed before it, each
with the answer rate ``p``. So the ``k``-th new call finds no agent with probability::

    P_k = P( Σⱼ Bernoulli(pⱼ) + Binomial(k − 1, p) − Σᵢ Bernoulli(qᵢ) ≥ M )

and the pacer places the largest ``k`` with ``P_k ≤ θ`` (exactly, by convolution, for up
to 30 random terms; by the normal approximation with continuity correction beyond), and
never fewer calls than progressive pacing would. ``θ`` is the risk allowed for the last
call placed; the share of answered calls abandoned ends well below it, because the
earlier calls of a decision carry less risk.

A feedback term holds the abandon rate at the target ``t = target_share ×
max_abandon_rate``. From the campaign's windows (the worse of the FCC 30-day and the
Ofcom 24-hour figure, both with ``n₀`` pseudo-calls at the target so the first calls of
a day do not swing it)::

    r = (abandoned + n₀·t) / (live + n₀)
    θ = θ₀ · clamp(1 + K·(t − r)/t, 0, θ_max/θ₀)

which is integral action on the abandon count: if the model's abandons are off by any
factor, the window rate still settles no higher than ``t·(1 + 1/K)``, and at
``r ≥ t·(1 + 1/K)`` the pacer falls back to progressive pacing. Defaults: ``t`` is 80 %
of the limit (2.4 % of 3 %), ``θ₀ = 0.05``, ``θ_max = 0.45``, ``K = 6``, ``n₀ = 100``;
so the rate settles under 2.8 % (``benchmarks/bench_pacing.py`` measures 2.1–2.8 % over a
day across team sizes, answer rates and handle times).

Why it does not oscillate with five agents: the level-based dialers (a dial ratio
multiplied up while agents sit idle and down when calls drop) react to idle agents
before the calls they already placed are answered, overshoot, then cut back. Here every
decision counts the calls already ringing as agents' future work, the risk is computed
from the team's actual size (five agents get few calls ahead, a hundred get many), and
the feedback moves a risk threshold slowly through the windows' counts instead of the
dial level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from attrs import define, field, frozen

from pbx.dialer.campaign import Mode
from pbx.dialer.compliance import ABANDON_WINDOW, AbandonStats
from pbx.dialer.measures import AnswerDistribution, HandleTimeDistribution


@frozen
class PacingState:
    """The live inputs of one pacing decision for one campaign."""

    campaign: str
    ready: int
    """Agents ready for the campaign and holding neither a call nor a preview offer."""
    busy: tuple[float, ...]
    """Seconds each busy agent is into their current call (talk and wrap-up so far)."""
    handle_times: HandleTimeDistribution
    ringing: tuple[float, ...]
    """Seconds since dialling, for each call not answered yet."""
    waiting: int
    """Answered calls waiting for an agent (inside their two seconds)."""
    offers: int
    """Preview offers held by agents."""
    answers: AnswerDistribution
    abandon: AbandonStats
    max_abandon_rate: float
    lines_in_use: int
    max_lines: int

    @property
    def answer_rate(self) -> float:
        """The measured share of dials reaching a person."""
        return self.answers.rate

    @property
    def time_to_answer(self) -> float:
        """Measured mean seconds from dial to the end of a person's greeting."""
        return self.answers.time_to_answer

    @property
    def free_lines(self) -> int:
        """Lines the campaign may still use."""
        return max(0, self.max_lines - self.lines_in_use)


@frozen
class PacingDecision:
    """How many calls to place now, why, and the inputs that decided it."""

    calls: int
    pacer: str
    reason: str = ""
    inputs: Mapping[str, float] = field(factory=dict)


class Pacer(Protocol):
    """Decides how many calls a campaign places now; implement it to plug your own."""

    def decide(self, state: PacingState, now: float) -> PacingDecision:
        """The number of calls to place at ``now`` (seconds, monotonic) given ``state``."""
        ...


def _base_inputs(state: PacingState) -> dict[str, float]:
    return {
        "ready": state.ready,
        "busy": len(state.busy),
        "ringing": len(state.ringing),
        "waiting": state.waiting,
        "lines_in_use": state.lines_in_use,
        "max_lines": state.max_lines,
    }


def covered(state: PacingState) -> int:
    """Ready agents that no call ringing or waiting already covers."""
    return max(0, state.ready - len(state.ringing) - state.waiting)


class ProgressivePacer:
    """One call per ready agent not already covered: never an abandon while agents stay."""

    def decide(self, state: PacingState, now: float) -> PacingDecision:
        calls = min(covered(state), state.free_lines)
        return PacingDecision(
            calls, "progressive", "one call per uncovered agent", _base_inputs(state)
        )


class PreviewPacer:
    """One preview offer per ready agent without one; nothing is dialled ahead."""

    def decide(self, state: PacingState, now: float) -> PacingDecision:
        inputs = _base_inputs(state)
        inputs["offers"] = state.offers
        calls = min(state.ready, state.free_lines)
        return PacingDecision(calls, "preview", "one offer per ready agent", inputs)


class LinePacer:
    """Agentless: fill the campaign's free lines."""

    def decide(self, state: PacingState, now: float) -> PacingDecision:
        return PacingDecision(state.free_lines, "lines", "fill free lines", _base_inputs(state))


@define
class BlindPacer:
    """A fixed ``rate`` of calls per second, ignoring agents and answers (the baseline)."""

    rate: float
    _credit: float = 0.0
    _last: float | None = None

    def decide(self, state: PacingState, now: float) -> PacingDecision:
        if self._last is not None:
            self._credit += self.rate * max(0.0, now - self._last)
        self._last = now
        calls = min(int(self._credit), state.free_lines)
        self._credit -= calls
        # Calls a full trunk could not take are dropped, not saved up.
        self._credit = min(self._credit, 1.0)
        inputs = _base_inputs(state)
        inputs["rate"] = self.rate
        return PacingDecision(calls, "blind", "fixed rate", inputs)


EXACT_TERMS = 30
"""Up to this many random terms the risk is computed exactly, beyond by the normal law."""


@define
class PredictivePacer:
    """Dials ahead of agents becoming free under an abandon limit (module docstring)."""

    target_share: float = 0.8
    """The abandon rate aimed at, as a share of the campaign's maximum."""
    base_risk: float = 0.05
    """θ₀: the chance that the last call of a decision finds no agent, at the target."""
    max_risk: float = 0.45
    """θ_max: the highest risk the feedback may allow."""
    gain: float = 6.0
    """K: how hard the feedback pulls the abandon rate back to the target."""
    prior_calls: float = 100.0
    """n₀: pseudo-calls at the target rate added to each window's counts."""

    def risk(self, abandon: AbandonStats, limit: float) -> float:
        """θ for the windows' figures (see the module docstring)."""
        target = self.target_share * limit
        n0 = self.prior_calls
        fp = abandon.estimated_false_positives_24h
        r30 = (abandon.abandoned_30d + n0 * target) / (abandon.live_30d + n0)
        r24 = (abandon.abandoned_24h + fp + n0 * target) / (abandon.live_24h + fp + n0)
        r = max(r30, r24)
        scale = 1.0 + self.gain * (target - r) / target
        return max(0.0, min(self.max_risk, self.base_risk * scale))

    def decide(self, state: PacingState, now: float) -> PacingDecision:
        inputs = _base_inputs(state)
        floor = covered(state)
        theta = self.risk(state.abandon, state.max_abandon_rate)
        horizon = state.time_to_answer + ABANDON_WINDOW
        p = state.answer_rate
        answers = state.answers
        ringing = [answers.answer_probability(age) for age in state.ringing]
        handle = state.handle_times
        finishing = [handle.finish_probability(e, horizon) for e in state.busy]
        spare = state.ready - state.waiting
        calls = floor
        if theta > 0.0 and state.free_lines > floor:
            calls = max(
                floor, calls_within_risk(ringing, finishing, spare, p, theta, state.free_lines)
            )
        calls = min(calls, state.free_lines)
        inputs.update(
            {
                "answer_rate": p,
                "time_to_answer": state.time_to_answer,
                "handle_time": handle.mean,
                "expected_answers": sum(ringing),
                "expected_free": spare + sum(finishing),
                "abandon_24h": state.abandon.rate_24h,
                "abandon_30d": state.abandon.rate_30d,
                "risk": theta,
            }
        )
        reason = "progressive floor" if calls == floor else "within risk"
        return PacingDecision(calls, "predictive", reason, inputs)


def calls_within_risk(
    ringing: Sequence[float],
    finishing: Sequence[float],
    spare: int,
    p: float,
    theta: float,
    limit: int,
) -> int:
    """The most new calls (at most ``limit``) whose last one finds no agent with ≤ ``theta``.

    ``ringing``: each ringing call's chance of reaching a person; ``finishing``: each busy
    agent's chance of being free in time; ``spare``: ready agents left after the answered
    calls waiting; ``p``: a new call's chance of reaching a person.
    """
    if p <= 0.0:
        return 0
    if len(ringing) + len(finishing) <= EXACT_TERMS:
        return _exact(ringing, finishing, spare, p, theta, limit)
    return _normal(ringing, finishing, spare, p, theta, limit)


def _exact(
    ringing: Sequence[float],
    finishing: Sequence[float],
    spare: int,
    p: float,
    theta: float,
    limit: int,
) -> int:
    """Convolution of the exact law of (answers ahead − agents freed), index offset by
    the number of busy agents."""
    offset = len(finishing)
    pmf = [0.0] * (offset + len(ringing) + limit + 1)
    pmf[offset] = 1.0
    hi = offset  # highest index with mass
    lo = offset
    for q in finishing:
        for i in range(lo - 1, hi):
            pmf[i] = pmf[i] * (1.0 - q) + pmf[i + 1] * q
        pmf[hi] *= 1.0 - q
        lo -= 1
    for pj in ringing:
        hi = _add_bernoulli(pmf, lo, hi, pj)
    k = 0
    while k < limit:
        # P(answers ahead − freed ≥ spare), i.e. index ≥ spare + offset.
        start = max(lo, spare + offset)
        tail = sum(pmf[start : hi + 1]) if start <= hi else 0.0
        if tail > theta:
            break
        k += 1
        hi = _add_bernoulli(pmf, lo, hi, p)
    return k


def _add_bernoulli(pmf: list[float], lo: int, hi: int, p: float) -> int:
    """Convolve ``pmf[lo:hi+1]`` in place with a +1 step of chance ``p``; the new ``hi``."""
    pmf[hi + 1] = pmf[hi] * p
    for i in range(hi, lo, -1):
        pmf[i] = pmf[i] * (1.0 - p) + pmf[i - 1] * p
    pmf[lo] *= 1.0 - p
    return hi + 1


def _normal(
    ringing: Sequence[float],
    finishing: Sequence[float],
    spare: int,
    p: float,
    theta: float,
    limit: int,
) -> int:
    mean = sum(ringing) - sum(finishing)
    var = sum(x * (1.0 - x) for x in ringing) + sum(x * (1.0 - x) for x in finishing)
    step_var = p * (1.0 - p)
    k = 0
    while k < limit:
        sd = math.sqrt(var)
        if sd > 0.0:
            tail = 0.5 * math.erfc((spare - 0.5 - mean) / (sd * math.sqrt(2.0)))
        else:
            tail = 1.0 if mean >= spare else 0.0
        if tail > theta:
            break
        k += 1
        mean += p
        var += step_var
    return k


def default_pacer(mode: Mode) -> Pacer:
    """The pacer a campaign of ``mode`` uses unless one is given."""
    if mode is Mode.PREVIEW:
        return PreviewPacer()
    if mode is Mode.PROGRESSIVE:
        return ProgressivePacer()
    if mode is Mode.PREDICTIVE:
        return PredictivePacer()
    return LinePacer()
