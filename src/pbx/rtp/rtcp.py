"""RTCP packets (RFC 3550 §6.4–§6.6) and compound packets (§6.1); rtcp-mux demultiplexing.

Theory of operation
-------------------
:func:`parse_rtcp` walks a compound RTCP datagram packet by packet using the common
header's length field (§6.4.1: length in 32-bit words minus one) and returns one frozen
value per packet: :class:`RtcpSenderReport`, :class:`RtcpReceiverReport`,
:class:`RtcpSdes`, :class:`RtcpBye`, or :class:`RtcpUnknown` for the types this module
does not interpret (APP, feedback, XR), which are kept as raw bodies so a compound packet
re-serialises byte for byte. ``bytes(packet)`` builds each one and
:func:`build_compound` concatenates them. Padding (the P bit, §6.4.1) is checked and
stripped on parse and not reproduced.

Every malformed input raises :class:`RtcpError` with one exact sentence:
``"RTCP packet is truncated"``, ``"RTCP version is not 2"``,
``"RTCP packet length is invalid"``, ``"RTCP padding length is invalid"``,
``"RTCP sender report length is invalid"``, ``"RTCP receiver report length is invalid"``,
``"RTCP SDES chunk is truncated"``, ``"RTCP BYE length is invalid"``.

Time: SR carries a 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point);
:func:`ntp_from_seconds` converts and :func:`ntp_middle32` gives the 32 middle bits used
as LSR in report blocks (§6.4.1).

RFC 5761 §4: with rtcp-mux, RTP and RTCP share a port; :func:`is_rtcp` tells them apart
by the second octet: RTCP packet types 192–223 are 64–95 once the marker bit is masked.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from attrs import field, frozen

from pbx.errors import LocalProtocolError, ProtocolError

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204

SDES_END = 0
SDES_CNAME = 1

NTP_UNIX_OFFSET = 2_208_988_800
"""Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch)."""

_COMMON = struct.Struct("!BBH")
_SR_INFO = struct.Struct("!IQIII")
_REPORT_BLOCK = struct.Struct("!IB3sIIII")
_SSRC = struct.Struct("!I")


class RtcpError(ProtocolError, ValueError):
    """Received bytes are not a valid RTCP packet (RFC 3550 §6.4)."""


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on an rtcp-mux port is RTCP (RFC 5761 §4: PT 64–95 after masking)."""
    return len(data) >= 2 and 64 <= (data[1] & 0x7F) <= 95


def ntp_from_seconds(seconds: float) -> int:
    """Convert seconds since 1900-01-01 to a 64-bit NTP timestamp (32.32 fixed point)."""
    return int(seconds * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


def ntp_from_unix(unix_seconds: float) -> int:
    """Convert a Unix time in seconds to a 64-bit NTP timestamp."""
    return ntp_from_seconds(unix_seconds + NTP_UNIX_OFFSET)


def ntp_to_seconds(ntp: int) -> float:
    """Convert a 64-bit NTP timestamp back to seconds since 1900-01-01."""
    return ntp / 4294967296.0


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR of a report block (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


@frozen
class RtcpReportBlock:
    """One reception report block (RFC 3550 §6.4.1), about the source ``ssrc``."""

    ssrc: int
    """The source this block reports on."""
    fraction_lost: int
    """Fraction lost since the previous report, in 1/256 (A.3)."""
    packets_lost: int
    """Cumulative number of packets lost, signed 24-bit (duplicates may make it negative)."""
    highest_sequence: int
    """Extended highest sequence number received (cycles << 16 | max_seq)."""
    jitter: int
    """Interarrival jitter in timestamp units (A.8)."""
    lsr: int
    """Middle 32 bits of the NTP timestamp of the last SR received from ``ssrc``, or 0."""
    dlsr: int
    """Delay since that SR, in 1/65536 s, or 0."""

    @classmethod
    def parse(cls, data: bytes, pos: int = 0) -> RtcpReportBlock:
        """Parse the 24-byte block at ``pos``."""
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, pos)
        return cls(
            ssrc, fraction, int.from_bytes(lost, "big", signed=True), highest, jitter, lsr, dlsr
        )

    def __bytes__(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost))
        return _REPORT_BLOCK.pack(
            self.ssrc,
            max(0, min(255, self.fraction_lost)),
            lost.to_bytes(3, "big", signed=True),
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr,
            self.dlsr,
        )


