"""Callback time slots: when a callback the caller asked for is due.

A callback node's slots map keys to labels the caller chooses between; each label says
when to call: ``""`` or ``asap`` (now), ``+30m`` / ``+2h`` (that long from now), or a
clock time ``18:00`` (its next occurrence in the callbacks' zone: today if it is still
ahead, else tomorrow) — optionally a window ``18:00-20:00``, whose start is the time.
Labels are checked when the configuration is loaded (:func:`slot_due` raises).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"\+(\d{1,4})([mh])")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?:-([01]?\d|2[0-3]):([0-5]\d))?")


def slot_due(slot: str, wall: float, zone: ZoneInfo | None) -> float:
    """Epoch seconds at which a callback asked for at ``wall`` in ``slot`` is due;
    :class:`ValueError` naming the label when it is none of the forms above."""
    label = slot.strip().lower()
    if label in ("", "asap"):
        return wall
    relative = _RELATIVE.fullmatch(label)
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2)
        return wall + amount * (60 if unit == "m" else 3600)
    clock = _CLOCK.fullmatch(label)
    if clock is None:
        raise ValueError(f"slot {slot!r} is not a time: use asap, +30m, +2h, 18:00 or 18:00-20:00")
    local = dt.datetime.fromtimestamp(wall, zone or dt.datetime.now().astimezone().tzinfo)
    at = local.replace(hour=int(clock.group(1)), minute=int(clock.group(2)), second=0)
    at = at.replace(microsecond=0)
    if at.timestamp() <= wall:
        at = (at + dt.timedelta(days=1)).replace(hour=at.hour, minute=at.minute)
        if zone is not None:  # the same wall-clock time across a DST change
            at = dt.datetime.combine(at.date(), at.time(), zone)
    return at.timestamp()
