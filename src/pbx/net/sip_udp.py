"""SIP over UDP (RFC 3261 §18): one asyncio datagram endpoint per listening address."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import cast

import structlog

from pbx.loglimit import LogLimiter
from pbx.sip.transport import Destination

log = structlog.get_logger(__name__)

DatagramHandler = Callable[[bytes, Destination], None]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, handler: DatagramHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.handler(data, Destination("UDP", str(addr[0]), int(addr[1])))
        except Exception:  # a bug in a handler must not stop the socket
            log.exception("sip_udp_handler_failed", peer=f"{addr[0]}:{addr[1]}")

    def error_received(self, exc: Exception) -> None:
        log.debug("sip_udp_error", error=str(exc))


class SipUdpTransport:
    """A bound UDP socket that hands datagrams to ``handler`` and sends what it is given."""

    def __init__(self, handler: DatagramHandler) -> None:
        self._handler = handler
        self._transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] | None = None
        self.send_errors = 0
        """Datagrams the socket refused (unreachable or bad destinations)."""
        self.log_limit = LogLimiter()

    async def start(self, host: str, port: int) -> None:
        """Bind ``host:port`` (port 0 picks a free one; see :attr:`local`)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        # No SO_REUSEADDR: on a UDP socket it lets a second process bind the same port
        # (and split its traffic), and lets bind(port 0) hand out a port in use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._handler), sock=sock
        )
        self._transport = transport
        addr = sock.getsockname()
        self.local = (str(addr[0]), int(addr[1]))
        log.info("sip_udp_listening", host=self.local[0], port=self.local[1])

    def send(self, data: bytes, destination: Destination) -> None:
        """Send one datagram; errors are logged, never raised (UDP is best effort)."""
        if self._transport is None:
            return
        try:
            self._transport.sendto(data, (destination.host, destination.port))
        except OSError as exc:
            self.send_errors += 1
            self.log_limit.log(
                log.info,
                "sip_udp_send_failed",
                time.monotonic(),
                peer=str(destination),
                error=str(exc),
            )

    def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
