"""The rules a campaign obeys: calling hours, do-not-call lists, abandon limits, redials.

Theory of operation
-------------------
**Calling hours** are local to the called person. A lead's zone is its ``tz`` column;
without one, the zones ``phonenumbers`` knows for the number's prefix; without those,
the campaign's ``default_tz``. A prefix can span several zones (a US toll-free number,
a Russian mobile): the lead may be called only when it is within hours in *every* one,
so nobody is called early or late (:func:`within_hours`, :func:`next_opening`).

**Do-not-call**: :class:`DncRegistry` holds named lists of E.164 numbers; the list named
``global`` applies to every campaign, the others to the campaigns naming them. A number
on a list is refused at import and checked again at dial time, so a number added after
the import is never dialled either.

**Abandoned calls** (US 47 CFR 64.1200(a)(7)): a call answered by a person is abandoned
when it is not connected to an agent within two seconds of the person's completed
greeting; that person hears a recorded message instead. The FCC limit is 3 % of the
live-answered calls of a campaign over 30 days::

    rate_30d = abandoned_30d / live_30d

Ofcom (UK, statement of policy on persistent misuse, 2016) limits the same share over
24 hours and asks that calls AMD classified as machines but that were people count as
abandoned too, estimated from the AMD's measured false-positive rate ``f``::

    rate_24h = (abandoned_24h + f × machines_24h) / (live_24h + f × machines_24h)

:class:`AbandonLedger` keeps both windows per campaign in one-minute buckets (a bucket
leaves a window once its whole minute is older than the window).

**Redials** (Ofcom): a number whose call was abandoned is not called again within 72
hours unless an agent is reserved for the call (a preview dial); see
:data:`ABANDON_REDIAL_HOLD`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping

import phonenumbers
import phonenumbers.timezone
from attrs import define, frozen

from pbx.dialer.campaign import CallingHours
from pbx.dialer.leads import Lead

ABANDON_REDIAL_HOLD = 72 * 3600.0
"""Seconds an abandoned number is not redialled without a reserved agent (Ofcom)."""

ABANDON_WINDOW = 2.0
"""Seconds after the greeting's end within which an agent must take the call (FCC)."""

FCC_WINDOW = 30 * 86400.0
OFCOM_WINDOW = 86400.0
GLOBAL_DNC = "global"
"""The do-not-call list every campaign obeys."""

_BUCKET = 60.0
_UNKNOWN_ZONE = "Etc/Unknown"


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> dt.tzinfo:
    """The :class:`zoneinfo.ZoneInfo` named ``name`` (cached)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def lead_zones(phone: str, tz: str | None, default_tz: str) -> tuple[dt.tzinfo, ...]:
    """The zones a lead may be in: its ``tz``, else its number's, else ``default_tz``."""
    if tz:
        return (zone(tz),)
    names = _number_zones(phone)
    return tuple(zone(n) for n in names) if names else (zone(default_tz),)


