"""Business hours: weekdays, holidays and time zones across a daylight-saving switch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pbx.ivr import Graph, Schedule, SetData
from pbx.ivr.timecond import TimeSpecError, parse_range
from tests.ivr.helpers import Shell

NEW_YORK = Schedule.of(
    "America/New_York",
    {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    | {"sat": ["10:00-12:00", "13:00-14:00"]},
    holidays=["12-25", "2024-03-11"],
)


def epoch(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_parse_range() -> None:
    assert parse_range("09:00-17:30") == (540, 1050)
    assert parse_range("00:00-24:00") == (0, 1440)
    with pytest.raises(TimeSpecError, match="'24:30-25:00' is not a time of day"):
        parse_range("24:30-25:00")


def test_same_utc_time_is_open_or_closed_across_the_dst_switch() -> None:
    # 13:30 UTC is 08:30 EST (UTC-5) on Friday 2024-03-08: before opening...
    assert NEW_YORK.local(epoch(2024, 3, 8, 13, 30)).hour == 8
    assert NEW_YORK.state(epoch(2024, 3, 8, 13, 30)) == "closed"
    # ...and 09:30 EDT (UTC-4) on Tuesday 2024-03-12, after the switch on the 10th.
    assert NEW_YORK.local(epoch(2024, 3, 12, 13, 30)).hour == 9
    assert NEW_YORK.state(epoch(2024, 3, 12, 13, 30)) == "open"


def test_closing_time_moves_with_dst() -> None:
    # 21:30 UTC: 16:30 EST (open) before the switch, 17:30 EDT (closed) after.
    assert NEW_YORK.state(epoch(2024, 3, 8, 21, 30)) == "open"
    assert NEW_YORK.state(epoch(2024, 3, 12, 21, 30)) == "closed"


def test_holidays_win_over_hours() -> None:
    assert NEW_YORK.state(epoch(2024, 3, 11, 15, 0)) == "holiday"  # that date only
    assert NEW_YORK.state(epoch(2025, 3, 11, 15, 0)) == "open"
    assert NEW_YORK.state(epoch(2026, 12, 25, 15, 0)) == "holiday"  # every year
    # The holiday is a local date: 02:00 UTC on the 26th is still the 25th in New York.
    assert NEW_YORK.state(epoch(2024, 12, 26, 2, 0)) == "holiday"


def test_split_day_and_closed_days() -> None:
    assert NEW_YORK.state(epoch(2024, 3, 16, 15, 30)) == "open"  # Sat 11:30 EDT
    assert NEW_YORK.state(epoch(2024, 3, 16, 16, 30)) == "closed"  # Sat 12:30 EDT: lunch
    assert NEW_YORK.state(epoch(2024, 3, 16, 17, 30)) == "open"  # Sat 13:30 EDT
    assert NEW_YORK.state(epoch(2024, 3, 16, 16, 59)) == "closed"  # 12:59
    assert NEW_YORK.state(epoch(2024, 3, 17, 15, 0)) == "closed"  # Sunday


def time_graph() -> Graph:
    g = Graph("hours", start="hours")
    g.time(
        "hours",
        tz="America/New_York",
        hours={"mon": "09:00-17:00", "fri": "09:00-17:00"},
        holidays=["2024-03-11"],
        open="open",
        closed="closed",
        holiday="holiday",
    )
    for name in ("open", "closed", "holiday"):
        g.set(name, values={"state": name}, next="end")
    g.hangup("end")
    return g


@pytest.mark.parametrize(
    ("wall", "state"),
    [
        (epoch(2024, 3, 8, 13, 30), "closed"),  # Fri 08:30 EST
        (epoch(2024, 3, 8, 14, 30), "open"),  # Fri 09:30 EST
        (epoch(2024, 3, 11, 14, 30), "holiday"),  # Mon 10:30 EDT, a holiday
        (epoch(2024, 3, 18, 13, 30), "open"),  # Mon 09:30 EDT
    ],
)
def test_time_node_uses_the_wall_clock(wall: float, state: str) -> None:
    # The runner's now is monotonic; wall(now) gives the epoch.
    shell = Shell(time_graph().build(), now=50.0, wall_offset=wall - 50.0)
    shell.start()
    assert SetData("state", state) in shell.log
    assert shell.runner.path == ["hours", state, "end"]
