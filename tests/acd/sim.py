"""A discrete-event contact center driving a distributor on a simulated clock."""

from __future__ import annotations

import heapq
import random
from collections import Counter

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor


def run_day(
    d: Distributor,
    queue: str,
    calls: int,
    rate: float,
    aht: float,
    rng: random.Random,
) -> tuple[Counter[str], list[float]]:
    """Poisson arrivals at ``rate``/s, exponential talk of mean ``aht``; agents answer at once.

    Returns calls handled per agent and every caller's wait.
    """
    pending: list[tuple[float, int, object]] = []
    seq = 0
    t = 0.0
    for i in range(calls):
        t += rng.expovariate(rate)
        pending.append((t, seq, ev.CallQueued(f"c{i}", queue)))
        seq += 1
    heapq.heapify(pending)
    handled: Counter[str] = Counter()
    enqueued: dict[str, float] = {}
    waits: list[float] = []
    while pending:
        deadline = d.get_timer()
        if deadline is not None and deadline < pending[0][0]:
            out, now = d.handle_timer(deadline), deadline
        else:
            now, _, event = heapq.heappop(pending)
            if isinstance(event, ev.CallQueued):
                enqueued[event.call] = now
            out = d.handle(event, now)  # type: ignore[arg-type]
        for a in out:
            if isinstance(a, act.OfferToAgent):
                accepted = d.handle(ev.OfferAccepted(a.call, a.agent), now)
                assert any(isinstance(x, act.ConnectCall) for x in accepted)
                waits.append(now - enqueued.pop(a.call))
                handled[a.agent] += 1
                end = now + rng.expovariate(1.0 / aht)
                heapq.heappush(pending, (end, seq, ev.CallCompleted(a.call, a.agent, "caller")))
                seq += 1
    return handled, waits
