"""The queue interval report from hand-made queue-log rows: every definition, and the
cases that break call-centre reports (overflows, transfers, callbacks, calls that span
intervals)."""

from __future__ import annotations

import pytest

from pbx.reports.queues import QueueSettings, queue_report
from pbx.reports.service_level import AbandonTreatment
from tests.reports.rows import Log, day

HOUR = 3600.0


def row_at(report, queue: str, t: float):  # type: ignore[no-untyped-def]
    for row in report.rows:
        if row.queue == queue and row.start <= day().start + t < row.end:
            return row
    raise AssertionError(f"no row for {queue} at {t}")


def test_service_level_in_the_three_treatments_matches_the_published_check() -> None:
    log = Log()
    for i in range(70):
        log.answered(f"a{i}", "sales", "2001", 9 * HOUR + i, wait=10, talk=60)
    for i in range(10):
        log.abandoned(f"b{i}", "sales", 9 * HOUR + 100 + i, wait=12)
    for i in range(20):
        log.answered(f"c{i}", "sales", "2002", 9 * HOUR + 200 + i, wait=30, talk=60)
    report = queue_report(log.rows, day(60), {"sales": QueueSettings(20, 5)})
    row = row_at(report, "sales", 9 * HOUR)
    assert (row.offered, row.answered, row.abandoned) == (100, 90, 10)
    assert (row.answered_within, row.abandoned_within) == (70, 10)
    assert row.service_level_in(AbandonTreatment.IGNORED) == pytest.approx(70 / 90)
    assert row.service_level_in(AbandonTreatment.AGAINST) == pytest.approx(0.70)
    assert row.service_level_in(AbandonTreatment.FOR) == pytest.approx(0.80)
    assert row.asa == pytest.approx((70 * 10 + 20 * 30) / 90)
    assert row.longest_wait == 30
    [total] = report.totals
    assert total.offered == 100 and total.as_dict()["service_level_for"] == pytest.approx(0.8)


def test_short_abandons_count_neither_as_offered_nor_abandoned() -> None:
    log = Log().abandoned("s1", "sales", 100, wait=2).abandoned("s2", "sales", 200, wait=40)
    log.answered("a1", "sales", "2001", 300, wait=5, talk=30)
    row = row_at(queue_report(log.rows, day(), {"sales": QueueSettings(20, 5)}), "sales", 100)
    assert (row.offered, row.abandoned, row.short_abandoned, row.answered) == (2, 1, 1, 1)
    assert row.service_level == pytest.approx(0.5)  # against: 1 answered within of 2


def test_an_overflowed_call_is_offered_once_to_the_queue_that_answered_it() -> None:
    log = Log()
    log.add(1000, "ENTERQUEUE", "c1", "sales")
    log.add(1060, "EXITWITHTIMEOUT", "c1", "sales")
    log.add(1060, "ENTERQUEUE", "c1", "support")
    log.add(1070, "CONNECT", "c1", "support", "2003", wait=10)
    log.add(1170, "COMPLETEAGENT", "c1", "support", "2003", wait=10, talk=100)
    report = queue_report(log.rows, day(60), queues=["sales", "support"])
    sales, support = (row_at(report, q, 1000) for q in ("sales", "support"))
    assert (sales.offered, sales.answered, sales.overflow_out, sales.exited) == (0, 0, 1, 0)
    assert (support.offered, support.answered, support.overflow_in) == (1, 1, 1)
    assert support.asa == 70  # the customer waited 70 s in all
    assert support.answered_within == 0  # over the 20 s threshold


def test_a_caller_a_supervisor_moved_counts_as_an_overflow() -> None:
    log = Log()
    log.add(1000, "ENTERQUEUE", "c1", "sales")
    log.add(1030, "EXITMOVED", "c1", "sales", to="queue:support")
    log.add(1030, "ENTERQUEUE", "c1", "support")
    log.add(1035, "CONNECT", "c1", "support", "2006", wait=5)
    log.add(1095, "COMPLETECALLER", "c1", "support", "2006", wait=5, talk=60)
    report = queue_report(log.rows, day(60), queues=["sales", "support"])
    sales, support = (row_at(report, q, 1000) for q in ("sales", "support"))
    assert (sales.offered, sales.overflow_out, sales.exited) == (0, 1, 0)
    assert (support.offered, support.answered, support.overflow_in, support.asa) == (1, 1, 1, 35)


