"""The send half of one RTP stream: the next packet's header and the counts SRs carry.

Theory of operation
-------------------
An :class:`RtpSender` builds each datagram of a stream with one header pack (RFC 3550
§5.1): sequence number + 1 and timestamp + one frame per packet, the marker bit on the
first packet after start or after :meth:`RtpSender.silence` (the first packet of a
talkspurt, RFC 3551 §4.1). After :meth:`RtpSender.send_dtmf` the following packets carry
RFC 4733 telephone-events instead of audio, all with the timestamp of the packet the
event started on (§2.5.1.1), with ``inter_digit_ms`` of audio between two digits. It
counts what it sent for the sender report (RFC 3550 §6.4.1: packets and payload octets)
and whether it sent since the last report (§6.4: an SR rather than an RR).

The send state has two homes. Unbound, it lives in the sender's attributes. Bound to a
row of an :class:`~pbx.rtp.bank.RtpBank` (:meth:`RtpSender.bind`), the row holds it, so
the media engine builds the ordinary audio packets of every bound stream in one array
step; the sender then reads the row (:meth:`RtpSender.pull`) before it builds a packet
itself or reports, and writes it back after (:meth:`RtpSender.push`). The row's
``scalar`` flag says the sender has telephone-events queued, so the engine lets it build
those packets itself.

Nothing here reads a clock or knows where the datagrams go.
"""

from __future__ import annotations

import struct
from collections import deque

from pbx.errors import InvalidStateError
from pbx.rtp.bank import RtpBank
from pbx.rtp.dtmf import TelephoneEventPacket, TelephoneEventSender
from pbx.rtp.packet import build_rtp_header

__all__ = ["RtpSender"]

_pack_header = struct.Struct("!BBHII").pack


