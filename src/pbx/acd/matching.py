"""Matching: which ready agent is offered which waiting caller, and the offer itself.

Theory of operation
-------------------
Matching is event-driven and keeps one invariant after every input: **no ready agent is
eligible for a waiting caller**. So an agent who becomes ready only has to look at the
callers waiting now (:func:`agent_available`), and a caller who starts waiting only at
the agents ready now (:func:`call_waiting`):

* Each queue keeps one *profile* per distinct caller requirement (sorted skill/level
  pairs, e.g. ``(("russian", 1), ("support", 1))``). A profile holds its waiting callers
  ordered by ``(−priority, enqueue time, arrival)`` and the ready agents who meet the
  requirement ordered by ``(penalty, strategy key)``.
* An agent becoming ready peeks the head caller of each profile they qualify for in
  each of their queues and takes the best one (queue weight, then priority, then the
  longest wait): the globally best caller they can serve. If there is none, they are
  added to the ready agents of every such profile.
* A caller starting to wait (joining, after ring-no-answer, after a relaxation step)
  peeks the ready agents of their profile. If no agent is there, the caller is pushed.
* The ready agents of a profile are a sorted list (``bisect``): an agent who stops being
  offerable is removed at once from every profile they were in
  (:func:`~pbx.acd.state.unoffer`), so the head is always an agent to offer (a list of
  pointers moves in microseconds even at 10,000 entries, and lazy deletion left bursts
  of stale heads behind busy agents). Waiting callers are a heap with lazy deletion: an
  entry carries the caller's ``version``, bumped when they leave their slot, and is
  dropped when it reaches the top; a heap more than three-quarters stale is rebuilt.

A caller keeps ``(priority, enqueue time, arrival)`` for life, so after ring-no-answer
they go back exactly where they were, and FIFO holds within a priority.

A match ends in :func:`offer`: the agents are reserved, their ring deadlines armed, and
the application is asked to ring them (:class:`~pbx.acd.actions.OfferToAgent`) or to
call the caller back (:class:`~pbx.acd.actions.PlaceCallback`). What happens to an offer
after that is :mod:`pbx.acd.offers`.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections.abc import Iterable

from pbx.acd import actions as act
from pbx.acd.models import Agent, AgentState, CallState, QueuedCall, Requirement, satisfies
from pbx.acd.state import AcdState, Actions, Profile, QueueState, set_state, unindex_call

S = AgentState

CALLBACK_GRACE = 60.0
"""Extra seconds a callback reservation may take (the agent answers, then the caller)."""

_COMPACT_MIN = 64


def call_waiting(acd: AcdState, call: QueuedCall, now: float, out: Actions) -> None:
    """``call`` starts (or resumes) waiting: offer it now or index it."""
    q = acd.queues[call.queue]
    profile = q.profiles.get(call.skills)
    if profile is None:
        profile = new_profile(acd, q, call.skills, now)
    ready = profile.agents
    if ready:
        agents = acd.agents
        if q.ring_all:
            offer(acd, call, [agents[entry[-1]] for entry in ready], now, out)
            return
        head = ready[0]
        agent = agents[head[-1]]
        if q.on_offer is not None:
            q.on_offer(agent, q.config, head[1:-2])
        offer(acd, call, [agent], now, out)
        return
    call.index = profile
    call.version += 1
    profile.live_calls += 1
    heap_c = profile.calls
    heapq.heappush(heap_c, (-call.priority, call.enqueued, call.seq, call.call, call.version))
    if len(heap_c) > _COMPACT_MIN and len(heap_c) > 4 * profile.live_calls:
        calls = acd.calls
        profile.calls = [
            entry
            for entry in heap_c
            if (c := calls.get(entry[3])) is not None
            and c.version == entry[4]
            and c.index is profile
        ]
        heapq.heapify(profile.calls)


def agent_available(acd: AcdState, agent: Agent, now: float, out: Actions) -> None:
    """``agent`` may have become offerable: give them the best caller or index them."""
    if (
        agent.listed
        or agent.state is not S.READY
        or not agent.device_ok
        or agent.blocked_until > now
    ):
        return
    eligible = eligible_profiles(acd, agent)
    calls = acd.calls
    best: tuple[int, int, float, int] | None = None
    best_call: QueuedCall | None = None
    for profile, q, _ in eligible:
        if not profile.live_calls:
            continue
        heap = profile.calls
        while heap:
            neg_priority, enqueued, seq, cid, version = heap[0]
            c = calls.get(cid)
            if c is not None and c.version == version and c.index is profile:
                key = (q.weight, neg_priority, enqueued, seq)
                if best is None or key < best:
                    best = key
                    best_call = c
                break
            heapq.heappop(heap)
    if best_call is not None:
        unindex_call(best_call)
        offer(acd, best_call, [agent], now, out)
        return
    # Index the agent in every profile they qualify for.
    aid = agent.id
    agent.listed = True
    indexes = agent.indexes
    seq_ = acd.seq
    last_q: QueueState | None = None
    akey: tuple[float, ...] = ()
    for profile, q, penalty in eligible:
        if q is not last_q or q.key_per_requirement:
            akey = (penalty, *q.strategy.key(agent, q.config, profile.req, now))
            last_q = q
        entry = (*akey, next(seq_), aid)
        insort(profile.agents, entry)
        indexes.append((profile, entry))


def agents_available(acd: AcdState, agents: Iterable[Agent], now: float, out: Actions) -> None:
    """Match each of ``agents`` who is READY (offers withdrawn from them, say)."""
    for agent in agents:
        if agent.state is S.READY:
            agent_available(acd, agent, now, out)


def eligible_profiles(acd: AcdState, agent: Agent) -> list[tuple[Profile, QueueState, int]]:
    """The profiles of the agent's queues whose requirement the agent meets (cached)."""
    if agent.eligible_valid:
        return agent.eligible  # type: ignore[return-value]
    skills = agent.config.skills
    eligible: list[tuple[Profile, QueueState, int]] = []
    for name in agent.queues:
        q = acd.queues[name]
        penalty = queue_penalty(agent, name)
        for profile in q.profiles.values():
            if satisfies(skills, profile.req):
                eligible.append((profile, q, penalty))
    agent.eligible = eligible  # type: ignore[assignment]
    agent.eligible_valid = True
    return eligible


