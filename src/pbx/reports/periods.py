"""Reporting intervals: the edges of 15/30/60-minute, daily and weekly intervals.

A report covers a period ``[from, to)`` cut into intervals. Minute intervals start at
``from`` and step by wall-clock minutes; days and weeks start at local midnight (weeks on
Monday) in the period's time zone, so a day is 23 or 25 hours across a DST change. The
edges are epoch seconds; :meth:`Intervals.index` finds the interval of an instant.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from attrs import frozen

INTERVALS = ("15", "30", "60", "day", "week")
"""The interval names a report accepts."""


class PeriodError(ValueError):
    """A period or interval that cannot be reported on (the message names the field)."""


@frozen
class Intervals:
    """The edges of consecutive intervals: interval ``i`` is ``[edges[i], edges[i+1])``."""

    edges: tuple[float, ...]
    name: str = ""

    def __attrs_post_init__(self) -> None:
        if len(self.edges) < 2:
            raise PeriodError("a period needs at least one interval")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise PeriodError("interval edges must increase")

    @property
    def start(self) -> float:
        return self.edges[0]

    @property
    def end(self) -> float:
        return self.edges[-1]

    def __len__(self) -> int:
        return len(self.edges) - 1

    def index(self, t: float) -> int | None:
        """The interval holding ``t``, or ``None`` outside the period."""
        if t < self.edges[0] or t >= self.edges[-1]:
            return None
        return bisect.bisect_right(self.edges, t) - 1

    def bounds(self, i: int) -> tuple[float, float]:
        return self.edges[i], self.edges[i + 1]


MAX_INTERVALS = 20_000
"""More intervals than this is a mistake (a year in 15-minute intervals is 35,040)."""


def intervals(start: datetime, end: datetime, interval: str | int) -> Intervals:
    """The intervals of ``[start, end)`` (aware datetimes) named by ``interval``.

    ``interval`` is minutes (15, 30, 60; any divisor of a day is accepted), ``day`` or
    ``week``. The last interval is cut at ``end``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise PeriodError("from and to need a time zone (an offset like +00:00)")
    if end <= start:
        raise PeriodError("to must be after from")
    name = str(interval)
    edges: list[float] = []
    if name in ("day", "week"):
        local = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if name == "week":
            local -= timedelta(days=local.weekday())
        step = timedelta(days=1 if name == "day" else 7)
        t = local
        while t < end:
            edges.append(max(t, start).timestamp())
            t = _wall_add(t, step)
    else:
        try:
            minutes = int(name)
        except ValueError:
            raise PeriodError(
                f"interval must be one of {', '.join(INTERVALS)}, not {name!r}"
            ) from None
        if minutes <= 0 or (24 * 60) % minutes:
            raise PeriodError(f"interval {minutes} minutes does not divide a day")
        first = start.timestamp()
        step_s = minutes * 60.0
        count = int((end.timestamp() - first) // step_s) + 1
        if count > MAX_INTERVALS:
            raise PeriodError(f"{count} intervals of {minutes} minutes: choose a longer interval")
        edges = [first + k * step_s for k in range(count) if first + k * step_s < end.timestamp()]
    if len(edges) > MAX_INTERVALS:
        raise PeriodError(f"{len(edges)} intervals: choose a shorter period")
    edges.append(end.timestamp())
    return Intervals(tuple(edges), name)


def _wall_add(t: datetime, step: timedelta) -> datetime:
    """``t`` plus whole days on the wall clock of its zone (local midnight stays midnight)."""
    naive = t.replace(tzinfo=None) + step
    tz = t.tzinfo
    return naive.replace(tzinfo=tz)