def test_an_overflow_that_was_never_answered_counts_where_it_ended() -> None:
    log = Log()
    log.add(1000, "ENTERQUEUE", "c1", "sales")
    log.add(1060, "EXITWITHTIMEOUT", "c1", "sales")
    log.add(1060, "ENTERQUEUE", "c1", "support")
    log.add(1090, "ABANDON", "c1", "support", wait=30)
    report = queue_report(log.rows, day(60))
    [sales, support] = report.totals
    assert (sales.queue, sales.offered, sales.overflow_out) == ("sales", 0, 1)
    assert (support.offered, support.abandoned, support.longest_wait) == (1, 1, 90)


def test_a_transferred_call_counts_once_and_each_agent_gets_their_own_talk() -> None:
    log = Log()
    log.answered("c1", "sales", "2001", 500, wait=4, talk=100, end="TRANSFER", wrap=10)
    log.answered("c1", "support", "2003", 604, wait=6, talk=50, wrap=20)
    report = queue_report(log.rows, day(60))
    [sales, support] = report.totals
    assert (sales.offered, sales.answered, sales.handled, sales.transferred_out) == (1, 1, 1, 1)
    assert (sales.talk, sales.wrap) == (100, 10)
    assert (support.offered, support.answered, support.handled) == (0, 0, 1)
    assert (support.transferred_in, support.talk, support.wrap) == (1, 50, 20)
    assert support.aht == 70 and sales.aht == 110


def test_a_call_that_spans_intervals_belongs_to_the_interval_it_arrived_in() -> None:
    log = Log().answered("c1", "sales", "2001", 10 * HOUR + 14 * 60 + 50, wait=20, talk=600)
    report = queue_report(log.rows, day(15))
    before = row_at(report, "sales", 10 * HOUR)
    after = row_at(report, "sales", 10 * HOUR + 15 * 60)
    assert (before.offered, before.answered, before.talk) == (1, 1, 600)
    assert (after.offered, after.answered, after.talk) == (0, 0, 0)
    assert len(report.rows) == 96  # a row for every 15 minutes of the day


def test_aht_is_talk_plus_hold_plus_wrap_up_with_talk_excluding_hold() -> None:
    log = Log()
    log.add(0, "ENTERQUEUE", "c1", "sales")
    log.add(5, "CONNECT", "c1", "sales", "2001", wait=5)
    log.add(30, "HOLD", "c1", "sales", "2001")
    log.add(50, "UNHOLD", "c1", "sales", "2001")
    log.add(105, "COMPLETEAGENT", "c1", "sales", "2001", wait=5, talk=100)
    log.add(135, "WRAPUPEND", "", "sales", "2001", wrap=30)
    [total] = queue_report(log.rows, day()).totals
    assert (total.talk, total.hold, total.wrap, total.aht) == (80, 20, 30, 130)


def test_a_callback_is_offered_once_requested_and_completed_outside_the_service_level() -> None:
    log = Log()
    log.add(0, "ENTERQUEUE", "c1", "support")
    log.add(40, "CALLBACKREQUESTED", "c1", "support", number="5551234", position=3)
    log.add(290, "OFFER", "c1", "support", "2004", attempt=1)
    log.add(300, "CALLBACKDONE", "c1", "support", "2004")
    log.add(300, "CONNECT", "c1", "support", "2004", wait=300)
    log.add(360, "COMPLETEAGENT", "c1", "support", "2004", wait=300, talk=60)
    log.answered("c2", "support", "2005", 100, wait=5, talk=30)
    [total] = queue_report(log.rows, day()).totals
    assert (total.offered, total.answered, total.callbacks_requested) == (2, 1, 1)
    assert total.callbacks_completed == 1 and total.handled == 2
    assert total.service_level == 1.0  # the callback left the denominator
    assert total.talk == 90
    assert total.longest_wait == 40  # the caller waited until they asked to be called


def test_calls_that_left_by_key_or_timeout_count_as_offered_and_exited() -> None:
    log = Log()
    log.add(0, "ENTERQUEUE", "c1", "sales")
    log.add(30, "EXITWITHKEY", "c1", "sales", key="0")
    log.add(50, "FULL", "c2", "sales", caller="5550000")
    [total] = queue_report(log.rows, day()).totals
    assert (total.offered, total.exited, total.answered, total.service_level) == (2, 2, 0, 0.0)


def test_queues_without_calls_still_have_rows_and_undefined_figures_are_none() -> None:
    report = queue_report([], day(60), queues=["sales"])
    assert len(report.rows) == 24
    row = report.rows[0].as_dict()
    assert row["offered"] == 0 and row["service_level"] is None and row["asa"] is None
    assert row["aht"] is None


def test_a_visit_that_began_before_the_period_is_not_counted() -> None:
    log = Log().answered("c1", "sales", "2001", -30, wait=40, talk=60)
    report = queue_report(log.rows, day(60), queues=["sales"])
    assert report.totals[0].offered == 0 and report.totals[0].handled == 0
