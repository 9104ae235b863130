"""The SDP offer/answer model (RFC 3264) for G.711 audio with RFC 4733 telephone-events.

Theory of operation: pbx speaks one audio stream per call, PCMU (payload type 0) or PCMA
(8) at 8000 Hz, plus ``telephone-event/8000`` for DTMF, at 20 ms packets (10 and 30 ms
are accepted from a peer). Everything here is a pure function of descriptions:

* :func:`build_offer` writes our offer (UAC, or a re-INVITE of ours).
* :func:`negotiate_answer` reads a peer's offer and writes our answer (UAS): one ``m=``
  line per offered one in the same order (RFC 3264 §6); the first acceptable audio stream
  is accepted with a single codec, every other stream is rejected with port 0.
* :func:`accept_answer` reads the peer's answer to our offer (RFC 3264 §6, §7).

Both sides get a :class:`NegotiatedMedia`: where to send, with which payload types and
packet time, whether we send and receive, and whether the peer holds the call
(RFC 3264 §8.4). Version numbers are the caller's: :func:`bump_version` makes the copy a
re-INVITE carries (RFC 3264 §8). Failures raise :class:`OfferAnswerError`, which carries
``status_hint = 488`` (Not Acceptable Here).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from attrs import frozen

from pbx.errors import LocalProtocolError, ProtocolError
from pbx.sip.sdp import (
    DIRECTIONS,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    Timing,
)

__all__ = [
    "DEFAULT_CODECS",
    "PCMA",
    "PCMU",
    "SUPPORTED_PTIMES",
    "TELEPHONE_EVENT",
    "Codec",
    "LocalMedia",
    "NegotiatedMedia",
    "OfferAnswerError",
    "accept_answer",
    "build_offer",
    "bump_version",
    "negotiate_answer",
]

RTP_AVP = "RTP/AVP"
DEFAULT_PTIME = 20
# Packet times we accept from a peer's a=ptime; anything else falls back to 20 ms.
SUPPORTED_PTIMES = (10, 20, 30)
# RFC 3264 §6.1: the direction an answerer writes for each offered direction.
_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
# RFC 3264 §8.4: our own hold removes our receiving side.
_HOLD = {
    "sendrecv": "sendonly",
    "recvonly": "inactive",
    "sendonly": "sendonly",
    "inactive": "inactive",
}
_SENDS = frozenset({"sendrecv", "sendonly"})
_RECEIVES = frozenset({"sendrecv", "recvonly"})


class OfferAnswerError(ProtocolError):
    """A peer's offer or answer cannot be accepted; answer 488 (RFC 3261 §13.3.1.3)."""

    def __init__(self, reason: str, status_hint: int = 488) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


@frozen
class Codec:
    """An RTP payload format we can offer (RFC 3551 §6, RFC 4733 §7.1.1)."""

    name: str
    """Encoding name as in ``a=rtpmap``; compared case-insensitively (RFC 4566 §6)."""
    payload_type: int
    """Static type, or the dynamic type we offer (an answer echoes the offerer's)."""
    clock_rate: int = 8000
    fmtp: str | None = None
    """Format parameters we write in ``a=fmtp``."""
    channels: int = 1
    """Audio channels of the format (Opus is always ``opus/48000/2``, RFC 7587 §7)."""

    def matches(self, rtpmap: RtpMap) -> bool:
        """True when an offered rtpmap entry is this codec (name, clock, channels)."""
        return (
            rtpmap.encoding.lower() == self.name.lower()
            and rtpmap.clock_rate == self.clock_rate
            and (rtpmap.channels or 1) == self.channels
        )


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)
TELEPHONE_EVENT = Codec("telephone-event", 101, fmtp="0-16")
DEFAULT_CODECS: tuple[Codec, ...] = (PCMU, PCMA, TELEPHONE_EVENT)


@frozen
class LocalMedia:
    """Where we receive RTP and what we prefer."""

    address: str
    """Our RTP address (IPv4 or IPv6), written in ``c=`` and ``o=``."""
    port: int
    """Our RTP port (even, RFC 3550 §11)."""
    prefer: tuple[str, ...] | None = None
    """Audio codec names in our order of preference; ``None`` keeps the offerer's order."""
    ptime: int = DEFAULT_PTIME
    """The packet time we ask for in our offers, in ms."""


