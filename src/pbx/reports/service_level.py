"""Service level, ASA and AHT from interval counts and per-call figures.

Theory of operation
-------------------
Over a reporting interval a queue records how many calls were *offered*, how many of them
were *answered within* the service-level threshold (say 20 s) and how many *abandoned
within* it. Calls that abandon within the short-abandon threshold (say 5 s, a misdial or
an instant hang-up) are "short abandons": they count neither as offered nor as
abandoned. Calls answered or abandoned after the threshold only count as offered.

The three service-level treatments of abandoned calls (Cisco Unified CCE service level
types 1, 2 and 3), with short abandons already removed:

* abandons ignored:        answered_within / (offered − abandoned_within)
* abandons count against:  answered_within / offered
* abandons count for:      (answered_within + abandoned_within) / offered

Worked example: 100 offered, 70 answered and 10 abandoned within the threshold, 20 over
it → 77.8 % (ignored), 70 % (against), 80 % (for). With nothing offered (or, when
abandons are ignored, every call abandoned) the service level is undefined: ``None``.

ASA (average speed of answer) is the mean wait of answered calls; AHT (average handle
time) is the mean of talk + hold + wrap-up (after-call work) per handled call.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

from attrs import frozen


class AbandonTreatment(enum.Enum):
    """How calls abandoned within the service-level threshold enter the service level."""

    IGNORED = "ignored"
    """Abandoned calls leave the denominator: answered / (offered − abandoned)."""
    AGAINST = "against"
    """Abandoned calls are failures: answered / offered."""
    FOR = "for"
    """Abandoned calls are successes: (answered + abandoned) / offered."""


@frozen
class ServiceLevelCounts:
    """Counts of one queue over one reporting interval, as recorded.

    ``offered`` and ``abandoned_within`` include the ``short_abandoned`` calls; the
    figures below remove them.
    """

    answered_within: int
    """Calls answered within the service-level threshold."""
    abandoned_within: int
    """Calls abandoned within the service-level threshold (short abandons included)."""
    offered: int
    """All calls offered to the queue in the interval (short abandons included)."""
    short_abandoned: int = 0
    """Calls abandoned within the short-abandon threshold; excluded from every figure."""

    def __attrs_post_init__(self) -> None:
        if min(self.answered_within, self.abandoned_within, self.offered) < 0:
            raise ValueError("service level counts must not be negative")
        if not 0 <= self.short_abandoned <= self.abandoned_within:
            raise ValueError("short abandons must be between 0 and the abandons within")
        if self.answered_within + self.abandoned_within > self.offered:
            raise ValueError("calls answered and abandoned within exceed calls offered")

    @property
    def counted_offered(self) -> int:
        """Calls offered, short abandons excluded: the service level's population."""
        return self.offered - self.short_abandoned

    @property
    def counted_abandoned_within(self) -> int:
        """Calls abandoned within the threshold, short abandons excluded."""
        return self.abandoned_within - self.short_abandoned

    def service_level(self, treatment: AbandonTreatment) -> float | None:
        """Fraction (0..1) of counted calls handled within the threshold, or ``None``.

        ``None`` when the denominator is zero: nothing offered, or (abandons ignored)
        every counted call abandoned within the threshold.
        """
        answered = self.answered_within
        abandoned = self.counted_abandoned_within
        offered = self.counted_offered
        if treatment is AbandonTreatment.IGNORED:
            denominator = offered - abandoned
            numerator = answered
        elif treatment is AbandonTreatment.AGAINST:
            denominator = offered
            numerator = answered
        else:
            denominator = offered
            numerator = answered + abandoned
        if denominator == 0:
            return None
        return numerator / denominator


def asa(answer_delays: Sequence[float]) -> float | None:
    """Average speed of answer: mean time answered calls waited before an agent took them.

    ``answer_delays`` holds one wait (seconds, or any one unit) per answered call;
    abandoned calls do not belong here. ``None`` when no call was answered.
    """
    if len(answer_delays) == 0:
        return None
    return math.fsum(answer_delays) / len(answer_delays)


def aht(talk: Sequence[float], hold: Sequence[float], wrap_up: Sequence[float]) -> float | None:
    """Average handle time: mean of talk + hold + wrap-up over handled calls.

    The three sequences hold one figure per handled call, in the same order and unit.
    ``None`` when no call was handled.
    """
    if not len(talk) == len(hold) == len(wrap_up):
        raise ValueError("talk, hold and wrap-up times must have one figure per call")
    if len(talk) == 0:
        return None
    return math.fsum([*talk, *hold, *wrap_up]) / len(talk)
