"""Properties over random event sequences: offers, readiness, progress, relaxation."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor
from pbx.acd.models import (
    AgentConfig,
    AgentState,
    CallState,
    Membership,
    QueueConfig,
    Requirement,
    satisfies,
)

QUEUES = [
    QueueConfig("sales", strategy="longest_idle", wrap_up=5, rona="skip", skip_delay=7),
    QueueConfig(
        "support",
        strategy="skills",
        skills={"support": 3},
        relax=((20.0, {"support": 1, "russian": 1}), (45.0, {"support": 1})),
        wrap_up=0,
    ),
    QueueConfig("vip", strategy="ring_all", weight=5, max_wait=120, callback_after=30),
]
AGENTS = [
    AgentConfig(
        "a0",
        skills={"support": 10, "russian": 10},
        queues=tuple(Membership(q.name) for q in QUEUES),
    ),
    AgentConfig("a1", skills={"support": 2}, queues=(Membership("support"), Membership("vip"))),
    AgentConfig("a2", skills={"support": 5, "russian": 2}, queues=(Membership("support"),)),
    AgentConfig("a3", queues=(Membership("sales"), Membership("vip", penalty=1))),
    AgentConfig("a4", queues=(Membership("sales"),)),
]
IDS = [a.id for a in AGENTS]
KINDS = [
    "queue",
    "queue",
    "queue",
    "abandon",
    "accept",
    "accept",
    "fail",
    "complete",
    "complete",
    "pause",
    "unpause",
    "ready",
    "login",
    "logout",
    "device_off",
    "device_on",
    "priority",
    "callback",
    "key",
    "transfer",
]

op = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 40),
    st.sampled_from([0.0, 0.0, 1.0, 3.0, 10.0, 30.0]),
    st.sampled_from(["no_answer", "busy", "rejected", "unavailable"]),
)


class Harness:
    """Drives a distributor and checks the invariants after every step."""

    def __init__(self) -> None:
        self.d = Distributor(QUEUES, AGENTS, rng=random.Random(5), device_grace=50)
        self.now = 0.0
        self.calls: list[str] = []
        self.shadow = dict.fromkeys(IDS, AgentState.LOGGED_OUT)
        self.offers: set[tuple[str, str]] = set()
        self.callbacks: set[tuple[str, str]] = set()
        self.talking: set[tuple[str, str]] = set()
        self.skills: dict[str, Requirement] = {}

    def step(self, event: ev.AcdEvent | None) -> list[act.AcdAction]:
        out = self.d.handle_timer(self.now)
        if event is not None:
            out += self.d.handle(event, self.now)
        self.observe(out)
        self.check()
        return out

    def observe(self, out: list[act.AcdAction]) -> None:
        for a in out:
            if isinstance(a, act.AgentStateChanged):
                if a.state is AgentState.RESERVED:
                    # Property: an offer only ever goes to a ready agent.
                    assert self.shadow[a.agent] is AgentState.READY, (a, self.shadow[a.agent])
                self.shadow[a.agent] = a.state
            elif isinstance(a, act.OfferToAgent):
                assert self.shadow[a.agent] is AgentState.RESERVED
                self.offers.add((a.call, a.agent))
            elif isinstance(a, act.PlaceCallback):
                assert self.shadow[a.agent] is AgentState.RESERVED
                self.callbacks.add((a.call, a.agent))
            elif isinstance(a, act.CancelOffer):
                self.offers.discard((a.call, a.agent))
                self.callbacks.discard((a.call, a.agent))

    def check(self) -> None:
        d = self.d
        queued = {c: q for c in self.calls if (q := d.queued(c)) is not None}
        offered_to: dict[str, list[str]] = {}
        for c, q in queued.items():
            for agent in q.offers:
                offered_to.setdefault(agent, []).append(c)
        for aid in IDS:
            agent = d.agent(aid)
            held = offered_to.get(aid, [])
            # Property: no agent has two offers, or an offer while on a call.
            assert len(held) <= 1
            if held:
                assert agent.state in (AgentState.RESERVED, AgentState.RINGING)
            assert agent.state is self.shadow[aid]
            # Property: no ready, reachable agent is left idle beside a caller they can serve.
            if (
                agent.state is AgentState.READY
                and agent.device_ok
                and agent.blocked_until <= self.now
            ):
                for c, q in queued.items():
                    if q.state in (CallState.WAITING, CallState.CALLBACK_PENDING):
                        assert not (
                            q.queue in agent.queues and satisfies(agent.config.skills, q.skills)
                        ), (aid, c)
        # Property: relaxation is monotonic — every later requirement is weaker.
        for c, q in queued.items():
            before = dict(self.skills.get(c, q.skills))
            for name, level in q.skills:
                assert name in before and before[name] >= level
            self.skills[c] = q.skills

    def apply(self, kind: str, pick: int, reason: str) -> None:
        d = self.d
        aid = IDS[pick % len(IDS)]
        live = [c for c in self.calls if d.queued(c) is not None]
        call = live[pick % len(live)] if live else None
        offers = sorted(self.offers)
        talking = sorted(self.talking)
        if kind == "queue":
            name = f"c{len(self.calls)}"
            self.calls.append(name)
            queue = QUEUES[pick % 3].name
            skills = {"russian": 1} if pick % 4 == 0 else {}
            self.step(
                ev.CallQueued(name, queue, priority=pick % 3, skills=skills, caller=f"+1{pick}")
            )
        elif kind == "abandon" and call:
            self.step(ev.CallAbandoned(call))
        elif kind == "accept" and (offers or self.callbacks):
            pending = offers + sorted(self.callbacks)
            c, a = pending[pick % len(pending)]
            event: ev.AcdEvent = (
                ev.OfferAccepted(c, a) if (c, a) in self.offers else ev.CallbackCompleted(c, a)
            )
            out = self.step(event)
            if any(isinstance(x, act.LogEvent) and x.event == "CONNECT" for x in out):
                self.talking.add((c, a))
                self.offers = {o for o in self.offers if o[0] != c}
                self.callbacks = {o for o in self.callbacks if o[0] != c}
        elif kind == "fail" and offers:
            c, a = offers[pick % len(offers)]
            self.offers.discard((c, a))
            self.step(ev.OfferFailed(c, a, reason))
        elif kind in ("complete", "transfer") and talking:
            c, a = talking[pick % len(talking)]
            self.talking.discard((c, a))
            if kind == "complete":
                self.step(ev.CallCompleted(c, a, "caller" if pick % 2 else "agent"))
            else:
                self.step(ev.CallTransferred(c, a, "2005"))
        elif kind == "pause":
            self.step(ev.AgentPause(aid, "lunch"))
        elif kind == "unpause":
            self.step(ev.AgentUnpause(aid))
        elif kind == "ready":
            self.step(ev.AgentReady(aid))
        elif kind == "login":
            self.step(ev.AgentLogin(aid))
        elif kind == "logout":
            self.step(ev.AgentLogout(aid))
        elif kind == "device_off":
            self.step(ev.DeviceUnavailable(aid))
        elif kind == "device_on":
            self.step(ev.DeviceAvailable(aid))
        elif kind == "priority" and call:
            self.step(ev.PriorityChanged(call, pick % 7))
        elif kind == "callback" and call:
            self.step(ev.CallbackRequested(call, "+15550000"))
        elif kind == "key" and call:
            self.step(ev.KeyPressed(call, "1"))
        else:
            self.step(None)
        self.callbacks = {o for o in self.callbacks if d.queued(o[0]) is not None}
        self.offers = {o for o in self.offers if d.queued(o[0]) is not None}

    def drain(self) -> None:
        """Everyone logs in and answers everything: every caller must leave the queue."""
        for aid in IDS:
            self.step(ev.DeviceAvailable(aid))
            self.step(ev.AgentLogin(aid))
            self.step(ev.AgentUnpause(aid))
        for _ in range(400):
            if all(self.d.queued(c) is None for c in self.calls):
                break
            for c, a in sorted(self.talking):
                self.talking.discard((c, a))
                self.step(ev.CallCompleted(c, a, "caller"))
            for aid in IDS:
                self.step(ev.AgentReady(aid))
                self.step(ev.AgentUnpause(aid))
            for c, a in sorted(self.offers) + sorted(self.callbacks):
                if self.d.queued(c) is not None and a in self.d.queued(c).offers:  # type: ignore[union-attr]
                    done = ev.OfferAccepted(c, a)
                    self.step(done)
                    self.talking.add((c, a))
            self.offers.clear()
            self.callbacks.clear()
            self.now += 10.0
            self.step(None)
        # Property: every queued caller is eventually offered (or sent away) when agents are ready.
        assert [c for c in self.calls if self.d.queued(c) is not None] == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=80))
# Logged out during a call and in again before it ended: the agent stays logged in.
@example(
    [
        ("queue", 0, 0.0, "x"),
        ("queue", 0, 0.0, "x"),
        ("accept", 0, 0.0, "x"),
        ("logout", 0, 0.0, "x"),
    ]
)
# A skip after no answer, then logout and login: the new session is not blocked.
@example([("queue", 0, 0.0, "x"), ("queue", 0, 30.0, "x"), ("logout", 0, 0.0, "x")])
def test_invariants_hold_for_any_event_sequence(ops: list[tuple[str, int, float, str]]) -> None:
    h = Harness()
    for aid in IDS[:3]:
        h.step(ev.AgentLogin(aid))
    for kind, pick, dt, reason in ops:
        h.now += dt
        h.apply(kind, pick, reason)
    h.drain()