class RtpSender:
    """The next RTP header's fields, the telephone-events queued and the sender's counts."""

    __slots__ = (
        "ssrc",
        "payload_type",
        "telephone_event_pt",
        "frame_samples",
        "seq",
        "timestamp",
        "marker",
        "packets_sent",
        "bytes_sent",
        "octets_sent",
        "sent_since_report",
        "bank",
        "row",
        "_dtmf",
        "_inter_digit_ticks",
        "_queue",
        "_event_ts",
    )

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        telephone_event_pt: int | None,
        *,
        clock_rate: int,
        frame_samples: int,
        initial_seq: int,
        initial_ts: int,
        inter_digit_ms: int,
    ) -> None:
        self.ssrc = ssrc & 0xFFFFFFFF
        self.payload_type = payload_type
        self.telephone_event_pt = telephone_event_pt
        self.frame_samples = frame_samples
        self.seq = initial_seq & 0xFFFF
        """The sequence number of the next packet."""
        self.timestamp = initial_ts & 0xFFFFFFFF
        """The RTP timestamp of the next packet (of the next frame)."""
        self.marker = True
        """The next audio packet starts a talkspurt."""
        self.packets_sent = 0
        self.bytes_sent = 0
        """Datagram bytes sent, headers included."""
        self.octets_sent = 0
        """Payload octets sent (RFC 3550 §6.4.1 sender's octet count)."""
        self.sent_since_report = False
        self.bank: RtpBank | None = None
        """The bank holding the send state while bound (:meth:`bind`), else None."""
        self.row = 0
        self._dtmf = TelephoneEventSender(clock_rate, frame_samples)
        self._inter_digit_ticks = max(0, inter_digit_ms * clock_rate // 1000 // frame_samples)
        self._queue: deque[TelephoneEventPacket | None] = deque()
        """Telephone-event packets to send, one per packet; None is a gap between digits."""
        self._event_ts = 0

    # ------------------------------------------------------------------- build

    def packetize(self, payload: bytes) -> bytes:
        """The next datagram: ``payload`` as audio, or a pending telephone-event packet."""
        if self.bank is None:
            return self.build(payload)
        self.pull()
        data = self.build(payload)
        self.push()
        return data

    def build(self, payload: bytes) -> bytes:
        """The next datagram from the sender's own fields (unbound, or between pull and push)."""
        seq = self.seq
        ts = self.timestamp
        self.seq = (seq + 1) & 0xFFFF
        self.timestamp = (ts + self.frame_samples) & 0xFFFFFFFF
        if self._queue:
            event = self._queue.popleft()
            if event is not None and self.telephone_event_pt is not None:
                if event.marker:
                    self._event_ts = ts  # RFC 4733 §2.5.1.1: the event's start
                data = (
                    build_rtp_header(
                        self.telephone_event_pt, seq, self._event_ts, self.ssrc, event.marker
                    )
                    + event.payload
                )
                self._count_sent(data, len(event.payload))
                return data
        if self.marker:
            self.marker = False
            data = build_rtp_header(self.payload_type, seq, ts, self.ssrc, True) + payload
        else:
            data = _pack_header(0x80, self.payload_type, seq, ts, self.ssrc) + payload
        self.packets_sent += 1
        self.bytes_sent += len(data)
        self.octets_sent += len(payload)
        self.sent_since_report = True
        return data

    def _count_sent(self, data: bytes, payload_octets: int) -> None:
        self.packets_sent += 1
        self.bytes_sent += len(data)
        self.octets_sent += payload_octets
        self.sent_since_report = True

    def silence(self, ticks: int = 1) -> None:
        """Advance the timestamp over ``ticks`` frames not sent; the next packet is marked."""
        self.pull()
        self.timestamp = (self.timestamp + ticks * self.frame_samples) & 0xFFFFFFFF
        self.marker = True
        self.push()

    def send_dtmf(self, digit: str, duration_ms: int = 100, volume: int = 10) -> None:
        """Queue one digit: the following packets are its RFC 4733 packets."""
        if self.telephone_event_pt is None:
            raise InvalidStateError("stream has no telephone-event payload type")
        packets = self._dtmf.packets(digit, duration_ms, volume)
        if self._queue:
            self._queue.extend([None] * self._inter_digit_ticks)
        self._queue.extend(packets)
        if self.bank is not None:
            self.bank.scalar[self.row] = True

    @property
    def sending_dtmf(self) -> bool:
        """True while queued telephone-event packets remain."""
        return bool(self._queue)

    def report_sent(self) -> None:
        """An RTCP report went out: nothing is sent since it yet (RFC 3550 §6.4)."""
        self.sent_since_report = False
        if self.bank is not None:
            self.bank.sent_since_report[self.row] = False

    # ---------------------------------------------------------------- the bank

    def bind(self, bank: RtpBank, row: int, *, events: bool) -> None:
        """Keep the send state in ``row`` of ``bank`` from now on (``events``: the
        stream's events flag for the row)."""
        self.pull()
        self.bank = bank
        self.row = row
        bank.load(
            row,
            ssrc=self.ssrc,
            payload_type=self.payload_type,
            seq=self.seq,
            timestamp=self.timestamp,
            frame_samples=self.frame_samples,
            marker=self.marker,
            packets=self.packets_sent,
            octets=self.octets_sent,
            bytes_sent=self.bytes_sent,
            sent_since_report=self.sent_since_report,
            scalar=bool(self._queue),
            events=events,
        )

    def unbind(self) -> None:
        """Take the send state back from the bank."""
        self.pull()
        self.bank = None

    def pull(self) -> None:
        """Read the send state from the bank row, if bound."""
        bank = self.bank
        if bank is None:
            return
        row = self.row
        self.seq = int(bank.seq[row])
        self.timestamp = int(bank.timestamp[row])
        self.marker = bool(bank.marker[row])
        self.packets_sent = int(bank.packets[row])
        self.octets_sent = int(bank.octets[row])
        self.bytes_sent = int(bank.bytes[row])
        self.sent_since_report = bool(bank.sent_since_report[row])

    def push(self) -> None:
        """Write the send state back to the bank row, if bound."""
        bank = self.bank
        if bank is None:
            return
        row = self.row
        bank.seq[row] = self.seq
        bank.timestamp[row] = self.timestamp
        bank.marker[row] = self.marker
        bank.packets[row] = self.packets_sent
        bank.octets[row] = self.octets_sent
        bank.bytes[row] = self.bytes_sent
        bank.sent_since_report[row] = self.sent_since_report
        bank.scalar[row] = bool(self._queue)
