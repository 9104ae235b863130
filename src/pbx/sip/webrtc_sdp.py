"""WebRTC offers and answers (RFC 8829 JSEP, RFC 8839 ICE, RFC 5763 DTLS-SRTP), sans I/O.

A browser's audio stream is ``m=audio ... UDP/TLS/RTP/SAVPF``: the same payload formats
as a desk phone's ``RTP/AVP``, carried over ICE with DTLS-SRTP and RTP/RTCP on one port
(``a=rtcp-mux``, RFC 5761). pbx answers it with the codecs it anchors anyway (PCMU or
PCMA, and telephone-event), so the payload goes between the browser and the media
engine unchanged: only the transport differs. An offer without G.711 is answered with
Opus (RFC 7587) when the shell can transcode it to the engine's PCMU. This module
therefore negotiates the codecs and directions with :mod:`pbx.sip.offer_answer` on a
*plain view* of the description (the WebRTC stream seen as ``RTP/AVP``) and adds or
reads what WebRTC puts around them: ``a=ice-ufrag``/``a=ice-pwd``, the host candidate
of the port we bound, ``a=fingerprint`` of our DTLS certificate, ``a=setup``, ``a=mid``
with ``a=group:BUNDLE``, ``a=rtcp-mux`` and our SSRC's CNAME.

The I/O shell (:mod:`pbx.net.webrtc`) runs ICE, DTLS and SRTP with what
:class:`WebRtcRemote` holds; the call layer only decides (:func:`is_webrtc`,
:func:`webrtc_answer`, :func:`webrtc_offer`, :func:`webrtc_accept`).
"""

from __future__ import annotations

from attrs import evolve, frozen

from pbx.sip.offer_answer import (
    RTP_AVP,
    Codec,
    LocalMedia,
    NegotiatedMedia,
    OfferAnswerError,
    accept_answer,
    build_offer,
    negotiate_answer,
)
from pbx.sip.sdp import Connection, MediaDescription, SessionDescription

WEBRTC_PROTO = "UDP/TLS/RTP/SAVPF"
"""The transport of a WebRTC media stream (RFC 5764 §8, RFC 8829 §5.1.2)."""
PLACEHOLDER = "127.0.0.1"
"""The address the plain view gives a WebRTC stream: ICE, not ``c=``, says where media
goes, so the engine's stream is pointed somewhere harmless the shell never sends to."""
MID = "0"
"""The ``a=mid`` of the audio stream in our offers."""
_SETUPS = frozenset({"actpass", "active", "passive"})
OPUS = Codec("opus", 111, 48000, "minptime=10;useinbandfec=0", channels=2)
"""Opus as RFC 7587 writes it; answered only to offers without G.711 (the engine's
codec), its audio transcoded at the edge (:mod:`pbx.media.opus`)."""
OPUS_EVENTS = Codec("telephone-event", 110, 48000, "0-16")
"""RFC 4733 events at Opus's clock (browsers send digits at their audio codec's rate)."""
ENGINE_OPUS_VIEW = 0
"""The payload type (PCMU) the engine sends and receives on an Opus leg."""


@frozen
class WebRtcLocal:
    """What we put in a WebRTC description: the ICE credentials, the bound port's host
    candidate, our certificate's fingerprint and our SSRC."""

    address: str
    """The host candidate's address (the RTP address pbx binds)."""
    port: int
    ufrag: str
    """``a=ice-ufrag`` (RFC 8839 §5.4): 4 to 256 ICE characters."""
    pwd: str
    """``a=ice-pwd``: at least 22 ICE characters."""
    fingerprint: str
    """``a=fingerprint`` value, e.g. ``sha-256 AB:CD:...`` (RFC 8122)."""
    ssrc: int
    cname: str


@frozen
class WebRtcRemote:
    """What the browser's description says about its ICE and DTLS."""

    ufrag: str
    pwd: str
    candidates: tuple[str, ...]
    """``a=candidate`` values (``foundation component transport priority address port
    typ ...``), UDP ones only."""
    fingerprints: tuple[tuple[str, str], ...]
    """(hash function, value) pairs of ``a=fingerprint``."""
    setup: str
    """The browser's ``a=setup``: ``actpass``, ``active`` or ``passive``."""
    ice_lite: bool = False


