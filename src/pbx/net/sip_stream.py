"""SIP over TCP (RFC 3261 §18.3): framing by Content-Length, connection reuse.

Every accepted or opened connection gets an integer id; a message that arrives on it is
handed up with ``Destination("TCP", host, port, connection=id)`` so that responses and
requests in the same dialog go back over the same connection (§18.2.2). A request to a
destination without a connection id reuses an open connection to that host and port, or
opens one. A framing error closes the connection after a 400 where one can be built.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import structlog

from pbx.sip.errors import SipParseError
from pbx.sip.framing import StreamFramer
from pbx.sip.transport import Destination

log = structlog.get_logger(__name__)

MessageHandler = Callable[[bytes, Destination], None]


class _Connection:
    def __init__(
        self,
        cid: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: tuple[str, int],
    ) -> None:
        self.id = cid
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.framer = StreamFramer()


class SipTcpTransport:
    """A TCP listener plus the connections it accepted or opened."""

    def __init__(self, handler: MessageHandler, transport: str = "TCP") -> None:
        self._handler = handler
        self._name = transport
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self._by_id: dict[int, _Connection] = {}
        self._by_peer: dict[tuple[str, int], _Connection] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.local: tuple[str, int] | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``."""
        self._server = await asyncio.start_server(self._accepted, host, port, reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        self.local = (str(sock[0]), int(sock[1]))
        log.info("sip_tcp_listening", host=self.local[0], port=self.local[1])

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = self._register(reader, writer, (str(peer[0]), int(peer[1])))
        await self._read_loop(conn)

    def _register(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]
    ) -> _Connection:
        conn = _Connection(next(self._ids), reader, writer, peer)
        self._by_id[conn.id] = conn
        self._by_peer[peer] = conn
        return conn

    async def _read_loop(self, conn: _Connection) -> None:
        source = Destination(self._name, conn.peer[0], conn.peer[1], conn.id)
        try:
            while True:
                data = await conn.reader.read(65536)
                if not data:
                    break
                try:
                    messages = conn.framer.feed(data)
                except SipParseError as exc:
                    log.info("sip_tcp_framing_error", peer=str(source), reason=exc.reason)
                    break
                if conn.framer.pings:
                    conn.framer.pings = 0
                    conn.writer.write(b"\r\n")  # RFC 5626 §3.5.1 pong
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
        self._by_id.pop(conn.id, None)
        if self._by_peer.get(conn.peer) is conn:
            del self._by_peer[conn.peer]
        conn.writer.close()

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
            log.info("sip_tcp_connect_failed", host=key[0], port=key[1], error=str(exc))
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
        for conn in list(self._by_id.values()):
            conn.writer.close()
        for task in self._tasks:
            task.cancel()