@frozen
class NegotiatedMedia:
    """The outcome of one offer/answer exchange, as seen from our side."""

    remote_address: str
    """Where to send RTP."""
    remote_port: int
    payload_type: int
    """The audio payload type to send with (the peer's number, RFC 3264 §6.1)."""
    codec: str
    """``PCMU`` or ``PCMA``."""
    clock_rate: int
    telephone_event: int | None
    """Payload type for RFC 4733 events, ``None`` when the peer does not take them."""
    ptime: int
    """Packet time to send with, in ms."""
    direction: str
    """Our direction: ``sendrecv``, ``sendonly`` (we only send), ``recvonly``, ``inactive``."""
    remote_hold: bool
    """The peer put the call on hold (RFC 3264 §8.4, or ``c=0.0.0.0``)."""

    @property
    def sends(self) -> bool:
        """True when we send RTP to the peer."""
        return self.direction in _SENDS

    @property
    def receives(self) -> bool:
        """True when the peer sends RTP to us."""
        return self.direction in _RECEIVES


def _direction_from(sends: bool, receives: bool) -> str:
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def _session(local: LocalMedia, session_id: int, session_version: int) -> SessionDescription:
    conn = Connection.for_address(local.address)
    return SessionDescription(
        origin=Origin("-", session_id, session_version, "IN", conn.addrtype, local.address),
        session_name="-",
        connection=conn,
        timing=[Timing(0, 0)],  # RFC 3264 §5: t=0 0
    )


def _ordered(codecs: Sequence[Codec], prefer: Sequence[str] | None) -> list[Codec]:
    audio = [c for c in codecs if c.name.lower() != TELEPHONE_EVENT.name]
    if prefer is None:
        return audio
    rank = {name.lower(): i for i, name in enumerate(prefer)}
    return sorted(audio, key=lambda c: rank.get(c.name.lower(), len(rank)))


def _event_codec(codecs: Sequence[Codec]) -> Codec | None:
    for codec in codecs:
        if codec.name.lower() == TELEPHONE_EVENT.name:
            return codec
    return None


