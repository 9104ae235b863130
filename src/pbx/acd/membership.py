"""Run-time changes of who serves what: queue membership, tiers and skill levels.

Theory of operation
-------------------
A supervisor moves agents between queues and changes their skills while they work
(:class:`~pbx.acd.events.MembershipChanged`, :class:`~pbx.acd.events.SkillsChanged`);
the agent's configuration (:class:`~pbx.acd.models.AgentConfig`) is replaced by the new
one and the matching indexes are rebuilt for that agent alone: a ready agent leaves
every index, and is matched again at once (they may now qualify for a caller who is
waiting).

Joining a queue while logged in logs the agent in to it at once (``ADDMEMBER``); a new
tier (``penalty``) of a member takes effect the same way. Leaving a queue logs them out
of it (``REMOVEMEMBER``): an offer of that queue's caller ringing the agent is cancelled
and the caller waits again in their place; a call in progress goes on (its wrap-up
follows the queue's), and a queue the agent leaves empty may send its callers away
(:func:`pbx.acd.waiting.check_leave_empty`). Skill changes apply to the next match; a
caller already offered keeps the offer.
"""

from __future__ import annotations

import structlog
from attrs import evolve

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.matching import agent_available, release_offer, wait_again
from pbx.acd.models import Agent, AgentState, Membership
from pbx.acd.state import AcdState, Actions, set_state, unoffer
from pbx.acd.waiting import check_leave_empty
from pbx.errors import LocalProtocolError

log = structlog.get_logger(__name__)

S = AgentState
STAFFED = frozenset(set(S) - {S.LOGGED_OUT, S.NOT_READY})


def on_membership_changed(acd: AcdState, e: ev.MembershipChanged, now: float, out: Actions) -> None:
    """The agent joins ``queue`` (or changes tier in it), or leaves it."""
    agent = acd.agent(e.agent)
    q = acd.queues.get(e.queue)
    if q is None:
        raise LocalProtocolError(f"unknown queue {e.queue!r}")
    others = tuple(m for m in agent.config.queues if m.queue != e.queue)
    was_member = len(others) != len(agent.config.queues)
    if e.member:
        members = (*others, Membership(e.queue, e.penalty, e.weight))
    elif not was_member:
        return
    else:
        members = others
    agent.config = evolve(agent.config, queues=members)
    logged_in = agent.state is not S.LOGGED_OUT
    if e.member and logged_in and e.queue not in agent.queues:
        agent.queues = (*agent.queues, e.queue)
        q.members.add(agent.id)
        if agent.state in STAFFED:
            q.staffed += 1
        out.append(act.LogEvent(now, "ADDMEMBER", "", e.queue, agent.id, {"penalty": e.penalty}))
    elif not e.member and e.queue in agent.queues:
        _leave_queue(acd, agent, e.queue, now, out)
    _reindex(acd, agent, now, out)


def _leave_queue(acd: AcdState, agent: Agent, queue: str, now: float, out: Actions) -> None:
    q = acd.queues[queue]
    if agent.state in (S.RESERVED, S.RINGING) and agent.call is not None:
        call = acd.calls.get(agent.call)
        if call is not None and call.queue == queue:
            out.append(act.CancelOffer(call.call, agent.id))
            release_offer(call, agent)
            set_state(acd, agent, S.READY, "", now, out)
            if not call.offers:
                wait_again(acd, call, now, out)
    out.append(act.LogEvent(now, "REMOVEMEMBER", "", queue, agent.id, {}))
    agent.queues = tuple(name for name in agent.queues if name != queue)
    q.members.discard(agent.id)
    if agent.state in STAFFED:
        q.staffed -= 1
    check_leave_empty(acd, agent, now, out, queues=(queue,))


def on_skills_changed(acd: AcdState, e: ev.SkillsChanged, now: float, out: Actions) -> None:
    """The agent's skill levels are now ``skills`` (a level of 0 or less removes one)."""
    agent = acd.agent(e.agent)
    skills = {name: level for name, level in e.skills.items() if level > 0}
    if dict(agent.config.skills) == skills:
        return
    agent.config = evolve(agent.config, skills=skills)
    _reindex(acd, agent, now, out)


def _reindex(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """Rebuild the agent's place in the matching indexes; match them if ready."""
    if agent.listed:
        unoffer(agent)
    agent.eligible_valid = False
    agent.eligible = []
    if agent.state is S.READY:
        agent_available(acd, agent, now, out)
