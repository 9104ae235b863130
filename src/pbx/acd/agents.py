"""The agent side: logging in and out, pauses, the phone's reachability and wrap-up.

Theory of operation
-------------------
An agent logs in to all their member queues or to some of them; a logged-in agent whose
phone is reachable is READY and matched at once (:func:`pbx.acd.matching.agent_available`),
one whose phone is not is NOT_READY with reason ``device``.

A logout or a pause asked for while the agent is talking is kept in ``agent.pending``
and applied when the call ends; a logout asked for then wins over a pause. Asked for
while the agent's phone rings with an offer, it cancels that offer (a caller left with
no offer is matched again, keeping their place); asked for during wrap-up, it ends the
wrap-up (the handle time is recorded). An agent logging in again before a pending
logout took effect just stays in. When an agent goes, a queue they leave empty may send
its callers away (:func:`pbx.acd.waiting.check_leave_empty`).

A phone that loses its registration makes a ready or offered agent NOT_READY (reason
``device``) at once, and a busy agent once their call and wrap-up are over; the agent is
logged out if the phone is not back within the device grace period (the ``grace``
deadline). Back in time, an agent paused for ``device`` is READY again.

Every call or offer an agent finishes goes through :func:`agent_free`: a pending pause
or logout applies, or the agent goes READY and is matched. Wrap-up (the queue's
``wrap_up`` seconds, or until :class:`~pbx.acd.events.AgentReady` when it is ``0``) ends
the same way, and adds the call's handle time (talk + wrap-up) to the queue's
average (:func:`handled`).

The agent's deadlines: ``wrap`` (wrap-up over), ``unblock`` (the skip after a failed
offer is over), ``grace`` (the device grace period is over); ``ring`` is
:mod:`pbx.acd.offers`.
"""

from __future__ import annotations

import structlog

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.matching import agent_available, release_offer, wait_again
from pbx.acd.models import Agent, AgentState
from pbx.acd.state import AcdState, Actions, log_agent, set_state, unoffer
from pbx.acd.waiting import check_leave_empty
from pbx.errors import LocalProtocolError

log = structlog.get_logger(__name__)

S = AgentState


# ------------------------------------------------------------------ events


def on_agent_login(acd: AcdState, e: ev.AgentLogin, now: float, out: Actions) -> None:
    """Log in to the queues asked for (all by default), READY and matched."""
    agent = acd.agent(e.agent)
    if agent.state is not S.LOGGED_OUT:
        if agent.pending is not None and agent.pending[0] is S.LOGGED_OUT:
            # Logged out during the call, logged in again before it ended: stay in.
            agent.pending = None
            return
        log.debug("acd_already_logged_in", agent=agent.id)
        return
    members = [m.queue for m in agent.config.queues]
    wanted = members if e.queues is None else list(e.queues)
    for name in wanted:
        if name not in members:
            raise LocalProtocolError(f"agent {agent.id!r} is not a member of queue {name!r}")
    agent.queues = tuple(wanted)
    agent.eligible_valid = False
    agent.idle_since = now
    agent.pending = None
    for name in wanted:
        acd.queues[name].members.add(agent.id)
    log_agent(agent, "AGENTLOGIN", {}, now, out)
    if not agent.device_ok:
        set_state(acd, agent, S.NOT_READY, "device", now, out)
        return
    set_state(acd, agent, S.READY, "", now, out)
    agent_available(acd, agent, now, out)


def on_agent_logout(acd: AcdState, e: ev.AgentLogout, now: float, out: Actions) -> None:
    """Log out now, or after the call (:func:`leave`)."""
    agent = acd.agent(e.agent)
    leave(acd, agent, S.LOGGED_OUT, "", now, out)


def on_agent_pause(acd: AcdState, e: ev.AgentPause, now: float, out: Actions) -> None:
    """Pause with a reason now, or after the call (:func:`leave`)."""
    agent = acd.agent(e.agent)
    leave(acd, agent, S.NOT_READY, e.reason, now, out)


def on_agent_unpause(acd: AcdState, e: ev.AgentUnpause, now: float, out: Actions) -> None:
    """Back to READY and matched, or a pause pending after the call forgotten."""
    agent = acd.agent(e.agent)
    if agent.pending is not None and agent.pending[0] is S.NOT_READY:
        agent.pending = None
        return
    if agent.state is not S.NOT_READY:
        return
    if not agent.device_ok:
        return
    set_state(acd, agent, S.READY, "", now, out)
    log_agent(agent, "UNPAUSE", {}, now, out)
    agent_available(acd, agent, now, out)


