"""The reports over the running API: a scripted day of calls through the sales queue,
then ``/api/reports/*`` and ``/api/staffing`` agree with the call records, in JSON and
CSV; bad periods and unknown names get problems naming the field; scopes hold."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from attrs import evolve

from pbx.acd import events as ev
from pbx.acd.models import AgentState
from pbx.config import AppConfig, ReportsConfig, load_config
from pbx.reports.custom import custom_report
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE, bearer, token


@pytest.fixture
def pbx_config() -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    per_queue = custom_report(
        "per-queue",
        "SELECT queue, COUNT(*) AS calls FROM cdr WHERE start_time >= :from "
        "AND queue IS NOT NULL GROUP BY queue ORDER BY queue",
        {"from": "time"},
        "Calls per queue",
    )
    broken = custom_report("broken", "SELECT x FROM nowhere", {})
    reports = ReportsConfig(short_abandon=0.5, custom={"per-queue": per_queue, "broken": broken})
    return evolve(config, reports=reports)


def scenario(h: Harness) -> dict[str, Any]:
    """One answered call, one abandoned after 1.5 s, one short abandon; 2001 then pauses."""
    agent = h.agent("2001", audio=Tone(660), answer_after=0.2)
    h.login("2001")
    first = h.call("200", caller_id="5550001", audio=Tone(440))
    h.wait_for_queue_event("CONNECT", agent="2001")
    h.sleep(1.0)
    first.hang_up()
    h.wait_for_cdr(first)
    h.wait_agent_state("2001", AgentState.READY, timeout=10)
    h.app.queues.feed(ev.AgentPause("2001", "lunch"), h.now())
    h.wait_agent_state("2001", AgentState.NOT_READY)
    second = h.call("200", caller_id="5550002", audio=Tone(440))
    h.wait_for(lambda: len(h.events(event="ENTERQUEUE")) == 2, 5.0, "the second caller queued")
    h.sleep(1.5)
    second.hang_up()
    h.wait_for_cdr(second)
    third = h.call("200", caller_id="5550003")
    h.wait_for(lambda: len(h.events(event="ENTERQUEUE")) == 3, 5.0, "the third caller queued")
    third.hang_up()
    h.wait_for_cdr(third)
    del agent
    return {"cdrs": h.cdrs(), "connect": h.events(event="CONNECT")[0]}


def get(h: Harness, path: str, who: str = "2099", **params: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        base = f"http://127.0.0.1:{h.app.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            password = "admin" if who == "admin" else None
            t = await token(client, who, password)
            return await client.get(path, params=params, headers=bearer(t))

    return h.run(go())


def test_the_queue_agent_and_staffing_reports_agree_with_the_records(pbx_harness: Harness) -> None:
    h = pbx_harness
    seen = scenario(h)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    r = get(h, "/api/reports/queues", **{"from": today, "interval": "60", "queue": "sales"})
    assert r.status_code == 200, r.text
    body = r.json()
    [sales] = body["totals"]
    sales_cdrs = [c for c in seen["cdrs"] if c["queue"] == "sales"]
    answered = [c for c in sales_cdrs if c["agent"] == "2001"]
    assert len(answered) == 1
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (2, 1, 1)
    assert sales["short_abandoned"] == 1
    assert sales["asa"] == pytest.approx(seen["connect"]["data"]["wait"], abs=1e-6)
    assert sales["service_level"] == 0.5 and sales["service_level_ignored"] == 1.0
    talk = answered[0]["talk_seconds"]
    assert 0.8 < sales["talk"] < talk + 0.5 and sales["aht"] >= sales["talk"]
    hour = [row for row in body["rows"] if row["offered"]]
    assert len(hour) == 1 and hour[0]["offered"] == 2 and hour[0]["start"].endswith("+00:00")
    assert len(body["rows"]) == len({row["start"] for row in body["rows"]})

    csv_text = get(
        h, "/api/reports/queues", **{"from": today, "interval": "60", "format": "csv"}
    ).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    total = next(row for row in rows if row["row"] == "total" and row["queue"] == "sales")
    assert total["offered"] == "2" and total["abandoned"] == "1"

    agents = get(h, "/api/reports/agents", **{"from": today, "interval": "day", "agent": "2001"})
    assert agents.status_code == 200, agents.text
    [mine] = agents.json()["totals"]
    assert mine["handled"] == 1 and mine["talk"] == pytest.approx(sales["talk"], abs=0.05)
    assert mine["pause_reasons"].get("lunch", 0) > 1.0 and mine["login"] > mine["talk"]
    own = get(h, "/api/reports/agents", who="2001", agent="2001")
    assert own.status_code == 200 and own.json()["totals"][0]["handled"] == 1

    plan = get(h, "/api/staffing", queue="sales", interval="30")
    assert plan.status_code == 200, plan.text
    assert len(plan.json()["rows"]) == 48
    assert sum(row["calls"] for row in plan.json()["rows"]) == 2

    by_did = get(h, "/api/reports/calls", who="admin", by="did", **{"from": today})
    did = {row["key"]: row for row in by_did.json()["totals"]}
    assert did["200"]["calls"] == 3 and did["200"]["answered"] == 3  # the queue answers

    custom = get(h, "/api/reports/custom/per-queue", who="admin", **{"from": today})
    assert custom.json() == {
        "name": "per-queue",
        "title": "Calls per queue",
        "columns": ["queue", "calls"],
        "rows": [["sales", 3]],
    }
    listed = get(h, "/api/reports/custom").json()["reports"]
    assert [r["name"] for r in listed] == ["per-queue", "broken"]


def test_bad_periods_and_names_get_problems_naming_them(pbx_harness: Harness) -> None:
    h = pbx_harness
    cases = [
        ("/api/reports/queues", {"from": "yesterday"}, 422, "from"),
        ("/api/reports/queues", {"interval": "7"}, 422, "interval"),
        ("/api/reports/queues", {"from": "2026-12-02T10:00:00+00:00",
                                 "to": "2026-12-02T09:00:00+00:00"}, 422, "to must be after"),
        ("/api/reports/queues", {"queue": "nope"}, 404, "nope"),
        ("/api/reports/campaigns", {"campaign": "nope"}, 404, "nope"),
        ("/api/staffing", {"queue": "sales", "date": "soon"}, 422, "date"),
        ("/api/staffing", {"queue": "sales", "target": "1.5"}, 422, "target"),
    ]  # fmt: skip
    for path, params, status, named in cases:
        r = get(h, path, **params)
        assert r.status_code == status, (path, params, r.text)
        assert named in r.text, (path, params, r.text)
    assert get(h, "/api/reports/custom/nope", who="admin").status_code == 404
    assert get(h, "/api/reports/custom/per-queue").status_code == 403  # not all queues
    broken = get(h, "/api/reports/custom/broken", who="admin")
    assert broken.status_code == 422 and "report 'broken'" in broken.json()["detail"]
    assert "nowhere" in broken.json()["detail"]
    assert get(h, "/api/reports/custom/per-queue", who="admin").status_code == 422
    assert get(h, "/api/reports/queues", who="2001").status_code == 403
    assert get(h, "/api/reports/agents", who="2001", agent="2002").status_code == 403
    assert get(h, "/api/reports/calls", who="2099", by="trunk").status_code == 403
    ivr = get(h, "/api/reports/ivr")
    assert ivr.status_code == 200 and ivr.json()["calls"] == 0
    campaigns = get(h, "/api/reports/campaigns", interval="day")
    # sales' campaign, and collections, whose agents are all the supervisor's
    assert [row["campaign"] for row in campaigns.json()["totals"]] == ["collections", "sales-out"]
    everything = get(h, "/api/reports/campaigns", who="admin", interval="day")
    assert [row["campaign"] for row in everything.json()["totals"]] == [
        "collections",
        "reminders",
        "sales-out",
    ]
