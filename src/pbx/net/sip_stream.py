"""SIP over TCP (RFC 3261 §18.3): framing by Content-Length, connection reuse.

Every accepted or opened connection gets an integer id; a message that arrives on it is
handed up with ``Destination("TCP", host, port, connection=id)`` so that responses and
requests in the same dialog go back over the same connection (§18.2.2). A request to a
destination without a connection id reuses an open connection to that host and port, or
opens one. A framing error closes the connection after a 400 where one can be built.

Connections are bounded (:class:`TcpLimits`, the ``[sip] tcp_*`` keys) so that held
sockets cannot use up the process's descriptors: an accepted connection beyond the total
cap (every open connection counts, ours too) or beyond the cap for its source IP address
is closed at once and counted in :attr:`SipTcpTransport.refused`. One periodic sweep on the
loop closes a connection that has held part of a message for ``header_timeout`` seconds
(a slowloris), and an accepted connection that has carried neither a complete message nor
an RFC 5626 §3.5.1 keep-alive ping for ``idle_timeout`` seconds. A connection over which
the registrar granted a binding is kept for as long as the binding lasts (the pump hands
each registration's flow to :meth:`SipTcpTransport.hold`): a phone behind NAT is
reachable only over the connection it registered on (RFC 5626 §5). Connections we opened
are never closed for idleness.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from attrs import frozen

from pbx.loglimit import LogLimiter, bounded
from pbx.sip.errors import SipParseError
from pbx.sip.framing import StreamFramer
from pbx.sip.transport import Destination

if TYPE_CHECKING:
    from pbx.config import SipConfig

log = structlog.get_logger(__name__)

MessageHandler = Callable[[bytes, Destination], None]

"""Seconds between two debug lines about refused or timed-out connections (counters count all)."""
MAX_REGISTRATION_HOLD = 86_400
"""Longest time, in seconds, one granted registration keeps its connection open."""


@frozen
class TcpLimits:
    """How many SIP/TCP connections are kept open, and for how long."""

    max_connections: int = 4096
    """Connections open at once (accepted and opened); an accept beyond it is closed."""
    max_per_source: int = 64
    """Accepted connections open at once from one IP address."""
    idle_timeout: float = 300.0
    """Seconds an accepted connection may carry no complete message and no keep-alive
    ping before it is closed (0: never)."""
    header_timeout: float = 10.0
    """Seconds a connection may hold part of a message before it is closed (0: never)."""

    @classmethod
    def from_config(cls, sip: SipConfig) -> TcpLimits:
        """The limits set by the ``[sip] tcp_*`` keys."""
        return cls(
            max_connections=sip.tcp_max_connections,
            max_per_source=sip.tcp_max_per_source,
            idle_timeout=sip.tcp_idle_timeout,
            header_timeout=sip.tcp_header_timeout,
        )

    @property
    def sweep_interval(self) -> float | None:
        """How often the timeouts are checked: a quarter of the shorter one, or None."""
        timeouts = [t for t in (self.idle_timeout, self.header_timeout) if t > 0]
        if not timeouts:
            return None
        return min(5.0, max(0.05, min(timeouts) / 4))


class _Connection:
    __slots__ = (
        "id",
        "reader",
        "writer",
        "peer",
        "framer",
        "accepted",
        "active_at",
        "partial_since",
        "hold_until",
    )

    def __init__(
        self,
        cid: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: tuple[str, int],
        accepted: bool,
        now: float,
    ) -> None:
        self.id = cid
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.framer = StreamFramer()
        #: Accepted from a peer (True) or opened by us (False).
        self.accepted = accepted
        #: When the last complete message or keep-alive ping arrived (or the connection opened).
        self.active_at = now
        #: When the bytes of a message not yet complete began to arrive, or None.
        self.partial_since: float | None = None
        #: A registration granted over this connection keeps it open until then.
        self.hold_until = now


class SipTcpTransport:
    """A TCP listener plus the connections it accepted or opened."""

    def __init__(
        self, handler: MessageHandler, transport: str = "TCP", *, limits: TcpLimits | None = None
    ) -> None:
        self._handler = handler
        self._name = transport
        self.limits = limits or TcpLimits()
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self._by_id: dict[int, _Connection] = {}
        self._by_peer: dict[tuple[str, int], _Connection] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_source: dict[str, int] = {}
        self._sweep_handle: asyncio.TimerHandle | None = None
        self.log_limit = LogLimiter()
        """Lines a sender can trigger at will are rate-limited."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.local: tuple[str, int] | None = None
        self.refused = 0
        """Accepted connections closed at once because a cap was reached."""
        self.idle_timeouts = 0
        """Connections closed after ``idle_timeout`` without a message or a ping."""
        self.header_timeouts = 0
        """Connections closed after holding part of a message for ``header_timeout``."""
        self.framing_errors = 0
        """Connections closed because their bytes did not frame as SIP messages."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the transport runs on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def connections(self) -> int:
        """Connections open now, accepted and opened."""
        return len(self._by_id)

    def connections_from(self, host: str) -> int:
        """Accepted connections open now from the IP address ``host``."""
        return self._per_source.get(host, 0)

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``."""
        self._server = await asyncio.start_server(self._accepted, host, port, reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        self.local = (str(sock[0]), int(sock[1]))
        log.info("sip_tcp_listening", host=self.local[0], port=self.local[1])

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if peer is None:  # gone before we got to it
            writer.transport.abort()
            return
        host = str(peer[0])
        if len(self._by_id) >= self.limits.max_connections:
            self._refuse(writer, host, "total")
            return
        if self._per_source.get(host, 0) >= self.limits.max_per_source:
            self._refuse(writer, host, "per_source")
            return
        conn = self._register(reader, writer, (host, int(peer[1])), accepted=True)
        await self._read_loop(conn)

    def _refuse(self, writer: asyncio.StreamWriter, host: str, cap: str) -> None:
        """Close a connection beyond a cap at once, before reading from it."""
        writer.transport.abort()
        self.refused += 1
        self._debug_limited("sip_tcp_refused", host=host, cap=cap, refused=self.refused)

    def _register(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: tuple[str, int],
        *,
        accepted: bool = False,
    ) -> _Connection:
        conn = _Connection(next(self._ids), reader, writer, peer, accepted, self.loop.time())
        self._by_id[conn.id] = conn
        self._by_peer[peer] = conn
        if accepted:
            self._per_source[peer[0]] = self._per_source.get(peer[0], 0) + 1
        if self._sweep_handle is None:
            self._arm_sweep()
        return conn

    async def _read_loop(self, conn: _Connection) -> None:
        source = Destination(self._name, conn.peer[0], conn.peer[1], conn.id)
        try:
            while True:
                data = await conn.reader.read(65536)
                if not data:
                    break
                now = self.loop.time()
                try:
                    messages = conn.framer.feed(data)
                except SipParseError as exc:
                    self.framing_errors += 1
                    self.log_limit.log(
                        log.debug,
                        "sip_tcp_framing_error",
                        now,
                        peer=str(source),
                        reason=bounded(exc.reason),
                    )
                    break
                if conn.framer.pings:
                    conn.framer.pings = 0
                    conn.writer.write(b"\r\n")  # RFC 5626 §3.5.1 pong
                    conn.active_at = now
                if messages:
                    conn.active_at = now
                    conn.partial_since = now if conn.framer.buffered else None
                elif not conn.framer.buffered:
                    conn.partial_since = None
                elif conn.partial_since is None:
                    conn.partial_since = now
                for message in messages:
                    try:
                        self._handler(message, source)
                    except Exception:
                        log.exception("sip_tcp_handler_failed", peer=str(source))
        except (ConnectionError, OSError):
            pass
        finally:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        if self._by_id.pop(conn.id, None) is not None and conn.accepted:
            host = conn.peer[0]
            left = self._per_source.get(host, 1) - 1
            if left > 0:
                self._per_source[host] = left
            else:
                self._per_source.pop(host, None)
        if self._by_peer.get(conn.peer) is conn:
            del self._by_peer[conn.peer]
        conn.writer.close()

    # -- timeouts ----------------------------------------------------------------------
    def _arm_sweep(self) -> None:
        interval = self.limits.sweep_interval
        if interval is not None and self._by_id:
            self._sweep_handle = self.loop.call_later(interval, self._sweep)
        else:
            self._sweep_handle = None

    def _sweep(self) -> None:
        """Close every connection past its header or idle timeout; re-arm while any is open."""
        now = self.loop.time()
        header = self.limits.header_timeout
        idle = self.limits.idle_timeout
        for conn in list(self._by_id.values()):
            since = conn.partial_since
            if header > 0 and since is not None and now - since >= header:
                self.header_timeouts += 1
                self._expire(conn, "header")
            elif (
                idle > 0
                and conn.accepted
                and (since is None or header <= 0)  # a message under way has its own limit
                and now - conn.active_at >= idle
                and now >= conn.hold_until
            ):
                self.idle_timeouts += 1
                self._expire(conn, "idle")
        self._arm_sweep()

    def _expire(self, conn: _Connection, timeout: str) -> None:
        peer = f"{conn.peer[0]}:{conn.peer[1]}"
        self._debug_limited("sip_tcp_timeout", peer=peer, timeout=timeout)
        conn.writer.transport.abort()  # unsent bytes are dropped: the peer may not be reading
        self._drop(conn)

    def _debug_limited(self, event: str, **fields: object) -> None:
        """Log ``event`` at debug within :attr:`log_limit`'s budget."""
        self.log_limit.log(log.debug, event, self.loop.time(), **fields)

    def hold(self, connection: int, until: float) -> None:
        """Keep ``connection`` open until ``until`` (a registration granted over it)."""
        conn = self._by_id.get(connection)
        if conn is not None:
            conn.hold_until = max(
                conn.hold_until, min(until, self.loop.time() + MAX_REGISTRATION_HOLD)
            )

    def send(self, data: bytes, destination: Destination) -> None:
        """Send over the destination's connection, a reused one, or a new one."""
        conn = None
        if destination.connection is not None:
            conn = self._by_id.get(destination.connection)
        if conn is None:
            conn = self._by_peer.get((destination.host, destination.port))
        if conn is not None:
            conn.writer.write(data)
            return
        key = (destination.host, destination.port)
        if key in self._pending:
            self._pending[key].append(data)
            return
        self._pending[key] = [data]
        task = asyncio.ensure_future(self._connect(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, key: tuple[str, int]) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*key), 5.0)
        except (TimeoutError, OSError) as exc:
            self.log_limit.log(
                log.info,
                "sip_tcp_connect_failed",
                self.loop.time(),
                host=key[0],
                port=key[1],
                error=str(exc),
            )
            self._pending.pop(key, None)
            return
        conn = self._register(reader, writer, key)
        for data in self._pending.pop(key, []):
            writer.write(data)
        await self._read_loop(conn)

    def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        for conn in list(self._by_id.values()):
            conn.writer.close()
        for task in self._tasks:
            task.cancel()
