"""Calling hours in the lead's own zone, DNC lists, the abandon windows and their figures."""

from __future__ import annotations

import datetime as dt

from pbx.dialer.campaign import CallingHours
from pbx.dialer.compliance import (
    AbandonLedger,
    DncRegistry,
    lead_zones,
    next_opening,
    within_hours,
    zone,
)

from .helpers import LONDON, MONDAY_NOON_UTC, MOSCOW, NY

HOURS = CallingHours(dt.time(9, 0), dt.time(20, 0), frozenset(range(5)))
DAY = 86400.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()


def test_zone_comes_from_the_tz_column_then_the_number_then_the_default() -> None:
    assert lead_zones(NY, None, "UTC") == (zone("America/New_York"),)
    assert lead_zones(MOSCOW, None, "UTC") == (zone("Europe/Moscow"),)
    assert lead_zones(NY, "Europe/Moscow", "UTC") == (zone("Europe/Moscow"),)
    assert lead_zones("+15550100", None, "Europe/London") == (zone("Europe/London"),)


def test_seven_in_new_york_is_three_in_moscow() -> None:
    ny, moscow = lead_zones(NY, None, "UTC"), lead_zones(MOSCOW, None, "UTC")
    assert not within_hours(HOURS, ny, MONDAY_NOON_UTC)  # 07:00 EST
    assert within_hours(HOURS, moscow, MONDAY_NOON_UTC)  # 15:00 MSK
    assert next_opening(HOURS, ny, MONDAY_NOON_UTC) == utc(2025, 3, 3, 14, 0)


def test_evening_and_weekend_move_to_the_next_working_morning() -> None:
    london = lead_zones(LONDON, None, "UTC")
    friday_night = utc(2025, 3, 7, 20, 0)  # 20:00 GMT: closed (end is exclusive)
    assert not within_hours(HOURS, london, friday_night)
    assert next_opening(HOURS, london, friday_night) == utc(2025, 3, 10, 9, 0)


def test_opening_follows_daylight_saving_time() -> None:
    ny = lead_zones(NY, None, "UTC")
    # 9 March 2025: New York moves to EDT (UTC-4); Monday 10 March opens at 13:00 UTC.
    assert next_opening(HOURS, ny, utc(2025, 3, 8, 12, 0)) == utc(2025, 3, 10, 13, 0)


def test_a_number_spanning_zones_is_called_only_when_open_in_all() -> None:
    zones = (zone("Europe/Moscow"), zone("Asia/Vladivostok"))  # 7 hours apart
    opening = next_opening(HOURS, zones, utc(2025, 3, 3, 0, 0))
    assert opening is not None
    for z in zones:
        local = dt.datetime.fromtimestamp(opening, z)
        assert dt.time(9) <= local.time() < dt.time(20)
    assert opening == utc(2025, 3, 3, 6, 0)  # 09:00 Moscow, 16:00 Vladivostok
    mornings = CallingHours(dt.time(9, 0), dt.time(12, 0), frozenset(range(7)))
    apart = (zone("Europe/Moscow"), zone("America/New_York"))  # 8 hours apart
    assert next_opening(mornings, apart, utc(2025, 3, 3, 0, 0)) is None


def test_dnc_global_applies_everywhere_named_lists_where_named() -> None:
    dnc = DncRegistry({"internal": [NY]})
    assert dnc.listed(NY) is None
    assert dnc.listed(NY, ["internal"]) == "internal"
    dnc.add("global", [MOSCOW])
    assert dnc.listed(MOSCOW) == "global"
    assert MOSCOW in dnc.view() and NY in dnc.view(["internal"]) and NY not in dnc.view()
    dnc.remove("internal", [NY])
    assert dnc.listed(NY, ["internal"]) is None


def test_fcc_window_is_30_days_of_abandoned_over_live_answered() -> None:
    ledger = AbandonLedger(false_positive_rate=0.0)
    t0 = MONDAY_NOON_UTC
    for i in range(97):
        ledger.record(t0 + i, "live")
    for i in range(3):
        ledger.record(t0 + 100 + i, "live")
        ledger.record(t0 + 100 + i, "abandoned")
    stats = ledger.stats(t0 + 200)
    assert (stats.live_30d, stats.abandoned_30d) == (100, 3)
    assert stats.rate_30d == 0.03
    later = ledger.stats(t0 + 2 * DAY)
    assert later.live_24h == 0 and later.rate_24h == 0.0
    assert later.rate_30d == 0.03
    assert ledger.stats(t0 + 31 * DAY).live_30d == 0


def test_ofcom_window_counts_estimated_amd_false_positives() -> None:
    ledger = AbandonLedger(false_positive_rate=0.05)
    t0 = MONDAY_NOON_UTC
    for i in range(100):
        ledger.record(t0 + i, "live")
    ledger.record(t0, "abandoned")
    for i in range(40):
        ledger.record(t0 + 120 + i, "machine")
    stats = ledger.stats(t0 + 300)
    assert stats.estimated_false_positives_24h == 2.0
    assert stats.rate_30d == 0.01
    assert stats.rate_24h == (1 + 2) / (100 + 2)
    assert stats.rate == stats.rate_24h


def test_history_out_of_order_is_rebuilt() -> None:
    ledger = AbandonLedger(0.0)
    t0 = MONDAY_NOON_UTC
    ledger.record(t0 + 3600, "live")
    ledger.extend([(t0 - 40 * DAY, "live"), (t0 - 2 * DAY, "live"), (t0 - 2 * DAY, "abandoned")])
    ledger.record(t0, "live")  # earlier than the last bucket
    stats = ledger.stats(t0 + 3601)
    assert (stats.live_30d, stats.abandoned_30d, stats.live_24h) == (3, 1, 2)
