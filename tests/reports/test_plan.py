"""The staffing page's figures: measured load and patience per interval, agents staffed
from the agent report, agents needed by Erlang A and Erlang C."""

from __future__ import annotations

import pytest
from attrs import evolve

from pbx.reports.agents import AgentInterval
from pbx.reports.plan import staffing_plan
from pbx.reports.queues import queue_report
from pbx.reports.staffing import agents_needed, erlang_a
from tests.reports.rows import Log, day


def test_an_interval_like_the_published_erlang_a_example() -> None:
    # 100 calls in 30 min, 3 min handle time, 5 min mean patience (the published case)
    [empty] = queue_report([], day(30), queues=["sales"]).rows[:1]
    row = evolve(
        empty,
        offered=100,
        answered=98,
        abandoned=2,
        handled=98,
        talk=98 * 150.0,
        wrap=98 * 30.0,
        wait_answered=300.0,
        wait_abandoned=300.0,
    )
    assert row.aht == 180 and row.patience == 300
    staffed = [
        AgentInterval(f"a{i}", row.start, row.end, 1800, 0, 0, 0, 0, {}, 0) for i in range(14)
    ]
    [plan] = staffing_plan([row], staffed, [f"a{i}" for i in range(14)], target=0.8, threshold=20)
    assert plan.staffed == 14 and plan.calls == 100
    rate = 100 / 1800
    assert plan.needed_erlang_c == agents_needed(arrival_rate=rate, aht=180, sla=0.8, target=20)
    assert plan.needed_erlang_a == agents_needed(
        arrival_rate=rate, aht=180, sla=0.8, target=20, patience=300
    )
    assert plan.needed_erlang_a is not None and plan.needed_erlang_c is not None
    assert plan.needed_erlang_a <= plan.needed_erlang_c
    assert erlang_a(arrival_rate=rate, aht=180, patience=300, agents=14).p_wait == pytest.approx(
        0.14526, abs=1e-5
    )
    assert plan.service_level_staffed is not None and 0.8 < plan.service_level_staffed < 1.0
    [shrunk] = staffing_plan([row], staffed, ["a0"], shrinkage=0.3)
    assert shrunk.staffed == 1 and shrunk.service_level_staffed == 0.0
    assert shrunk.needed_erlang_c is not None and shrunk.needed_erlang_c > plan.needed_erlang_c


def test_quiet_intervals_borrow_the_days_handle_time() -> None:
    log = Log()
    for i in range(4):
        log.answered(f"c{i}", "sales", "2001", 9 * 3600 + 400 * i, wait=5, talk=240, wrap=60)
    rows = [r for r in queue_report(log.rows, day(60)).rows]
    plan = staffing_plan(rows, [], ["2001"])
    nine = plan[9]
    assert nine.calls == 4 and nine.aht == 300 and nine.patience is None
    assert nine.needed_erlang_a == nine.needed_erlang_c == 2  # 0.33 Erlang, 80% in 20 s
    assert plan[10].calls == 0 and plan[10].needed_erlang_a is None and plan[10].aht == 300
    with pytest.raises(ValueError, match="target"):
        staffing_plan(rows, [], [], target=1.5)
