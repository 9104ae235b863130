"""The event hub: every event numbered once, fanned out to WebSocket clients, replayable.

Each event the application publishes gets the next sequence number and a scope (the
queue, agent, campaign and call it concerns), is kept in a bounded ring for replay, and
is put on the queue of every subscriber that may see it and asked for it. A client that
reconnects with the last number it saw gets what it missed from the ring first, so a
screen pop is never lost to a reconnect; if the ring no longer holds that far back the
first thing it receives says so (``Gap``). Publishing never waits: a subscriber whose
queue is full is dropped (it reconnects and replays), so a slow client cannot hold up
calls.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import structlog
from attrs import define, field, frozen

from pbx.api.auth import Principal

log = structlog.get_logger(__name__)


def to_json(value: Any) -> Any:
    """A JSON-able copy of an event's value (attrs classes, enums, mappings, tuples)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, (str, int)) else value.name.lower()
    if attrs.has(type(value)):
        return {a.name: to_json(getattr(value, a.name)) for a in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@frozen
class Scope:
    """What an event concerns, for filtering and permissions."""

    queue: str | None = None
    agent: str | None = None
    campaign: str | None = None
    call: str | None = None


@frozen
class HubEvent:
    """One numbered event."""

    seq: int
    type: str
    time: float
    """Wall-clock time it was published."""
    body: Mapping[str, Any]
    scope: Scope

    def message(self) -> dict[str, Any]:
        """What a client receives."""
        return {"seq": self.seq, "type": self.type, "time": self.time, **self.body}


@frozen
class Filter:
    """What a subscriber asked for (empty: everything it may see)."""

    queues: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    campaigns: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def wants(self, event: HubEvent) -> bool:
        s = event.scope
        return (
            (not self.types or event.type in self.types)
            and (not self.queues or s.queue in self.queues)
            and (not self.agents or s.agent in self.agents)
            and (not self.campaigns or s.campaign in self.campaigns)
        )


@define(eq=False)
class Subscription:
    """One client's place in the stream."""

    principal: Principal
    filter: Filter
    queue: asyncio.Queue[dict[str, Any]]
    dropped: bool = False
    """The client fell behind and was cut off; it reconnects with its last number."""


@define
class EventHub:
    """Numbers, keeps and fans out events; publishing never blocks."""

    replay: int = 10_000
    depth: int = 2_000
    """Messages a subscriber may have waiting before it is dropped."""
    agent_queues: Callable[[str], Iterable[str]] = field(default=lambda agent: ())
    """The queues an agent serves (a supervisor sees the agents of their queues)."""
    taps: list[Callable[[HubEvent], None]] = field(factory=list)
    """Called with every event as it is published (the webhook outbox)."""
    seq: int = field(init=False, default=0)
    _ring: deque[HubEvent] = field(init=False)
    _subscribers: set[Subscription] = field(init=False, factory=set)
    published: int = field(init=False, default=0)
    delivered: int = field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self._ring = deque(maxlen=self.replay)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def visible(self, principal: Principal, event: HubEvent) -> bool:
        """May ``principal`` see ``event``?"""
        if principal.role == "admin" or principal.all_queues and principal.role != "agent":
            return True
        scope = event.scope
        if principal.role == "agent":
            return scope.agent == principal.user
        if principal.sees_queue(scope.queue):
            return True
        return scope.agent is not None and principal.sees_agent(
            scope.agent, self.agent_queues(scope.agent)
        )

    def publish(self, kind: str, body: Mapping[str, Any], scope: Scope, wall: float) -> HubEvent:
        """Number ``body`` as the next event and hand it to every subscriber it is for."""
        self.seq += 1
        event = HubEvent(self.seq, kind, wall, body, scope)
        self._ring.append(event)
        self.published += 1
        for tap in self.taps:
            try:
                tap(event)
            except Exception:
                log.exception("api_event_tap_failed", type=kind)
        if not self._subscribers:
            return event
        message = event.message()
        for sub in list(self._subscribers):
            if not sub.filter.wants(event) or not self.visible(sub.principal, event):
                continue
            try:
                sub.queue.put_nowait(message)
                self.delivered += 1
            except asyncio.QueueFull:
                sub.dropped = True
                self._subscribers.discard(sub)
                log.warning("api_subscriber_dropped", user=sub.principal.user, seq=event.seq)
        return event

    def subscribe(self, principal: Principal, filter: Filter, since: int | None) -> Subscription:
        """A new subscription; with ``since``, the events after it that the ring still
        holds come first (a ``Gap`` message first when it does not reach back that far)."""
        sub = Subscription(principal, filter, asyncio.Queue(maxsize=self.depth + self.replay))
        if since is not None:
            first = self._ring[0].seq if self._ring else self.seq + 1
            # Older than the ring reaches, or a number this process never gave out
            # (the client saw a server that has restarted since): a gap either way.
            if since + 1 < first or since > self.seq:
                sub.queue.put_nowait({"seq": 0, "type": "Gap", "since": since, "first": first})
            for event in self._ring:
                if event.seq > since and filter.wants(event) and self.visible(principal, event):
                    sub.queue.put_nowait(event.message())
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
