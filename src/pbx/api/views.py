"""What the API shows of calls, queues and agents: plain JSON-able dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pbx.acd.distributor import AgentView, QueueView
from pbx.api.hub import to_json
from pbx.calls.manager import Call, CallManager, LegState


def call_view(call: Call, manager: CallManager, wall: Callable[[float], float]) -> dict[str, Any]:
    """A live call: parties, state, queue, agent, attached data, legs."""
    legs = manager.legs_of(call.id)
    if any(leg.state is LegState.ANSWERED for leg in legs):
        state = "talking" if call.agent or call.owner in ("extension", "trunk") else "answered"
    else:
        state = "ringing"
    if call.waiting:
        state = "queued"
    caller = call.caller.presented if call.caller is not None else None
    return {
        "id": call.id,
        "state": state,
        "direction": call.direction,
        "origin": call.origin,
        "number": call.number,
        "caller": {"number": caller.number, "name": caller.name} if caller else None,
        "privacy": bool(caller and caller.privacy),
        "trunk": call.trunk,
        "owner": call.owner,
        "queue": call.queue,
        "agent": call.agent,
        "data": to_json(call.data),
        "started": wall(call.created),
        "answered": wall(call.answered) if call.answered is not None else None,
        "recording": call.recording is not None,
        "legs": [
            {
                "id": leg.id,
                "kind": leg.kind.value,
                "state": leg.state.value,
                "remote": leg.remote,
                "held": leg.held or leg.on_hold_by_us,
            }
            for leg in legs
        ],
    }


def queue_view(q: QueueView) -> dict[str, Any]:
    """A queue as the wallboard shows it."""
    return {
        "name": q.name,
        "waiting": q.waiting,
        "callbacks": q.callbacks,
        "longest_wait": round(q.longest_wait, 3),
        "agents": dict(q.agents),
        "answered": q.answered,
        "abandoned": q.abandoned,
        "offered": q.offered,
        "service_level": q.service_level,
        "service_level_30m": q.service_level_recent,
        "offered_30m": q.offered_recent,
        "asa": q.asa,
        "aht": q.aht,
    }


def agent_view(
    a: AgentView, queues: tuple[str, ...], wall: Callable[[float], float], now: float
) -> dict[str, Any]:
    """An agent: state and reason, time in state, current call, today's counters."""
    return {
        "id": a.id,
        "name": a.name,
        "state": a.state.value,
        "reason": a.reason,
        "since": wall(a.since),
        "in_state": round(max(0.0, now - a.since), 3),
        "call": a.call.split(":")[0] if a.call else None,
        "queues": list(queues),
        "calls_today": a.calls_today,
        "talk_today": round(a.talk_today, 3),
    }