def _audio_section(port: int, codecs: list[Codec], ptime: int, direction: str) -> MediaDescription:
    media = MediaDescription(media="audio", port=port, proto=RTP_AVP)
    for codec in codecs:
        media.formats.append(str(codec.payload_type))
        # rtpmap for static types too, so every peer reads the same names (RFC 4566 §6).
        spec = f"{codec.name}/{codec.clock_rate}"
        if codec.channels != 1:
            spec += f"/{codec.channels}"
        media.attributes.append(("rtpmap", f"{codec.payload_type} {spec}"))
        if codec.fmtp is not None:
            media.attributes.append(("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    media.attributes.append(("ptime", str(ptime)))  # RFC 4566 §6
    media.attributes.append((direction, None))  # RFC 3264 §5.1
    return media


def build_offer(
    local: LocalMedia,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    *,
    session_id: int,
    session_version: int,
    direction: str = "sendrecv",
) -> SessionDescription:
    """Our offer (RFC 3264 §5): one audio stream with ``codecs`` in ``local.prefer`` order.

    Raises :class:`LocalProtocolError` for an unknown direction or no audio codec.
    """
    if direction not in DIRECTIONS:
        raise LocalProtocolError(f"unknown SDP direction {direction!r}")
    audio = _ordered(codecs, local.prefer)
    if not audio:
        raise LocalProtocolError("an offer needs at least one audio codec")
    sd = _session(local, session_id, session_version)
    event = _event_codec(codecs)
    offered = [*audio, *([event] if event is not None else [])]
    sd.media.append(_audio_section(local.port, offered, local.ptime, direction))
    return sd


def _parse_events(text: str) -> set[int] | None:
    # RFC 4733 §2.4.1: a=fmtp:<pt> 0-15,66,70 — a list of events and ranges.
    events: set[int] = set()
    for item in text.replace(" ", "").split(","):
        low, dash, high = item.partition("-")
        if not (low.isascii() and low.isdigit()) or (
            dash and not (high.isascii() and high.isdigit())
        ):
            return None
        lo = int(low)
        hi = int(high) if dash else lo
        if hi < lo or hi > 255:
            return None
        events.update(range(lo, hi + 1))
    return events


def _format_events(events: set[int]) -> str:
    ranges: list[str] = []
    ordered = sorted(events)
    start = prev = ordered[0]
    for event in [*ordered[1:], -2]:
        if event == prev + 1:
            prev = event
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = event
    return ",".join(ranges)


def _answer_events(ours: Codec, offered_fmtp: str | None) -> str | None:
    """The events both sides take: the intersection of the two fmtp lists (RFC 4733 §7.1.1)."""
    mine = _parse_events(ours.fmtp or "0-15")
    theirs = _parse_events(offered_fmtp if offered_fmtp is not None else "0-15")
    if mine is None or theirs is None:
        return ours.fmtp
    common = mine & theirs
    return _format_events(common) if common else None


def _common(media: MediaDescription, audio: list[Codec]) -> list[tuple[int, Codec]]:
    """(payload type, our codec) for each format of ``media`` we support, in its order."""
    rtpmap = media.rtpmap
    out: list[tuple[int, Codec]] = []
    for fmt in media.formats:
        if not (fmt.isascii() and fmt.isdigit()) or int(fmt) not in rtpmap:
            continue
        for codec in audio:
            if codec.matches(rtpmap[int(fmt)]):
                out.append((int(fmt), codec))
                break
    return out


def _pick(
    media: MediaDescription, audio: list[Codec], by_offerer: bool
) -> tuple[int, Codec] | None:
    """The offered payload type and our codec to use, or ``None`` when nothing is common."""
    offered = _common(media, audio)
    if not offered:
        return None
    if by_offerer:
        return offered[0]
    return min(offered, key=lambda pair: audio.index(pair[1]))


def _find_events(media: MediaDescription, event: Codec | None) -> int | None:
    if event is None:
        return None
    rtpmap = media.rtpmap
    for fmt in media.formats:
        if fmt.isascii() and fmt.isdigit() and int(fmt) in rtpmap:
            if event.matches(rtpmap[int(fmt)]):
                return int(fmt)
    return None


def _send_ptime(media: MediaDescription) -> int:
    ptime = media.ptime
    return ptime if ptime in SUPPORTED_PTIMES else DEFAULT_PTIME


def _rejected(offered: MediaDescription) -> MediaDescription:
    # RFC 3264 §6: a rejected stream keeps its m= line with port 0; formats are echoed.
    return MediaDescription(
        media=offered.media,
        port=0,
        proto=offered.proto,
        formats=list(offered.formats) or ["0"],
    )


def negotiate_answer(
    offer: SessionDescription,
    local: LocalMedia,
    *,
    supported: Sequence[Codec] = DEFAULT_CODECS,
    prefer: Sequence[str] | None = None,
    session_id: int,
    session_version: int,
    hold: bool = False,
) -> tuple[SessionDescription, NegotiatedMedia]:
    """Our answer to ``offer`` (RFC 3264 §6) and what it means for our RTP stream.

    The first ``audio`` ``RTP/AVP`` stream with a non-zero port, a connection address and
    a codec in common is accepted with one codec: the first offered one we support, or
    with ``prefer`` (else ``local.prefer``) the first of ours the peer offered. Every other
    stream is rejected with port 0. ``hold`` puts the call on hold from our side
    (RFC 3264 §8.4). Raises :class:`OfferAnswerError` (488) when no stream is accepted.
    """
    order = prefer if prefer is not None else local.prefer
    audio = _ordered(supported, order)
    event = _event_codec(supported)
    answer = _session(local, session_id, session_version)
    negotiated: NegotiatedMedia | None = None
    bad_address = False
    for offered in offer.media:
        accepted: MediaDescription | None = None
        address = offered.connection_address(offer)
        if (
            negotiated is None
            and offered.media == "audio"
            and offered.proto == RTP_AVP
            and offered.port != 0
            and address is not None
        ):
            if not is_connection_address(address):
                bad_address = True
            else:
                choice = _pick(offered, audio, by_offerer=order is None)
                if choice is not None:
                    accepted, negotiated = _accept(
                        offered, offer, address, local, choice, event, hold
                    )
        answer.media.append(accepted if accepted is not None else _rejected(offered))
    if negotiated is None:
        if bad_address:
            raise OfferAnswerError("the offer's connection address is invalid")
        raise OfferAnswerError("no common codec in the offer")
    return answer, negotiated


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def is_connection_address(address: str) -> bool:
    """Whether ``address`` can be a ``c=`` unicast address: an IP address or a host name
    (RFC 4566 §5.7, §9 ``unicast-address``; RFC 1035 labels). Bytes that were not UTF-8
    (kept as surrogate escapes by the SDP parser) never are."""
    if is_ip_literal(address):
        return True
    if not address.isascii() or len(address) > 253:
        return False
    labels = address.rstrip(".").split(".")
    return all(_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def is_ip_literal(address: str) -> bool:
    """Whether ``address`` is an IPv4 or IPv6 address written out (RFC 4566 §5.7)."""
    if not address.isascii():
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _accept(
    offered: MediaDescription,
    offer: SessionDescription,
    address: str,
    local: LocalMedia,
    choice: tuple[int, Codec],
    event: Codec | None,
    hold: bool,
) -> tuple[MediaDescription, NegotiatedMedia]:
    pt, codec = choice
    offered_direction = offered.direction(offer)
    remote_hold = offered.is_hold(offer)
    if address == "0.0.0.0" and offered_direction in _RECEIVES:
        # RFC 2543 hold: the offerer cannot receive; answer as to a sendonly offer.
        offered_direction = "sendonly" if offered_direction == "sendrecv" else "inactive"
    direction = _MIRROR[offered_direction]
    if hold:
        direction = _HOLD[direction]
    event_pt = _find_events(offered, event)
    answer_event: Codec | None = None
    if event is not None and event_pt is not None:
        events = _answer_events(event, offered.fmtp.get(event_pt))
        if events is not None:
            answer_event = Codec(event.name, event_pt, event.clock_rate, events)
        else:
            event_pt = None
    ptime = _send_ptime(offered)
    chosen = [Codec(codec.name, pt, codec.clock_rate, codec.fmtp, codec.channels)]
    if answer_event is not None:
        chosen.append(answer_event)
    media = _audio_section(local.port, chosen, ptime, direction)
    negotiated = NegotiatedMedia(
        remote_address=address,
        remote_port=offered.port,
        payload_type=pt,
        codec=codec.name,
        clock_rate=codec.clock_rate,
        telephone_event=event_pt,
        ptime=ptime,
        direction=direction,
        remote_hold=remote_hold,
    )
    return media, negotiated


def accept_answer(
    offer: SessionDescription,
    answer: SessionDescription,
    *,
    supported: Sequence[Codec] = DEFAULT_CODECS,
) -> NegotiatedMedia:
    """What the peer's ``answer`` to our ``offer`` means for our RTP stream (RFC 3264 §7).

    The answer must have one ``m=`` line per offered one with the same media type
    (RFC 3264 §6); the first audio stream it accepts (non-zero port) must use a codec we
    offered. Raises :class:`OfferAnswerError` (488) otherwise.
    """
    if len(answer.media) != len(offer.media):
        raise OfferAnswerError("the answer does not have one m= line per offered stream")
    audio = [c for c in supported if c.name.lower() != TELEPHONE_EVENT.name]
    event = _event_codec(supported)
    for ours, theirs in zip(offer.media, answer.media, strict=True):
        if ours.media != theirs.media:
            raise OfferAnswerError("the answer changes the media type of an offered stream")
        if theirs.port == 0 or ours.port == 0 or theirs.media != "audio":
            continue
        if theirs.proto != ours.proto:
            raise OfferAnswerError("the answer changes the transport of an offered stream")
        offered_codecs = [codec for _, codec in _common(ours, audio)]
        choice = _pick(theirs, offered_codecs, by_offerer=True)
        if choice is None:
            raise OfferAnswerError("the answer accepts no codec we offered")
        address = theirs.connection_address(answer)
        if address is None:
            raise OfferAnswerError("the answer has no connection address")
        if not is_connection_address(address):
            raise OfferAnswerError("the answer's connection address is invalid")
        pt, codec = choice
        offer_direction = ours.direction(offer)
        answer_direction = theirs.direction(answer)
        # RFC 3264 §6.1: we send when we offered to and they agreed to receive, and so on.
        sends = offer_direction in _SENDS and answer_direction in _RECEIVES and address != "0.0.0.0"
        receives = offer_direction in _RECEIVES and answer_direction in _SENDS
        remote_hold = address == "0.0.0.0" or (
            offer_direction in _SENDS and answer_direction not in _RECEIVES
        )
        ptime = _send_ptime(theirs)
        return NegotiatedMedia(
            remote_address=address,
            remote_port=theirs.port,
            payload_type=pt,
            codec=codec.name,
            clock_rate=codec.clock_rate,
            telephone_event=_find_events(theirs, event),
            ptime=ptime,
            direction=_direction_from(sends, receives),
            remote_hold=remote_hold,
        )
    raise OfferAnswerError("no common codec in the answer")


def bump_version(sd: SessionDescription) -> SessionDescription:
    """A copy of ``sd`` with ``o=`` session version + 1, for a changed re-offer (RFC 3264 §8)."""
    out = sd.copy()
    origin = out.origin
    out.origin = Origin(
        origin.username,
        origin.sess_id,
        origin.sess_version + 1,
        origin.nettype,
        origin.addrtype,
        origin.address,
    )
    return out
