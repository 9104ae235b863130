"""RFC 4733 telephone-events (DTMF digits and flash) received and sent over RTP.

Theory of operation
-------------------
An event is one RTP timestamp (RFC 4733 §2.5.1.1): every packet of a digit carries the
timestamp of its start, a growing duration and, at the end, the E bit, sent three times
(§2.5.1.4). A new digit — even the same digit again — has a new timestamp.

:class:`TelephoneEventReceiver` keeps the event in progress and the timestamps of the
last few finished ones. The first packet seen with a new timestamp starts an event,
whether or not it carries the marker bit (the start packet may be lost, §2.6); the first
E-bit packet finishes it and reports one :class:`DtmfDigit`; the retransmitted end packets
and any late update carry a finished timestamp and are ignored. An event with no end
packet is reported when a new timestamp arrives or after ``timeout`` seconds with no
packet (:meth:`TelephoneEventReceiver.handle_timer`). A long event split into segments
(§2.5.1.3: new timestamp, no marker, same event, right after the previous segment) is
one digit.

:class:`TelephoneEventSender` turns one digit into the per-tick payloads: the first with
the marker bit, one update per 20 ms tick with the duration so far (in timestamp units),
then the end packet three times with the final duration — all for the same timestamp.
"""

from __future__ import annotations

import struct
from collections import deque

from attrs import frozen

from pbx.errors import LocalProtocolError
from pbx.rtp.seq import ts_diff

EVENT_CODES: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "A": 12,
    "B": 13,
    "C": 14,
    "D": 15,
    "!": 16,
}
"""RFC 4733 §3.2 event codes; ``"!"`` is hook flash (event 16)."""

EVENT_DIGITS: dict[int, str] = {code: digit for digit, code in EVENT_CODES.items()}

