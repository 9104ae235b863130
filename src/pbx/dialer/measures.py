"""What the dialer measures for pacing: answer rate, time to answer, handle times.

Theory of operation
-------------------
Each campaign keeps rolling samples of its last few hundred dials and handled calls
(:class:`AnswerTimes`, :class:`HandleTimes`) and hands pacers frozen snapshots of them
(:class:`AnswerDistribution`, :class:`HandleTimeDistribution`), rebuilt only after the
samples changed. Until enough was measured the campaign's configured expectations count
as a few pseudo-samples, so the first decisions of a day are neither blind nor wild.

*Answer model.* Each finished dial is ``(seconds from dial to outcome, reached a person)``;
for a person the time runs to the end of their greeting (the moment an agent is needed).
The answer rate is the smoothed share of people. A call still ringing after ``age``
seconds will reach a person with probability::

    P(person | no outcome by age) = (A(age) + w·r₀) / (A(age) + F(age) + w)

where ``A(age)`` and ``F(age)`` count the people and the other outcomes that took longer
than ``age`` — a call ringing for 25 s of a 30 s ring timeout is unlikely to be answered.

*Handle times* are agents' busy periods (talk plus wrap-up, as the shell reports them).
A busy agent ``e`` seconds into a call finishes within ``h`` more seconds with::

    P(T ≤ e + h | T > e) = (n(e) − n(e + h) + w·q₀) / (n(e) + w),   q₀ = 1 − exp(−h / mean)

with ``n(x)`` the samples longer than ``x`` — the empirical conditional, leaning on the
memoryless estimate where the sample thins out.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections import deque

from attrs import frozen

SAMPLE_SIZE = 400
"""Dials (and handled calls) in each rolling sample."""
PRIOR_WEIGHT = 20.0
"""Pseudo-samples the configured expectations are worth."""
_TAIL_WEIGHT = 3.0
_DEFAULT_TIME_TO_ANSWER = 10.0


@frozen
class AnswerDistribution:
    """How dials end: who reaches a person, after how long (a frozen snapshot)."""

    person_times: tuple[float, ...]
    """Sorted seconds from dial to the greeting's end, for dials that reached a person."""
    other_times: tuple[float, ...]
    """Sorted seconds from dial to the outcome, for every other dial."""
    prior_rate: float
    rate: float
    """The share of dials that reach a person."""
    time_to_answer: float
    """Mean seconds from dial to the end of a person's greeting."""

    @classmethod
    def of(
        cls,
        person_times: tuple[float, ...],
        other_times: tuple[float, ...],
        prior_rate: float,
        prior_time: float = _DEFAULT_TIME_TO_ANSWER,
    ) -> AnswerDistribution:
        """The distribution of two sorted samples, smoothed by the priors."""
        people = len(person_times)
        total = people + len(other_times)
        rate = (people + PRIOR_WEIGHT * prior_rate) / (total + PRIOR_WEIGHT)
        w = PRIOR_WEIGHT / 4
        time = (sum(person_times) + w * prior_time) / (people + w)
        return cls(person_times, other_times, prior_rate, rate, time)

    def answer_probability(self, age: float) -> float:
        """The chance that a call ringing for ``age`` seconds will reach a person."""
        people = len(self.person_times) - bisect_right(self.person_times, age)
        others = len(self.other_times) - bisect_right(self.other_times, age)
        return (people + _TAIL_WEIGHT * self.prior_rate) / (people + others + _TAIL_WEIGHT)


@frozen
class HandleTimeDistribution:
    """Agents' busy periods (talk plus wrap-up), as a frozen sorted sample."""

    samples: tuple[float, ...]
    mean: float
    """Mean handle time, seconds."""

    @classmethod
    def of(cls, samples: tuple[float, ...], prior_mean: float) -> HandleTimeDistribution:
        """The distribution of a sorted sample, its mean smoothed by ``prior_mean``."""
        w = PRIOR_WEIGHT / 4
        return cls(samples, (sum(samples) + w * prior_mean) / (len(samples) + w))

    def finish_probability(self, elapsed: float, horizon: float) -> float:
        """The chance that a call ``elapsed`` seconds old ends within ``horizon`` more."""
        samples = self.samples
        n = len(samples)
        alive = n - bisect_right(samples, elapsed)
        later = n - bisect_right(samples, elapsed + horizon)
        q0 = 1.0 - math.exp(-horizon / self.mean)
        return (alive - later + _TAIL_WEIGHT * q0) / (alive + _TAIL_WEIGHT)


class AnswerTimes:
    """A rolling sample of finished dials; :meth:`snapshot` freezes it for a pacer."""

    def __init__(self, prior_rate: float, size: int = SAMPLE_SIZE) -> None:
        self._prior = prior_rate
        self._size = size
        self._order: deque[tuple[float, bool]] = deque()
        self._people: list[float] = []
        self._others: list[float] = []
        self._snapshot: AnswerDistribution | None = None

    def record(self, seconds: float, person: bool) -> None:
        """One dial ended after ``seconds``, reaching a person or not."""
        self._order.append((seconds, person))
        insort(self._people if person else self._others, seconds)
        if len(self._order) > self._size:
            old, was_person = self._order.popleft()
            sample = self._people if was_person else self._others
            del sample[bisect_right(sample, old) - 1]
        self._snapshot = None

    def snapshot(self) -> AnswerDistribution:
        """The current sample, frozen."""
        if self._snapshot is None:
            self._snapshot = AnswerDistribution.of(
                tuple(self._people), tuple(self._others), self._prior
            )
        return self._snapshot


class HandleTimes:
    """A rolling sample of agents' busy periods; :meth:`snapshot` freezes it for a pacer."""

    def __init__(self, prior_mean: float, size: int = SAMPLE_SIZE) -> None:
        self._prior = prior_mean
        self._size = size
        self._order: deque[float] = deque()
        self._sorted: list[float] = []
        self._snapshot: HandleTimeDistribution | None = None

    def record(self, seconds: float) -> None:
        """One busy period lasted ``seconds``."""
        self._order.append(seconds)
        insort(self._sorted, seconds)
        if len(self._order) > self._size:
            old = self._order.popleft()
            del self._sorted[bisect_right(self._sorted, old) - 1]
        self._snapshot = None

    def snapshot(self) -> HandleTimeDistribution:
        """The current sample, frozen."""
        if self._snapshot is None:
            self._snapshot = HandleTimeDistribution.of(tuple(self._sorted), self._prior)
        return self._snapshot