@frozen
class WebRtcNegotiated:
    """The outcome of a WebRTC exchange: the codecs (as for any leg) and the transport."""

    media: NegotiatedMedia
    remote: WebRtcRemote
    controlling: bool
    """True when pbx is the ICE controlling agent (it made the offer, RFC 8445 §6.1.1)."""
    dtls_client: bool
    """True when pbx starts the DTLS handshake (``a=setup:active`` on our side)."""
    opus: int | None = None
    """The browser's Opus payload type when the leg is Opus: ``media`` is then the
    engine's view (PCMU, payload type 0, and the browser's telephone-event type) and
    the shell transcodes each packet."""


def is_webrtc(sd: SessionDescription) -> bool:
    """True when the first audio stream with a port is a WebRTC one."""
    for media in sd.media:
        if media.media == "audio" and media.port != 0:
            return media.proto == WEBRTC_PROTO
    return False


def _audio(sd: SessionDescription) -> MediaDescription | None:
    for media in sd.media:
        if media.media == "audio" and media.port != 0 and media.proto == WEBRTC_PROTO:
            return media
    return None


def _value(media: MediaDescription, sd: SessionDescription, name: str) -> str | None:
    """An attribute of the stream, else of the session (RFC 8839 §5.4, RFC 8122 §5)."""
    found = media.attribute(name)
    return found if found is not None else sd.attribute(name)


def remote_of(sd: SessionDescription) -> WebRtcRemote:
    """The ICE and DTLS parameters of the WebRTC audio stream of ``sd``; raises
    :class:`OfferAnswerError` (488) naming what is missing."""
    media = _audio(sd)
    if media is None:
        raise OfferAnswerError("no WebRTC audio stream")
    ufrag = _value(media, sd, "ice-ufrag")
    pwd = _value(media, sd, "ice-pwd")
    if not ufrag or not pwd:
        raise OfferAnswerError("the WebRTC stream has no a=ice-ufrag or a=ice-pwd")
    prints: list[tuple[str, str]] = []
    for key, value in [*sd.attributes, *media.attributes]:
        if key == "fingerprint" and value:
            algorithm, _, digest = value.strip().partition(" ")
            if digest.strip():
                prints.append((algorithm.lower(), digest.strip().upper()))
    if not prints:
        raise OfferAnswerError("the WebRTC stream has no a=fingerprint (RFC 8122)")
    setup = (_value(media, sd, "setup") or "actpass").strip().lower()
    if setup not in _SETUPS:
        raise OfferAnswerError(f"a=setup:{setup} is not actpass, active or passive")
    if not media.has_attribute("rtcp-mux"):
        raise OfferAnswerError("the WebRTC stream does not multiplex RTCP (a=rtcp-mux)")
    candidates = tuple(
        value.strip()
        for key, value in media.attributes
        if key == "candidate" and value and value.split()[2:3] in (["udp"], ["UDP"])
    )
    lite = sd.attribute("ice-lite") is not None or any(k == "ice-lite" for k, _ in sd.attributes)
    return WebRtcRemote(ufrag.strip(), pwd.strip(), candidates, tuple(prints), setup, lite)


def _plain(sd: SessionDescription) -> SessionDescription:
    """``sd`` with its WebRTC audio stream seen as RTP/AVP at the placeholder address,
    for the codec and direction rules of :mod:`pbx.sip.offer_answer`."""
    view = sd.copy()
    view.connection = None
    for media in view.media:
        if media.proto == WEBRTC_PROTO:
            media.proto = RTP_AVP
            media.connection = Connection.for_address(PLACEHOLDER)
    return view


