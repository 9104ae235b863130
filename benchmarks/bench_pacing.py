"""A campaign day on a simulated clock: predictive vs progressive vs blind pacing.

Each cell of the grid (agents × answer rate × handle time) runs one outbound campaign of
at least 10,000 leads through the real :class:`pbx.dialer.Dialer` and the real
:class:`pbx.acd.Distributor`. A dial reaches a person with the cell's answer rate, after
a ring of 3–20 s (lognormal, median 7 s) and a greeting of 0.5–2 s; the answer verdict
comes at the greeting's end. The other dials end busy (15 %, after 2–8 s), failed (10 %,
after 1–3 s) or unanswered at the 20 s ring timeout. An answered person is queued in
the ACD; agents take an offer at once, talk for a lognormal time (σ = 0.8; ``--dist exp``
for exponential) of the cell's mean and have no wrap-up, and the ACD's agent states are
passed to the dialer as availability. A person no agent takes within 2 s of the greeting
is abandoned, as the dialer decides.

* ``predictive``: :class:`~pbx.dialer.pacing.PredictivePacer` with its defaults, limit 3 %;
* ``progressive``: :class:`~pbx.dialer.pacing.ProgressivePacer`;
* ``blind``: :class:`~pbx.dialer.pacing.BlindPacer` at the dial rate for which an Erlang
  loss system (answered calls dropped when no agent is free) loses 3 %.

Occupancy is agents' time on calls over their logged-in time, for the whole day;
abandon is abandoned ÷ live-answered calls (the FCC figure). The day is 8 hours
(``--quick``: 2 hours, the 30 % / 180 s row only); cells run in parallel on ``--jobs`` processes.
Run: ``.venv/bin/python benchmarks/bench_pacing.py [--quick] [--jobs N] [--dist exp]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import structlog

from pbx.acd import actions as aa
from pbx.acd import events as ae
from pbx.acd.distributor import Distributor
from pbx.acd.erlang import erlang_b
from pbx.acd.models import AgentConfig, AgentState, Membership, QueueConfig
from pbx.dialer import actions as da
from pbx.dialer import events as de
from pbx.dialer.campaign import CallingHours, CampaignConfig, Mode, RetryRule, RetryRules
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import Lead
from pbx.dialer.pacing import BlindPacer, Pacer

Cell = tuple[int, float, float, str, float, int, str]
"""agents, answer rate, mean handle time, pacer, hours, seed, handle-time distribution"""

EPOCH = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC).timestamp()  # a Monday, 09:00 UTC
RING_TIMEOUT = 20.0
LIMIT = 0.03
BUSY_STATES = {AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD}
BUSY_STATES.add(AgentState.WRAP_UP)


def blind_rate(agents: int, answer: float, handle: float, loss: float = LIMIT) -> float:
    """Dials per second at which an Erlang loss system of ``agents`` loses ``loss``."""
    lo, hi = 0.0, agents * 3.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if erlang_b(mid, agents) > loss:
            hi = mid
        else:
            lo = mid
    return lo / handle / answer


class Day:
    """One campaign day: the dialer, the distributor and the simulated world."""

    def __init__(self, cell: Cell) -> None:
        agents, answer, handle, pacer, hours, seed, dist = cell
        self.rng = random.Random(seed)
        self.answer, self.handle, self.dist = answer, handle, dist
        self.end = hours * 3600.0
        self.agents = [f"a{i}" for i in range(agents)]
        queue = QueueConfig("out", strategy="longest_idle")
        configs = [AgentConfig(a, queues=(Membership("out"),)) for a in self.agents]
        self.acd = Distributor([queue], configs, rng=random.Random(seed + 1))
        once = RetryRule(1, 0.0)
        always = CallingHours(dt.time(0, 0), dt.time(23, 59, 59), frozenset(range(7)))
        config = CampaignConfig(
            name="day",
            mode=Mode.PROGRESSIVE if pacer == "progressive" else Mode.PREDICTIVE,
            trunk="sim",
            caller_id="5550100",
            calling_hours=always,
            retry=RetryRules(once, once, once, once, once, once),
            max_lines=2 * agents + 60,
            ring_timeout=RING_TIMEOUT,
            queue="out",
            amd=False,
        )
        pacers: dict[str, Pacer] = {}
        if pacer == "blind":
            pacers["day"] = BlindPacer(blind_rate(agents, answer, handle))
        self.dialer = Dialer([config], wall=lambda now: EPOCH + now, pacers=pacers)
        expected = agents * self.end / handle / answer * 1.3
        n = max(10_000, int(expected))
        self.leads = [
            Lead(id=f"L{i}", campaign="day", phone=f"+1212{i:07d}", tz="America/New_York")
            for i in range(n)
        ]
        self.events: list[tuple[float, int, Callable[[float], None]]] = []
        self.seq = 0
        self.work: deque[tuple[str, Any]] = deque()
        self.busy_since: dict[str, float] = {}
        self.busy_time = 0.0
        self.live = self.abandoned = self.dials = self.decisions = 0

    def at(self, t: float, fn: Callable[[float], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, fn))

    def run(self) -> dict[str, float]:
        d, acd = self.dialer, self.acd
        self.feed("dialer", d.handle(de.LeadsAdded(self.leads), 0.0), 0.0)
        for a in self.agents:
            self.feed("acd", acd.handle(ae.AgentLogin(a), 0.0), 0.0)
        self.feed("dialer", d.handle(de.StartCampaign("day"), 0.0), 0.0)
        self.at(self.end, self.stop)
        inf = math.inf
        while True:
            t_ev = self.events[0][0] if self.events else inf
            t_d, t_a = d.get_timer(), acd.get_timer()
            t_d = inf if t_d is None else t_d
            t_a = inf if t_a is None else t_a
            t = min(t_ev, t_d, t_a)
            if t == inf:
                break
            if t_d == t:
                self.feed("dialer", d.handle_timer(t), t)
            elif t_a == t:
                self.feed("acd", acd.handle_timer(t), t)
            else:
                heapq.heappop(self.events)[2](t)
        for since in self.busy_since.values():
            self.busy_time += max(0.0, self.end - since)
        return {
            "occupancy": self.busy_time / (len(self.agents) * self.end),
            "abandon": self.abandoned / self.live if self.live else 0.0,
            "dials": self.dials,
            "live": self.live,
            "decisions": self.decisions,
        }

    def stop(self, now: float) -> None:
        self.feed("dialer", self.dialer.handle(de.StopCampaign("day"), now), now)

    # ------------------------------------------------------------------ actions

    def feed(self, source: str, actions: list[Any], now: float) -> None:
        work = self.work
        work.extend((source, a) for a in actions)
        if len(work) != len(actions):
            return  # already draining
        while work:
            src, a = work[0]
            if src == "dialer":
                self.dialer_action(a, now)
            else:
                self.acd_action(a, now)
            work.popleft()

    def dialer_action(self, a: Any, now: float) -> None:
        d = self.dialer
        if isinstance(a, da.Dial):
            self.dials += 1
            self.place(a.attempt, now)
        elif isinstance(a, da.Enqueue):
            self.live += 1
            out = self.acd.handle(ae.CallQueued(a.attempt, a.queue, a.priority), now)
            self.work.extend(("acd", x) for x in out)
        elif isinstance(a, da.PlayAbandonMessage):
            self.abandoned += 1
            self.work.extend(("acd", x) for x in self.acd.handle(ae.CallAbandoned(a.attempt), now))
            ended = de.AttemptEnded(a.attempt, 6.0)  # the message, then the hang-up
            self.at(now + 6.0, lambda t: self.feed("dialer", d.handle(ended, t), t))
        elif isinstance(a, da.PacingLogged):
            self.decisions += 1

    def place(self, attempt: str, now: float) -> None:
        rng, d = self.rng, self.dialer
        u = rng.random()
        if u < self.answer:
            ring = min(RING_TIMEOUT - 1.0, max(3.0, rng.lognormvariate(math.log(7.0), 0.4)))
            t = now + ring + rng.uniform(0.5, 2.0)
            event: de.DialerEvent = de.AttemptAnswered(attempt, "human", greeting_end=t)
        elif u < self.answer + (1 - self.answer) * 0.15:
            t, event = now + rng.uniform(2.0, 8.0), de.AttemptFailed(attempt, 486)
        elif u < self.answer + (1 - self.answer) * 0.25:
            t, event = now + rng.uniform(1.0, 3.0), de.AttemptFailed(attempt, 503)
        else:
            t, event = now + RING_TIMEOUT, de.AttemptFailed(attempt, 487)
        self.at(t, lambda t: self.feed("dialer", d.handle(event, t), t))

    def acd_action(self, a: Any, now: float) -> None:
        acd, d = self.acd, self.dialer
        if isinstance(a, aa.OfferToAgent):
            self.work.extend(("acd", x) for x in acd.handle(ae.OfferAccepted(a.call, a.agent), now))
        elif isinstance(a, aa.ConnectCall):
            call, agent = a.call, a.agent
            self.work.extend(("dialer", x) for x in d.handle(de.AgentConnected(call, agent), now))
            talk = self.talk()

            def hang_up(t: float) -> None:
                self.feed("acd", acd.handle(ae.CallCompleted(call, agent, "caller"), t), t)
                self.feed("dialer", d.handle(de.AttemptEnded(call, talk), t), t)

            self.at(now + talk, hang_up)
        elif isinstance(a, aa.AgentStateChanged):
            self.agent_state(a.agent, a.state, now)

    def talk(self) -> float:
        if self.dist == "exp":
            return self.rng.expovariate(1.0 / self.handle)
        sigma = 0.8
        return self.rng.lognormvariate(math.log(self.handle) - sigma * sigma / 2, sigma)

    def agent_state(self, agent: str, state: AgentState, now: float) -> None:
        d = self.dialer
        busy = state in BUSY_STATES
        if busy and agent not in self.busy_since:
            self.busy_since[agent] = now
            out = d.handle(de.AgentBusy("day", agent, now), now)
        elif not busy and agent in self.busy_since:
            self.busy_time += min(now, self.end) - min(self.busy_since.pop(agent), self.end)
            out = d.handle(self._availability(agent, state), now)
        elif not busy:
            out = d.handle(self._availability(agent, state), now)
        else:
            return
        self.work.extend(("dialer", x) for x in out)

    @staticmethod
    def _availability(agent: str, state: AgentState) -> de.DialerEvent:
        if state is AgentState.READY:
            return de.AgentAvailable("day", agent)
        return de.AgentAway("day", agent)


def quiet() -> None:
    """Only warnings from the cores: a day logs every abandoned call at info."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))


