"""Offers' outcomes: ringing, the answer, ring-no-answer and the other failures.

Theory of operation
-------------------
An offer is made by :func:`pbx.acd.matching.offer`: the agent is RESERVED, their ``ring``
deadline armed (the queue's ``ring_timeout``, plus
:data:`~pbx.acd.matching.CALLBACK_GRACE` for a callback) and the application asked to
ring them or to place the callback. From there:

* :class:`~pbx.acd.events.OfferRinging`: the agent's phone rings (RINGING).
* :class:`~pbx.acd.events.OfferAccepted` (or, for a callback,
  :class:`~pbx.acd.events.CallbackCompleted`): :func:`connect`. The other agents a
  ring-all offer reached are cancelled and matched again; the caller leaves the queue
  (answered, their wait counted towards ASA and the service level) and talks with the
  agent (:class:`~pbx.acd.state.Talk`, :mod:`pbx.acd.talk`); a CONNECT row, then
  :class:`~pbx.acd.actions.ConnectCall` unless the callback already joined them.
* :class:`~pbx.acd.events.OfferFailed` or the ``ring`` deadline (reason ``no_answer``):
  :func:`offer_failed`. A RINGNOANSWER row; after no answer with ``rona="not_ready"``
  the agent is paused with reason ``RONA``, otherwise they are passed over for
  ``skip_delay`` seconds (the ``unblock`` deadline) and free. A caller left with no
  offer waits again in the place they had.
* :class:`~pbx.acd.events.CallbackFailed`: the caller could not be reached; they leave
  the queue (CALLBACKFAILED) and the agent is free.

Events about an offer that is no longer pending are ignored (a race between an answer
and a cancel); they are logged at debug level.
"""

from __future__ import annotations

import structlog

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.agents import agent_free
from pbx.acd.matching import agents_available, release_offer, wait_again
from pbx.acd.models import Agent, AgentState, CallState, QueuedCall
from pbx.acd.state import AcdState, Actions, Talk, log_agent, set_state
from pbx.acd.waiting import check_leave_empty

log = structlog.get_logger(__name__)

S = AgentState


# ------------------------------------------------------------------ events


def on_offer_ringing(acd: AcdState, e: ev.OfferRinging, now: float, out: Actions) -> None:
    """The agent's phone rings: RESERVED becomes RINGING."""
    call = acd.calls.get(e.call)
    agent = acd.agents.get(e.agent)
    if call is None or agent is None or e.agent not in call.offers:
        return
    if agent.state is S.RESERVED:
        set_state(acd, agent, S.RINGING, "", now, out)


def on_offer_accepted(acd: AcdState, e: ev.OfferAccepted, now: float, out: Actions) -> None:
    """The agent answered the offer (for a callback, the caller answered): connect."""
    call = acd.calls.get(e.call)
    if call is None or e.agent not in call.offers:
        log.debug("acd_stale_accept", call=e.call, agent=e.agent)
        return
    bridge = call.state is CallState.OFFERED
    if not bridge:
        out.append(act.LogEvent(now, "CALLBACKDONE", call.call, call.queue, e.agent, {}))
    connect(acd, call, acd.agents[e.agent], now, out, bridge=bridge)


def on_offer_failed(acd: AcdState, e: ev.OfferFailed, now: float, out: Actions) -> None:
    """The offer failed: not answered, busy, rejected or unavailable."""
    call = acd.calls.get(e.call)
    if call is None or e.agent not in call.offers:
        log.debug("acd_stale_offer_failure", call=e.call, agent=e.agent)
        return
    offer_failed(acd, call, acd.agents[e.agent], e.reason, now, out)


def on_callback_completed(acd: AcdState, e: ev.CallbackCompleted, now: float, out: Actions) -> None:
    """The callback took place (with no OfferAccepted before it): CALLBACKDONE, connect."""
    call = callback_of(acd, e.call, e.agent)
    if call is None:
        return
    out.append(act.LogEvent(now, "CALLBACKDONE", call.call, call.queue, e.agent, {}))
    connect(acd, call, acd.agents[e.agent], now, out, bridge=False)


