"""The pool of local RTP/RTCP port pairs (RFC 3550 §11).

Theory of operation
-------------------
RFC 3550 §11 puts RTP on an even port and its RTCP on the next, odd, port. A
:class:`PortPool` hands out the even ports of a configured range ``[start, end]`` whose
odd companion also lies in the range. Ports are reused round-robin — a released port
goes to the back of the queue — so a late packet of a finished call rarely reaches the
next call that gets the same port. A port is never handed out twice while in use.
"""

from __future__ import annotations

from collections import deque

from pbx.errors import ConfigError, LocalProtocolError, PbxError


class PortsExhaustedError(PbxError):
    """Every RTP port pair of the configured range is in use."""


class PortPool:
    """Even RTP ports (RTCP = port + 1) from ``[start, end]``, allocated round-robin."""

    def __init__(self, start: int, end: int) -> None:
        if not isinstance(start, int) or not 1 <= start <= 65535:
            raise ConfigError(f"rtp.port_start: must be a port number 1 to 65535, got {start!r}")
        if not isinstance(end, int) or not 1 <= end <= 65535:
            raise ConfigError(f"rtp.port_end: must be a port number 1 to 65535, got {end!r}")
        first = start + (start & 1)
        if first + 1 > end:
            raise ConfigError(
                f"rtp.port_start/rtp.port_end: range {start}-{end} holds no even/odd port pair"
            )
        self.start = start
        self.end = end
        self._free: deque[int] = deque(range(first, end, 2))
        self._in_use: set[int] = set()

    @property
    def size(self) -> int:
        """Number of port pairs in the range."""
        return len(self._free) + len(self._in_use)

    @property
    def available(self) -> int:
        """Number of port pairs not in use."""
        return len(self._free)

    @property
    def in_use(self) -> frozenset[int]:
        """The RTP ports currently allocated."""
        return frozenset(self._in_use)

    def allocate(self) -> int:
        """Take the next free even port; raise :class:`PortsExhaustedError` when none is left."""
        if not self._free:
            raise PortsExhaustedError(
                f"RTP port range {self.start}-{self.end} is exhausted "
                f"({len(self._in_use)} pairs in use)"
            )
        port = self._free.popleft()
        self._in_use.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a port back; it goes to the end of the queue."""
        if port not in self._in_use:
            raise LocalProtocolError(f"RTP port {port} is not allocated from this pool")
        self._in_use.remove(port)
        self._free.append(port)