def _header(count: int, packet_type: int, body_length: int) -> bytes:
    if body_length % 4:
        raise LocalProtocolError("RTCP packet body is not a multiple of 4 octets")
    if count > 31:
        raise LocalProtocolError("RTCP packet has more than 31 items")
    # RFC 3550 §6.4.1: length in 32-bit words minus one, counting the header word.
    return _COMMON.pack(0x80 | count, packet_type, body_length // 4)


def _parse_blocks(body: bytes, pos: int, count: int) -> tuple[RtcpReportBlock, ...]:
    return tuple(RtcpReportBlock.parse(body, pos + 24 * i) for i in range(count))


@frozen
class RtcpSenderReport:
    """Sender report, PT 200 (RFC 3550 §6.4.1)."""

    ssrc: int
    ntp_timestamp: int
    """64-bit NTP wallclock time when this report was sent."""
    rtp_timestamp: int
    """The same instant in the RTP timestamp units of the sender's media."""
    packet_count: int
    octet_count: int
    """Payload octets sent (headers and padding excluded)."""
    reports: tuple[RtcpReportBlock, ...] = ()
    extension: bytes = b""
    """Profile-specific extension after the report blocks (§6.4.3)."""

    packet_type = RTCP_SR

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> RtcpSenderReport:
        """Parse the body after the common header; ``count`` is the RC field."""
        if len(body) < 24 + 24 * count:
            raise RtcpError("RTCP sender report length is invalid")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(body, 0)
        end = 24 + 24 * count
        return cls(ssrc, ntp, rtp_ts, packets, octets, _parse_blocks(body, 24, count), body[end:])

    def __bytes__(self) -> bytes:
        body = b"".join(
            [
                _SR_INFO.pack(
                    self.ssrc,
                    self.ntp_timestamp,
                    self.rtp_timestamp & 0xFFFFFFFF,
                    self.packet_count & 0xFFFFFFFF,
                    self.octet_count & 0xFFFFFFFF,
                ),
                *(bytes(block) for block in self.reports),
                self.extension,
            ]
        )
        return _header(len(self.reports), RTCP_SR, len(body)) + body


@frozen
class RtcpReceiverReport:
    """Receiver report, PT 201 (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[RtcpReportBlock, ...] = ()
    extension: bytes = b""

    packet_type = RTCP_RR

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> RtcpReceiverReport:
        """Parse the body after the common header; ``count`` is the RC field."""
        if len(body) < 4 + 24 * count:
            raise RtcpError("RTCP receiver report length is invalid")
        (ssrc,) = _SSRC.unpack_from(body, 0)
        end = 4 + 24 * count
        return cls(ssrc, _parse_blocks(body, 4, count), body[end:])

    def __bytes__(self) -> bytes:
        body = b"".join(
            [_SSRC.pack(self.ssrc), *(bytes(block) for block in self.reports), self.extension]
        )
        return _header(len(self.reports), RTCP_RR, len(body)) + body


@frozen
class SdesChunk:
    """One SDES chunk: a source and its items as ``(type, value)`` pairs (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    @property
    def cname(self) -> str | None:
        """The CNAME item (§6.5.1) decoded as UTF-8, or None."""
        for kind, value in self.items:
            if kind == SDES_CNAME:
                return value.decode("utf-8", "replace")
        return None

    def __bytes__(self) -> bytes:
        parts = [_SSRC.pack(self.ssrc)]
        size = 4
        for kind, value in self.items:
            if len(value) > 255:
                raise LocalProtocolError("RTCP SDES item is longer than 255 octets")
            parts.append(bytes((kind, len(value))) + value)
            size += 2 + len(value)
        # §6.5: the item list ends with one or more null octets, up to a 32-bit boundary.
        parts.append(bytes(4 - size % 4))
        return b"".join(parts)


@frozen
class RtcpSdes:
    """Source description, PT 202 (RFC 3550 §6.5)."""

    chunks: tuple[SdesChunk, ...] = ()

    packet_type = RTCP_SDES

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> RtcpSdes:
        """Parse ``count`` chunks from the body after the common header."""
        chunks = []
        pos = 0
        end = len(body)
        for _ in range(count):
            if pos + 4 > end:
                raise RtcpError("RTCP SDES chunk is truncated")
            (ssrc,) = _SSRC.unpack_from(body, pos)
            pos += 4
            items = []
            while True:
                if pos >= end:
                    raise RtcpError("RTCP SDES chunk is truncated")
                kind = body[pos]
                if kind == SDES_END:
                    # Skip the null octets up to the next 32-bit boundary.
                    pos = (pos // 4 + 1) * 4
                    break
                if pos + 2 > end or pos + 2 + body[pos + 1] > end:
                    raise RtcpError("RTCP SDES chunk is truncated")
                length = body[pos + 1]
                items.append((kind, bytes(body[pos + 2 : pos + 2 + length])))
                pos += 2 + length
            chunks.append(SdesChunk(ssrc, tuple(items)))
        if pos > end:
            raise RtcpError("RTCP SDES chunk is truncated")
        return cls(tuple(chunks))

    def __bytes__(self) -> bytes:
        body = b"".join(bytes(chunk) for chunk in self.chunks)
        return _header(len(self.chunks), RTCP_SDES, len(body)) + body


@frozen
class RtcpBye:
    """Goodbye, PT 203 (RFC 3550 §6.6): the sources leave, with an optional reason."""

    sources: tuple[int, ...] = ()
    reason: bytes | None = None

    packet_type = RTCP_BYE

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> RtcpBye:
        """Parse the SSRC list and the optional reason."""
        end = 4 * count
        if len(body) < end:
            raise RtcpError("RTCP BYE length is invalid")
        sources = struct.unpack_from(f"!{count}I", body, 0)
        reason = None
        if len(body) > end:
            length = body[end]
            if end + 1 + length > len(body):
                raise RtcpError("RTCP BYE length is invalid")
            reason = bytes(body[end + 1 : end + 1 + length])
        return cls(tuple(sources), reason)

    def __bytes__(self) -> bytes:
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise LocalProtocolError("RTCP BYE reason is longer than 255 octets")
            text = bytes((len(self.reason),)) + self.reason
            body += text + bytes(-len(text) % 4)
        return _header(len(self.sources), RTCP_BYE, len(body)) + body


@frozen
class RtcpUnknown:
    """An RTCP packet this module does not interpret (APP, RTPFB, PSFB, XR …), kept raw."""

    packet_type: int
    count: int
    """The 5-bit field after the P bit (RC, SC or FMT depending on the type)."""
    body: bytes = field(default=b"")

    @classmethod
    def parse_body(cls, packet_type: int, count: int, body: bytes) -> RtcpUnknown:
        """Keep the body as is."""
        return cls(packet_type, count, bytes(body))

    def __bytes__(self) -> bytes:
        return _header(self.count, self.packet_type, len(self.body)) + self.body


RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSdes | RtcpBye | RtcpUnknown


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (RFC 3550 §6.1) into its packets, in order."""
    packets: list[RtcpPacket] = []
    pos = 0
    end = len(data)
    if end == 0:
        raise RtcpError("RTCP packet is truncated")
    while pos < end:
        if end - pos < 4:
            raise RtcpError("RTCP packet is truncated")
        b0, packet_type, words = _COMMON.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpError("RTCP version is not 2")
        length = 4 * (words + 1)
        if pos + length > end:
            raise RtcpError("RTCP packet length is invalid")
        body_end = pos + length
        if b0 & 0x20:
            # §6.4.1: the last octet counts the padding octets, itself included.
            padding = data[body_end - 1]
            if padding == 0 or padding > length - 4:
                raise RtcpError("RTCP padding length is invalid")
            body_end -= padding
        body = data[pos + 4 : body_end]
        count = b0 & 0x1F
        packet: RtcpPacket
        if packet_type == RTCP_SR:
            packet = RtcpSenderReport.parse_body(count, body)
        elif packet_type == RTCP_RR:
            packet = RtcpReceiverReport.parse_body(count, body)
        elif packet_type == RTCP_SDES:
            packet = RtcpSdes.parse_body(count, body)
        elif packet_type == RTCP_BYE:
            packet = RtcpBye.parse_body(count, body)
        else:
            packet = RtcpUnknown.parse_body(packet_type, count, body)
        packets.append(packet)
        pos += length
    return packets


def build_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """Serialise packets into one compound RTCP datagram (RFC 3550 §6.1)."""
    return b"".join(bytes(packet) for packet in packets)
