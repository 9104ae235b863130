"""The distributor: callers and agents in, offers out, decided in microseconds.

Theory of operation
-------------------
:class:`Distributor` is sans-I/O: :meth:`Distributor.handle` takes one event
(:mod:`pbx.acd.events`) and ``now`` and returns the actions (:mod:`pbx.acd.actions`) to
perform, in order; :meth:`Distributor.get_timer` names the next deadline (ring timeouts,
wrap-up ends, announcements, maximum waits, skills relaxation steps, callback offers,
skip delays, device grace periods) and :meth:`Distributor.handle_timer` acts on every
deadline due. Nothing here reads a clock, draws entropy of its own or imports the call
layer.

Matching is event-driven and keeps one invariant after every input: **no ready agent is
eligible for a waiting caller**. So an agent who becomes ready only has to look at the
callers waiting now, and a caller who starts waiting only at the agents ready now
(:mod:`pbx.acd.matching`: one profile per caller requirement, sorted ready agents, heaps
of waiting callers). A caller keeps ``(priority, enqueue time, arrival)`` for life, so
after ring-no-answer they go back exactly where they were, and FIFO holds within a
priority.

Estimated wait (announced with the position)::

    EWT = position / max(1, staffed agents) × AHT

with AHT the queue's rolling mean handle time; :mod:`pbx.acd.ewt` says which agents are
staffed and why this is the M/M/N expectation, Erlang C's ASA on average.

This module is the surface and the dispatch tables: :data:`HANDLERS` (event type →
handler), :data:`AGENT_DEADLINES` and :data:`CALL_DEADLINES` (deadline kind → handler).
The handlers are functions over one shared state (:mod:`pbx.acd.state`: the tables, the
deadline heap, agent state moves), each part importing only the parts listed before it:

* :mod:`pbx.acd.ewt`: the average handle time and the estimated wait;
* :mod:`pbx.acd.matching`: which agent is offered which caller, and the offer itself;
* :mod:`pbx.acd.waiting`: callers joining, abandoning, pressing keys, asking for a
  callback; announcements, maximum waits, relaxation steps, callback offers; overflow;
* :mod:`pbx.acd.agents`: login, logout, pauses, the phone's reachability, wrap-up's end;
* :mod:`pbx.acd.offers`: ringing, the answer, ring-no-answer, callbacks' outcomes;
* :mod:`pbx.acd.talk`: hold, resume, the end of the call and the start of wrap-up;
* :mod:`pbx.acd.live`: the wallboard (:class:`LiveView`) and its statistics.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pbx.acd import actions as act
from pbx.acd import agents, direct, ewt, live, membership, offers, talk, waiting
from pbx.acd import events as ev
from pbx.acd.live import AgentView, LiveView, QueueView
from pbx.acd.matching import CALLBACK_GRACE
from pbx.acd.models import (
    Agent,
    AgentConfig,
    QueueConfig,
    QueuedCall,
    validate_agent,
    validate_queue,
)
from pbx.acd.state import AcdState, Actions, QueueState
from pbx.acd.strategies import STRATEGIES, Strategy, offers_all
from pbx.errors import LocalProtocolError

__all__ = ["CALLBACK_GRACE", "AgentView", "Distributor", "LiveView", "QueueView"]

HANDLERS: Mapping[type, Callable[[AcdState, Any, float, Actions], None]] = {
    ev.CallQueued: waiting.on_call_queued,
    ev.CallAbandoned: waiting.on_call_abandoned,
    ev.OfferRinging: offers.on_offer_ringing,
    ev.OfferAccepted: offers.on_offer_accepted,
    ev.OfferFailed: offers.on_offer_failed,
    ev.CallCompleted: talk.on_call_completed,
    ev.CallTransferred: talk.on_call_transferred,
    ev.CallHeld: talk.on_call_held,
    ev.CallResumed: talk.on_call_resumed,
    ev.AgentLogin: agents.on_agent_login,
    ev.AgentLogout: agents.on_agent_logout,
    ev.AgentPause: agents.on_agent_pause,
    ev.AgentUnpause: agents.on_agent_unpause,
    ev.AgentReady: agents.on_agent_ready,
    ev.DeviceUnavailable: agents.on_device_unavailable,
    ev.DeviceAvailable: agents.on_device_available,
    ev.PriorityChanged: waiting.on_priority_changed,
    ev.CallbackRequested: waiting.on_callback_requested,
    ev.CallbackCompleted: offers.on_callback_completed,
    ev.CallbackFailed: offers.on_callback_failed,
    ev.KeyPressed: waiting.on_key_pressed,
    ev.DirectCallStarted: direct.on_direct_call_started,
    ev.DirectCallEnded: direct.on_direct_call_ended,
    ev.MembershipChanged: membership.on_membership_changed,
    ev.SkillsChanged: membership.on_skills_changed,
    ev.CallMoved: waiting.on_call_moved,
}
"""Every event the distributor handles → ``handler(state, event, now, out)``."""

AGENT_DEADLINES: Mapping[str, Callable[[AcdState, Agent, float, Actions], None]] = {
    "ring": offers.ring_timeout,
    "wrap": agents.wrap_up_ended,
    "unblock": agents.skip_ended,
    "grace": agents.grace_ended,
}
"""An agent's deadline kind → ``handler(state, agent, now, out)``."""

