"""A campaign day on a simulated clock: the dialer, the real ACD and simulated people.

A dial reaches a person with probability ``answer`` after a ring of 3–15 s and a 1 s
greeting; otherwise it fails busy after a few seconds or rings out at the ring timeout.
An answered person is queued in the ACD; agents take offers at once and talk for a
lognormal time of mean ``handle``. ACD agent states become the dialer's availability.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from attrs import define

from pbx.acd import actions as aa
from pbx.acd import events as ae
from pbx.acd.distributor import Distributor
from pbx.acd.models import AgentConfig, AgentState, Membership, QueueConfig
from pbx.dialer import actions as da
from pbx.dialer import events as de
from pbx.dialer.campaign import CampaignConfig, Mode, RetryRule, RetryRules
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import Lead

from .helpers import ALWAYS, MONDAY_NOON_UTC

READY = AgentState.READY
AWAY = (AgentState.NOT_READY, AgentState.LOGGED_OUT)


@define
class DayResult:
    """What one simulated day did."""

    dials: int = 0
    live: int = 0
    abandoned: int = 0
    busy_time: float = 0.0
    agents: int = 0
    hours: float = 0.0
    ended: int = 0
    max_lines_seen: int = 0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.live if self.live else 0.0

    @property
    def occupancy(self) -> float:
        return self.busy_time / (self.agents * self.hours * 3600.0)


def run_day(
    mode: Mode, agents: int, answer: float, handle: float, hours: float, seed: int
) -> DayResult:
    """One campaign day; see the module docstring."""
    rng = random.Random(seed)
    end = hours * 3600.0
    names = [f"a{i}" for i in range(agents)]
    acd = Distributor(
        [QueueConfig("out")],
        [AgentConfig(a, queues=(Membership("out"),)) for a in names],
        rng=random.Random(seed + 1),
    )
    once = RetryRule(1, 0.0)
    config = CampaignConfig(
        name="day",
        mode=mode,
        trunk="sim",
        caller_id="5550100",
        calling_hours=ALWAYS,
        retry=RetryRules(once, once, once, once, once, once),
        max_lines=2 * agents + 20,
        queue="out",
        amd=False,
    )
    dialer = Dialer([config], wall=lambda now: MONDAY_NOON_UTC + now)
    n = max(2000, int(agents * end / handle / answer * 1.5))
    result = DayResult(agents=agents, hours=hours)
    events: list[tuple[float, int, Callable[[float], None]]] = []
    seq = iter(range(10**9))
    work: deque[tuple[str, Any]] = deque()
    busy_since: dict[str, float] = {}

    def at(t: float, fn: Callable[[float], None]) -> None:
        heapq.heappush(events, (t, next(seq), fn))

    def to_dialer(event: de.DialerEvent, now: float) -> None:
        if isinstance(event, (de.AttemptEnded, de.AttemptFailed)):
            result.ended += 1
        work.extend(("d", a) for a in dialer.handle(event, now))

    def to_acd(event: ae.AcdEvent, now: float) -> None:
        work.extend(("a", a) for a in acd.handle(event, now))

    def place(attempt: str, now: float) -> None:
        result.dials += 1
        u = rng.random()
        if u < answer:
            t = now + rng.uniform(3.0, 15.0) + 1.0
            event: de.DialerEvent = de.AttemptAnswered(attempt, "human", greeting_end=t)
        elif u < answer + (1 - answer) * 0.2:
            t, event = now + rng.uniform(2.0, 8.0), de.AttemptFailed(attempt, 486)
        else:
            t, event = now + config.ring_timeout, de.AttemptFailed(attempt, 487)
        at(t, lambda t: to_dialer(event, t))

    def connected(call: str, agent: str, now: float) -> None:
        to_dialer(de.AgentConnected(call, agent), now)
        sigma = 0.8
        talk = rng.lognormvariate(math.log(handle) - sigma * sigma / 2, sigma)

        def hang_up(t: float) -> None:
            to_acd(ae.CallCompleted(call, agent, "caller"), t)
            to_dialer(de.AttemptEnded(call, talk), t)

        at(now + talk, hang_up)

    def agent_state(agent: str, state: AgentState, now: float) -> None:
        if state is READY or state in AWAY:
            if agent in busy_since:
                result.busy_time += min(now, end) - min(busy_since.pop(agent), end)
            kind = de.AgentAvailable if state is READY else de.AgentAway
            to_dialer(kind("day", agent), now)
        elif agent not in busy_since:
            busy_since[agent] = now
            to_dialer(de.AgentBusy("day", agent, now), now)

    def perform(source: str, a: Any, now: float) -> None:
        if isinstance(a, da.Dial):
            place(a.attempt, now)
            lines = result.dials - result.ended
            result.max_lines_seen = max(result.max_lines_seen, lines)
        elif isinstance(a, da.Enqueue):
            result.live += 1
            to_acd(ae.CallQueued(a.attempt, a.queue, a.priority), now)
        elif isinstance(a, da.PlayAbandonMessage):
            result.abandoned += 1
            to_acd(ae.CallAbandoned(a.attempt), now)
            at(now + 5.0, lambda t: to_dialer(de.AttemptEnded(a.attempt, 5.0), t))
        elif isinstance(a, aa.OfferToAgent):
            to_acd(ae.OfferAccepted(a.call, a.agent), now)
        elif isinstance(a, aa.ConnectCall):
            connected(a.call, a.agent, now)
        elif isinstance(a, aa.AgentStateChanged):
            agent_state(a.agent, a.state, now)

    def drain(now: float) -> None:
        while work:
            source, a = work.popleft()
            perform(source, a, now)

    leads = [Lead(id=f"L{i}", campaign="day", phone=f"+1212{i:07d}", tz="UTC") for i in range(n)]
    to_dialer(de.LeadsAdded(leads), 0.0)
    for a in names:
        to_acd(ae.AgentLogin(a), 0.0)
    to_dialer(de.StartCampaign("day"), 0.0)
    drain(0.0)
    at(end, lambda t: to_dialer(de.StopCampaign("day"), t))
    while True:
        t_d, t_a = dialer.get_timer(), acd.get_timer()
        candidates = [(events[0][0], 0)] if events else []
        if t_d is not None:
            candidates.append((t_d, 1))
        if t_a is not None:
            candidates.append((t_a, 2))
        if not candidates:
            break
        t, which = min(candidates)
        if which == 1:
            work.extend(("d", a) for a in dialer.handle_timer(t))
        elif which == 2:
            work.extend(("a", a) for a in acd.handle_timer(t))
        else:
            heapq.heappop(events)[2](t)
        drain(t)
    for since in busy_since.values():
        result.busy_time += max(0.0, end - since)
    return result
