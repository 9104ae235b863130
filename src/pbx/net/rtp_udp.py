"""The asyncio side of RTP: a bound RTP/RTCP UDP socket pair per media channel.

Theory of operation
-------------------
:meth:`RtpTransport.bind` opens two UDP sockets on ``host`` — RTP on an even ``port`` and
RTCP on ``port + 1`` (RFC 3550 §11), or RTP alone with rtcp-mux — each with a 4 MiB
``SO_RCVBUF`` requested: with the default ~200 KiB buffer a busy loop loses packets long
before the CPU is saturated. Each socket is handed to the loop with
``create_datagram_endpoint(sock=...)``; its protocol stamps every datagram with
``loop.time()`` once and calls the handler with ``(data, addr, now)`` — nothing else
happens per packet (no logging, no allocation beyond the address tuple asyncio makes).
IPv6 addresses are trimmed to ``(host, port)`` so cores see one address shape.

:func:`bind_from_pool` takes ports from a :class:`~pbx.rtp.ports.PortPool`, skipping
pairs another process holds (``EADDRINUSE``), and gives the port back on
:meth:`RtpTransport.close`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Any

import structlog

from pbx.rtp.ports import PortPool, PortsExhaustedError

log = structlog.get_logger(__name__)

Addr = tuple[str, int]
DatagramHandler = Callable[[bytes, Addr, float], None]

DEFAULT_RCVBUF = 4 * 1024 * 1024
"""Requested SO_RCVBUF; the kernel caps it at net.core.rmem_max."""


class _RtpProtocol(asyncio.DatagramProtocol):
    """Passes each datagram with its arrival time to a handler."""

    def __init__(self, handler: DatagramHandler | None, loop: asyncio.AbstractEventLoop) -> None:
        self._handler = handler
        self._time = loop.time
        self.errors = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self._handler is not None:
            self._handler(data, addr, self._time())

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like, reported for an earlier send.
        self.errors += 1


class _RtpProtocol6(_RtpProtocol):
    """IPv6 variant: trims the (host, port, flowinfo, scope_id) address to (host, port)."""

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self._handler is not None:
            self._handler(data, (addr[0], addr[1]), self._time())


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _open_socket(host: str, port: int, rcvbuf: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class RtpTransport:
    """A bound RTP (and RTCP) UDP socket pair; :meth:`send` is the per-packet call."""

    def __init__(
        self,
        rtp: asyncio.DatagramTransport,
        rtcp: asyncio.DatagramTransport | None,
        rtp_protocol: _RtpProtocol,
        rtcp_protocol: _RtpProtocol | None,
    ) -> None:
        self._rtp = rtp
        self._rtcp = rtcp
        self.rtp_protocol = rtp_protocol
        self.rtcp_protocol = rtcp_protocol
        self.pool: PortPool | None = None
        self._closed = False

    @classmethod
    async def bind(
        cls,
        host: str,
        port: int,
        on_rtp: DatagramHandler,
        on_rtcp: DatagramHandler | None = None,
        *,
        rtcp: bool = True,
        rcvbuf: int = DEFAULT_RCVBUF,
    ) -> RtpTransport:
        """Bind RTP on ``(host, port)`` and, unless ``rtcp`` is False (rtcp-mux), RTCP on port + 1.

        ``port`` 0 lets the system choose (then the RTCP port is not adjacent).
        """
        loop = asyncio.get_running_loop()
        protocol_class = _RtpProtocol6 if _family(host) == socket.AF_INET6 else _RtpProtocol
        rtp_sock = _open_socket(host, port, rcvbuf)
        try:
            rtcp_sock = _open_socket(host, port + 1 if port else 0, rcvbuf) if rtcp else None
        except BaseException:
            rtp_sock.close()
            raise
        rtp_protocol = protocol_class(on_rtp, loop)
        rtp_transport, _ = await loop.create_datagram_endpoint(lambda: rtp_protocol, sock=rtp_sock)
        rtcp_transport = None
        rtcp_protocol = None
        if rtcp_sock is not None:
            rtcp_protocol = protocol_class(on_rtcp, loop)
            rtcp_transport, _ = await loop.create_datagram_endpoint(
                lambda: rtcp_protocol, sock=rtcp_sock
            )
        return cls(rtp_transport, rtcp_transport, rtp_protocol, rtcp_protocol)

    def send(self, data: bytes, addr: Addr) -> None:
        """Send one RTP datagram."""
        self._rtp.sendto(data, addr)

    def send_rtcp(self, data: bytes, addr: Addr) -> None:
        """Send one RTCP datagram (on the RTP socket with rtcp-mux)."""
        (self._rtcp or self._rtp).sendto(data, addr)

    @property
    def local_addr(self) -> Addr:
        """The bound RTP address."""
        sockname = self._rtp.get_extra_info("sockname")
        return (sockname[0], sockname[1])

    @property
    def port(self) -> int:
        """The bound RTP port."""
        return self.local_addr[1]

    @property
    def rtcp_port(self) -> int | None:
        """The bound RTCP port, or None with rtcp-mux."""
        if self._rtcp is None:
            return None
        return int(self._rtcp.get_extra_info("sockname")[1])

    @property
    def receive_buffer_size(self) -> int:
        """The SO_RCVBUF the kernel granted to the RTP socket."""
        sock = self._rtp.get_extra_info("socket")
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def close(self) -> None:
        """Close both sockets and give the port back to its pool."""
        if self._closed:
            return
        self._closed = True
        port = self.port
        self._rtp.close()
        if self._rtcp is not None:
            self._rtcp.close()
        if self.pool is not None:
            self.pool.release(port)


async def bind_from_pool(
    pool: PortPool,
    host: str,
    on_rtp: DatagramHandler,
    on_rtcp: DatagramHandler | None = None,
    *,
    rtcp: bool = True,
    rcvbuf: int = DEFAULT_RCVBUF,
) -> RtpTransport:
    """Bind the next free pair of ``pool`` on ``host``, skipping pairs in use elsewhere."""
    for _ in range(pool.size):
        port = pool.allocate()
        try:
            transport = await RtpTransport.bind(
                host, port, on_rtp, on_rtcp, rtcp=rtcp, rcvbuf=rcvbuf
            )
        except OSError as exc:
            pool.release(port)
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        transport.pool = pool
        return transport
    raise PortsExhaustedError(
        f"RTP port range {pool.start}-{pool.end}: no pair could be bound on {host}"
    )
