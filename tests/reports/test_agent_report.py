"""The agent report: time by state split at interval edges, each change counted once for
agents in several queues, occupancy and utilisation."""

from __future__ import annotations

import pytest

from pbx.reports.agents import agent_report
from tests.reports.rows import Log, day

HOUR = 3600.0


def cell(report, agent: str, hour: int):  # type: ignore[no-untyped-def]
    return next(r for r in report.rows if r.agent == agent and r.start == day().start + hour * HOUR)


def test_an_agents_day_by_state_and_interval() -> None:
    log = Log()
    for q in ("sales", "support"):  # two queues: each change is written twice
        log.add(9 * HOUR, "AGENTLOGIN", "", q, "2001")
    log.answered("c1", "sales", "2001", 10 * HOUR + 50 * 60 - 10, wait=10, talk=3600, wrap=60)
    for q in ("sales", "support"):
        log.add(12 * HOUR, "PAUSE", "", q, "2001", reason="lunch")
    for q in ("sales", "support"):
        log.add(13 * HOUR, "UNPAUSE", "", q, "2001")
    for q in ("sales", "support"):
        log.add(17 * HOUR, "AGENTLOGOFF", "", q, "2001")
    report = agent_report(log.rows, day(60))
    ten, eleven = cell(report, "2001", 10), cell(report, "2001", 11)
    assert (ten.talk, ten.ready, ten.handled) == (600, 3000, 1)
    assert (eleven.talk, eleven.wrap, eleven.handled) == (3000, 60, 0)
    assert eleven.ready == pytest.approx(540)
    lunch = cell(report, "2001", 12)
    assert lunch.paused == 3600 and lunch.pause_reasons == {"lunch": 3600}
    assert lunch.occupancy is None and lunch.utilisation == 0.0
    [total] = report.totals
    assert total.login == 8 * HOUR
    assert (total.talk, total.wrap, total.paused, total.handled) == (3600, 60, 3600, 1)
    assert total.ready == pytest.approx(8 * HOUR - 3600 - 60 - 3600)
    assert total.occupancy == pytest.approx(3660 / (8 * HOUR - 3600))
    assert total.utilisation == pytest.approx(3660 / (8 * HOUR))
    assert cell(report, "2001", 17).login == 0


def test_hold_and_a_pause_that_waited_for_the_call() -> None:
    log = Log().add(0, "AGENTLOGIN", "", "sales", "2002")
    log.add(100, "ENTERQUEUE", "c1", "sales")
    log.add(100, "CONNECT", "c1", "sales", "2002", wait=0)
    log.add(160, "HOLD", "c1", "sales", "2002")
    log.add(190, "UNHOLD", "c1", "sales", "2002")
    log.add(400, "COMPLETEAGENT", "c1", "sales", "2002", wait=0, talk=300)
    log.add(400, "WRAPUPEND", "", "sales", "2002", wrap=0)
    log.add(400, "PAUSE", "", "sales", "2002", reason="training")
    [total] = agent_report(log.rows, day(), until=day().start + 1000).totals
    assert (total.ready, total.talk, total.hold, total.wrap) == (100, 270, 30, 0)
    assert total.pause_reasons == {"training": 600}
    assert total.login == 1000  # the open session runs to `until`


def test_the_state_at_the_start_of_the_period_comes_from_earlier_rows() -> None:
    log = Log().add(-2 * HOUR, "AGENTLOGIN", "", "sales", "2003")
    log.add(-HOUR, "PAUSE", "", "sales", "2003", reason="meeting")
    log.add(HOUR, "UNPAUSE", "", "sales", "2003")
    log.add(2 * HOUR, "AGENTLOGOFF", "", "sales", "2003")
    [total] = agent_report(log.rows, day(60)).totals
    assert total.pause_reasons == {"meeting": HOUR} and total.ready == HOUR


def test_listed_agents_without_rows_get_zero_rows() -> None:
    report = agent_report([], day("day"), agents=["2005"])
    assert [r.as_dict()["login"] for r in report.rows] == [0.0]
    assert report.totals[0].as_dict()["occupancy"] is None