def on_callback_failed(acd: AcdState, e: ev.CallbackFailed, now: float, out: Actions) -> None:
    """The caller could not be called back: they leave the queue."""
    call = callback_of(acd, e.call, e.agent)
    if call is None:
        return
    agent = acd.agents[e.agent]
    release_offer(call, agent)
    q = acd.queues[call.queue]
    q.exited += 1
    q.left(now, False)
    out.append(
        act.LogEvent(now, "CALLBACKFAILED", call.call, call.queue, agent.id, {"reason": e.reason})
    )
    acd.remove_call(call)
    agent_free(acd, agent, now, out)


def callback_of(acd: AcdState, call: str, agent: str) -> QueuedCall | None:
    """The caller being called back for ``agent``, or ``None`` (a stale event)."""
    c = acd.calls.get(call)
    if c is None or c.state is not CallState.CALLBACK_DIALING or agent not in c.offers:
        return None
    return c


def ring_timeout(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """The ``ring`` deadline: the offer rang ``ring_timeout`` seconds unanswered."""
    assert agent.call is not None
    call = acd.calls[agent.call]
    out.append(act.CancelOffer(call.call, agent.id))
    offer_failed(acd, call, agent, "no_answer", now, out)


# ------------------------------------------------------------------ outcomes


def connect(
    acd: AcdState, call: QueuedCall, agent: Agent, now: float, out: Actions, *, bridge: bool
) -> None:
    """``agent`` answered ``call``: the caller leaves the queue and the talk begins."""
    q = acd.queues[call.queue]
    ring_started = call.offers[agent.id]
    others = [acd.agents[aid] for aid in call.offers if aid != agent.id]
    for other in others:
        out.append(act.CancelOffer(call.call, other.id))
        release_offer(call, other)
    call.offers.clear()
    agent.deadlines.pop("ring", None)
    wait = now - call.enqueued
    position = acd.position(call)
    acd.remove_call(call)
    acd.talks[call.call] = Talk(agent.id, q.config.name, now, wait, position)
    q.answered += 1
    q.wait_total += wait
    in_sl = wait <= q.config.service_level_threshold
    q.answered_in_sl += in_sl
    q.left(now, in_sl)
    agent.talk_started = now
    set_state(acd, agent, S.ON_CALL, "", now, out)
    out.append(
        act.LogEvent(
            now,
            "CONNECT",
            call.call,
            q.config.name,
            agent.id,
            {"wait": wait, "ring": now - ring_started, "position": call.original_position},
        )
    )
    if bridge:
        out.append(act.ConnectCall(call.call, agent.id, q.config.record))
    for other in others:
        set_state(acd, other, S.READY, "", now, out)
    agents_available(acd, others, now, out)


def offer_failed(
    acd: AcdState, call: QueuedCall, agent: Agent, reason: str, now: float, out: Actions
) -> None:
    """The offer of ``call`` to ``agent`` failed (no answer, busy, rejected ...)."""
    config = acd.queues[call.queue].config
    ring = now - call.offers[agent.id]
    release_offer(call, agent)
    out.append(
        act.LogEvent(
            now,
            "RINGNOANSWER",
            call.call,
            call.queue,
            agent.id,
            {"ring": ring, "reason": reason},
        )
    )
    if reason == "no_answer" and config.rona == "not_ready":
        set_state(acd, agent, S.NOT_READY, "RONA", now, out)
        log_agent(agent, "PAUSE", {"reason": "RONA"}, now, out)
    else:
        agent.blocked_until = now + config.skip_delay
        acd.arm_agent(agent, "unblock", agent.blocked_until)
        agent_free(acd, agent, now, out)
    if not call.offers:
        wait_again(acd, call, now, out)
    if reason == "no_answer" and config.rona == "not_ready":
        check_leave_empty(acd, agent, now, out)
