"""Calls by trunk/DID/direction, IVR containment and drop-off, the outbound report,
reporting periods, and custom SQL reports run read-only."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pbx.reports.calls import calls_report, ivr_report
from pbx.reports.campaigns import campaign_report
from pbx.reports.custom import ReportError, custom_report
from pbx.reports.periods import PeriodError, intervals
from pbx.store import Store
from pbx.store.readonly import ReportReader
from tests.reports.rows import T0, day


def cdr(t: float, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "start_time": T0 + t,
        "answer_time": None,
        "talk_seconds": 0.0,
        "direction": "inbound",
        "disposition": "answered",
        "trunk": "sim",
        "did": "200",
        "data": {},
    }
    row.update(values)
    return row


def test_calls_by_trunk_did_and_direction() -> None:
    rows = [
        cdr(100, answer_time=T0 + 101, talk_seconds=60),
        cdr(200, did="300", disposition="abandoned"),
        cdr(300, direction="outbound", trunk="carrier", answer_time=T0 + 310, talk_seconds=30),
        cdr(400, disposition="transferred", answer_time=T0 + 401, talk_seconds=10),
        cdr(500, disposition="in_progress"),
    ]
    by_trunk = {r.key: r for r in calls_report(rows, day(60), "trunk").totals}
    assert (by_trunk["sim"].calls, by_trunk["sim"].answered, by_trunk["sim"].talk) == (3, 2, 70)
    assert by_trunk["carrier"].answer_rate == 1.0
    by_did = {r.key: r.as_dict() for r in calls_report(rows, day(60), "did").totals}
    assert by_did["300"]["unanswered"] == 1 and by_did["300"]["average_talk"] is None
    direction = {r.key: r.calls for r in calls_report(rows, day(60), "direction").totals}
    assert direction == {"inbound": 2, "outbound": 1, "transferred": 1}
    with pytest.raises(ValueError, match="by must be one of"):
        calls_report(rows, day(), "colour")


def test_ivr_containment_and_drop_off_by_node() -> None:
    def ivr(path: list[str], end: str, **values: object) -> dict[str, object]:
        data = {"ivr_path": path, "ivr_exit": path[-1], "ivr_end": end}
        return cdr(0, data=data, **values)

    rows = [
        ivr(["welcome", "menu", "balance", "bye"], "completed"),
        ivr(["welcome", "menu", "balance", "bye"], "completed"),
        ivr(["welcome", "menu"], "hangup"),
        ivr(["welcome", "menu", "menu", "sales"], "queue", queue="sales"),
        cdr(0),  # no IVR
    ]
    report = ivr_report(rows, T0, T0 + 86400)
    assert (report.calls, report.contained, report.dropped, report.routed) == (4, 2, 1, 1)
    assert report.containment == 0.5
    nodes = {n.node: n for n in report.nodes}
    assert nodes["menu"].visits == 4 and nodes["menu"].dropped == 1
    assert nodes["bye"].contained == 2 and nodes["sales"].routed == 1
    assert report.as_dict()["rows"][0]["node"] in ("welcome", "menu")


def test_the_outbound_report_counts_attempts_contacts_machines_and_dispositions() -> None:
    def attempt(
        t: float, outcome: str, amd: str | None = None, **more: object
    ) -> dict[str, object]:
        return {"time": T0 + t, "outcome": outcome, "amd": amd, **more}

    leads = [
        {
            "campaign": "reminders",
            "attempts": [attempt(100, "busy"), attempt(4000, "delivered", "human", digit="1")],
            "disposition": "confirmed",
        },
        {"campaign": "reminders", "attempts": [attempt(200, "message_left", "machine")]},
        {"campaign": "reminders", "attempts": [attempt(300, "abandoned", "human")]},
        {"campaign": "sales-out", "attempts": [attempt(50, "no_answer")]},
    ]
    report = campaign_report(leads, day(60))
    total = {r.campaign: r for r in report.totals}["reminders"]
    assert (total.attempts, total.contacts, total.machines, total.abandoned) == (4, 2, 1, 1)
    assert total.answer_rate == 0.75 and total.abandon_rate == 0.5
    assert total.amd == {"human": 2, "machine": 1} and total.confirmations == {"1": 1}
    assert total.dispositions == {"confirmed": 1}
    first_hour = next(r for r in report.rows if r.campaign == "reminders" and r.start == T0)
    assert first_hour.attempts == 3 and first_hour.dispositions == {}


def test_periods_in_minutes_days_and_weeks_across_a_dst_change() -> None:
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 24, tzinfo=zone)
    days = intervals(start, start + timedelta(days=3), "day")
    lengths = [b - a for a, b in zip(days.edges, days.edges[1:], strict=False)]
    assert lengths == [86400, 90000, 86400]  # 25 hours on 25 October
    weeks = intervals(
        datetime(2026, 12, 2, 15, tzinfo=zone), datetime(2026, 12, 20, tzinfo=zone), "week"
    )
    assert datetime.fromtimestamp(weeks.edges[1], zone) == datetime(2026, 12, 7, tzinfo=zone)
    quarter = intervals(start, start + timedelta(hours=1, minutes=10), 15)
    assert len(quarter) == 5 and quarter.end - quarter.edges[-2] == 600
    assert quarter.index(quarter.start - 1) is None and quarter.index(quarter.start + 901) == 1
    with pytest.raises(PeriodError, match="time zone"):
        intervals(datetime(2026, 1, 1), datetime(2026, 1, 2), 15)
    with pytest.raises(PeriodError, match="interval must be one of"):
        intervals(start, start + timedelta(days=1), "fortnight")
    with pytest.raises(PeriodError, match="to must be after from"):
        intervals(start, start, 15)
    with pytest.raises(PeriodError, match="does not divide a day"):
        intervals(start, start + timedelta(days=1), 7)


def test_custom_report_definitions_are_checked_with_the_report_named() -> None:
    ok = custom_report("dids", "SELECT did FROM cdr WHERE start_time >= :from", {"from": "time"})
    assert ok.as_dict()["params"] == [{"name": "from", "type": "time"}]
    cases = {
        "DELETE FROM cdr": "only SELECT",
        "SELECT 1; DROP TABLE cdr": "one statement",
        "SELECT :q": "undeclared parameter",
        "SELECT * FROM cdr WHERE did = ?": "named parameters",
        "": "empty",
    }
    for sql, problem in cases.items():
        with pytest.raises(ReportError, match=problem) as info:
            custom_report("bad", sql, {})
        assert "report 'bad'" in str(info.value)
    with pytest.raises(ReportError, match="not in the SQL"):
        custom_report("bad", "SELECT 1", {"to": "time"})
    with pytest.raises(ReportError, match="type must be one of"):
        custom_report("bad", "SELECT :x", {"x": "colour"})
    # a ';' or ':name' inside a string literal is text, not SQL
    custom_report("semi", "SELECT 'a;b', ':notaparam' FROM cdr", {})


def test_custom_reports_run_read_only_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = Store(path)
    for i in range(5):
        store.cdr_insert(
            {
                "call_id": f"c{i}",
                "direction": "inbound",
                "did": "200" if i % 2 else "300",
                "start_time": T0 + i,
                "disposition": "answered",
            }
        )
    report = custom_report(
        "dids",
        "SELECT did, COUNT(*) AS calls FROM cdr WHERE start_time >= :from "
        "GROUP BY did ORDER BY did",
        {"from": "time"},
    )
    with ReportReader(path) as reader:
        columns, rows = reader.run(report, {"from": "2026-12-01T00:00:00+00:00"})
        assert columns == ["did", "calls"] and rows == [["200", 2], ["300", 3]]
        with pytest.raises(ReportError, match="parameter 'from' is missing"):
            reader.run(report, {})
        with pytest.raises(ReportError, match="ISO 8601"):
            reader.run(report, {"from": "yesterday"})
        sneaky = custom_report(
            "sneaky", "WITH x AS (SELECT 1) SELECT * FROM x, pragma_journal_mode()", {}
        )
        with pytest.raises(ReportError, match="report 'sneaky'"):
            reader.run(sneaky, {})
        with pytest.raises(ReportError, match="more than 2 rows"):
            reader.run(custom_report("all", "SELECT * FROM cdr", {}), {}, max_rows=2)
        with pytest.raises(sqlite3.Error):
            reader.db.execute("DELETE FROM cdr")
        slow = custom_report(
            "slow",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
            {},
        )
        reader.max_seconds = 0.2
        with pytest.raises(ReportError, match="longer than 0.2 s"):
            reader.run(slow, {})
        assert len(reader.queue_log(0, T0 * 2)) == 0 and len(reader.cdr(T0, T0 + 10)) == 5
    assert len(store.cdrs()) == 5
    store.close()
