"""The pump: runs the sans-I/O SIP endpoint on an asyncio loop.

Every input is stamped with ``loop.time()`` once, at the socket or the timer; after each
input the pump sends every queued datagram, hands every event to the application
callback (which may call the endpoint again), and re-arms one timer at the endpoint's
earliest deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from pbx.net.sip_stream import SipTcpTransport, TcpLimits
from pbx.net.sip_udp import SipUdpTransport
from pbx.sip.endpoint import SipEndpoint
from pbx.sip.events import DeviceRegistered, EndpointEvent
from pbx.sip.transport import Destination

log = structlog.get_logger(__name__)

EventHandler = Callable[[EndpointEvent, float], None]


class TimedCore(Protocol):
    """A sans-I/O core with deadlines (the call manager, voicemail, the ACD ...)."""

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class SipService:
    """A :class:`SipEndpoint` listening on UDP and TCP, with one re-armed timer."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        on_event: EventHandler | None = None,
        timers: Sequence[TimedCore] = (),
        tcp_limits: TcpLimits | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timers: list[TimedCore] = list(timers)
        self.on_event = on_event
        self.udp = SipUdpTransport(self._receive)
        self.tcp = SipTcpTransport(self._receive, limits=tcp_limits)
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
        self.endpoint.receive_datagram(data, source, self.now())
        self.flush()

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
        self.flush()

    def flush(self) -> None:
        """Send, dispatch events, re-arm the timer; call after using the endpoint's API."""
        if self._flushing:
            return
        self._flushing = True
        try:
            ep = self.endpoint
            while True:
                out = ep.datagrams_to_send()
                for data, dest in out:
                    if dest.transport == "UDP":
                        self.udp.send(data, dest)
                    else:
                        self.tcp.send(data, dest)
                event = ep.next_event()
                if event is None and not out:
                    break
                if isinstance(event, DeviceRegistered):
                    self._hold_flows(event)
                if event is not None and self.on_event is not None:
                    try:
                        self.on_event(event, self.now())
                    except Exception:
                        log.exception("sip_event_handler_failed", sip_event=type(event).__name__)
        finally:
            self._flushing = False
            self._rearm()

    def _hold_flows(self, event: DeviceRegistered) -> None:
        """A phone registered over TCP is reachable only over that connection (RFC 5626
        §5): keep it open, idle or not, while the binding lasts."""
        for binding in event.bindings:
            source = binding.source
            if source.connection is not None and source.transport != "UDP":
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
