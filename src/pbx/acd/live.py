"""The live view: what supervisors and wallboards see of every queue and agent.

Theory of operation
-------------------
:func:`snapshot` copies the distributor's state at ``now`` into frozen values
(:class:`LiveView` of :class:`QueueView` and :class:`AgentView`), so a reader can keep
one while the distributor moves on.

Service level is answered within the queue's threshold divided by callers that left the
queue (answered, abandoned or sent away), since the last reset and over the last 30
minutes (``service_level_recent``, with ``offered_recent`` callers); ASA is the mean
wait of answered callers; AHT is :func:`pbx.acd.ewt.aht`. Statistics and the agents'
"today" counters run until :func:`reset_statistics`.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from pbx.acd.ewt import aht
from pbx.acd.models import AgentState, CallState
from pbx.acd.state import RECENT_WINDOW, AcdState


@frozen
class QueueView:
    """A queue on the wallboard."""

    name: str
    waiting: int
    """Callers in the queue (waiting, being offered, callbacks pending)."""
    callbacks: int
    longest_wait: float
    agents: Mapping[str, int]
    """Logged-in members by state value."""
    answered: int
    abandoned: int
    offered: int
    """Callers who left the queue: answered, abandoned or sent away."""
    service_level: float
    asa: float
    aht: float
    service_level_recent: float = 1.0
    """The service level of the callers who left in the last 30 minutes."""
    offered_recent: int = 0
    """Callers who left the queue in the last 30 minutes."""


@frozen
class AgentView:
    """An agent on the wallboard."""

    id: str
    name: str
    state: AgentState
    reason: str
    since: float
    call: str | None
    calls_today: int
    talk_today: float


@frozen
class LiveView:
    """What supervisors see, at ``time``."""

    time: float
    queues: tuple[QueueView, ...]
    agents: tuple[AgentView, ...]


def snapshot(acd: AcdState, now: float) -> LiveView:
    """The live state of every queue and agent, for supervisors and wallboards."""
    queues = []
    for q in acd.queues.values():
        by_state: dict[str, int] = {}
        for aid in q.members:
            state = acd.agents[aid].state.value
            by_state[state] = by_state.get(state, 0) + 1
        live = [c for c in q.calls.values() if c.state in (CallState.WAITING, CallState.OFFERED)]
        offered = q.answered + q.abandoned + q.exited
        recent = q.recent
        while recent and recent[0][0] <= now - RECENT_WINDOW:
            recent.popleft()
        in_sl = sum(1 for _, ok in recent if ok)
        queues.append(
            QueueView(
                name=q.config.name,
                waiting=len(q.calls),
                callbacks=len(q.calls) - len(live),
                longest_wait=max((now - c.enqueued for c in live), default=0.0),
                agents=by_state,
                answered=q.answered,
                abandoned=q.abandoned,
                offered=offered,
                service_level=q.answered_in_sl / offered if offered else 1.0,
                asa=q.wait_total / q.answered if q.answered else 0.0,
                aht=aht(q),
                service_level_recent=in_sl / len(recent) if recent else 1.0,
                offered_recent=len(recent),
            )
        )
    agents = tuple(
        AgentView(
            id=a.id,
            name=a.config.name,
            state=a.state,
            reason=a.reason,
            since=a.since,
            call=a.call,
            calls_today=a.calls_today,
            talk_today=a.talk_today,
        )
        for a in acd.agents.values()
    )
    return LiveView(time=now, queues=tuple(queues), agents=agents)


def reset_statistics(acd: AcdState) -> None:
    """Start a new day: zero the queues' statistics and the agents' daily counters."""
    for q in acd.queues.values():
        q.answered = q.answered_in_sl = q.abandoned = q.exited = 0
        q.wait_total = 0.0
        q.recent.clear()
    for a in acd.agents.values():
        a.calls_today = 0
        a.talk_today = 0.0