@functools.lru_cache(maxsize=65536)
def _number_zones(phone: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    names = phonenumbers.timezone.time_zones_for_number(number)
    return tuple(n for n in names if n != _UNKNOWN_ZONE)


def _open_in(hours: CallingHours, local: dt.datetime) -> bool:
    return local.weekday() in hours.days and hours.start <= local.time() < hours.end


def within_hours(hours: CallingHours, zones: Iterable[dt.tzinfo], wall: float) -> bool:
    """Whether epoch second ``wall`` is within calling hours in every zone."""
    return all(_open_in(hours, dt.datetime.fromtimestamp(wall, z)) for z in zones)


def _next_open_in(hours: CallingHours, z: dt.tzinfo, wall: float) -> float:
    """The first instant at or after ``wall`` within hours in zone ``z``."""
    local = dt.datetime.fromtimestamp(wall, z)
    if _open_in(hours, local):
        return wall
    day = local.date()
    if local.time() >= hours.start:
        day += dt.timedelta(days=1)
    for _ in range(8):
        if day.weekday() in hours.days:
            start = dt.datetime.combine(day, hours.start, tzinfo=z).timestamp()
            # A start inside a DST gap lands later than asked; never before ``wall``.
            return max(start, wall)
        day += dt.timedelta(days=1)
    raise ValueError("calling hours allow no day of the week")


def next_opening(
    hours: CallingHours, zones: tuple[dt.tzinfo, ...], wall: float, horizon: float = 8 * 86400
) -> float | None:
    """The first instant at or after ``wall`` within hours in every zone, or ``None`` if
    there is none within ``horizon`` seconds (the zones' windows never overlap)."""
    t = wall
    while t - wall <= horizon:
        latest = max(_next_open_in(hours, z, t) for z in zones)
        if within_hours(hours, zones, latest):
            return latest
        # Some zone closed again before the others opened: try from its next opening.
        t = latest + 60.0
    return None


class DncRegistry:
    """Named do-not-call lists of E.164 numbers; ``global`` applies to every campaign."""

    def __init__(self, lists: Mapping[str, Iterable[str]] | None = None) -> None:
        self._lists: dict[str, set[str]] = {GLOBAL_DNC: set()}
        for name, numbers in (lists or {}).items():
            self.add(name, numbers)

    def add(self, name: str, numbers: Iterable[str]) -> None:
        """Put ``numbers`` on list ``name`` (created if new)."""
        self._lists.setdefault(name, set()).update(numbers)

    def remove(self, name: str, numbers: Iterable[str]) -> None:
        """Take ``numbers`` off list ``name``."""
        self._lists.get(name, set()).difference_update(numbers)

    def numbers(self, name: str) -> frozenset[str] | None:
        """The numbers on list ``name`` now, or ``None`` if there is no such list."""
        numbers = self._lists.get(name)
        return None if numbers is None else frozenset(numbers)

    def listed(self, number: str, lists: Iterable[str] = ()) -> str | None:
        """The first list (``global`` first, then ``lists``) holding ``number``, or ``None``."""
        for name in (GLOBAL_DNC, *lists):
            if number in self._lists.get(name, ()):
                return name
        return None

    def view(self, lists: Iterable[str] = ()) -> DncView:
        """The numbers on ``global`` and ``lists``, as a container (for :func:`import_leads`)."""
        return DncView(self, tuple(lists))


@frozen
class DncView:
    """``number in view`` tells whether any of the lists holds it."""

    registry: DncRegistry
    lists: tuple[str, ...]

    def __contains__(self, number: object) -> bool:
        return isinstance(number, str) and self.registry.listed(number, self.lists) is not None


@frozen
class AbandonStats:
    """One campaign's abandon figures in both windows, at ``time`` (epoch seconds)."""

    time: float
    live_30d: int
    abandoned_30d: int
    live_24h: int
    abandoned_24h: int
    machines_24h: int
    false_positive_rate: float

    @property
    def rate_30d(self) -> float:
        """The FCC figure: abandoned ÷ live-answered over 30 days."""
        return self.abandoned_30d / self.live_30d if self.live_30d else 0.0

    @property
    def estimated_false_positives_24h(self) -> float:
        """People AMD took for machines in the last 24 hours (estimated)."""
        return self.false_positive_rate * self.machines_24h

    @property
    def rate_24h(self) -> float:
        """The Ofcom figure over 24 hours, AMD false positives counted as abandoned."""
        fp = self.estimated_false_positives_24h
        live = self.live_24h + fp
        return (self.abandoned_24h + fp) / live if live else 0.0

    @property
    def rate(self) -> float:
        """The higher of the two figures: the one a campaign must keep under its limit."""
        return max(self.rate_30d, self.rate_24h)


@define
class _Bucket:
    minute: float
    live: int = 0
    abandoned: int = 0
    machines: int = 0


class AbandonLedger:
    """Live-answered, abandoned and machine-classified calls of one campaign, windowed."""

    def __init__(self, false_positive_rate: float) -> None:
        self.false_positive_rate = false_positive_rate
        self._buckets: deque[_Bucket] = deque()
        self._totals = {FCC_WINDOW: [0, 0, 0], OFCOM_WINDOW: [0, 0, 0]}
        self._first = {FCC_WINDOW: 0, OFCOM_WINDOW: 0}
        """Index of the first bucket still in each window."""

    def record(self, wall: float, kind: str) -> None:
        """Count one ``live`` (answered by a person), ``abandoned`` (one of those, later
        abandoned) or ``machine`` call at ``wall``."""
        minute = wall - wall % _BUCKET
        buckets = self._buckets
        if buckets and minute < buckets[-1].minute:
            self.rebuild([*self._events(), (wall, kind)])
            return
        if not buckets or buckets[-1].minute != minute:
            buckets.append(_Bucket(minute))
        bucket = buckets[-1]
        delta = _delta(kind)
        bucket.live += delta[0]
        bucket.abandoned += delta[1]
        bucket.machines += delta[2]
        for totals in self._totals.values():
            for i in range(3):
                totals[i] += delta[i]

    def extend(self, events: Iterable[tuple[float, str]]) -> None:
        """Add ``(wall, kind)`` events in any order (a restart's history)."""
        self.rebuild([*self._events(), *events])

    def rebuild(self, events: Iterable[tuple[float, str]]) -> None:
        """Start over from ``(wall, kind)`` events in any order."""
        self._buckets.clear()
        self._totals = {FCC_WINDOW: [0, 0, 0], OFCOM_WINDOW: [0, 0, 0]}
        self._first = {FCC_WINDOW: 0, OFCOM_WINDOW: 0}
        for wall, kind in sorted(events):
            self.record(wall, kind)

    def stats(self, wall: float) -> AbandonStats:
        """Both windows as of ``wall`` (buckets that left a window are dropped from it)."""
        self._expire(wall)
        fcc, ofcom = self._totals[FCC_WINDOW], self._totals[OFCOM_WINDOW]
        return AbandonStats(
            time=wall,
            live_30d=fcc[0],
            abandoned_30d=fcc[1],
            live_24h=ofcom[0],
            abandoned_24h=ofcom[1],
            machines_24h=ofcom[2],
            false_positive_rate=self.false_positive_rate,
        )

    def _expire(self, wall: float) -> None:
        buckets = self._buckets
        for window, totals in self._totals.items():
            i = self._first[window]
            while i < len(buckets) and buckets[i].minute + _BUCKET <= wall - window:
                b = buckets[i]
                totals[0] -= b.live
                totals[1] -= b.abandoned
                totals[2] -= b.machines
                i += 1
            self._first[window] = i
        drop = min(self._first.values())
        for _ in range(drop):
            buckets.popleft()
        for window in self._first:
            self._first[window] -= drop

    def _events(self) -> Iterator[tuple[float, str]]:
        for b in self._buckets:
            for _ in range(b.live):
                yield b.minute, "live"
            for _ in range(b.abandoned):
                yield b.minute, "abandoned"
            for _ in range(b.machines):
                yield b.minute, "machine"


def lead_history(lead: Lead) -> tuple[list[tuple[float, str]], float | None]:
    """A stored lead's finished attempts as ledger events, and its last abandon time."""
    events: list[tuple[float, str]] = []
    abandoned: float | None = None
    for attempt in lead.attempts:
        if attempt.outcome is None:
            continue
        if attempt.amd == "machine":
            events.append((attempt.time, "machine"))
        elif attempt.outcome in _LIVE_OUTCOMES:
            events.append((attempt.time, "live"))
        if attempt.outcome == "abandoned":
            events.append((attempt.time, "abandoned"))
            abandoned = attempt.time if abandoned is None else max(abandoned, attempt.time)
    return events, abandoned


_LIVE_OUTCOMES = frozenset({"answered", "delivered", "abandoned", "hung_up"})


def _delta(kind: str) -> tuple[int, int, int]:
    if kind == "live":
        return (1, 0, 0)
    if kind == "abandoned":
        return (0, 1, 0)
    if kind == "machine":
        return (0, 0, 1)
    raise ValueError(f"unknown abandon-ledger kind {kind!r}")