CALL_DEADLINES: Mapping[str, Callable[[AcdState, QueuedCall, float, float, Actions], None]] = {
    "announce": waiting.announce,
    "max_wait": waiting.max_wait_reached,
    "relax": waiting.relax,
    "callback": waiting.offer_callback,
}
"""A caller's deadline kind → ``handler(state, call, deadline, now, out)``."""


class Distributor:
    """Automatic call distribution over queues and agents, sans-I/O."""

    def __init__(
        self,
        queues: Iterable[QueueConfig],
        agents: Iterable[AgentConfig],
        *,
        rng: random.Random,
        strategies: Mapping[str, Strategy] | None = None,
        device_grace: float = 60.0,
    ) -> None:
        """Validate the configuration (:class:`~pbx.errors.ConfigError`) and start empty.

        ``strategies`` adds (or overrides) strategies by name; ``device_grace`` is how long
        an agent whose phone lost its registration stays logged in.
        """
        known: dict[str, object] = {**STRATEGIES, **(strategies or {})}
        by_name: dict[str, QueueState] = {}
        for config in queues:
            validate_queue(config, known)
            if strategies is not None and config.strategy in strategies:
                strategy = strategies[config.strategy]
            else:
                strategy = STRATEGIES[config.strategy](rng)
            by_name[config.name] = QueueState(
                config=config,
                strategy=strategy,
                ring_all=offers_all(strategy),
                key_per_requirement=getattr(strategy, "per_requirement", True),
                on_offer=getattr(strategy, "offered", None),
                weight=-config.weight,
                handle_times=deque(maxlen=config.aht_window),
            )
        configs = {name: q.config for name, q in by_name.items()}
        by_id: dict[str, Agent] = {}
        for order, config_a in enumerate(agents):
            validate_agent(config_a, configs)
            by_id[config_a.id] = Agent(config=config_a, order=order)
        self._state = AcdState(queues=by_name, agents=by_id, device_grace=device_grace)
        self._queues = by_name  # the linear-scan peer of benchmarks/bench_acd.py reads these

    # ------------------------------------------------------------------ the sans-I/O surface

    def handle(self, event: ev.AcdEvent, now: float) -> list[act.AcdAction]:
        """Apply one event at ``now``; return the actions to perform, in order."""
        handler = HANDLERS.get(type(event))
        if handler is None:
            raise LocalProtocolError(f"the ACD does not handle {type(event).__name__}")
        out: Actions = []
        handler(self._state, event, now, out)
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline, or ``None``; call :meth:`handle_timer` at or after it."""
        acd = self._state
        timers = acd.timers
        while timers:
            deadline, _, kind, is_agent, ref = timers[0]
            if acd.timer_valid(deadline, kind, is_agent, ref):
                return deadline
            heapq.heappop(timers)
        return None

    def handle_timer(self, now: float) -> list[act.AcdAction]:
        """Act on every deadline at or before ``now``."""
        out: Actions = []
        acd = self._state
        timers = acd.timers
        while timers and timers[0][0] <= now:
            deadline, _, kind, is_agent, ref = heapq.heappop(timers)
            if not acd.timer_valid(deadline, kind, is_agent, ref):
                continue
            if is_agent:
                agent = acd.agents[ref]
                del agent.deadlines[kind]
                AGENT_DEADLINES[kind](acd, agent, now, out)
            else:
                call = acd.calls[ref]
                del call.deadlines[kind]
                CALL_DEADLINES[kind](acd, call, deadline, now, out)
        return out

    # ------------------------------------------------------------------ queries

    def snapshot(self, now: float) -> LiveView:
        """The live state of every queue and agent, for supervisors and wallboards."""
        return live.snapshot(self._state, now)

    def reset_statistics(self) -> None:
        """Start a new day: zero the queues' statistics and the agents' daily counters."""
        live.reset_statistics(self._state)

    def aht(self, queue: str) -> float:
        """The queue's rolling average handle time (talk + wrap-up), seconds."""
        return ewt.aht(self._state.queue(queue))

    def position(self, call: str) -> int:
        """The caller's 1-based position in their queue."""
        return self._state.position(self._queued(call))

    def ewt(self, call: str) -> float:
        """The caller's estimated wait, seconds (see :mod:`pbx.acd.ewt`)."""
        c = self._queued(call)
        return ewt.estimated_wait(self._state.queues[c.queue], self._state.position(c))

    @property
    def queue_names(self) -> frozenset[str]:
        """The configured queues."""
        return frozenset(self._state.queues)

    def queue_config(self, queue: str) -> QueueConfig | None:
        """The settings ``queue`` runs with, or None when there is no such queue."""
        state = self._state.queues.get(queue)
        return state.config if state is not None else None

    def agent(self, agent: str) -> Agent:
        """An agent's run-time state (read it, do not change it)."""
        return self._state.agent(agent)

    def queued(self, call: str) -> QueuedCall | None:
        """A queued caller's run-time state, or ``None`` once they left the queue."""
        return self._state.calls.get(call)

    def waiting(self, queue: str) -> list[QueuedCall]:
        """The callers of ``queue``, in the order they will be served (read them only)."""
        return sorted(self._state.queue(queue).calls.values(), key=lambda c: c.sort_key)

    def _queued(self, call: str) -> QueuedCall:
        c = self._state.calls.get(call)
        if c is None:
            raise LocalProtocolError(f"call {call!r} is not queued")
        return c
