"""SDP session descriptions (RFC 4566): parse, inspect, serialize.

Theory of operation: a description is a list of ``<type>=<value>`` lines in a fixed order
(RFC 4566 §5): ``v o s i u e p c b (t r*)+ z k a*`` at session level, then one section per
``m=`` line holding ``i c b k a*``. :meth:`SessionDescription.parse` walks the lines once
and fills typed fields for the lines the offer/answer model needs (``v o s c b t r a m``);
every other line (``i u e p z k`` and type letters RFC 4566 does not define) is kept as a
``(type, value)`` pair in ``other_lines`` of its section. Serialization writes each section
in the grammar order, a kept line at the place of its type letter (unknown letters just
before the ``a=`` lines), so ``bytes(SessionDescription.parse(x)) == x`` for well-formed
input with CRLF line ends.

Bytes are decoded as UTF-8 with ``surrogateescape`` (and encoded back the same way), so a
description in another ``a=charset`` still round-trips byte for byte. Lines may end with
LF alone; blank lines are skipped. A malformed line raises :class:`SdpParseError` with one
exact sentence. Attribute values are not interpreted at parse time: the convenience views
on :class:`MediaDescription` (``rtpmap``, ``fmtp``, ``ptime``, ``direction``) read them on
demand and skip values they cannot read.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

from attrs import define, field, frozen

from pbx.errors import LocalProtocolError, ProtocolError

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Bandwidth",
    "Connection",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SdpParseError",
    "SessionDescription",
    "Timing",
]

CRLF = "\r\n"
# RFC 3264 §5.1 / RFC 4566 §6: the four direction attributes; sendrecv is the default.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# RFC 4566 §5: the type letters of the grammar; any other letter is kept as an unknown line.
_KNOWN_TYPES = frozenset("vosiuepcbtrzkam")
# Where kept lines go when serializing (RFC 4566 §5 order); "?" is an unknown letter.
_SESSION_SLOTS_BEFORE_C = "iuep"
_SESSION_SLOTS_AFTER_T = "zk?"
_MEDIA_SLOTS_BEFORE_C = "i"
_MEDIA_SLOTS_AFTER_B = "k?"


class SdpParseError(ProtocolError):
    """Received bytes are not a valid SDP session description (RFC 4566 §5)."""

    def __init__(self, reason: str, status_hint: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


class RtpMap(NamedTuple):
    """One ``a=rtpmap`` entry (RFC 4566 §6): encoding name, clock rate, channels."""

    encoding: str
    clock_rate: int
    channels: int | None
    """Audio channels (1 when omitted); ``None`` for non-audio media."""


# RFC 3551 §6, Tables 4 and 5: static payload types, known without an a=rtpmap line.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    0: RtpMap("PCMU", 8000, 1),
    3: RtpMap("GSM", 8000, 1),
    4: RtpMap("G723", 8000, 1),
    5: RtpMap("DVI4", 8000, 1),
    6: RtpMap("DVI4", 16000, 1),
    7: RtpMap("LPC", 8000, 1),
    8: RtpMap("PCMA", 8000, 1),
    9: RtpMap("G722", 8000, 1),
    10: RtpMap("L16", 44100, 2),
    11: RtpMap("L16", 44100, 1),
    12: RtpMap("QCELP", 8000, 1),
    13: RtpMap("CN", 8000, 1),
    14: RtpMap("MPA", 90000, None),
    15: RtpMap("G728", 8000, 1),
    16: RtpMap("DVI4", 11025, 1),
    17: RtpMap("DVI4", 22050, 1),
    18: RtpMap("G729", 8000, 1),
    25: RtpMap("CelB", 90000, None),
    26: RtpMap("JPEG", 90000, None),
    28: RtpMap("nv", 90000, None),
    31: RtpMap("H261", 90000, None),
    32: RtpMap("MPV", 90000, None),
    33: RtpMap("MP2T", 90000, None),
    34: RtpMap("H263", 90000, None),
}


@frozen
class Origin:
    """The ``o=`` line (RFC 4566 §5.2): who made the description and which version it is."""

    username: str
    """Originator's login, ``-`` when none."""
    sess_id: int
    """Numeric session id, unique for the originator."""
    sess_version: int
    """Incremented on every change of the description (RFC 3264 §8)."""
    nettype: str = "IN"
    addrtype: str = "IP4"
    """``IP4`` or ``IP6``."""
    address: str = "0.0.0.0"
    """Address of the originating host."""

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@frozen
class Connection:
    """A ``c=`` line (RFC 4566 §5.7): where media is sent."""

    address: str
    """Unicast or multicast address, or a host name."""
    addrtype: str = "IP4"
    """``IP4`` or ``IP6``."""
    nettype: str = "IN"
    ttl: int | None = None
    """IPv4 multicast TTL (``/ttl``)."""
    num: int | None = None
    """Number of multicast addresses (``/num``)."""

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """A unicast ``c=IN IP4|IP6 address`` line; IPv6 when the address holds ``:``."""
        return cls(address=address, addrtype="IP6" if ":" in address else "IP4")

    def __str__(self) -> str:
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.num is not None:
            text += f"/{self.num}"
        return text


