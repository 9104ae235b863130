"""Callback slots: asap, relative and clock times in the callbacks' zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pbx.ivr.slots import slot_due

NY = ZoneInfo("America/New_York")


def at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=NY).timestamp()


def test_asap_and_relative_slots() -> None:
    now = at(2026, 3, 7, 10, 0)
    assert slot_due("", now, NY) == slot_due("ASAP", now, NY) == now
    assert slot_due("+30m", now, NY) == now + 1800
    assert slot_due("+2h", now, NY) == now + 7200


def test_a_clock_time_is_its_next_occurrence_in_the_zone() -> None:
    assert slot_due("18:00", at(2026, 3, 7, 10, 0), NY) == at(2026, 3, 7, 18, 0)
    assert slot_due("18:00-20:00", at(2026, 3, 7, 10, 0), NY) == at(2026, 3, 7, 18, 0)
    assert slot_due("9:00", at(2026, 3, 7, 10, 0), NY) == at(2026, 3, 8, 9, 0)
    # Across the spring DST change (8 March 2026): still 09:00 on the clock.
    due = dt.datetime.fromtimestamp(slot_due("09:00", at(2026, 3, 7, 10, 0), NY), NY)
    assert (due.day, due.hour, due.minute) == (8, 9, 0)


@pytest.mark.parametrize("label", ["morning", "25:00", "+3d", "18:00-"])
def test_anything_else_is_refused_with_the_label(label: str) -> None:
    with pytest.raises(ValueError, match="is not a time"):
        slot_due(label, 0.0, NY)
