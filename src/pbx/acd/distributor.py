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
callers waiting now, and a caller who starts waiting only at the agents ready now:

* Each queue keeps one *profile* per distinct caller requirement (sorted skill/level
  pairs, e.g. ``(("russian", 1), ("support", 1))``). A profile holds two heaps with lazy
  deletion: its waiting callers ordered by ``(−priority, enqueue time, arrival)`` and the
  ready agents who meet the requirement ordered by ``(penalty, strategy key)``.
* An agent becoming ready peeks the head caller of each profile they qualify for in
  each of their queues and takes the best one (queue weight, then priority, then the
  longest wait): the globally best caller they can serve. If there is none, they are
  pushed onto the agent heap of every such profile.
* A caller starting to wait (joining, after ring-no-answer, after a relaxation step)
  peeks the agent heap of their profile. If no agent is there, the caller is pushed.
* The ready agents of a profile are a sorted list (``bisect``): an agent who stops being
  offerable is removed at once from every profile they were in, so the head is always
  an agent to offer (a list of pointers moves in microseconds even at 10,000 entries,
  and lazy deletion left bursts of stale heads behind busy agents). Waiting callers are
  a heap with lazy deletion: an entry carries the caller's ``version``, bumped when they
  leave their slot, and is dropped when it reaches the top; a heap more than
  three-quarters stale is rebuilt.

A caller keeps ``(priority, enqueue time, arrival)`` for life, so after ring-no-answer
they go back exactly where they were, and FIFO holds within a priority.

Estimated wait (announced with the position)::

    EWT = position / max(1, staffed agents) × AHT

where staffed agents are the queue's logged-in members who are not paused and AHT is the
rolling mean handle time (talk + wrap-up) of the queue's last ``aht_window`` calls, or
``default_aht`` until ``aht_min_samples`` calls were handled. With every agent busy and
exponential handle times the n-th caller waits for n departures at rate staffed/AHT,
so the formula is the M/M/N expectation; averaged over the waiting positions of the
Erlang C model it gives Erlang C's ASA (``tests/acd/test_erlang.py`` checks this).

Service level is answered within the queue's threshold divided by callers that left the
queue (answered, abandoned or sent away); ASA is the mean wait of answered callers.
Statistics and the agents' "today" counters run until :meth:`Distributor.reset_statistics`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from attrs import define, field, frozen

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.models import (
    AGENT_TRANSITIONS,
    Agent,
    AgentConfig,
    AgentState,
    CallState,
    QueueConfig,
    QueuedCall,
    Requirement,
    relaxed,
    requirement,
    satisfies,
    validate_agent,
    validate_queue,
)
from pbx.acd.strategies import STRATEGIES, Strategy, offers_all
from pbx.errors import InvalidStateError, LocalProtocolError

log = structlog.get_logger(__name__)

S = AgentState
Actions = list[act.AcdAction]

CALLBACK_GRACE = 60.0
"""Extra seconds a callback reservation may take (the agent answers, then the caller)."""

_COMPACT_MIN = 64


@define(eq=False)
class _Profile:
    """One requirement within one queue: its waiting callers and qualifying ready agents."""

    queue: _Queue
    req: Requirement
    agents: list[tuple[Any, ...]] = field(factory=list)
    """Ready agents meeting ``req``, sorted: ``(penalty, *strategy key, arrival, agent id)``."""
    calls: list[tuple[int, float, int, str, int]] = field(factory=list)
    live_calls: int = 0


@define(eq=False)
class _Queue:
    config: QueueConfig
    strategy: Strategy
    ring_all: bool
    key_per_requirement: bool
    on_offer: Callable[[Agent, QueueConfig, tuple[float, ...]], None] | None
    weight: int
    profiles: dict[Requirement, _Profile] = field(factory=dict)
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


