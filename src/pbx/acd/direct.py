"""Calls the ACD did not distribute: an agent busy on them is not offered queue calls.

Theory of operation
-------------------
An agent's phone can be answered on calls that never passed through a queue: their
extension dialled directly, a click-to-call placed for them, a preview campaign's call.
The application reports each with :class:`~pbx.acd.events.DirectCallStarted` and
:class:`~pbx.acd.events.DirectCallEnded` (one direct call per agent at a time).

A READY agent goes ON_CALL with reason ``direct`` for the call's length; one whose phone
was being offered a queue call loses that offer (the caller waits again in their place,
the phone that answered elsewhere would only answer busy). An agent paused, in wrap-up
or already talking on a queue call keeps their state: the direct call is remembered and
nothing else changes. When the call ends, a ``direct`` agent has the event's
``wrap_up`` seconds of wrap-up (the ``wrap`` deadline; :class:`AgentReady` ends it
early), then a pause or logout asked for during the call applies, or the agent is
READY and matched again (:func:`pbx.acd.agents.agent_free`). Direct calls add nothing
to a queue's handle times.
"""

from __future__ import annotations

import structlog

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.agents import agent_free
from pbx.acd.matching import release_offer, wait_again
from pbx.acd.models import AgentState
from pbx.acd.state import AcdState, Actions, set_state

log = structlog.get_logger(__name__)

S = AgentState
DIRECT = "direct"
"""The reason of an agent who is ON_CALL on a direct call."""


def on_direct_call_started(
    acd: AcdState, e: ev.DirectCallStarted, now: float, out: Actions
) -> None:
    """The agent answered a direct call."""
    agent = acd.agent(e.agent)
    if agent.direct is not None:
        log.debug("acd_second_direct_call", agent=agent.id, call=e.call, first=agent.direct)
        return
    agent.direct = e.call
    if agent.state in (S.RESERVED, S.RINGING):
        assert agent.call is not None
        call = acd.calls[agent.call]
        out.append(act.CancelOffer(call.call, agent.id))
        release_offer(call, agent)
        set_state(acd, agent, S.ON_CALL, DIRECT, now, out)
        if not call.offers:
            wait_again(acd, call, now, out)
    elif agent.state is S.READY:
        set_state(acd, agent, S.ON_CALL, DIRECT, now, out)


def on_direct_call_ended(acd: AcdState, e: ev.DirectCallEnded, now: float, out: Actions) -> None:
    """The agent's direct call ended: wrap-up, then free."""
    agent = acd.agent(e.agent)
    if agent.direct != e.call:
        log.debug("acd_stale_direct_call", agent=agent.id, call=e.call)
        return
    agent.direct = None
    if agent.state not in (S.ON_CALL, S.ON_HOLD) or agent.reason != DIRECT:
        return
    agent.idle_since = now
    if e.wrap_up and agent.pending is None:
        agent.wrap_queue = ""
        agent.wrap_started = now
        set_state(acd, agent, S.WRAP_UP, "", now, out)
        acd.arm_agent(agent, "wrap", now + e.wrap_up)
        return
    agent_free(acd, agent, now, out)
