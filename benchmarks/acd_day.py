"""A simulated contact-center day through the real distributor, against Erlang C.

Calls arrive as a Poisson process and talk for exponential times; agents answer an offer
at once and have no wrap-up, so the system is the M/M/N queue that Erlang C describes.
A discrete-event loop drives ``Distributor.handle`` / ``handle_timer`` on a simulated
clock (the next arrival, call end or ACD deadline, whichever is first). The table
compares the measured service level, ASA and occupancy with Erlang C for the same load
(the first 5 % of callers, who meet an idle center, are left out; occupancy is talk time
over agent time until the last arrival), and prints the speed-up over real time.
``ACD snapshot`` is the distributor's own wallboard figures over the whole day.

Defaults: 50,000 calls, 100 agents, AHT 180 s, 90 Erlangs offered (0.5 calls/s), 20 s
service-level target; ``--quick`` runs 10,000 calls. Announcements every 30 s and a
five-minute callback offer are on, so the distributor's timers run too.
At 85–90 % occupancy one day's P(wait) and ASA still vary a lot from seed to seed (ASA
0.7–2.1× Erlang C over seeds 1–6 at 85 Erlangs, mean 1.16×; occupancy within 2 %): long
busy periods make waits strongly correlated. Try ``--seed``.
Run: ``.venv/bin/python benchmarks/acd_day.py [--quick] [--calls N] [--erlangs A] [--seed S]``.
"""

from __future__ import annotations

import argparse
import heapq
import random
import time

from pbx.acd import actions as act
from pbx.acd import erlang
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor
from pbx.acd.models import AgentConfig, Membership, QueueConfig


def simulate(
    calls: int, agents: int, erlangs: float, aht: float, target: float, strategy: str, seed: int
) -> dict[str, float]:
    rng = random.Random(seed)
    queue = QueueConfig(
        "sales",
        strategy=strategy,
        announce_period=30.0,
        callback_after=300.0,
        service_level_threshold=target,
        default_aht=aht,
    )
    configs = [AgentConfig(f"a{i}", queues=(Membership("sales"),)) for i in range(agents)]
    d = Distributor([queue], configs, rng=random.Random(seed + 1))
    for c in configs:
        d.handle(ev.AgentLogin(c.id), 0.0)
    rate = erlangs / aht
    pending: list[tuple[float, int, ev.AcdEvent]] = []
    t = 0.0
    for i in range(calls):
        t += rng.expovariate(rate)
        pending.append((t, i, ev.CallQueued(f"c{i}", "sales")))
    last_arrival = t
    warm = calls // 20  # the first 5 % start with every agent idle: left out of the figures
    seq = calls
    heapq.heapify(pending)
    enqueued: dict[str, float] = {}
    waits: dict[str, float] = {}
    talk = 0.0
    handled = 0
    now = 0.0
    wall = time.perf_counter()
    while pending:
        deadline = d.get_timer()
        if deadline is not None and deadline < pending[0][0]:
            now = deadline
            out = d.handle_timer(now)
        else:
            now, _, event = heapq.heappop(pending)
            if isinstance(event, ev.CallQueued):
                enqueued[event.call] = now
            out = d.handle(event, now)
        handled += 1
        for a in out:
            if isinstance(a, act.OfferToAgent):
                d.handle(ev.OfferAccepted(a.call, a.agent), now)
                waits[a.call] = now - enqueued.pop(a.call)
                duration = rng.expovariate(1.0 / aht)
                talk += min(duration, max(0.0, last_arrival - now))
                heapq.heappush(
                    pending, (now + duration, seq, ev.CallCompleted(a.call, a.agent, "caller"))
                )
                seq += 1
    wall = time.perf_counter() - wall
    view = d.snapshot(now)
    assert len(waits) == calls and view.queues[0].answered == calls
    measured = [waits[f"c{i}"] for i in range(warm, calls)]
    return {
        "simulated": now,
        "wall": wall,
        "inputs": handled,
        "service_level": sum(w <= target for w in measured) / len(measured),
        "asa": sum(measured) / len(measured),
        "p_wait": sum(w > 0 for w in measured) / len(measured),
        "occupancy": talk / (agents * last_arrival),
        "acd_sl": view.queues[0].service_level,
        "acd_asa": view.queues[0].asa,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 calls (< 30 s)")
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--erlangs", type=float, default=90.0)
    parser.add_argument("--aht", type=float, default=180.0)
    parser.add_argument("--target", type=float, default=20.0)
    parser.add_argument("--strategy", default="longest_idle")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    calls = 10_000 if args.quick else args.calls
    r = simulate(calls, args.agents, args.erlangs, args.aht, args.target, args.strategy, args.seed)
    a, n = args.erlangs, args.agents
    expected = {
        "p_wait": erlang.erlang_c(a, n),
        "service_level": erlang.service_level(a, n, args.aht, args.target),
        "asa": erlang.asa(a, n, args.aht),
        "occupancy": erlang.occupancy(a, n),
    }
    print(
        f"Contact-center day: {calls:,} calls, {n} agents, {a:g} Erlangs, AHT {args.aht:g} s, "
        f"strategy {args.strategy}"
    )
    print(
        f"simulated {r['simulated'] / 3600:.1f} h in {r['wall']:.2f} s wall: "
        f"{r['simulated'] / r['wall']:,.0f}× real time, {r['inputs'] / r['wall']:,.0f} ACD inputs/s"
    )
    header = f"{'measure':24} {'simulated':>10} {'Erlang C':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    rows = [
        ("P(wait)", "p_wait", 1.0),
        (f"service level ({args.target:g} s)", "service_level", 1.0),
        ("ASA (s)", "asa", 1.0),
        ("occupancy", "occupancy", 1.0),
    ]
    for label, key, _ in rows:
        print(f"{label:24} {r[key]:10.4f} {expected[key]:10.4f} {r[key] / expected[key]:7.3f}")
    print(f"{'ACD snapshot SL / ASA':24} {r['acd_sl']:10.4f} {r['acd_asa']:10.4f}")


if __name__ == "__main__":
    main()
