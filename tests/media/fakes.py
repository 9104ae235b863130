"""A stand-in for RtpStream: frames in by hand, payloads out unframed."""

from __future__ import annotations

from collections import deque

from attrs import define, field


@define
class FakeDigit:
    digit: str


@define
class FakeStream:
    """Implements the engine's MediaStream protocol without RTP."""

    remote_addr: tuple[str, int] | None = ("127.0.0.1", 40000)
    frames: deque[bytes | None] = field(factory=deque)
    events: deque[object] = field(factory=deque)
    sent: list[bytes] = field(factory=list)
    dtmf_sent: list[str] = field(factory=list)
    received: list[tuple[bytes, tuple[str, int], float]] = field(factory=list)

    def receive(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        self.received.append((data, addr, now))

    def pop_frame(self) -> bytes | None:
        return self.frames.popleft() if self.frames else None

    def packetize(self, payload: bytes) -> bytes:
        self.sent.append(payload)
        return b"HDR" + payload

    def next_event(self) -> object | None:
        return self.events.popleft() if self.events else None

    def send_dtmf(self, digit: str) -> None:
        self.dtmf_sent.append(digit)
