"""The distributor's run-time state, and the moves every part of it makes on that state.

Theory of operation
-------------------
:class:`AcdState` holds what the parts of the distributor share: the queues
(:class:`QueueState`, each with one :class:`Profile` per distinct caller requirement),
the agents (:class:`~pbx.acd.models.Agent`), the callers in a queue
(:class:`~pbx.acd.models.QueuedCall`), the calls agents are talking on (:class:`Talk`)
and one heap of deadlines. The parts (:mod:`pbx.acd.matching`, :mod:`pbx.acd.waiting`,
:mod:`pbx.acd.agents`, :mod:`pbx.acd.offers`, :mod:`pbx.acd.talk`) are functions that
take the state as their first argument and keep nothing of their own.

A deadline is armed by writing it into the agent's or the caller's ``deadlines``
(kind → time) and pushing ``(time, seq, kind, is_agent, id)`` onto the heap; it is
disarmed by deleting the ``deadlines`` entry, so a heap entry counts only while it still
matches (lazy deletion).

Two moves keep the matching indexes true wherever they are made:

* :func:`set_state`, the only way an agent's state changes: checked against
  :data:`~pbx.acd.models.AGENT_TRANSITIONS`; an agent leaving READY leaves every ready
  list (:func:`unoffer`); the queues' staffed counts follow logins, logouts and pauses;
* :func:`unindex_call`: a caller leaves their slot among a profile's waiting callers.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from attrs import define, field

from pbx.acd import actions as act
from pbx.acd.models import (
    AGENT_TRANSITIONS,
    Agent,
    AgentState,
    QueueConfig,
    QueuedCall,
    Requirement,
)
from pbx.acd.strategies import Strategy
from pbx.errors import InvalidStateError, LocalProtocolError

S = AgentState
Actions = list[act.AcdAction]
RECENT_WINDOW = 1800.0
"""Seconds of the wallboard's recent service level (the last 30 minutes)."""


@define(eq=False)
class Profile:
    """One requirement within one queue: its waiting callers and qualifying ready agents."""

    queue: QueueState
    req: Requirement
    agents: list[tuple[Any, ...]] = field(factory=list)
    """Ready agents meeting ``req``, sorted: ``(penalty, *strategy key, arrival, agent id)``."""
    calls: list[tuple[int, float, int, str, int]] = field(factory=list)
    live_calls: int = 0


@define(eq=False)
class QueueState:
    """A queue at run time: its strategy, profiles, members, callers and statistics."""

    config: QueueConfig
    strategy: Strategy
    ring_all: bool
    key_per_requirement: bool
    on_offer: Callable[[Agent, QueueConfig, tuple[float, ...]], None] | None
    weight: int
    profiles: dict[Requirement, Profile] = field(factory=dict)
    members: set[str] = field(factory=set)
    staffed: int = 0
    calls: dict[str, QueuedCall] = field(factory=dict)
    by_priority: dict[int, int] = field(factory=dict)
    handle_times: deque[float] = field(factory=deque)
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    exited: int = 0
    wait_total: float = 0.0
    recent: deque[tuple[float, bool]] = field(factory=deque)
    """(when, answered within the threshold) of each caller who left the queue in the
    last :data:`RECENT_WINDOW` seconds (trimmed as the live view is taken)."""

    def left(self, now: float, in_sl: bool) -> None:
        """A caller left the queue (answered, abandoned or sent away) at ``now``."""
        self.recent.append((now, in_sl))


@define(eq=False)
class Talk:
    """A caller connected to an agent, from the answer until the call ends."""

    agent: str
    queue: str
    connected: float
    wait: float
    position: int