def run_cell(cell: Cell) -> tuple[Cell, dict[str, float]]:
    """One cell's day, in a worker process."""
    quiet()
    return cell, Day(cell).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-hour days, the 180 s / 30%% row")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dist", choices=("lognormal", "exp"), default="lognormal")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=None)
    args = parser.parse_args()
    hours = args.hours or (2.0 if args.quick else 8.0)
    agents = (5, 10, 20, 50, 100)
    answers = (0.3,) if args.quick else (0.2, 0.3, 0.6)
    handles = (180.0,) if args.quick else (60.0, 180.0, 300.0)
    pacers = ("predictive", "progressive", "blind")
    grid = [
        (n, p, h, pacer, hours, args.seed, args.dist)
        for h in handles
        for p in answers
        for n in agents
        for pacer in pacers
    ]
    grid.sort(key=lambda g: -g[0] / g[2] / g[1])  # the longest cells first
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_cell, grid))
    table: dict[tuple[int, float, float], dict[str, dict[str, float]]] = {}
    for (n, p, h, pacer, *_), result in results:
        table.setdefault((n, p, h), {})[pacer] = result
    print(f"{hours:g}-hour day, handle times {args.dist}, seed {args.seed}; occupancy / abandon")
    print("| handle | answer | agents | predictive | progressive | blind |")
    print("|---|---|---|---|---|---|")
    for (n, p, h), row in sorted(table.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
        cells = " | ".join(f"{row[k]['occupancy']:.1%} / {row[k]['abandon']:.2%}" for k in pacers)
        print(f"| {h:.0f} s | {p:.0%} | {n} | {cells} |")
    dials = sum(r["dials"] for _, r in results)
    print(f"{len(results)} days, {dials:,} dials in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
