"""RTP data packets (RFC 3550 §5.1, §5.3.1), parsed and built with :mod:`struct`.

Theory of operation
-------------------
:class:`RtpPacket` is a plain ``__slots__`` class because it sits on the per-packet hot
path: :meth:`RtpPacket.parse` unpacks the 12-byte fixed header with one precompiled
:class:`struct.Struct`, takes a fast path when the packet carries no padding, extension
or CSRC list (the common case for G.711 from a phone or trunk), and otherwise walks the
CSRC list, the header extension and the padding in the order §5.1 lays them out.
``bytes(packet)`` serialises it back byte for byte (padding octets are written as zeros
followed by the count, as §5.1 describes).

A malformed packet raises :class:`RtpError` with one exact sentence:

* ``"RTP packet is truncated"`` — shorter than the fixed header plus CSRC list;
* ``"RTP version is not 2"``;
* ``"RTP padding length is invalid"`` — a padding count of zero or longer than the payload;
* ``"RTP extension is truncated"`` — the extension header or its words run past the end.

The sender does not build :class:`RtpPacket` objects for audio: it calls
:func:`build_rtp_header` (one ``struct.pack``) and appends the payload.
"""

from __future__ import annotations

import struct

from pbx.errors import LocalProtocolError, ProtocolError

RTP_VERSION = 2
RTP_HEADER_SIZE = 12

_HEADER = struct.Struct("!BBHII")
_unpack_header = _HEADER.unpack_from
_pack_header = _HEADER.pack
_EXTENSION_HEADER = struct.Struct("!HH")


class RtpError(ProtocolError, ValueError):
    """Received bytes are not a valid RTP packet (RFC 3550 §5.1)."""


def build_rtp_header(
    payload_type: int, sequence_number: int, timestamp: int, ssrc: int, marker: bool = False
) -> bytes:
    """Return the 12-byte fixed RTP header (RFC 3550 §5.1) with no CSRC, extension or padding.

    ``sequence_number`` and ``timestamp`` are taken modulo 2**16 and 2**32.
    """
    return _pack_header(
        0x80,
        (payload_type | 0x80) if marker else payload_type,
        sequence_number & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc,
    )


class RtpPacket:
    """One RTP data packet (RFC 3550 §5.1).

    Fields: ``padding`` (number of padding octets, 0 when the P bit is clear),
    ``marker``, ``payload_type`` (0–127), ``sequence_number`` (0–65535), ``timestamp``
    (0–2**32-1), ``ssrc``, ``csrc`` (tuple of contributing sources), ``extension_profile``
    and ``extension`` (the 16-bit profile word and the extension words as bytes, both
    ``None`` when the X bit is clear) and ``payload``.
    """

    __slots__ = (
        "padding",
        "marker",
        "payload_type",
        "sequence_number",
        "timestamp",
        "ssrc",
        "csrc",
        "extension_profile",
        "extension",
        "payload",
    )

    padding: int
    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    csrc: tuple[int, ...]
    extension_profile: int | None
    extension: bytes | None
    payload: bytes

    def __init__(
        self,
        payload_type: int = 0,
        sequence_number: int = 0,
        timestamp: int = 0,
        ssrc: int = 0,
        payload: bytes = b"",
        marker: bool = False,
        padding: int = 0,
        csrc: tuple[int, ...] = (),
        extension_profile: int | None = None,
        extension: bytes | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.padding = padding
        self.csrc = csrc
        self.extension_profile = extension_profile
        self.extension = extension

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise :class:`RtpError` with an exact sentence if malformed."""
        try:
            b0, b1, seq, ts, ssrc = _unpack_header(data)
        except struct.error:
            raise RtpError("RTP packet is truncated") from None
        if b0 & 0xC0 != 0x80:
            raise RtpError("RTP version is not 2")
        if not b0 & 0x3F:
            # Fast path: no padding, no extension, no CSRC (RFC 3550 §5.1).
            return cls(b1 & 0x7F, seq, ts, ssrc, data[12:], b1 > 0x7F)
        return cls._parse_general(data, b0, b1, seq, ts, ssrc)

    @classmethod
    def _parse_general(
        cls, data: bytes, b0: int, b1: int, seq: int, ts: int, ssrc: int
    ) -> RtpPacket:
        end = len(data)
        pos = RTP_HEADER_SIZE
        cc = b0 & 0x0F
        csrc: tuple[int, ...] = ()
        if cc:
            # RFC 3550 §5.1: CSRC list, 0 to 15 items of 32 bits.
            if end < pos + 4 * cc:
                raise RtpError("RTP packet is truncated")
            csrc = struct.unpack_from(f"!{cc}I", data, pos)
            pos += 4 * cc
        extension_profile: int | None = None
        extension: bytes | None = None
        if b0 & 0x10:
            # RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words, then the words.
            if end < pos + 4:
                raise RtpError("RTP extension is truncated")
            extension_profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
            pos += 4
            if end < pos + 4 * words:
                raise RtpError("RTP extension is truncated")
            extension = bytes(data[pos : pos + 4 * words])
            pos += 4 * words
        padding = 0
        if b0 & 0x20:
            # RFC 3550 §5.1: the last octet counts the padding octets, itself included.
            padding = data[end - 1] if end > pos else 0
            if padding == 0 or padding > end - pos:
                raise RtpError("RTP padding length is invalid")
            end -= padding
        return cls(
            b1 & 0x7F,
            seq,
            ts,
            ssrc,
            bytes(data[pos:end]),
            b1 > 0x7F,
            padding,
            csrc,
            extension_profile,
            extension,
        )

    def __bytes__(self) -> bytes:
        cc = len(self.csrc)
        if cc > 15:
            raise LocalProtocolError("RTP packet has more than 15 CSRC identifiers")
        b0 = 0x80 | cc
        if self.padding:
            b0 |= 0x20
        if self.extension is not None:
            b0 |= 0x10
        parts = [
            _pack_header(
                b0,
                (self.payload_type | 0x80) if self.marker else self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        ]
        if cc:
            parts.append(struct.pack(f"!{cc}I", *self.csrc))
        if self.extension is not None:
            if len(self.extension) % 4:
                raise LocalProtocolError("RTP extension length is not a multiple of 4")
            parts.append(
                _EXTENSION_HEADER.pack(self.extension_profile or 0, len(self.extension) // 4)
            )
            parts.append(self.extension)
        parts.append(self.payload)
        if self.padding:
            if not 0 < self.padding < 256:
                raise LocalProtocolError("RTP padding must be 1 to 255 octets")
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RtpPacket):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = ""
        if self.csrc:
            extra += f", csrc={self.csrc!r}"
        if self.extension is not None:
            extra += (
                f", extension_profile={self.extension_profile:#06x}, extension={self.extension!r}"
            )
        if self.padding:
            extra += f", padding={self.padding}"
        return (
            f"RtpPacket(payload_type={self.payload_type}, sequence_number={self.sequence_number}, "
            f"timestamp={self.timestamp}, ssrc={self.ssrc:#010x}, marker={self.marker}, "
            f"payload={len(self.payload)} bytes{extra})"
        )