@define(eq=False)
class AcdState:
    """Queues, agents, queued callers, talks and deadlines: the distributor's tables."""

    queues: dict[str, QueueState]
    agents: dict[str, Agent]
    device_grace: float
    """Seconds an agent whose phone lost its registration stays logged in."""
    calls: dict[str, QueuedCall] = field(factory=dict)
    talks: dict[str, Talk] = field(factory=dict)
    timers: list[tuple[float, int, str, bool, str]] = field(factory=list)
    seq: itertools.count[int] = field(factory=itertools.count)
    """Arrival order of callers, index entries and deadlines."""

    def queue(self, name: str) -> QueueState:
        """The queue named ``name``; an unknown name is the caller's mistake."""
        q = self.queues.get(name)
        if q is None:
            raise LocalProtocolError(f"unknown queue {name!r}")
        return q

    def agent(self, agent: str) -> Agent:
        """The agent with id ``agent``; an unknown id is the caller's mistake."""
        a = self.agents.get(agent)
        if a is None:
            raise LocalProtocolError(f"unknown agent {agent!r}")
        return a

    def position(self, call: QueuedCall) -> int:
        """The caller's 1-based position in their queue."""
        key = call.sort_key
        return 1 + sum(1 for c in self.queues[call.queue].calls.values() if c.sort_key < key)

    def remove_call(self, call: QueuedCall) -> None:
        """The caller leaves the queue: out of the indexes, the tables and the deadlines."""
        unindex_call(call)
        q = self.queues[call.queue]
        del self.calls[call.call]
        del q.calls[call.call]
        q.by_priority[call.priority] -= 1
        call.deadlines.clear()

    def arm_agent(self, agent: Agent, kind: str, deadline: float) -> None:
        """Set the agent's ``kind`` deadline (replacing any earlier one)."""
        agent.deadlines[kind] = deadline
        heapq.heappush(self.timers, (deadline, next(self.seq), kind, True, agent.id))

    def arm_call(self, call: QueuedCall, kind: str, deadline: float) -> None:
        """Set the caller's ``kind`` deadline (replacing any earlier one)."""
        call.deadlines[kind] = deadline
        heapq.heappush(self.timers, (deadline, next(self.seq), kind, False, call.call))

    def timer_valid(self, deadline: float, kind: str, is_agent: bool, ref: str) -> bool:
        """Whether a heap entry is still armed (not disarmed, replaced or left behind)."""
        obj: Agent | QueuedCall | None = self.agents.get(ref) if is_agent else self.calls.get(ref)
        return obj is not None and obj.deadlines.get(kind) == deadline


def set_state(
    acd: AcdState, agent: Agent, state: AgentState, reason: str, now: float, out: Actions
) -> None:
    """Move the agent to ``state`` (see the module docstring) and report the change."""
    before = agent.state
    if (before, state) not in AGENT_TRANSITIONS:
        raise InvalidStateError(
            f"agent {agent.id!r} cannot go from {before.value} to {state.value}"
        )
    if before is S.READY:
        unoffer(agent)
    was_staffed = before is not S.LOGGED_OUT and before is not S.NOT_READY
    staffed = state is not S.LOGGED_OUT and state is not S.NOT_READY
    if was_staffed != staffed:
        delta = 1 if staffed else -1
        for name in agent.queues:
            acd.queues[name].staffed += delta
    agent.state = state
    agent.reason = reason
    agent.since = now
    out.append(act.AgentStateChanged(agent.id, state, reason))


def log_agent(
    agent: Agent, name: str, data: Mapping[str, object], now: float, out: Actions
) -> None:
    """One queue-log row per queue the agent is logged in to."""
    for queue in agent.queues:
        out.append(act.LogEvent(now, name, "", queue, agent.id, dict(data)))


def unoffer(agent: Agent) -> None:
    """The agent stops being offerable: their index entries are removed."""
    agent.listed = False
    for profile, entry in agent.indexes:
        ready = profile.agents
        del ready[bisect_left(ready, entry)]
    agent.indexes.clear()


def index_call(acd: AcdState, call: QueuedCall) -> None:
    """Put the caller (back) among their profile's waiting callers."""
    profile = acd.queues[call.queue].profiles[call.skills]
    call.index = profile
    call.version += 1
    profile.live_calls += 1
    heapq.heappush(
        profile.calls, (-call.priority, call.enqueued, call.seq, call.call, call.version)
    )


def unindex_call(call: QueuedCall) -> None:
    """Take the caller out of their profile's waiting callers (their entry goes stale)."""
    profile = call.index
    if profile is not None:
        assert isinstance(profile, Profile)
        profile.live_calls -= 1
        call.index = None
        call.version += 1
