"""What one tick of the media engine takes and hands back.

:class:`MediaStream` is what the engine needs of an RTP stream; :class:`TickOutput` is a
tick's result — the datagrams with their addresses and channels, the events, and the
:class:`TickCounters` of what the tick did (the shell measures time; the tick counts).
"""

from __future__ import annotations

from typing import Any, Protocol

from attrs import field, frozen

from pbx.media.events import MediaEvent

Addr = tuple[str, int]


class MediaStream(Protocol):
    """What the engine needs from an RTP stream (:class:`pbx.rtp.stream.RtpStream`)."""

    @property
    def remote_addr(self) -> Addr | None: ...

    def receive(self, data: bytes, addr: Addr, now: float) -> None: ...

    def pop_frame(self) -> bytes | None: ...

    def packetize(self, payload: bytes) -> bytes: ...

    def next_event(self) -> Any: ...

    def send_dtmf(self, digit: str) -> None: ...


@frozen
class TickCounters:
    """What one tick did (the shell measures time; the tick only counts)."""

    channels: int
    frames_received: int
    frames_concealed: int
    frames_silent: int
    datagrams: int
    playing: int
    recording: int
    dtmf_rows: int
    #: Channels with answering-machine detection on (analysing or awaiting a greeting's end).
    amd_rows: int = 0


@frozen
class TickOutput:
    """Everything a tick hands back to the shell."""

    #: The RTP datagrams to send, one per channel with a remote address ...
    payloads: list[bytes]
    #: ... where each goes (same order) ...
    addresses: list[Addr]
    events: list[MediaEvent]
    counters: TickCounters
    #: ... and the channel each belongs to (same order): its socket sends it.
    channels: list[int] = field(factory=list)

    @property
    def datagrams(self) -> list[tuple[bytes, Addr]]:
        """``(datagram, remote address)`` pairs."""
        return list(zip(self.payloads, self.addresses, strict=True))
