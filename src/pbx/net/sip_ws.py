"""SIP over WebSocket (RFC 7118): one SIP message per frame, on the HTTP listener.

:class:`SipWsTransport` is an ASGI application mounted at ``/sip`` on the HTTP server
(:mod:`pbx.api.routes`), so it runs on the application's own loop like every other
shell. A handshake that does not offer the subprotocol ``sip`` is refused with 400
(RFC 7118 §4.1: the server must not accept one it would have to guess the meaning of);
one beyond the connection caps (:class:`WsLimits`, the ``[sip] tcp_*`` keys' idea) is
refused with 503 and counted in :attr:`SipWsTransport.refused`.

Every accepted connection gets an integer id; each text or binary frame is one SIP
message (§5.1, no Content-Length framing) handed up with ``Destination("WS", host,
port, connection=id)``, so responses and in-dialog requests of calls the browser placed
go back over the same connection. A frame larger than ``max_message`` closes the
connection (1009); a frame that does not parse is the endpoint's to answer (400).

A browser cannot be reached at its Contact: the host is ``xxx.invalid`` (§5). A
registration granted over a connection binds the registered Contact's host and port to
that flow (:meth:`SipWsTransport.hold`, from the pump), so requests the pbx sends to that
Contact — a call to the agent, its ACK and BYE — take the connection the phone
registered on (RFC 5626 §5). When the connection closes, :attr:`closed` is told the
flow so the registrar drops its bindings at once.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog
from attrs import frozen

from pbx.loglimit import LogLimiter
from pbx.sip.transport import Destination

if TYPE_CHECKING:
    from pbx.config import SipConfig

log = structlog.get_logger(__name__)

SUBPROTOCOL = "sip"
"""The WebSocket subprotocol of SIP (RFC 7118 §4)."""
MAX_REGISTRATION_HOLD = 86_400
"""Longest time, in seconds, one granted registration keeps its connection open."""

MessageHandler = Callable[[bytes, Destination], None]
FlowHandler = Callable[[Destination], None]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@frozen
class WsLimits:
    """How many SIP WebSocket connections are kept open, how large a frame may be."""

    max_connections: int = 4096
    """Connections open at once; a handshake beyond it is refused with 503."""
    max_per_source: int = 64
    """Connections open at once from one IP address."""
    idle_timeout: float = 300.0
    """Seconds a connection may carry no message before it is closed (0: never); a
    registration granted over it keeps it open while the binding lasts."""
    max_message: int = 65_535
    """Largest frame (one SIP message) accepted, in bytes; a larger one closes the
    connection with 1009."""
    max_queued: int = 1024
    """Messages waiting to be written to one connection before it is closed (a client
    that does not read)."""

    @classmethod
    def from_config(cls, sip: SipConfig) -> WsLimits:
        """The limits set by the ``[sip] tcp_*`` keys (one budget for held sockets)."""
        return cls(
            max_connections=sip.tcp_max_connections,
            max_per_source=sip.tcp_max_per_source,
            idle_timeout=sip.tcp_idle_timeout,
        )


class _Connection:
    __slots__ = ("id", "peer", "outbox", "active_at", "hold_until", "aliases", "close_code")

    def __init__(self, cid: int, peer: tuple[str, int], now: float) -> None:
        self.id = cid
        self.peer = peer
        #: Messages to write, in order; None asks the writer to close.
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        #: When the last message arrived (or the connection opened).
        self.active_at = now
        #: A registration granted over this connection keeps it open until then.
        self.hold_until = now
        #: Contact (host, port) pairs registered over this connection.
        self.aliases: set[tuple[str, int]] = set()
        #: The close code the writer sends when it reaches the None.
        self.close_code = 1000


class SipWsTransport:
    """The ``/sip`` WebSocket endpoint (an ASGI application) and its connections."""

    def __init__(
        self,
        handler: MessageHandler,
        *,
        closed: FlowHandler | None = None,
        limits: WsLimits | None = None,
        transport: str = "WS",
    ) -> None:
        self._handler = handler
        self.closed = closed
        """Told the flow (``Destination`` with its connection id) of each closed connection."""
        self._name = transport
        self.limits = limits or WsLimits()
        self._ids = itertools.count(1)
        self._by_id: dict[int, _Connection] = {}
        self._by_alias: dict[tuple[str, int], _Connection] = {}
        self._per_source: dict[str, int] = {}
        self.log_limit = LogLimiter()
        """Lines a client can trigger at will are rate-limited."""
        self.refused = 0
        """Handshakes refused because a cap was reached."""
        self.wrong_subprotocol = 0
        """Handshakes refused because they did not offer the subprotocol ``sip``."""
        self.oversized = 0
        """Connections closed because a frame was larger than ``max_message``."""
        self.idle_timeouts = 0
        """Connections closed after ``idle_timeout`` without a message."""
        self.unroutable = 0
        """Messages dropped: no open connection for their destination."""

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._by_id)

    def connections_from(self, host: str) -> int:
        """Connections open now from the IP address ``host``."""
        return self._per_source.get(host, 0)

    # -- the ASGI side -----------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        client = scope.get("client") or ("", 0)
        host, port = str(client[0]), int(client[1])
        offered = [str(p).strip().lower() for p in scope.get("subprotocols") or ()]
        if SUBPROTOCOL not in offered:
            self.wrong_subprotocol += 1
            self._debug_limited("sip_ws_refused", host=host, cap="subprotocol")
            await _refuse(scope, send, 400, "the WebSocket subprotocol 'sip' is needed")
            return
        if len(self._by_id) >= self.limits.max_connections:
            await self._refuse_cap(scope, send, host, "total")
            return
        if self._per_source.get(host, 0) >= self.limits.max_per_source:
            await self._refuse_cap(scope, send, host, "per_source")
            return
        await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
        loop = asyncio.get_running_loop()
        conn = _Connection(next(self._ids), (host, port), loop.time())
        self._by_id[conn.id] = conn
        self._per_source[host] = self._per_source.get(host, 0) + 1
        # Over TLS (an HTTPS listener) the transport is WSS (RFC 7118 §5.1).
        name = "WSS" if scope.get("scheme") == "wss" else self._name
        source = Destination(name, host, port, conn.id)
        log.debug("sip_ws_connected", peer=str(source), connection=conn.id)
        writer = asyncio.ensure_future(self._write_loop(conn, send))
        try:
            await self._read_loop(conn, source, receive)
        except (ConnectionError, OSError):
            pass
        finally:
            self._drop(conn)
            conn.outbox.put_nowait(None)
            try:
                await asyncio.wait_for(writer, 1.0)
            except (TimeoutError, asyncio.CancelledError, Exception):
                writer.cancel()
            log.debug("sip_ws_closed", peer=str(source), connection=conn.id)
            if self.closed is not None:
                try:
                    self.closed(source)
                except Exception:
                    log.exception("sip_ws_closed_handler_failed", peer=str(source))

    async def _refuse_cap(self, scope: Scope, send: Send, host: str, cap: str) -> None:
        self.refused += 1
        self._debug_limited("sip_ws_refused", host=host, cap=cap, refused=self.refused)
        await _refuse(scope, send, 503, "too many SIP connections")

    async def _read_loop(self, conn: _Connection, source: Destination, receive: Receive) -> None:
        loop = asyncio.get_running_loop()
        limits = self.limits
        while True:
            wait: float | None = None
            if limits.idle_timeout > 0:
                wait = max(conn.active_at + limits.idle_timeout, conn.hold_until) - loop.time()
                if wait <= 0:
                    self.idle_timeouts += 1
                    self._debug_limited("sip_ws_timeout", peer=str(source), timeout="idle")
                    conn.outbox.put_nowait(None)
                    return
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                continue  # the deadline is checked (and a hold honoured) above
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            text = message.get("text")
            data: bytes = text.encode("utf-8") if text is not None else message.get("bytes") or b""
            if len(data) > limits.max_message:
                self.oversized += 1
                self._debug_limited("sip_ws_oversized", peer=str(source), size=len(data))
                conn.close_code = 1009  # RFC 6455 §7.4.1: message too big
                conn.outbox.put_nowait(None)
                return
            conn.active_at = loop.time()
            try:
                self._handler(data, source)
            except Exception:  # a bug in a handler must not end the connection
                log.exception("sip_ws_handler_failed", peer=str(source))

    async def _write_loop(self, conn: _Connection, send: Send) -> None:
        """Write the connection's messages in order: text frames (binary when a message
        is not UTF-8); a None closes it."""
        while True:
            data = await conn.outbox.get()
            if data is None:
                try:
                    await send({"type": "websocket.close", "code": conn.close_code})
                except Exception:
                    pass
                return
            try:
                frame: dict[str, Any] = {"type": "websocket.send", "text": data.decode("utf-8")}
            except UnicodeDecodeError:
                frame = {"type": "websocket.send", "bytes": data}
            try:
                await send(frame)
            except Exception:
                return  # the client went; the read loop sees the disconnect

    def _drop(self, conn: _Connection) -> None:
        if self._by_id.pop(conn.id, None) is None:
            return
        host = conn.peer[0]
        left = self._per_source.get(host, 1) - 1
        if left > 0:
            self._per_source[host] = left
        else:
            self._per_source.pop(host, None)
        for alias in conn.aliases:
            if self._by_alias.get(alias) is conn:
                del self._by_alias[alias]

    def _debug_limited(self, event: str, **fields: object) -> None:
        self.log_limit.log(log.debug, event, asyncio.get_running_loop().time(), **fields)

    # -- the pump's side ---------------------------------------------------------------
    def hold(self, connection: int, until: float, contact: tuple[str, int] | None = None) -> None:
        """A registration granted over ``connection`` lasts until ``until``: keep it open
        that long and send requests for the registered ``contact`` (host, port) over it."""
        conn = self._by_id.get(connection)
        if conn is None:
            return
        now = asyncio.get_running_loop().time()
        conn.hold_until = max(conn.hold_until, min(until, now + MAX_REGISTRATION_HOLD))
        if contact is not None:
            key = (contact[0].lower(), contact[1])
            conn.aliases.add(key)
            self._by_alias[key] = conn

    def send(self, data: bytes, destination: Destination) -> None:
        """Queue ``data`` on the destination's connection, else on the connection its
        host and port were registered over; dropped (and counted) when there is none:
        a browser cannot be connected to."""
        conn = None
        if destination.connection is not None:
            conn = self._by_id.get(destination.connection)
        if conn is None:
            conn = self._by_alias.get((destination.host.lower(), destination.port))
        if conn is None:
            self.unroutable += 1
            self.log_limit.log(
                log.info,
                "sip_ws_unroutable",
                asyncio.get_running_loop().time(),
                peer=str(destination),
            )
            return
        if conn.outbox.qsize() >= self.limits.max_queued:
            self._debug_limited("sip_ws_backlog", peer=f"{conn.peer[0]}:{conn.peer[1]}")
            conn.close_code = 1008  # policy violation: it does not read
            self._drop(conn)
            conn.outbox.put_nowait(None)
            return
        conn.outbox.put_nowait(data)

    def close(self) -> None:
        """Close every connection (the HTTP server's shutdown ends their handlers)."""
        for conn in list(self._by_id.values()):
            conn.outbox.put_nowait(None)


async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    """Refuse a handshake with an HTTP response where the server can send one (the ASGI
    ``websocket.http.response`` extension), else by closing it (403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = reason.encode("utf-8")
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode("ascii")),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1002})
