"""Talking: from the answer to the end of the call, and the start of wrap-up.

Theory of operation
-------------------
A caller who was answered has left the queue; what remains is a
:class:`~pbx.acd.state.Talk` (agent, queue, when connected, the caller's wait and
position) until the call ends. Hold and resume move the agent between ON_CALL and
ON_HOLD. The end of the call (completed by either side, or transferred away) writes
COMPLETEAGENT, COMPLETECALLER or TRANSFER with the wait, the talk time and the
position, counts the call in the agent's day and starts wrap-up: the queue's
``wrap_up`` seconds (the ``wrap`` deadline), until the agent says ready when it is
``0``, or none when it is ``None`` or a pause or logout is pending
(:mod:`pbx.acd.agents`).

Events that name a call the agent is not talking on are ignored (logged at debug level).
"""

from __future__ import annotations

import structlog

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.agents import agent_free, handled
from pbx.acd.models import AgentState
from pbx.acd.state import AcdState, Actions, Talk, set_state

log = structlog.get_logger(__name__)

S = AgentState


def on_call_held(acd: AcdState, e: ev.CallHeld, now: float, out: Actions) -> None:
    """The agent put the caller on hold."""
    talk = talk_of(acd, e.call, e.agent)
    if talk is not None:
        agent = acd.agents[e.agent]
        if agent.state is S.ON_CALL:
            set_state(acd, agent, S.ON_HOLD, "", now, out)
            out.append(act.LogEvent(now, "HOLD", e.call, talk.queue, agent.id, {}))


def on_call_resumed(acd: AcdState, e: ev.CallResumed, now: float, out: Actions) -> None:
    """The agent took the caller off hold."""
    talk = talk_of(acd, e.call, e.agent)
    if talk is not None:
        agent = acd.agents[e.agent]
        if agent.state is S.ON_HOLD:
            set_state(acd, agent, S.ON_CALL, "", now, out)
            out.append(act.LogEvent(now, "UNHOLD", e.call, talk.queue, agent.id, {}))


def on_call_completed(acd: AcdState, e: ev.CallCompleted, now: float, out: Actions) -> None:
    """The agent or the caller hung up."""
    talk = talk_of(acd, e.call, e.agent)
    if talk is None:
        return
    name = "COMPLETEAGENT" if e.by == "agent" else "COMPLETECALLER"
    end_talk(acd, e.call, talk, name, {}, now, out)


def on_call_transferred(acd: AcdState, e: ev.CallTransferred, now: float, out: Actions) -> None:
    """The agent transferred the caller and is free of them."""
    talk = talk_of(acd, e.call, e.agent)
    if talk is None:
        return
    end_talk(acd, e.call, talk, "TRANSFER", {"target": e.target}, now, out)


def talk_of(acd: AcdState, call: str, agent: str) -> Talk | None:
    """The talk of ``agent`` on ``call``, or ``None`` (a stale event)."""
    talk = acd.talks.get(call)
    if talk is None or talk.agent != agent:
        log.debug("acd_stale_talk_event", call=call, agent=agent)
        return None
    return talk


def end_talk(
    acd: AcdState,
    call: str,
    talk: Talk,
    name: str,
    extra: dict[str, object],
    now: float,
    out: Actions,
) -> None:
    """The call ended: the row named ``name``, the agent's counters, then wrap-up."""
    del acd.talks[call]
    agent = acd.agents[talk.agent]
    duration = now - talk.connected
    agent.calls_today += 1
    agent.talk_today += duration
    agent.idle_since = now
    agent.call = None
    data = {"wait": talk.wait, "talk": duration, "position": talk.position, **extra}
    out.append(act.LogEvent(now, name, call, talk.queue, agent.id, data))
    wrap = acd.queues[talk.queue].config.wrap_up
    agent.wrap_queue = talk.queue
    agent.wrap_started = now
    agent.talk_started = talk.connected
    if wrap is None or agent.pending is not None:
        handled(acd, agent, now, out)
        agent_free(acd, agent, now, out)
        return
    set_state(acd, agent, S.WRAP_UP, "", now, out)
    if wrap > 0:
        acd.arm_agent(agent, "wrap", now + wrap)