def new_profile(acd: AcdState, q: QueueState, req: Requirement, now: float) -> Profile:
    """The queue's first caller with ``req``: a profile with the qualifying ready agents."""
    profile = Profile(queue=q, req=req)
    q.profiles[req] = profile
    for aid in q.members:
        agent = acd.agents[aid]
        if not satisfies(agent.config.skills, req):
            continue
        penalty = queue_penalty(agent, q.config.name)
        if agent.eligible_valid:
            agent.eligible.append((profile, q, penalty))
        if agent.listed:
            key = (penalty, *q.strategy.key(agent, q.config, req, now))
            entry = (*key, next(acd.seq), aid)
            profile.agents.append(entry)
            agent.indexes.append((profile, entry))
    profile.agents.sort()
    return profile


def queue_penalty(agent: Agent, queue: str) -> int:
    """The agent's tier in ``queue`` (lower tiers are offered first)."""
    for member in agent.config.queues:
        if member.queue == queue:
            return member.penalty
    return 0


def offer(acd: AcdState, call: QueuedCall, agents: list[Agent], now: float, out: Actions) -> None:
    """Reserve ``agents`` for ``call`` and ask for their phones to ring (or a callback)."""
    q = acd.queues[call.queue]
    config = q.config
    callback = call.state is CallState.CALLBACK_PENDING
    if callback:
        agents = agents[:1]
        call.state = CallState.CALLBACK_DIALING
    else:
        call.state = CallState.OFFERED
    timeout = config.ring_timeout + (CALLBACK_GRACE if callback else 0.0)
    for agent in agents:
        agent.call = call.call
        agent.last_offered[config.name] = now
        call.offers[agent.id] = now
        call.tried.append(agent.id)
        call.attempts += 1
        set_state(acd, agent, S.RESERVED, "", now, out)
        acd.arm_agent(agent, "ring", now + timeout)
        out.append(
            act.LogEvent(now, "OFFER", call.call, config.name, agent.id, {"attempt": call.attempts})
        )
        if callback:
            assert call.callback_number is not None
            out.append(act.PlaceCallback(call.call, agent.id, call.callback_number, call.data))
        else:
            out.append(
                act.OfferToAgent(
                    call.call,
                    agent.id,
                    config.name,
                    agent.config.devices,
                    config.ring_timeout,
                    config.name if config.whisper else None,
                    call.data,
                )
            )


def wait_again(acd: AcdState, call: QueuedCall, now: float, out: Actions) -> None:
    """The last offer of ``call`` was cancelled or failed: it waits again in its place."""
    call.state = (
        CallState.CALLBACK_PENDING
        if call.state is CallState.CALLBACK_DIALING
        else CallState.WAITING
    )
    call_waiting(acd, call, now, out)


def release_offer(call: QueuedCall, agent: Agent) -> None:
    """Forget the offer of ``call`` to ``agent`` (the agent's state is the caller's job)."""
    call.offers.pop(agent.id, None)
    agent.call = None
    agent.deadlines.pop("ring", None)


def withdraw_offers(acd: AcdState, call: QueuedCall, now: float, out: Actions) -> list[Agent]:
    """Cancel every pending offer of ``call``; the agents are READY but not yet matched."""
    freed = []
    for aid in list(call.offers):
        agent = acd.agents[aid]
        out.append(act.CancelOffer(call.call, aid))
        release_offer(call, agent)
        set_state(acd, agent, S.READY, "", now, out)
        freed.append(agent)
    if call.state is CallState.OFFERED:
        call.state = CallState.WAITING
    elif call.state is CallState.CALLBACK_DIALING:
        call.state = CallState.CALLBACK_PENDING
    return freed