def _dress(
    sd: SessionDescription,
    local: WebRtcLocal,
    setup: str,
    mid: str,
    extra_session: list[tuple[str, str | None]] | None = None,
) -> SessionDescription:
    """Our plain description made WebRTC: the transport and the ICE/DTLS attributes."""
    sd.attributes.append(("group", f"BUNDLE {mid}"))
    sd.attributes.append(("msid-semantic", " WMS pbx"))
    sd.attributes += extra_session or []
    first = True
    for media in sd.media:
        if media.proto != RTP_AVP:
            continue
        media.proto = WEBRTC_PROTO
        if media.port == 0 or not first:
            continue
        first = False
        media.port = local.port
        media.connection = None
        attributes = [
            ("mid", mid),
            ("ice-ufrag", local.ufrag),
            ("ice-pwd", local.pwd),
            ("fingerprint", local.fingerprint),
            ("setup", setup),
            ("rtcp-mux", None),
            ("rtcp", f"{local.port} IN {_addrtype(local.address)} {local.address}"),
            ("candidate", f"1 1 udp 2130706431 {local.address} {local.port} typ host"),
            ("end-of-candidates", None),
        ]
        media.attributes = attributes + [
            (k, v) for k, v in media.attributes if k not in ("rtcp", "ptime")
        ]
        media.attributes.append(("ssrc", f"{local.ssrc} cname:{local.cname}"))
        media.attributes.append(("ssrc", f"{local.ssrc} msid:pbx audio"))
    conn = Connection.for_address(local.address)
    sd.connection = conn
    return sd


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def webrtc_answer(
    offer: SessionDescription,
    local: WebRtcLocal,
    *,
    session_id: int,
    session_version: int,
    hold: bool = False,
    dtls_client: bool | None = None,
    opus: bool = False,
) -> tuple[SessionDescription, WebRtcNegotiated]:
    """Our answer to a browser's offer: one codec of ours (RFC 3264 via the plain view),
    ``a=setup:active`` (we start DTLS, RFC 5763 §5) and ICE controlled. Raises
    :class:`OfferAnswerError` (488) when the offer lacks what WebRTC needs or shares
    no codec with us. ``dtls_client`` keeps an established DTLS role (re-offers).
    With ``opus`` (the shell can transcode), an offer without G.711 is answered with
    Opus (:attr:`WebRtcNegotiated.opus`)."""
    remote = remote_of(offer)
    media = _audio(offer)
    assert media is not None
    plain = _plain(offer)
    where = LocalMedia(local.address, local.port)
    opus_pt: int | None = None
    try:
        answer, negotiated = negotiate_answer(
            plain, where, session_id=session_id, session_version=session_version, hold=hold
        )
    except OfferAnswerError:
        if not opus:
            raise
        # No G.711 offered: Opus, transcoded to the engine's PCMU by the shell.
        answer, negotiated = negotiate_answer(
            plain,
            where,
            supported=(OPUS, OPUS_EVENTS),
            session_id=session_id,
            session_version=session_version,
            hold=hold,
        )
        opus_pt = negotiated.payload_type
        negotiated = evolve(
            negotiated, payload_type=ENGINE_OPUS_VIEW, codec="PCMU", clock_rate=8000
        )
    # RFC 5763 §5: the answerer to actpass picks; active means pbx is the DTLS client.
    # In a re-offer's answer the role already chosen stays (``dtls_client``, RFC 8842 §5.5).
    setup = "passive" if remote.setup == "active" else "active"
    if dtls_client is not None:
        setup = "active" if dtls_client else "passive"
    sd = _dress(answer, local, setup, media.attribute("mid") or MID)
    return sd, WebRtcNegotiated(
        negotiated, remote, remote.ice_lite, setup == "active", opus=opus_pt
    )


def webrtc_offer(
    local: WebRtcLocal,
    *,
    session_id: int,
    session_version: int,
    direction: str = "sendrecv",
    setup: str = "actpass",
) -> SessionDescription:
    """Our offer to a browser: PCMU, PCMA and telephone-event over ``UDP/TLS/RTP/SAVPF``,
    ``a=setup:actpass`` the first time (the browser answers ``active``, RFC 5763 §5) and
    our established role in re-offers."""
    plain = build_offer(
        LocalMedia(local.address, local.port),
        session_id=session_id,
        session_version=session_version,
        direction=direction,
    )
    return _dress(plain, local, setup, MID)


def webrtc_accept(offer: SessionDescription, answer: SessionDescription) -> WebRtcNegotiated:
    """What the browser's ``answer`` to our WebRTC ``offer`` means; raises
    :class:`OfferAnswerError` (488) when it does not fit."""
    if not is_webrtc(answer):
        raise OfferAnswerError("the answer to a WebRTC offer is not UDP/TLS/RTP/SAVPF")
    remote = remote_of(answer)
    if remote.setup == "actpass":
        raise OfferAnswerError("a=setup:actpass in an answer (RFC 5763 §5)")
    negotiated = accept_answer(_plain(offer), _plain(answer))
    return WebRtcNegotiated(negotiated, remote, True, remote.setup == "passive")
