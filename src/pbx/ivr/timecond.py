"""Business hours: weekday time ranges and holidays in a time zone.

Theory of operation: a :class:`Schedule` holds, per weekday, the minutes of the local
day during which the contact center is open (``"09:00-17:30"``, several ranges per
day allowed, ``"24:00"`` as the end of the day), a list of holidays (``"2024-12-25"``
for one date, ``"12-25"`` for every year) and an IANA time zone.  The wall-clock epoch
of the call is converted with :mod:`zoneinfo`, so daylight-saving switches are handled
by the tz database, never by fixed offsets: the same UTC instant can be before opening
on one side of a switch and after it on the other.  :meth:`Schedule.state` answers
``"holiday"``, ``"open"`` or ``"closed"`` (a holiday wins over the hours).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import field, frozen

__all__ = ["WEEKDAYS", "Schedule", "TimeSpecError", "parse_range"]

#: Weekday keys, Monday first (``datetime.weekday()`` order).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_DATE = re.compile(r"^(?:(\d{4})-)?(\d{2})-(\d{2})$")


class TimeSpecError(ValueError):
    """A business-hours specification is malformed; the message names the bad part."""


def parse_range(text: str) -> tuple[int, int]:
    """``"09:00-17:30"`` → ``(540, 1050)`` minutes of the local day."""
    m = _RANGE.match(text.strip())
    if m is None:
        raise TimeSpecError(f"'{text}' is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise TimeSpecError(f"'{text}' is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise TimeSpecError(f"'{text}' ends before it starts")
    return start, end


def _parse_holiday(text: str) -> tuple[int | None, int, int]:
    m = _DATE.match(text.strip())
    if m is None:
        raise TimeSpecError(f"holiday '{text}' is not a date (YYYY-MM-DD or MM-DD)")
    year = int(m.group(1)) if m.group(1) else None
    month, day = int(m.group(2)), int(m.group(3))
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: 02-29 is a valid yearly date
    except ValueError:
        raise TimeSpecError(f"holiday '{text}' is not a date (YYYY-MM-DD or MM-DD)") from None
    return year, month, day


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeSpecError(f"unknown time zone '{name}'") from None


@frozen
class Schedule:
    """Opening hours per weekday, holidays and the time zone they are written in."""

    #: IANA time zone name, e.g. ``"America/New_York"``.
    tz: str = "UTC"
    #: Weekday (``"mon"`` … ``"sun"``) → ``"HH:MM-HH:MM"`` ranges; a missing day is closed.
    hours: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: ``"YYYY-MM-DD"`` (that date) or ``"MM-DD"`` (every year).
    holidays: tuple[str, ...] = ()
    _zone: ZoneInfo = field(init=False, eq=False, repr=False)
    _minutes: dict[int, tuple[tuple[int, int], ...]] = field(init=False, eq=False, repr=False)
    _holidays: tuple[tuple[int | None, int, int], ...] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        minutes: dict[int, tuple[tuple[int, int], ...]] = {}
        for day, ranges in self.hours:
            if day not in WEEKDAYS:
                raise TimeSpecError(f"unknown weekday '{day}' (expected one of mon … sun)")
            try:
                minutes[WEEKDAYS.index(day)] = tuple(parse_range(r) for r in ranges)
            except TimeSpecError as exc:
                raise TimeSpecError(f"hours of '{day}': {exc}") from None
        object.__setattr__(self, "_zone", _zone(self.tz))
        object.__setattr__(self, "_minutes", minutes)
        object.__setattr__(self, "_holidays", tuple(_parse_holiday(h) for h in self.holidays))

    @classmethod
    def of(
        cls,
        tz: str,
        hours: Mapping[str, str | Sequence[str]],
        holidays: Sequence[str] = (),
    ) -> Schedule:
        """Build from a mapping: ``{"mon": "09:00-17:00", "sat": ["10:00-12:00"]}``."""
        pairs = tuple(
            (day, (ranges,) if isinstance(ranges, str) else tuple(ranges))
            for day, ranges in hours.items()
        )
        return cls(tz, tuple(sorted(pairs, key=lambda p: _day_order(p[0]))), tuple(holidays))

    def local(self, wall: float) -> datetime:
        """The local date and time of the epoch ``wall`` in this schedule's zone."""
        return datetime.fromtimestamp(wall, self._zone)

    def state(self, wall: float) -> str:
        """``"holiday"``, ``"open"`` or ``"closed"`` at the wall-clock epoch ``wall``."""
        t = self.local(wall)
        for year, month, day in self._holidays:
            if (year is None or year == t.year) and month == t.month and day == t.day:
                return "holiday"
        minute = t.hour * 60 + t.minute
        for start, end in self._minutes.get(t.weekday(), ()):
            if start <= minute < end:
                return "open"
        return "closed"


def _day_order(day: str) -> int:
    return WEEKDAYS.index(day) if day in WEEKDAYS else len(WEEKDAYS)
