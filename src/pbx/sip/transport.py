"""Where a SIP message comes from or goes to (RFC 3261 §18).

A :class:`Destination` names the transport, the remote address and, for connection
oriented transports, the connection a message arrived on so that responses go back over
it (§18.2.2). The sans-I/O core hands ``(bytes, Destination)`` pairs to ``pbx.net``.
"""

from __future__ import annotations

from attrs import frozen

RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "WS", "WSS"})
FRAMED_TRANSPORTS = frozenset({"WS", "WSS"})
"""Reliable transports that carry one message per frame (RFC 7118 §5): no Content-Length
framing, so a message may leave it out as over UDP."""


@frozen
class Destination:
    """A transport, a host and port, and the connection id for stream transports."""

    transport: str
    """``UDP``, ``TCP``, ``TLS``, ``WS`` or ``WSS`` (uppercase)."""
    host: str
    """IP address (IPv6 without brackets) or host name."""
    port: int
    connection: int | None = None
    """The id the network shell gave the connection a message arrived on."""

    @property
    def reliable(self) -> bool:
        """True for transports that retransmit themselves (no Timers A, E, G)."""
        return self.transport in RELIABLE_TRANSPORTS

    @property
    def stream(self) -> bool:
        """True for byte streams, framed by Content-Length (TCP, TLS; not WebSocket)."""
        return self.transport in RELIABLE_TRANSPORTS and self.transport not in FRAMED_TRANSPORTS

    @property
    def host_for_uri(self) -> str:
        """The host as written in a URI or Via (IPv6 in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host_for_uri}:{self.port}"
