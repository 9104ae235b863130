"""The pump: runs the sans-I/O cores on an asyncio loop, and routes events between them.

Every input is stamped with ``loop.time()`` once, at the socket, the timer or the tick,
and that one ``now`` goes with everything the input causes. After each input the pump
sends every queued datagram, hands every endpoint event to the :class:`CallRouter`
(which may call the endpoint again), lets the router drain the call layer's events to
the modules, and re-arms one timer at the earliest deadline of all the cores.

The :class:`CallRouter` is the one place events travel between cores: SIP events to the
call layer (registrations also to the modules watching agents' devices), media events
to the call layer, every call event to the subscribed modules in order, and a call
routed to a target kind (``CallRouted``) to the module registered for that kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import structlog

from pbx.calls.events import CallEvent, CallRouted
from pbx.calls.manager import CallManager, TargetHandler
from pbx.net.sip_stream import SipTcpTransport, TcpLimits
from pbx.net.sip_udp import SipUdpTransport
from pbx.net.sip_ws import SipWsTransport, WsLimits
from pbx.sip.dialog import uri_destination
from pbx.sip.endpoint import SipEndpoint
from pbx.sip.events import DeviceRegistered, EndpointEvent
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri

log = structlog.get_logger(__name__)

EventHandler = Callable[[EndpointEvent, float], None]
CallEventHandler = Callable[[CallEvent, float], None]


class CallRouter:
    """Routes events between the SIP endpoint, the media engine, the call layer and the
    modules (queues, IVR, voicemail, application routes)."""

    def __init__(
        self,
        calls: CallManager,
        *,
        routes: Mapping[str, TargetHandler],
        subscribers: Sequence[CallEventHandler] = (),
        device_watchers: Sequence[EventHandler] = (),
    ) -> None:
        self.calls = calls
        self.routes: dict[str, TargetHandler] = dict(routes)
        """Target kind (``queue``) or kind and name (``app:hello``) → its module."""
        self.subscribers: list[CallEventHandler] = list(subscribers)
        self.device_watchers: list[EventHandler] = list(device_watchers)
        self.sip_taps: list[EventHandler] = []
        """Called with every endpoint event first (traces, tests)."""

    def route(self, kind: str, handler: TargetHandler) -> None:
        """Send calls routed to ``kind`` (``app:NAME`` ...) to ``handler``."""
        self.routes[kind] = handler

    def subscribe(self, handler: CallEventHandler) -> None:
        """Call ``handler(event, now)`` for every call event, after the modules."""
        self.subscribers.append(handler)

    def on_sip(self, event: EndpointEvent, now: float) -> None:
        """An endpoint event: registrations to the device watchers, the rest to calls."""
        for tap in self.sip_taps:
            tap(event, now)
        if isinstance(event, DeviceRegistered):
            log.info("device_registered", aor=event.aor, bindings=len(event.bindings))
            for watcher in self.device_watchers:
                watcher(event, now)
            return
        self.calls.handle_sip(event, now)

    def on_media(self, events: Iterable[object], now: float) -> None:
        """What one media tick reported (digits, prompt ends, recordings)."""
        for event in events:
            self.calls.handle_media(event, now)

    def drain(self, now: float) -> bool:
        """Hand every queued call event on; True when there was any."""
        calls = self.calls
        moved = False
        while (event := calls.next_event()) is not None:
            moved = True
            if isinstance(event, CallRouted):
                self._route(event, now)
            for handler in self.subscribers:
                try:
                    handler(event, now)
                except Exception:
                    log.exception("call_event_handler_failed", call_event=type(event).__name__)
        return moved

    def _route(self, event: CallRouted, now: float) -> None:
        calls = self.calls
        call, leg = calls.calls.get(event.call), calls.legs.get(event.leg)
        if call is None or leg is None:
            return  # the caller hung up before its module took the call
        target = event.target
        handler = self.routes.get(target.kind) or self.routes.get(f"{target.kind}:{target.name}")
        if handler is None:
            log.warning("call_target_unavailable", kind=target.kind, name=target.name)
            calls.hangup(leg.id, now, status=480)
            return
        try:
            handler(calls, call, leg, now)
        except Exception:
            # A module that fails a call must not strand it: the caller hears 500.
            log.exception("call_route_failed", call=call.id, kind=target.kind)
            calls.hangup(leg.id, now, status=500)


class TimedCore(Protocol):
    """A sans-I/O core with deadlines (the call manager, voicemail, the ACD ...)."""

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class SipService:
    """A :class:`SipEndpoint` listening on UDP and TCP (and on WebSocket through the
    HTTP server, :attr:`ws`), with one re-armed timer."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        on_event: EventHandler | None = None,
        timers: Sequence[TimedCore] = (),
        tcp_limits: TcpLimits | None = None,
        drain: Callable[[float], bool] | None = None,
        ws_limits: WsLimits | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timers: list[TimedCore] = list(timers)
        self.on_event = on_event
        self.drain = drain
        """Runs after each step of a flush (the router's call events); True if it moved."""
        self.udp = SipUdpTransport(self._receive)
        self.tcp = SipTcpTransport(self._receive, limits=tcp_limits)
        self.ws = SipWsTransport(self._receive, closed=self._flow_closed, limits=ws_limits)
        """SIP over WebSocket: an ASGI application the HTTP server mounts at ``/sip``."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flushing = False

    async def start(self, host: str, port: int, *, udp: bool = True, tcp: bool = True) -> None:
        """Listen on ``host:port`` over UDP and/or TCP."""
        self._loop = asyncio.get_running_loop()
        if udp:
            await self.udp.start(host, port)
            if port == 0 and self.udp.local is not None:
                port = self.udp.local[1]
        if tcp:
            await self.tcp.start(host, port)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the service runs on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        """The clock every input is stamped with."""
        return self.loop.time()

    def _receive(self, data: bytes, source: Destination) -> None:
        now = self.now()
        self.endpoint.receive_datagram(data, source, now)
        self.flush(now)

    def _flow_closed(self, flow: Destination) -> None:
        """A WebSocket closed: the registrations over it end now, not at their expiry."""
        now = self.now()
        self.endpoint.flow_closed(flow, now)
        self.flush(now)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.now()
        try:
            self.endpoint.handle_timer(now)
        except Exception:
            log.exception("timer_handler_failed", core=type(self.endpoint).__name__)
        for core in self.timers:
            deadline = core.get_timer()
            if deadline is not None and deadline <= now:
                try:
                    core.handle_timer(now)
                except Exception:
                    log.exception("timer_handler_failed", core=type(core).__name__)
        self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Send, dispatch events, re-arm the timer; call after using the cores' API.

        ``now`` is the time of the input that caused the work (read once when omitted).
        """
        if self._flushing:
            return
        self._flushing = True
        if now is None:
            now = self.now()
        try:
            ep = self.endpoint
            while True:
                out = ep.datagrams_to_send()
                for data, dest in out:
                    if dest.transport == "UDP":
                        self.udp.send(data, dest)
                    elif dest.transport in ("WS", "WSS"):
                        self.ws.send(data, dest)
                    else:
                        self.tcp.send(data, dest)
                event = ep.next_event()
                if isinstance(event, DeviceRegistered):
                    self._hold_flows(event)
                if event is not None and self.on_event is not None:
                    try:
                        self.on_event(event, now)
                    except Exception:
                        log.exception("sip_event_handler_failed", sip_event=type(event).__name__)
                drained = False
                if self.drain is not None:
                    try:
                        drained = self.drain(now)
                    except Exception:
                        log.exception("call_event_drain_failed")
                if event is None and not out and not drained:
                    break
        finally:
            self._flushing = False
            self._rearm()

    def _hold_flows(self, event: DeviceRegistered) -> None:
        """A phone registered over TCP or WebSocket is reachable only over that connection
        (RFC 5626 §5): keep it open, idle or not, while the binding lasts; over WebSocket
        its Contact (``xxx.invalid``, RFC 7118 §5) is routed to that connection."""
        for binding in event.bindings:
            source = binding.source
            if source.connection is None or source.transport == "UDP":
                continue
            if source.transport in ("WS", "WSS"):
                uri = binding.contact.uri
                contact = None
                if isinstance(uri, SipUri):
                    hop = uri_destination(uri, source.transport)
                    contact = (hop.host, hop.port)
                self.ws.hold(source.connection, binding.expires_at, contact)
            else:
                self.tcp.hold(source.connection, binding.expires_at)

    def _rearm(self) -> None:
        deadline = self.endpoint.get_timer()
        for core in self.timers:
            t = core.get_timer()
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def close(self) -> None:
        """Stop listening."""
        if self._timer is not None:
            self._timer.cancel()
        self.udp.close()
        self.tcp.close()
        self.ws.close()