@frozen
class Bandwidth:
    """A ``b=<bwtype>:<bandwidth>`` line (RFC 4566 §5.8), e.g. ``AS:64`` (kb/s)."""

    bwtype: str
    bandwidth: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@frozen
class Timing:
    """A ``t=`` line and its ``r=`` lines (RFC 4566 §5.9, §5.10); ``0 0`` is unbounded."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()
    """Values of the ``r=`` lines, as written."""


Attribute = tuple[str, str | None]
"""An ``a=`` line: (name, value); value ``None`` for a property attribute (``a=recvonly``)."""


def _attribute_value(attributes: list[Attribute], name: str) -> str | None:
    for key, value in attributes:
        if key == name and value is not None:
            return value
    return None


def _direction_of(attributes: list[Attribute]) -> str | None:
    for key, value in attributes:
        if value is None and key in DIRECTIONS:
            return key
    return None


@define
class MediaDescription:
    """One media section (RFC 4566 §5.14): the ``m=`` line and the lines under it."""

    media: str
    """``audio``, ``video``, ``application``, ``image``, ``text`` or ``message``."""
    port: int
    """Transport port; 0 rejects or disables the stream (RFC 3264 §6)."""
    proto: str
    """Transport protocol, e.g. ``RTP/AVP``, ``RTP/SAVP``, ``UDP/TLS/RTP/SAVPF``."""
    formats: list[str] = field(factory=list)
    """Media formats; RTP payload type numbers for the RTP profiles."""
    port_count: int | None = None
    """Number of ports from ``<port>/<number of ports>``."""
    connection: Connection | None = None
    """Media-level ``c=`` line."""
    bandwidths: list[Bandwidth] = field(factory=list)
    attributes: list[Attribute] = field(factory=list)
    other_lines: list[tuple[str, str]] = field(factory=list)
    """Lines kept as written: ``i=``, ``k=``, extra ``c=`` and unknown type letters."""

    # -- attributes -----------------------------------------------------------------------
    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name:value`` line, or ``None``."""
        return _attribute_value(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        """True when an ``a=name`` or ``a=name:value`` line is present."""
        return any(key == name for key, _ in self.attributes)

    @property
    def rtpmap(self) -> dict[int, RtpMap]:
        """Payload type → (encoding, clock rate, channels) for the formats of this ``m=``.

        RFC 4566 §6 ``a=rtpmap``; RTP/* static payload types listed on the ``m=`` line
        without an rtpmap come from the RFC 3551 table. Unreadable rtpmap values are skipped.
        """
        out: dict[int, RtpMap] = {}
        default_channels = 1 if self.media == "audio" else None
        for key, value in self.attributes:
            if key != "rtpmap" or value is None:
                continue
            pt_text, _, spec = value.strip().partition(" ")
            parts = spec.strip().split("/")
            if not _digits(pt_text) or len(parts) < 2 or not _digits(parts[1]):
                continue
            channels: int | None = default_channels
            if len(parts) > 2 and _digits(parts[2]):
                channels = int(parts[2])
            out.setdefault(int(pt_text), RtpMap(parts[0], int(parts[1]), channels))
        if self.proto.startswith("RTP/") or "/RTP/" in self.proto:
            for fmt in self.formats:
                if _digits(fmt) and int(fmt) in STATIC_PAYLOAD_TYPES:
                    out.setdefault(int(fmt), STATIC_PAYLOAD_TYPES[int(fmt)])
        return out

    @property
    def fmtp(self) -> dict[int, str]:
        """Payload type → format parameters from ``a=fmtp:<pt> <params>`` (RFC 4566 §6)."""
        out: dict[int, str] = {}
        for key, value in self.attributes:
            if key != "fmtp" or value is None:
                continue
            pt_text, _, params = value.strip().partition(" ")
            if _digits(pt_text):
                out.setdefault(int(pt_text), params.strip())
        return out

    @property
    def ptime(self) -> int | None:
        """Packet time in ms from ``a=ptime`` (RFC 4566 §6), rounded; ``None`` if absent."""
        value = self.attribute("ptime")
        if value is None:
            return None
        try:
            ms = round(float(value.strip()))
        except ValueError:
            return None
        return ms if ms > 0 else None

    def direction(self, session: SessionDescription | None = None) -> str:
        """``sendrecv``/``sendonly``/``recvonly``/``inactive`` (RFC 3264 §5.1, RFC 4566 §6).

        The media-level attribute wins; else the session-level one; else ``sendrecv``.
        """
        found = _direction_of(self.attributes)
        if found is None and session is not None:
            found = _direction_of(session.attributes)
        return found or "sendrecv"

    def set_direction(self, direction: str) -> None:
        """Replace any direction attribute of this section by ``a=<direction>``."""
        if direction not in DIRECTIONS:
            raise LocalProtocolError(f"unknown SDP direction {direction!r}")
        self.attributes = [
            (key, value)
            for key, value in self.attributes
            if not (value is None and key in DIRECTIONS)
        ]
        self.attributes.append((direction, None))

    def effective_connection(self, session: SessionDescription | None = None) -> Connection | None:
        """Media-level ``c=`` line, else the session-level one (RFC 4566 §5.7)."""
        if self.connection is not None:
            return self.connection
        return session.connection if session is not None else None

    def connection_address(self, session: SessionDescription | None = None) -> str | None:
        """Address to send this stream to: media-level ``c=``, else session-level."""
        conn = self.effective_connection(session)
        return conn.address if conn is not None else None

    def is_hold(self, session: SessionDescription | None = None) -> bool:
        """True when the sender of this description put the stream on hold.

        RFC 3264 §8.4: direction ``sendonly`` or ``inactive``; RFC 2543 style: ``c=``
        address ``0.0.0.0``.
        """
        if self.direction(session) in ("sendonly", "inactive"):
            return True
        return self.connection_address(session) == "0.0.0.0"

    # -- serialization --------------------------------------------------------------------
    def lines(self) -> list[str]:
        """The section as ``<type>=<value>`` strings, in RFC 4566 §5 order."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        m = " ".join([self.media, port, self.proto, *self.formats])
        out = [f"m={m}"]
        kept = self.other_lines
        out += [f"{t}={v}" for t, v in kept if t in _MEDIA_SLOTS_BEFORE_C]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"c={v}" for t, v in kept if t == "c"]
        out += [f"b={b}" for b in self.bandwidths]
        out += [f"{t}={v}" for t, v in kept if _slot(t) in _MEDIA_SLOTS_AFTER_B]
        out += [f"a={_attr(name, value)}" for name, value in self.attributes]
        return out


def _digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits (``str.isdigit`` also takes ``²``)."""
    return text.isascii() and text.isdigit()


def _attr(name: str, value: str | None) -> str:
    return name if value is None else f"{name}:{value}"


def _slot(letter: str) -> str:
    return letter if letter in _KNOWN_TYPES else "?"


@define
class SessionDescription:
    """A whole SDP body (RFC 4566 §5): session-level lines and the media sections."""

    origin: Origin
    session_name: str = "-"
    """The ``s=`` line; ``-`` when there is nothing to say."""
    connection: Connection | None = None
    """Session-level ``c=`` line, the default for every media section."""
    bandwidths: list[Bandwidth] = field(factory=list)
    timing: list[Timing] = field(factory=lambda: [Timing()])
    """``t=`` lines with their ``r=`` lines; ``t=0 0`` by default (RFC 3264 §5)."""
    attributes: list[Attribute] = field(factory=list)
    """Session-level ``a=`` lines in order."""
    media: list[MediaDescription] = field(factory=list)
    other_lines: list[tuple[str, str]] = field(factory=list)
    """Session-level lines kept as written: ``i u e p z k`` and unknown type letters."""
    version: int = 0
    """The ``v=`` line; always 0 for RFC 4566."""

    def attribute(self, name: str) -> str | None:
        """Value of the first session-level ``a=name:value`` line, or ``None``."""
        return _attribute_value(self.attributes, name)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; raises :class:`SdpParseError` with one exact sentence."""
        text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
        return _parse(text)

    def lines(self) -> list[str]:
        """The description as ``<type>=<value>`` strings, in RFC 4566 §5 order."""
        kept = self.other_lines
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        for letter in _SESSION_SLOTS_BEFORE_C:
            out += [f"{letter}={v}" for t, v in kept if t == letter]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidths]
        for timing in self.timing:
            out.append(f"t={timing.start} {timing.stop}")
            out += [f"r={r}" for r in timing.repeats]
        for slot in _SESSION_SLOTS_AFTER_T:
            out += [f"{t}={v}" for t, v in kept if _slot(t) == slot]
        out += [f"a={_attr(name, value)}" for name, value in self.attributes]
        for media in self.media:
            out += media.lines()
        return out

    def __str__(self) -> str:
        return CRLF.join(self.lines()) + CRLF

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def copy(self) -> SessionDescription:
        """A deep copy, safe to change without touching this one."""
        return copy.deepcopy(self)


def _parse(text: str) -> SessionDescription:
    """One pass over the lines of an SDP body (RFC 4566 §5)."""
    head: list[str] = []  # values of the v=, o=, s= lines
    origin: Origin | None = None
    sd: SessionDescription | None = None
    media: MediaDescription | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if line[-1:] == "\r":
            line = line[:-1]
        if not line:
            continue
        kind = line[0]
        if line[1:2] != "=" or not ("a" <= kind <= "z"):
            raise SdpParseError(f"SDP line {number} is not of the form <type>=<value>")
        value = line[2:]
        if sd is None:  # RFC 4566 §5: v=, o=, s= come first, in this order
            if kind != "vos"[len(head)]:
                raise SdpParseError(_MISSING[len(head)])
            if kind == "v" and not _digits(value):
                raise SdpParseError("SDP v= line has an invalid version")
            if kind == "o":
                origin = _parse_origin(value)
            head.append(value)
            if origin is not None and len(head) == 3:
                sd = SessionDescription(
                    origin=origin, session_name=value, timing=[], version=int(head[0])
                )
        elif kind == "a":
            # RFC 4566 §5.13: a=<attribute> / a=<attribute>:<value>
            name, sep, rest = value.partition(":")
            if not name:
                raise SdpParseError("SDP a= line has an empty attribute name")
            (sd.attributes if media is None else media.attributes).append(
                (name, rest if sep else None)
            )
        elif kind == "m":
            media = _parse_media(value)
            sd.media.append(media)
        elif media is not None:
            _media_line(media, kind, value)
        else:
            _session_line(sd, kind, value)
    if sd is None:
        raise SdpParseError(_MISSING[len(head)])
    return sd


_MISSING = (
    "SDP is missing the v= line",
    "SDP is missing the o= line",
    "SDP is missing the s= line",
)


def _session_line(sd: SessionDescription, kind: str, value: str) -> None:
    if kind == "c":
        if sd.connection is not None:
            raise SdpParseError("SDP has more than one session-level c= line")
        sd.connection = _parse_connection(value)
    elif kind == "b":
        sd.bandwidths.append(_parse_bandwidth(value))
    elif kind == "t":
        sd.timing.append(_parse_timing(value))
    elif kind == "r":
        if not sd.timing:
            raise SdpParseError("SDP r= line is not preceded by a t= line")
        last = sd.timing[-1]
        sd.timing[-1] = Timing(last.start, last.stop, (*last.repeats, value))
    elif kind in "vos":
        raise SdpParseError(f"SDP has a second {kind}= line")
    else:
        sd.other_lines.append((kind, value))


def _media_line(media: MediaDescription, kind: str, value: str) -> None:
    if kind == "c":
        conn = _parse_connection(value)
        if media.connection is None:
            media.connection = conn
        else:  # RFC 4566 §5.7: several c= lines for layered multicast, kept as written
            media.other_lines.append((kind, value))
    elif kind == "b":
        media.bandwidths.append(_parse_bandwidth(value))
    elif kind in "vostrzuep":
        raise SdpParseError(f"SDP {kind}= line is not allowed in a media section")
    else:
        media.other_lines.append((kind, value))


def _parse_origin(value: str) -> Origin:
    # RFC 4566 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>
    parts = value.split()  # lenient: runs of blanks, trailing blanks
    if len(parts) != 6:
        raise SdpParseError("SDP o= line does not have six fields")
    if not _digits(parts[1]):
        raise SdpParseError("SDP o= line has an invalid session id")
    if not _digits(parts[2]):
        raise SdpParseError("SDP o= line has an invalid session version")
    return Origin(parts[0], int(parts[1]), int(parts[2]), parts[3], parts[4], parts[5])


def _parse_connection(value: str) -> Connection:
    # RFC 4566 §5.7: c=<nettype> <addrtype> <connection-address>
    parts = value.split()  # lenient: runs of blanks, trailing blanks
    if len(parts) != 3:
        raise SdpParseError("SDP c= line does not have three fields")
    nettype, addrtype, address = parts
    ttl: int | None = None
    num: int | None = None
    if "/" in address:
        address, *suffix = address.split("/")
        if not address or len(suffix) > 2 or not all(_digits(s) for s in suffix):
            raise SdpParseError("SDP c= line has an invalid address")
        numbers = [int(s) for s in suffix]
        if addrtype.upper() == "IP6":  # RFC 4566 §5.7: IPv6 has no TTL, only /<num>
            if len(numbers) != 1:
                raise SdpParseError("SDP c= line has an invalid address")
            num = numbers[0]
        else:
            ttl = numbers[0]
            num = numbers[1] if len(numbers) == 2 else None
    return Connection(address=address, addrtype=addrtype, nettype=nettype, ttl=ttl, num=num)


def _parse_bandwidth(value: str) -> Bandwidth:
    # RFC 4566 §5.8: b=<bwtype>:<bandwidth>
    bwtype, sep, amount = value.strip().partition(":")
    if not sep or not bwtype or not _digits(amount):
        raise SdpParseError("SDP b= line is not of the form <bwtype>:<bandwidth>")
    return Bandwidth(bwtype, int(amount))


def _parse_timing(value: str) -> Timing:
    # RFC 4566 §5.9: t=<start-time> <stop-time>
    parts = value.split()  # lenient: runs of blanks, trailing blanks
    if len(parts) != 2:
        raise SdpParseError("SDP t= line does not have two fields")
    if not (_digits(parts[0]) and _digits(parts[1])):
        raise SdpParseError("SDP t= line has an invalid time")
    return Timing(int(parts[0]), int(parts[1]))


def _parse_media(value: str) -> MediaDescription:
    # RFC 4566 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
    parts = value.split()  # lenient: runs of blanks, trailing blanks
    if len(parts) < 3:
        raise SdpParseError("SDP m= line is not of the form <media> <port> <proto> <fmt> ...")
    port_text, slash, count_text = parts[1].partition("/")
    if not _digits(port_text) or int(port_text) > 65535:
        raise SdpParseError("SDP m= line has an invalid port")
    port_count: int | None = None
    if slash:
        if not _digits(count_text) or int(count_text) == 0:
            raise SdpParseError("SDP m= line has an invalid number of ports")
        port_count = int(count_text)
    return MediaDescription(
        media=parts[0],
        port=int(port_text),
        proto=parts[2],
        formats=parts[3:],
        port_count=port_count,
    )