_EVENT = struct.Struct("!BBH")


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a digit (``0``–``9 * # A``–``D``, ``!`` or ``flash``)."""
    key = "!" if digit.lower() == "flash" else digit.upper()
    try:
        return EVENT_CODES[key]
    except KeyError:
        raise LocalProtocolError(f"{digit!r} is not a DTMF digit") from None


@frozen
class DtmfDigit:
    """One telephone-event received in full (RFC 4733 §2.3)."""

    digit: str
    """``0``–``9``, ``*``, ``#``, ``A``–``D`` or ``!`` (flash)."""
    duration_ms: int
    """Duration of the event in milliseconds."""
    volume: int
    """Power level in -dBm0 (0–63, larger is quieter)."""
    timestamp: int = 0
    """The RTP timestamp of the event's start."""


@frozen
class TelephoneEventPayload:
    """The 4-octet payload of one telephone-event packet (RFC 4733 §2.3)."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEventPayload:
        """Parse the first event of a payload; ValueError if shorter than 4 octets."""
        if len(data) < 4:
            raise ValueError("telephone-event payload is truncated")
        event, flags, duration = _EVENT.unpack_from(data, 0)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        return _EVENT.pack(
            self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration
        )


class TelephoneEventReceiver:
    """Turns received telephone-event packets into one :class:`DtmfDigit` per event."""

    def __init__(self, clock_rate: int = 8000, timeout: float = 0.5) -> None:
        self.clock_rate = clock_rate
        self.timeout = timeout
        self._ts: int | None = None
        self._event = 0
        self._volume = 0
        self._duration = 0
        self._base = 0  # duration of the previous segments of a long event
        self._last_packet = 0.0
        self._finished: deque[int] = deque(maxlen=8)
        self.malformed = 0
        self.ignored = 0

    @property
    def current(self) -> str | None:
        """The digit being received now, or None."""
        if self._ts is None:
            return None
        return EVENT_DIGITS.get(self._event)

    def get_timer(self) -> float | None:
        """When an event without an end packet will be reported, or None."""
        if self._ts is None:
            return None
        return self._last_packet + self.timeout

    def handle_timer(self, now: float) -> list[DtmfDigit]:
        """Report the event in progress if no packet came for ``timeout`` seconds."""
        if self._ts is not None and now >= self._last_packet + self.timeout:
            return [self._finish()]
        return []

    def receive(self, payload: bytes, timestamp: int, marker: bool, now: float) -> list[DtmfDigit]:
        """Take one telephone-event packet; return the digits it completes (usually none)."""
        try:
            packet = TelephoneEventPayload.parse(payload)
        except ValueError:
            self.malformed += 1
            return []
        if packet.event not in EVENT_DIGITS:
            self.ignored += 1
            return []
        if timestamp in self._finished:
            return []  # RFC 4733 §2.5.1.4: retransmitted end packet or late update
        digits: list[DtmfDigit] = []
        if self._ts is not None:
            if timestamp == self._ts:
                if packet.duration > self._duration:
                    self._duration = packet.duration
                self._volume = packet.volume
                self._last_packet = now
                if packet.end:
                    digits.append(self._finish())
                return digits
            since = ts_diff(timestamp, self._ts)
            if (
                not marker
                and packet.event == self._event
                and self._duration >= 0xFFFF - self.clock_rate // 10
                and 0 < since <= self._duration + self.clock_rate // 10
            ):
                # RFC 4733 §2.5.1.3: the next segment of a long-lasting event.
                self._base += since
                self._ts = timestamp
                self._duration = packet.duration
                self._last_packet = now
                if packet.end:
                    digits.append(self._finish())
                return digits
            # A new event began before this one's end arrived: report this one now.
            digits.append(self._finish())
        self._ts = timestamp
        self._event = packet.event
        self._volume = packet.volume
        self._duration = packet.duration
        self._base = 0
        self._last_packet = now
        if packet.end:
            digits.append(self._finish())
        return digits

    def _finish(self) -> DtmfDigit:
        assert self._ts is not None
        digit = DtmfDigit(
            digit=EVENT_DIGITS[self._event],
            duration_ms=(self._base + self._duration) * 1000 // self.clock_rate,
            volume=self._volume,
            timestamp=self._ts,
        )
        self._finished.append(self._ts)
        self._ts = None
        return digit


@frozen
class TelephoneEventPacket:
    """One telephone-event packet to send: its payload and whether the marker bit is set."""

    payload: bytes
    marker: bool
    end: bool


class TelephoneEventSender:
    """Builds the packet sequence of one digit, one packet per tick (RFC 4733 §2.5.1)."""

    def __init__(
        self, clock_rate: int = 8000, frame_samples: int = 160, end_repeats: int = 3
    ) -> None:
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.end_repeats = end_repeats

    def packets(
        self, digit: str, duration_ms: int = 100, volume: int = 10
    ) -> list[TelephoneEventPacket]:
        """The payloads of ``digit`` for consecutive ticks, all for one event timestamp."""
        code = event_code(digit)
        if duration_ms <= 0:
            raise LocalProtocolError(f"DTMF duration must be positive, got {duration_ms} ms")
        total = duration_ms * self.clock_rate // 1000
        if total > 0xFFFF:
            raise LocalProtocolError(
                f"DTMF duration {duration_ms} ms does not fit one event segment (16 bits)"
            )
        if not 0 <= volume <= 63:
            raise LocalProtocolError(f"DTMF volume must be 0 to 63 -dBm0, got {volume}")
        packets = []
        duration = self.frame_samples
        first = True
        while duration < total:
            payload = bytes(TelephoneEventPayload(code, False, volume, duration))
            packets.append(TelephoneEventPacket(payload, first, False))
            first = False
            duration += self.frame_samples
        end = bytes(TelephoneEventPayload(code, True, volume, total))
        for _ in range(self.end_repeats):
            packets.append(TelephoneEventPacket(end, first, True))
            first = False
        return packets
