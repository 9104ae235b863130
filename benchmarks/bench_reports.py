"""Reports over a year of records: a day's interval reports from a store of 1,000,000 calls.

Builds a store (the pbx's own schema and migrations) holding ``--calls`` calls spread
over 365 days — a CDR row each and the queue-log rows a real call writes (ENTERQUEUE,
CONNECT, COMPLETE…, WRAPUPEND; abandons; agents' logins and pauses) — then times what
the API does for one busy day, end to end (read-only connection, query, decode, compute):

* the queue report in 15-minute intervals, the agent report hourly, calls by DID hourly;
* the month's queue report by day;
* as the baseline, the day's queue-log query with its index refused (``NOT INDEXED``).

Target: a day's interval report over 1,000,000 CDR rows in under 2 s.

    .venv/bin/python benchmarks/bench_reports.py            # 1,000,000 calls
    .venv/bin/python benchmarks/bench_reports.py --quick    # 100,000 calls
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pbx.reports import agent_report, calls_report, intervals, queue_report
from pbx.store import Store
from pbx.store.readonly import ReportReader

DAYS = 365
QUEUES = ("sales", "support", "billing")
AGENTS = [f"{2000 + i}" for i in range(1, 61)]
START = datetime(2026, 1, 1, tzinfo=UTC)


def build(path: Path, calls: int, seed: int = 7) -> float:
    """Fill the store at ``path``; the seconds it took."""
    t0 = time.perf_counter()
    store = Store(path)
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    rng = random.Random(seed)
    per_day = calls / DAYS
    cdr_rows: list[tuple[object, ...]] = []
    log_rows: list[tuple[object, ...]] = []
    base = START.timestamp()
    n = 0
    for day in range(DAYS):
        midnight = base + day * 86400
        for agent in AGENTS:
            queue = QUEUES[int(agent) % 3]
            log_rows.append((midnight + 8 * 3600, None, queue, agent, "AGENTLOGIN", "{}"))
            log_rows.append(
                (midnight + 12 * 3600, None, queue, agent, "PAUSE", '{"reason": "lunch"}')
            )
            log_rows.append((midnight + 13 * 3600, None, queue, agent, "UNPAUSE", "{}"))
            log_rows.append((midnight + 20 * 3600, None, queue, agent, "AGENTLOGOFF", "{}"))
        count = int(per_day) + (1 if rng.random() < per_day % 1 else 0)
        for _ in range(count):
            if n >= calls:
                break
            n += 1
            call = f"c{n:08d}"
            queue = rng.choice(QUEUES)
            agent = rng.choice(AGENTS)
            start = midnight + 8 * 3600 + rng.random() * 12 * 3600
            wait = rng.expovariate(1 / 25)
            abandoned = rng.random() < 0.08
            data = json.dumps({"queue": queue})
            log_rows.append((start, call, queue, None, "ENTERQUEUE", '{"position": 1}'))
            if abandoned:
                end = start + wait
                log_rows.append((end, call, queue, None, "ABANDON", json.dumps({"wait": wait})))
                cdr_rows.append(
                    (call, "inbound", "sim", "200", "5551234", start, start, end, 0.0, 0.0,
                     "abandoned", None, queue, data)
                )  # fmt: skip
                continue
            talk = rng.expovariate(1 / 180)
            answered = start + wait
            end = answered + talk
            log_rows.append((answered, call, queue, agent, "CONNECT", json.dumps({"wait": wait})))
            log_rows.append(
                (end, call, queue, agent, "COMPLETECALLER",
                 json.dumps({"wait": wait, "talk": talk}))
            )  # fmt: skip
            log_rows.append((end + 5, None, queue, agent, "WRAPUPEND", '{"wrap": 5}'))
            cdr_rows.append(
                (call, "inbound", "sim", rng.choice(("200", "101", "300")), "5551234", start,
                 start, end, talk, 0.0, "answered", agent, queue, data)
            )  # fmt: skip
        if len(cdr_rows) > 50_000 or day == DAYS - 1:
            db.executemany(
                "INSERT INTO cdr (call_id, direction, trunk, did, caller, start_time, "
                "answer_time, end_time, talk_seconds, hold_seconds, disposition, agent, queue, "
                "data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                cdr_rows,
            )
            db.executemany(
                "INSERT INTO queue_log (time, call_id, queue, agent, event, data) "
                "VALUES (?,?,?,?,?,?)",
                log_rows,
            )
            db.commit()
            cdr_rows.clear()
            log_rows.clear()
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return time.perf_counter() - t0


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 calls")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    calls = args.calls or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.db"
        built = build(path, calls)
        with ReportReader(path) as reader:
            cdr_count = reader.db.execute("SELECT COUNT(*) FROM cdr").fetchone()[0]
            log_count = reader.db.execute("SELECT COUNT(*) FROM queue_log").fetchone()[0]
        size = path.stat().st_size / 1e6
        print(f"store: {cdr_count:,} CDR rows, {log_count:,} queue-log rows, {size:,.0f} MB "
              f"(built in {built:.1f} s)")  # fmt: skip
        day0 = START + timedelta(days=200)
        day1 = day0 + timedelta(days=1)
        q15 = intervals(day0, day1, 15)
        h60 = intervals(day0, day1, 60)
        month = intervals(day0, day0 + timedelta(days=30), "day")

        def day_queues() -> object:
            with ReportReader(path) as r:
                rows = r.queue_log(q15.start, q15.end + 6 * 3600)
            return queue_report(rows, q15, queues=QUEUES)

        def day_agents() -> object:
            with ReportReader(path) as r:
                rows = r.queue_log(h60.start - 86400, h60.end)
            return agent_report(rows, h60, agents=AGENTS)

        def day_dids() -> object:
            with ReportReader(path) as r:
                rows = r.cdr(h60.start, h60.end, data=False)
            return calls_report(rows, h60, "did")

        def month_queues() -> object:
            with ReportReader(path) as r:
                rows = r.queue_log(month.start, month.end + 6 * 3600)
            return queue_report(rows, month, queues=QUEUES)

        def unindexed() -> object:
            with ReportReader(path) as r:
                return r.db.execute(
                    "SELECT COUNT(*) FROM queue_log NOT INDEXED WHERE time >= ? AND time < ?",
                    (q15.start, q15.end),
                ).fetchone()

        def indexed() -> object:
            with ReportReader(path) as r:
                return r.db.execute(
                    "SELECT COUNT(*) FROM queue_log WHERE time >= ? AND time < ?",
                    (q15.start, q15.end),
                ).fetchone()

        results = []
        for name, fn, reps in (
            ("day, queues, 15 min (96 × 3)", day_queues, args.repeat),
            ("day, agents, hourly (24 × 60)", day_agents, args.repeat),
            ("day, calls by DID, hourly", day_dids, args.repeat),
            ("30 days, queues, daily", month_queues, max(1, args.repeat // 2)),
            ("day's rows counted, index used", indexed, args.repeat),
            ("day's rows counted, NOT INDEXED (baseline)", unindexed, max(1, args.repeat // 2)),
        ):
            seconds, result = timed(fn, reps)
            results.append((name, seconds))
            print(f"{name:45s} {seconds * 1000:9.1f} ms")
        day_offered = sum(r.offered for r in day_queues().totals)  # type: ignore[attr-defined]
        print(f"the day's calls offered: {day_offered:,}")
        ratio = dict(results)["day's rows counted, NOT INDEXED (baseline)"] / max(
            dict(results)["day's rows counted, index used"], 1e-9
        )
        print(f"index vs full scan: {ratio:,.0f}× faster")
        worst = max(s for n, s in results[:3])
        ok = worst < 2.0
        print(f"target: a day's report under 2 s → {'met' if ok else 'MISSED'} ({worst:.3f} s)")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