@define(eq=False)
class _Talk:
    agent: str
    queue: str
    connected: float
    wait: float
    position: int


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
        self._rng = rng
        self._device_grace = device_grace
        known: dict[str, object] = {**STRATEGIES, **(strategies or {})}
        self._queues: dict[str, _Queue] = {}
        for config in queues:
            validate_queue(config, known)
            if strategies is not None and config.strategy in strategies:
                strategy = strategies[config.strategy]
            else:
                strategy = STRATEGIES[config.strategy](rng)
            self._queues[config.name] = _Queue(
                config=config,
                strategy=strategy,
                ring_all=offers_all(strategy),
                key_per_requirement=getattr(strategy, "per_requirement", True),
                on_offer=getattr(strategy, "offered", None),
                weight=-config.weight,
                handle_times=deque(maxlen=config.aht_window),
            )
        configs = {name: q.config for name, q in self._queues.items()}
        self._agents: dict[str, Agent] = {}
        for order, config_a in enumerate(agents):
            validate_agent(config_a, configs)
            self._agents[config_a.id] = Agent(config=config_a, order=order)
        self._calls: dict[str, QueuedCall] = {}
        self._talks: dict[str, _Talk] = {}
        self._timers: list[tuple[float, int, str, bool, str]] = []
        self._seq = itertools.count()
        self._handlers: dict[type, Callable[[Any, float, Actions], None]] = {
            ev.CallQueued: self._on_call_queued,
            ev.CallAbandoned: self._on_call_abandoned,
            ev.OfferRinging: self._on_offer_ringing,
            ev.OfferAccepted: self._on_offer_accepted,
            ev.OfferFailed: self._on_offer_failed,
            ev.CallCompleted: self._on_call_completed,
            ev.CallTransferred: self._on_call_transferred,
            ev.CallHeld: self._on_call_held,
            ev.CallResumed: self._on_call_resumed,
            ev.AgentLogin: self._on_agent_login,
            ev.AgentLogout: self._on_agent_logout,
            ev.AgentPause: self._on_agent_pause,
            ev.AgentUnpause: self._on_agent_unpause,
            ev.AgentReady: self._on_agent_ready,
            ev.DeviceUnavailable: self._on_device_unavailable,
            ev.DeviceAvailable: self._on_device_available,
            ev.PriorityChanged: self._on_priority_changed,
            ev.CallbackRequested: self._on_callback_requested,
            ev.CallbackCompleted: self._on_callback_completed,
            ev.CallbackFailed: self._on_callback_failed,
            ev.KeyPressed: self._on_key_pressed,
        }

    # ------------------------------------------------------------------ public API

    def handle(self, event: ev.AcdEvent, now: float) -> list[act.AcdAction]:
        """Apply one event at ``now``; return the actions to perform, in order."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise LocalProtocolError(f"the ACD does not handle {type(event).__name__}")
        out: Actions = []
        handler(event, now, out)
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline, or ``None``; call :meth:`handle_timer` at or after it."""
        timers = self._timers
        while timers:
            deadline, _, kind, is_agent, ref = timers[0]
            if self._timer_valid(deadline, kind, is_agent, ref):
                return deadline
            heapq.heappop(timers)
        return None

    def handle_timer(self, now: float) -> list[act.AcdAction]:
        """Act on every deadline at or before ``now``."""
        out: Actions = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, _, kind, is_agent, ref = heapq.heappop(timers)
            if not self._timer_valid(deadline, kind, is_agent, ref):
                continue
            if is_agent:
                agent = self._agents[ref]
                del agent.deadlines[kind]
                self._agent_timer(agent, kind, now, out)
            else:
                call = self._calls[ref]
                del call.deadlines[kind]
                self._call_timer(call, kind, deadline, now, out)
        return out

    def snapshot(self, now: float) -> LiveView:
        """The live state of every queue and agent, for supervisors and wallboards."""
        queues = []
        for q in self._queues.values():
            by_state: dict[str, int] = {}
            for aid in q.members:
                state = self._agents[aid].state.value
                by_state[state] = by_state.get(state, 0) + 1
            live = [
                c for c in q.calls.values() if c.state in (CallState.WAITING, CallState.OFFERED)
            ]
            offered = q.answered + q.abandoned + q.exited
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
                    aht=self.aht(q.config.name),
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
            for a in self._agents.values()
        )
        return LiveView(time=now, queues=tuple(queues), agents=agents)

    def reset_statistics(self) -> None:
        """Start a new day: zero the queues' statistics and the agents' daily counters."""
        for q in self._queues.values():
            q.answered = q.answered_in_sl = q.abandoned = q.exited = 0
            q.wait_total = 0.0
        for a in self._agents.values():
            a.calls_today = 0
            a.talk_today = 0.0

    def aht(self, queue: str) -> float:
        """The queue's rolling average handle time (talk + wrap-up), seconds."""
        q = self._queue(queue)
        if len(q.handle_times) < q.config.aht_min_samples:
            return q.config.default_aht
        return sum(q.handle_times) / len(q.handle_times)

    def position(self, call: str) -> int:
        """The caller's 1-based position in their queue."""
        c = self._calls.get(call)
        if c is None:
            raise LocalProtocolError(f"call {call!r} is not queued")
        return self._position(c)

    def ewt(self, call: str) -> float:
        """The caller's estimated wait, seconds (see the module docstring)."""
        c = self._calls.get(call)
        if c is None:
            raise LocalProtocolError(f"call {call!r} is not queued")
        q = self._queues[c.queue]
        return self._position(c) / max(1, q.staffed) * self.aht(c.queue)

    def agent(self, agent: str) -> Agent:
        """An agent's run-time state (read it, do not change it)."""
        return self._agent(agent)

    def queued(self, call: str) -> QueuedCall | None:
        """A queued caller's run-time state, or ``None`` once they left the queue."""
        return self._calls.get(call)

    # ------------------------------------------------------------------ callers

    def _on_call_queued(self, e: ev.CallQueued, now: float, out: Actions) -> None:
        q = self._queue(e.queue)
        config = q.config
        if e.call in self._calls or e.call in self._talks:
            log.debug("acd_duplicate_call", call=e.call)
            return
        priority = e.priority
        for rule in config.priority_rules:
            value = e.caller if rule.key == "caller" else e.data.get(rule.key)
            if value in rule.values and rule.priority > priority:
                priority = rule.priority
        if config.max_length is not None and len(q.calls) >= config.max_length:
            out.append(act.LogEvent(now, "FULL", e.call, config.name, "", {"caller": e.caller}))
            self._send_away(e.call, config, "full", out)
            return
        if self._empty(q, config.join_empty):
            out.append(act.LogEvent(now, "JOINEMPTY", e.call, config.name, "", {}))
            self._send_away(e.call, config, "empty", out)
            return
        position = 1 + sum(n for p, n in q.by_priority.items() if p >= priority)
        call = QueuedCall(
            call=e.call,
            queue=config.name,
            priority=priority,
            enqueued=now,
            seq=next(self._seq),
            skills=requirement(config.skills, e.skills),
            data=e.data,
            caller=e.caller,
            original_position=position,
        )
        self._calls[e.call] = call
        q.calls[e.call] = call
        q.by_priority[priority] = q.by_priority.get(priority, 0) + 1
        out.append(
            act.LogEvent(
                now,
                "ENTERQUEUE",
                e.call,
                config.name,
                "",
                {"caller": e.caller, "priority": priority, "position": position},
            )
        )
        out.append(act.PlayHold(e.call, config.music_class))
        if config.announce_period is not None:
            self._arm_call(call, "announce", now + config.announce_period)
        if config.max_wait is not None:
            self._arm_call(call, "max_wait", now + config.max_wait)
        if config.relax:
            self._arm_call(call, "relax", now + config.relax[0][0])
        if config.callback_after is not None:
            self._arm_call(call, "callback", now + config.callback_after)
        self._call_waiting(call, now, out)

    def _on_call_abandoned(self, e: ev.CallAbandoned, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or call.state in (CallState.CALLBACK_PENDING, CallState.CALLBACK_DIALING):
            return
        q = self._queues[call.queue]
        freed = self._withdraw_offers(call, now, out)
        out.append(
            act.LogEvent(
                now,
                "ABANDON",
                call.call,
                call.queue,
                "",
                {
                    "position": self._position(call),
                    "original_position": call.original_position,
                    "wait": now - call.enqueued,
                },
            )
        )
        q.abandoned += 1
        self._remove_call(call)
        self._agents_available(freed, now, out)

    def _on_priority_changed(self, e: ev.PriorityChanged, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or call.priority == e.priority:
            return
        q = self._queues[call.queue]
        q.by_priority[call.priority] -= 1
        q.by_priority[e.priority] = q.by_priority.get(e.priority, 0) + 1
        call.priority = e.priority
        if call.index is not None:
            self._unindex_call(call)
            self._index_call(call)

    def _on_key_pressed(self, e: ev.KeyPressed, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
            return
        config = self._queues[call.queue].config
        target = config.exit_keys.get(e.digit)
        if target is not None:
            data = {"key": e.digit, "position": self._position(call), "wait": now - call.enqueued}
            self._exit(call, "EXITWITHKEY", data, now, out)
            out.append(act.Overflow(call.call, target, "key"))
        elif e.digit == config.callback_key and call.callback_offered and call.caller:
            self._on_callback_requested(ev.CallbackRequested(call.call, call.caller), now, out)

    def _on_callback_requested(self, e: ev.CallbackRequested, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
            return
        freed = self._withdraw_offers(call, now, out)
        if call.index is not None:
            self._unindex_call(call)
        call.state = CallState.CALLBACK_PENDING
        call.callback_number = e.number
        for kind in ("announce", "max_wait", "callback"):
            call.deadlines.pop(kind, None)
        out.append(
            act.LogEvent(
                now,
                "CALLBACKREQUESTED",
                call.call,
                call.queue,
                "",
                {"number": e.number, "position": self._position(call)},
            )
        )
        self._call_waiting(call, now, out)
        self._agents_available(freed, now, out)

    def _on_callback_completed(self, e: ev.CallbackCompleted, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or call.state is not CallState.CALLBACK_DIALING:
            return
        if e.agent not in call.offers:
            return
        out.append(act.LogEvent(now, "CALLBACKDONE", call.call, call.queue, e.agent, {}))
        self._connect(call, self._agents[e.agent], now, out, bridge=False)

    def _on_callback_failed(self, e: ev.CallbackFailed, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or call.state is not CallState.CALLBACK_DIALING:
            return
        if e.agent not in call.offers:
            return
        agent = self._agents[e.agent]
        self._release_offer(call, agent)
        q = self._queues[call.queue]
        q.exited += 1
        out.append(
            act.LogEvent(
                now, "CALLBACKFAILED", call.call, call.queue, agent.id, {"reason": e.reason}
            )
        )
        self._remove_call(call)
        self._agent_free(agent, now, out)

    # ------------------------------------------------------------------ offers

    def _on_offer_ringing(self, e: ev.OfferRinging, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        agent = self._agents.get(e.agent)
        if call is None or agent is None or e.agent not in call.offers:
            return
        if agent.state is S.RESERVED:
            self._set_state(agent, S.RINGING, "", now, out)

    def _on_offer_accepted(self, e: ev.OfferAccepted, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or e.agent not in call.offers:
            log.debug("acd_stale_accept", call=e.call, agent=e.agent)
            return
        bridge = call.state is CallState.OFFERED
        if not bridge:
            out.append(act.LogEvent(now, "CALLBACKDONE", call.call, call.queue, e.agent, {}))
        self._connect(call, self._agents[e.agent], now, out, bridge=bridge)

    def _on_offer_failed(self, e: ev.OfferFailed, now: float, out: Actions) -> None:
        call = self._calls.get(e.call)
        if call is None or e.agent not in call.offers:
            log.debug("acd_stale_offer_failure", call=e.call, agent=e.agent)
            return
        self._offer_failed(call, self._agents[e.agent], e.reason, now, out)

    def _connect(
        self, call: QueuedCall, agent: Agent, now: float, out: Actions, *, bridge: bool
    ) -> None:
        q = self._queues[call.queue]
        ring_started = call.offers[agent.id]
        others = [self._agents[aid] for aid in call.offers if aid != agent.id]
        for other in others:
            out.append(act.CancelOffer(call.call, other.id))
            self._release_offer(call, other)
        call.offers.clear()
        agent.deadlines.pop("ring", None)
        wait = now - call.enqueued
        position = self._position(call)
        self._remove_call(call)
        self._talks[call.call] = _Talk(agent.id, q.config.name, now, wait, position)
        q.answered += 1
        q.wait_total += wait
        if wait <= q.config.service_level_threshold:
            q.answered_in_sl += 1
        agent.talk_started = now
        self._set_state(agent, S.ON_CALL, "", now, out)
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
            self._set_state(other, S.READY, "", now, out)
        self._agents_available(others, now, out)

    def _offer_failed(
        self, call: QueuedCall, agent: Agent, reason: str, now: float, out: Actions
    ) -> None:
        config = self._queues[call.queue].config
        ring = now - call.offers[agent.id]
        self._release_offer(call, agent)
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
            self._set_state(agent, S.NOT_READY, "RONA", now, out)
            self._log_agent(agent, "PAUSE", {"reason": "RONA"}, now, out)
        else:
            agent.blocked_until = now + config.skip_delay
            self._arm_agent(agent, "unblock", agent.blocked_until)
            self._agent_free(agent, now, out)
        if not call.offers:
            call.state = (
                CallState.CALLBACK_PENDING
                if call.state is CallState.CALLBACK_DIALING
                else CallState.WAITING
            )
            self._call_waiting(call, now, out)
        if reason == "no_answer" and config.rona == "not_ready":
            self._check_leave_empty(agent, now, out)

    def _release_offer(self, call: QueuedCall, agent: Agent) -> None:
        """Forget the offer of ``call`` to ``agent`` (the agent's state is the caller's job)."""
        call.offers.pop(agent.id, None)
        agent.call = None
        agent.deadlines.pop("ring", None)

    def _withdraw_offers(self, call: QueuedCall, now: float, out: Actions) -> list[Agent]:
        """Cancel every pending offer of ``call``; the agents are READY but not yet matched."""
        freed = []
        for aid in list(call.offers):
            agent = self._agents[aid]
            out.append(act.CancelOffer(call.call, aid))
            self._release_offer(call, agent)
            self._set_state(agent, S.READY, "", now, out)
            freed.append(agent)
        if call.state is CallState.OFFERED:
            call.state = CallState.WAITING
        elif call.state is CallState.CALLBACK_DIALING:
            call.state = CallState.CALLBACK_PENDING
        return freed

    def _offer(self, call: QueuedCall, agents: list[Agent], now: float, out: Actions) -> None:
        q = self._queues[call.queue]
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
            self._set_state(agent, S.RESERVED, "", now, out)
            self._arm_agent(agent, "ring", now + timeout)
            out.append(
                act.LogEvent(
                    now, "OFFER", call.call, config.name, agent.id, {"attempt": call.attempts}
                )
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

    # ------------------------------------------------------------------ talking

    def _talk_of(self, call: str, agent: str) -> _Talk | None:
        talk = self._talks.get(call)
        if talk is None or talk.agent != agent:
            log.debug("acd_stale_talk_event", call=call, agent=agent)
            return None
        return talk

    def _on_call_held(self, e: ev.CallHeld, now: float, out: Actions) -> None:
        if self._talk_of(e.call, e.agent) is not None:
            agent = self._agents[e.agent]
            if agent.state is S.ON_CALL:
                self._set_state(agent, S.ON_HOLD, "", now, out)

    def _on_call_resumed(self, e: ev.CallResumed, now: float, out: Actions) -> None:
        if self._talk_of(e.call, e.agent) is not None:
            agent = self._agents[e.agent]
            if agent.state is S.ON_HOLD:
                self._set_state(agent, S.ON_CALL, "", now, out)

    def _on_call_completed(self, e: ev.CallCompleted, now: float, out: Actions) -> None:
        talk = self._talk_of(e.call, e.agent)
        if talk is None:
            return
        name = "COMPLETEAGENT" if e.by == "agent" else "COMPLETECALLER"
        self._end_talk(e.call, talk, name, {}, now, out)

    def _on_call_transferred(self, e: ev.CallTransferred, now: float, out: Actions) -> None:
        talk = self._talk_of(e.call, e.agent)
        if talk is None:
            return
        self._end_talk(e.call, talk, "TRANSFER", {"target": e.target}, now, out)

    def _end_talk(
        self, call: str, talk: _Talk, name: str, extra: dict[str, object], now: float, out: Actions
    ) -> None:
        del self._talks[call]
        agent = self._agents[talk.agent]
        duration = now - talk.connected
        agent.calls_today += 1
        agent.talk_today += duration
        agent.idle_since = now
        agent.call = None
        data = {"wait": talk.wait, "talk": duration, "position": talk.position, **extra}
        out.append(act.LogEvent(now, name, call, talk.queue, agent.id, data))
        wrap = self._queues[talk.queue].config.wrap_up
        agent.wrap_queue = talk.queue
        agent.wrap_started = now
        agent.talk_started = talk.connected
        if wrap is None or agent.pending is not None:
            self._handled(agent, now)
            self._agent_free(agent, now, out)
            return
        self._set_state(agent, S.WRAP_UP, "", now, out)
        if wrap > 0:
            self._arm_agent(agent, "wrap", now + wrap)

    def _handled(self, agent: Agent, now: float) -> None:
        """Record the handle time (talk + wrap-up) of the agent's last call."""
        q = self._queues.get(agent.wrap_queue)
        if q is not None:
            q.handle_times.append(now - agent.talk_started)
        agent.wrap_queue = ""

    # ------------------------------------------------------------------ agents

    def _on_agent_login(self, e: ev.AgentLogin, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
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
            self._queues[name].members.add(agent.id)
        self._log_agent(agent, "AGENTLOGIN", {}, now, out)
        if not agent.device_ok:
            self._set_state(agent, S.NOT_READY, "device", now, out)
            return
        self._set_state(agent, S.READY, "", now, out)
        self._agent_available(agent, now, out)

    def _on_agent_logout(self, e: ev.AgentLogout, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
        self._leave(agent, S.LOGGED_OUT, "", now, out)

    def _on_agent_pause(self, e: ev.AgentPause, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
        self._leave(agent, S.NOT_READY, e.reason, now, out)

    def _leave(
        self, agent: Agent, target: AgentState, reason: str, now: float, out: Actions
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
            call = self._calls[agent.call]
            out.append(act.CancelOffer(call.call, agent.id))
            self._release_offer(call, agent)
            self._apply_leave(agent, target, reason, now, out)
            if not call.offers:
                call.state = (
                    CallState.CALLBACK_PENDING
                    if call.state is CallState.CALLBACK_DIALING
                    else CallState.WAITING
                )
                self._call_waiting(call, now, out)
        else:
            if agent.state is S.WRAP_UP:
                agent.deadlines.pop("wrap", None)
                self._handled(agent, now)
            self._apply_leave(agent, target, reason, now, out)
        self._check_leave_empty(agent, now, out)

    def _apply_leave(
        self, agent: Agent, target: AgentState, reason: str, now: float, out: Actions
    ) -> None:
        agent.pending = None
        if target is S.NOT_READY:
            if agent.state is S.NOT_READY and agent.reason == reason:
                return
            self._set_state(agent, S.NOT_READY, reason, now, out)
            self._log_agent(agent, "PAUSE", {"reason": reason}, now, out)
            return
        self._set_state(agent, S.LOGGED_OUT, "", now, out)
        self._log_agent(agent, "AGENTLOGOFF", {}, now, out)
        for name in agent.queues:
            self._queues[name].members.discard(agent.id)
        agent.queues = ()
        agent.deadlines.clear()
        agent.blocked_until = 0.0  # a skip after no answer ends with the session

    def _on_agent_unpause(self, e: ev.AgentUnpause, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
        if agent.pending is not None and agent.pending[0] is S.NOT_READY:
            agent.pending = None
            return
        if agent.state is not S.NOT_READY:
            return
        if not agent.device_ok:
            return
        self._set_state(agent, S.READY, "", now, out)
        self._log_agent(agent, "UNPAUSE", {}, now, out)
        self._agent_available(agent, now, out)

    def _on_agent_ready(self, e: ev.AgentReady, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
        if agent.state is not S.WRAP_UP:
            return
        agent.deadlines.pop("wrap", None)
        self._handled(agent, now)
        self._agent_free(agent, now, out)

    def _on_device_unavailable(self, e: ev.DeviceUnavailable, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
        if not agent.device_ok:
            return
        agent.device_ok = False
        self._arm_agent(agent, "grace", now + self._device_grace)
        if agent.state in (S.READY, S.RESERVED, S.RINGING):
            self._leave(agent, S.NOT_READY, "device", now, out)
        else:
            self._unoffer(agent)

    def _on_device_available(self, e: ev.DeviceAvailable, now: float, out: Actions) -> None:
        agent = self._agent(e.agent)
        if agent.device_ok:
            return
        agent.device_ok = True
        agent.deadlines.pop("grace", None)
        if agent.state is S.NOT_READY and agent.reason == "device":
            self._set_state(agent, S.READY, "", now, out)
            self._log_agent(agent, "UNPAUSE", {}, now, out)
        self._agent_available(agent, now, out)

    def _agent_free(self, agent: Agent, now: float, out: Actions) -> None:
        """The agent finished a call or an offer: apply a pending pause/logout or go ready."""
        if agent.pending is not None:
            target, reason = agent.pending
            self._apply_leave(agent, target, reason, now, out)
            self._check_leave_empty(agent, now, out)
            return
        if not agent.device_ok:
            self._apply_leave(agent, S.NOT_READY, "device", now, out)
            return
        if agent.state is not S.READY:
            self._set_state(agent, S.READY, "", now, out)
        self._agent_available(agent, now, out)

    def _agents_available(self, agents: Iterable[Agent], now: float, out: Actions) -> None:
        for agent in agents:
            if agent.state is S.READY:
                self._agent_available(agent, now, out)

    # ------------------------------------------------------------------ timers

    def _agent_timer(self, agent: Agent, kind: str, now: float, out: Actions) -> None:
        if kind == "ring":
            assert agent.call is not None
            call = self._calls[agent.call]
            out.append(act.CancelOffer(call.call, agent.id))
            self._offer_failed(call, agent, "no_answer", now, out)
        elif kind == "wrap":
            self._handled(agent, now)
            self._agent_free(agent, now, out)
        elif kind == "unblock":
            if agent.state is S.READY:
                self._agent_available(agent, now, out)
        elif kind == "grace":
            if not agent.device_ok:
                self._leave(agent, S.LOGGED_OUT, "", now, out)

    def _call_timer(
        self, call: QueuedCall, kind: str, deadline: float, now: float, out: Actions
    ) -> None:
        q = self._queues[call.queue]
        config = q.config
        if kind == "announce":
            assert config.announce_period is not None
            self._arm_call(call, "announce", deadline + config.announce_period)
            if call.state is CallState.WAITING:
                position = self._position(call)
                ewt = position / max(1, q.staffed) * self.aht(config.name)
                out.append(act.Announce(call.call, position, ewt))
                out.append(act.PlayHold(call.call, config.music_class))
        elif kind == "max_wait":
            data = {
                "position": self._position(call),
                "original_position": call.original_position,
                "wait": now - call.enqueued,
            }
            self._exit(call, "EXITWITHTIMEOUT", data, now, out)
            self._send_away(call.call, config, "timeout", out)
        elif kind == "relax":
            step = config.relax[call.relax_step]
            call.relax_step += 1
            if call.relax_step < len(config.relax):
                self._arm_call(call, "relax", call.enqueued + config.relax[call.relax_step][0])
            skills = relaxed(call.skills, step[1])
            if skills != call.skills:
                call.skills = skills
                if call.index is not None:
                    self._unindex_call(call)
                    self._call_waiting(call, now, out)
        elif kind == "callback":
            if call.state is CallState.WAITING:
                call.callback_offered = True
                out.append(act.OfferCallback(call.call))

    # ------------------------------------------------------------------ matching

    def _call_waiting(self, call: QueuedCall, now: float, out: Actions) -> None:
        """``call`` starts (or resumes) waiting: offer it now or index it."""
        q = self._queues[call.queue]
        profile = q.profiles.get(call.skills)
        if profile is None:
            profile = self._new_profile(q, call.skills, now)
        ready = profile.agents
        if ready:
            agents = self._agents
            if q.ring_all:
                self._offer(call, [agents[entry[-1]] for entry in ready], now, out)
                return
            head = ready[0]
            agent = agents[head[-1]]
            if q.on_offer is not None:
                q.on_offer(agent, q.config, head[1:-2])
            self._offer(call, [agent], now, out)
            return
        call.index = profile
        call.version += 1
        profile.live_calls += 1
        heap_c = profile.calls
        heapq.heappush(heap_c, (-call.priority, call.enqueued, call.seq, call.call, call.version))
        if len(heap_c) > _COMPACT_MIN and len(heap_c) > 4 * profile.live_calls:
            calls = self._calls
            profile.calls = [
                entry
                for entry in heap_c
                if (c := calls.get(entry[3])) is not None
                and c.version == entry[4]
                and c.index is profile
            ]
            heapq.heapify(profile.calls)

    def _agent_available(self, agent: Agent, now: float, out: Actions) -> None:
        """``agent`` may have become offerable: give them the best caller or index them."""
        if (
            agent.listed
            or agent.state is not S.READY
            or not agent.device_ok
            or agent.blocked_until > now
        ):
            return
        eligible = self._eligible(agent)
        calls = self._calls
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
            self._unindex_call(best_call)
            self._offer(best_call, [agent], now, out)
            return
        # Index the agent in every profile they qualify for.
        aid = agent.id
        agent.listed = True
        indexes = agent.indexes
        seq_ = self._seq
        last_q: _Queue | None = None
        akey: tuple[float, ...] = ()
        for profile, q, penalty in eligible:
            if q is not last_q or q.key_per_requirement:
                akey = (penalty, *q.strategy.key(agent, q.config, profile.req, now))
                last_q = q
            entry = (*akey, next(seq_), aid)
            insort(profile.agents, entry)
            indexes.append((profile, entry))

    def _eligible(self, agent: Agent) -> list[tuple[_Profile, _Queue, int]]:
        """The profiles of the agent's queues whose requirement the agent meets (cached)."""
        if agent.eligible_valid:
            return agent.eligible  # type: ignore[return-value]
        skills = agent.config.skills
        eligible: list[tuple[_Profile, _Queue, int]] = []
        for name in agent.queues:
            q = self._queues[name]
            penalty = _penalty(agent, name)
            for profile in q.profiles.values():
                if satisfies(skills, profile.req):
                    eligible.append((profile, q, penalty))
        agent.eligible = eligible  # type: ignore[assignment]
        agent.eligible_valid = True
        return eligible

    def _new_profile(self, q: _Queue, req: Requirement, now: float) -> _Profile:
        profile = _Profile(queue=q, req=req)
        q.profiles[req] = profile
        for aid in q.members:
            agent = self._agents[aid]
            if not satisfies(agent.config.skills, req):
                continue
            penalty = _penalty(agent, q.config.name)
            if agent.eligible_valid:
                agent.eligible.append((profile, q, penalty))
            if agent.listed:
                key = (penalty, *q.strategy.key(agent, q.config, req, now))
                entry = (*key, next(self._seq), aid)
                profile.agents.append(entry)
                agent.indexes.append((profile, entry))
        profile.agents.sort()
        return profile

    def _unoffer(self, agent: Agent) -> None:
        """The agent stops being offerable: their index entries are removed."""
        agent.listed = False
        for profile, entry in agent.indexes:
            ready = profile.agents
            del ready[bisect_left(ready, entry)]
        agent.indexes.clear()

    def _index_call(self, call: QueuedCall) -> None:
        profile = self._queues[call.queue].profiles[call.skills]
        call.index = profile
        call.version += 1
        profile.live_calls += 1
        heapq.heappush(
            profile.calls, (-call.priority, call.enqueued, call.seq, call.call, call.version)
        )

    def _unindex_call(self, call: QueuedCall) -> None:
        profile = call.index
        if profile is not None:
            assert isinstance(profile, _Profile)
            profile.live_calls -= 1
            call.index = None
            call.version += 1

    # ------------------------------------------------------------------ helpers

    def _set_state(
        self, agent: Agent, state: AgentState, reason: str, now: float, out: Actions
    ) -> None:
        before = agent.state
        if (before, state) not in AGENT_TRANSITIONS:
            raise InvalidStateError(
                f"agent {agent.id!r} cannot go from {before.value} to {state.value}"
            )
        if before is S.READY:
            self._unoffer(agent)
        was_staffed = before is not S.LOGGED_OUT and before is not S.NOT_READY
        staffed = state is not S.LOGGED_OUT and state is not S.NOT_READY
        if was_staffed != staffed:
            delta = 1 if staffed else -1
            for name in agent.queues:
                self._queues[name].staffed += delta
        agent.state = state
        agent.reason = reason
        agent.since = now
        out.append(act.AgentStateChanged(agent.id, state, reason))

    def _log_agent(
        self, agent: Agent, name: str, data: Mapping[str, object], now: float, out: Actions
    ) -> None:
        for queue in agent.queues:
            out.append(act.LogEvent(now, name, "", queue, agent.id, dict(data)))

    def _empty(self, q: _Queue, rule: str) -> bool:
        if rule == "no_members":
            return not q.members
        if rule == "no_staffed":
            return q.staffed == 0
        return False

    def _check_leave_empty(self, agent: Agent, now: float, out: Actions) -> None:
        names = agent.queues or tuple(m.queue for m in agent.config.queues)
        for name in names:
            q = self._queues[name]
            if not self._empty(q, q.config.leave_when_empty):
                continue
            for call in sorted(q.calls.values(), key=lambda c: c.sort_key):
                if call.state in (CallState.CALLBACK_PENDING, CallState.CALLBACK_DIALING):
                    continue
                data = {"position": self._position(call), "wait": now - call.enqueued}
                self._exit(call, "EXITEMPTY", data, now, out)
                self._send_away(call.call, q.config, "empty", out)

    def _exit(
        self, call: QueuedCall, name: str, data: Mapping[str, object], now: float, out: Actions
    ) -> None:
        """The caller leaves the queue other than by an answer or a hang-up."""
        freed = self._withdraw_offers(call, now, out)
        out.append(act.LogEvent(now, name, call.call, call.queue, "", dict(data)))
        self._queues[call.queue].exited += 1
        self._remove_call(call)
        self._agents_available(freed, now, out)

    def _send_away(self, call: str, config: QueueConfig, reason: str, out: Actions) -> None:
        if config.overflow is not None:
            out.append(act.Overflow(call, config.overflow, reason))
        else:
            out.append(act.RejectCall(call, reason))

    def _remove_call(self, call: QueuedCall) -> None:
        self._unindex_call(call)
        q = self._queues[call.queue]
        del self._calls[call.call]
        del q.calls[call.call]
        q.by_priority[call.priority] -= 1
        call.deadlines.clear()

    def _position(self, call: QueuedCall) -> int:
        key = call.sort_key
        return 1 + sum(1 for c in self._queues[call.queue].calls.values() if c.sort_key < key)

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            raise LocalProtocolError(f"unknown queue {name!r}")
        return q

    def _agent(self, agent: str) -> Agent:
        a = self._agents.get(agent)
        if a is None:
            raise LocalProtocolError(f"unknown agent {agent!r}")
        return a

    def _arm_agent(self, agent: Agent, kind: str, deadline: float) -> None:
        agent.deadlines[kind] = deadline
        heapq.heappush(self._timers, (deadline, next(self._seq), kind, True, agent.id))

    def _arm_call(self, call: QueuedCall, kind: str, deadline: float) -> None:
        call.deadlines[kind] = deadline
        heapq.heappush(self._timers, (deadline, next(self._seq), kind, False, call.call))

    def _timer_valid(self, deadline: float, kind: str, is_agent: bool, ref: str) -> bool:
        obj: Agent | QueuedCall | None = self._agents.get(ref) if is_agent else self._calls.get(ref)
        return obj is not None and obj.deadlines.get(kind) == deadline


def _penalty(agent: Agent, queue: str) -> int:
    for member in agent.config.queues:
        if member.queue == queue:
            return member.penalty
    return 0