def on_agent_ready(acd: AcdState, e: ev.AgentReady, now: float, out: Actions) -> None:
    """The agent ends wrap-up before its time."""
    agent = acd.agent(e.agent)
    if agent.state is not S.WRAP_UP:
        return
    agent.deadlines.pop("wrap", None)
    handled(acd, agent, now, out)
    agent_free(acd, agent, now, out)


def on_device_unavailable(acd: AcdState, e: ev.DeviceUnavailable, now: float, out: Actions) -> None:
    """The agent's phone lost its registration: the device grace period starts."""
    agent = acd.agent(e.agent)
    if not agent.device_ok:
        return
    agent.device_ok = False
    acd.arm_agent(agent, "grace", now + acd.device_grace)
    if agent.state in (S.READY, S.RESERVED, S.RINGING):
        leave(acd, agent, S.NOT_READY, "device", now, out)
    else:
        unoffer(agent)


def on_device_available(acd: AcdState, e: ev.DeviceAvailable, now: float, out: Actions) -> None:
    """The agent's phone is registered again."""
    agent = acd.agent(e.agent)
    if agent.device_ok:
        return
    agent.device_ok = True
    agent.deadlines.pop("grace", None)
    if agent.state is S.NOT_READY and agent.reason == "device":
        set_state(acd, agent, S.READY, "", now, out)
        log_agent(agent, "UNPAUSE", {}, now, out)
    agent_available(acd, agent, now, out)


# ------------------------------------------------------------------ leaving and coming back


def leave(
    acd: AcdState, agent: Agent, target: AgentState, reason: str, now: float, out: Actions
) -> None:
    """Pause or log out now, or after the call if the agent is talking."""
    if agent.state is S.LOGGED_OUT:
        return
    if agent.state in (S.ON_CALL, S.ON_HOLD):
        if agent.pending is None or agent.pending[0] is not S.LOGGED_OUT:
            agent.pending = (target, reason)
        return
    if agent.state in (S.RESERVED, S.RINGING):
        assert agent.call is not None
        call = acd.calls[agent.call]
        out.append(act.CancelOffer(call.call, agent.id))
        release_offer(call, agent)
        apply_leave(acd, agent, target, reason, now, out)
        if not call.offers:
            wait_again(acd, call, now, out)
    else:
        if agent.state is S.WRAP_UP:
            agent.deadlines.pop("wrap", None)
            handled(acd, agent, now, out)
        apply_leave(acd, agent, target, reason, now, out)
    check_leave_empty(acd, agent, now, out)


def apply_leave(
    acd: AcdState, agent: Agent, target: AgentState, reason: str, now: float, out: Actions
) -> None:
    """Pause (NOT_READY with ``reason``) or log out, now."""
    agent.pending = None
    if target is S.NOT_READY:
        if agent.state is S.NOT_READY and agent.reason == reason:
            return
        set_state(acd, agent, S.NOT_READY, reason, now, out)
        log_agent(agent, "PAUSE", {"reason": reason}, now, out)
        return
    set_state(acd, agent, S.LOGGED_OUT, "", now, out)
    log_agent(agent, "AGENTLOGOFF", {}, now, out)
    for name in agent.queues:
        acd.queues[name].members.discard(agent.id)
    agent.queues = ()
    agent.deadlines.clear()
    agent.blocked_until = 0.0  # a skip after no answer ends with the session


def agent_free(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """The agent finished a call or an offer: apply a pending pause/logout or go ready."""
    if agent.pending is not None:
        target, reason = agent.pending
        apply_leave(acd, agent, target, reason, now, out)
        check_leave_empty(acd, agent, now, out)
        return
    if not agent.device_ok:
        apply_leave(acd, agent, S.NOT_READY, "device", now, out)
        return
    if agent.state is not S.READY:
        set_state(acd, agent, S.READY, "", now, out)
    agent_available(acd, agent, now, out)


def handled(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """Record the handle time (talk + wrap-up) of the agent's last call; its wrap-up
    time goes to the queue log (``WRAPUPEND``, zero when the queue has none)."""
    q = acd.queues.get(agent.wrap_queue)
    if q is not None:
        q.handle_times.append(now - agent.talk_started)
        wrap = max(0.0, now - agent.wrap_started)
        out.append(act.LogEvent(now, "WRAPUPEND", "", q.config.name, agent.id, {"wrap": wrap}))
    agent.wrap_queue = ""


# ------------------------------------------------------------------ deadlines


def wrap_up_ended(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """The queue's wrap-up time is over."""
    handled(acd, agent, now, out)
    agent_free(acd, agent, now, out)


def skip_ended(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """The agent is no longer passed over after a failed offer."""
    if agent.state is S.READY:
        agent_available(acd, agent, now, out)


def grace_ended(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """The phone did not come back within the device grace period: log the agent out."""
    if not agent.device_ok:
        leave(acd, agent, S.LOGGED_OUT, "", now, out)
