"""Each leg's anchored media: an RTP port, a stream, an engine channel, and its SDP.

Every leg gets its own RTP port and media-engine channel when it is created, so any two
legs can be bridged, recorded or monitored through the mixer. This module opens and
closes them, builds our offers and answers (RFC 3264) and applies what was negotiated
to the stream and the channel's codec; what the engine reports about a channel (a digit,
a prompt's end, a machine's verdict) becomes the event of the leg it carries.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from attrs import define, field

from pbx.calls.events import (
    AnsweringMachine,
    CallEvent,
    DigitReceived,
    MachineGreetingEnded,
    PlaybackDone,
    RecordingDone,
)
from pbx.calls.model import Call, Leg, MediaTransport
from pbx.media.engine import MediaEngine
from pbx.media.events import (
    AmdDetected,
    DtmfDetected,
    GreetingEnded,
    PlaybackFinished,
    RecordingFinished,
)
from pbx.rtp.stream import RtpStream
from pbx.sip.offer_answer import (
    LocalMedia,
    NegotiatedMedia,
    OfferAnswerError,
    accept_answer,
    build_offer,
    is_ip_literal,
    negotiate_answer,
)
from pbx.sip.sdp import SdpParseError, SessionDescription
from pbx.sip.webrtc_sdp import (
    WebRtcLocal,
    WebRtcNegotiated,
    is_webrtc,
    webrtc_accept,
    webrtc_answer,
    webrtc_offer,
)

ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
"""The characters of ICE credentials (RFC 8839 §5.4 ice-char)."""


@define
class LegMedia:
    """Opens, negotiates and closes the media of legs over one engine and transport."""

    engine: MediaEngine
    transport: MediaTransport
    rng: random.Random
    inband_dtmf: str = "auto"
    """In-band DTMF detection: ``auto`` for peers whose SDP takes no telephone-event
    (their keys can only come as tones), ``always``, or ``never``."""
    by_channel: dict[int, str] = field(init=False, factory=dict)
    """Engine channel → the leg it carries."""

    def open(self, leg: Leg) -> None:
        """Bind a port, add a channel (PCMU until negotiated); raises PbxError
        (ResourceExhausted when the port pool is empty)."""
        port = self.transport.open()
        rng = self.rng
        stream = RtpStream(
            rng.getrandbits(32),
            0,
            clock_rate=8000,
            telephone_event_pt=101,
            initial_seq=rng.getrandbits(16),
            initial_ts=rng.getrandbits(32),
            cname=f"{leg.id}@{self.transport.host}",
            rng=rng,
        )
        channel = self.engine.add_channel(stream, "PCMU")
        self.transport.attach(port, channel)
        leg.port, leg.stream, leg.channel = port, stream, channel
        leg.session_id = rng.getrandbits(31)
        leg.session_version = 1
        self.by_channel[channel] = leg.id

    def adopt(self, leg: Leg) -> None:
        """The leg's id became known after its media was opened (an outbound INVITE)."""
        if leg.channel is not None:
            self.by_channel[leg.channel] = leg.id

    def close(self, leg: Leg) -> None:
        """Remove the leg's channel and unbind its port."""
        if leg.channel is not None:
            self.engine.remove_channel(leg.channel)
            self.by_channel.pop(leg.channel, None)
            leg.channel = None
        if leg.port is not None:
            self.transport.close(leg.port)
            leg.port = None

    def local(self, leg: Leg) -> LocalMedia:
        assert leg.port is not None
        return LocalMedia(self.transport.host, leg.port)

    def apply(self, leg: Leg, media: NegotiatedMedia) -> None:
        """Point the leg's stream at the negotiated address, payload types and codec."""
        if not is_ip_literal(media.remote_address):
            # A host name is refused, not resolved: resolving would block the loop (or,
            # handed to sendto, every packet), and a name a caller chose can point anywhere.
            raise OfferAnswerError("the SDP connection address is a host name; pbx needs an IP")
        leg.media = media
        stream = leg.stream
        if stream is None or leg.channel is None:
            return
        stream.payload_type = media.payload_type
        stream.telephone_event_pt = media.telephone_event
        if media.remote_port and media.remote_address not in ("0.0.0.0", "::"):
            stream.set_remote((media.remote_address, media.remote_port))
        self.engine.set_codec(leg.channel, media.codec)
        mode = self.inband_dtmf
        inband = mode == "always" or (mode == "auto" and media.telephone_event is None)
        if inband != leg.dtmf_inband:
            self.engine.detect_dtmf(leg.channel, inband)
            leg.dtmf_inband = inband

    def offer(self, leg: Leg, direction: str = "sendrecv") -> bytes:
        """Our offer for the leg (a new session version); kept until answered. A leg
        :meth:`to_browser` gets a WebRTC offer."""
        leg.session_version += 1
        if leg.webrtc is not None:
            setup = "actpass"
            if leg.webrtc_started:  # a re-offer keeps the DTLS role (RFC 5763 §5)
                setup = "active" if leg.webrtc_dtls_client else "passive"
            offer = webrtc_offer(
                leg.webrtc,
                session_id=leg.session_id,
                session_version=leg.session_version,
                direction=direction,
                setup=setup,
            )
            leg.offer = offer
            leg.local_sdp = bytes(offer)
            return leg.local_sdp
        offer = build_offer(
            self.local(leg),
            session_id=leg.session_id,
            session_version=leg.session_version,
            direction=direction,
        )
        leg.offer = offer
        leg.local_sdp = bytes(offer)
        return leg.local_sdp

    def answer(self, leg: Leg, sdp: bytes, hold: bool = False) -> bytes:
        """Negotiate an answer to ``sdp``; raises OfferAnswerError (488, 400) on failure."""
        try:
            offer = SessionDescription.parse(sdp)
        except SdpParseError as exc:
            raise OfferAnswerError(f"invalid SDP: {exc}", 400) from None
        if is_webrtc(offer):
            return self._answer_webrtc(leg, offer, hold)
        if leg.webrtc is not None and leg.webrtc_started:
            raise OfferAnswerError("a browser's leg takes WebRTC offers only")
        leg.session_version += 1
        answer, media = negotiate_answer(
            offer,
            self.local(leg),
            session_id=leg.session_id,
            session_version=leg.session_version,
            hold=hold,
        )
        self.apply(leg, media)
        leg.local_sdp = bytes(answer)
        return leg.local_sdp

    def call_events(
        self, event: object, legs: Mapping[str, Leg], calls: Iterable[Call]
    ) -> list[CallEvent]:
        """What a media-engine event means for the call of its channel's leg."""
        if isinstance(event, RecordingFinished):
            return [
                RecordingDone(c.id, event.key, event.path, event.seconds)
                for c in calls
                if c.recording_key == event.key
            ]
        channel = getattr(event, "channel", None)
        leg = legs.get(self.by_channel.get(channel, "")) if isinstance(channel, int) else None
        if leg is None:
            return []
        if isinstance(event, DtmfDetected):
            return [DigitReceived(leg.call, leg.id, event.digit, event.source)]
        if isinstance(event, PlaybackFinished):
            return [PlaybackDone(leg.call, leg.id, event.prompt, event.completed)]
        if isinstance(event, AmdDetected):
            return [AnsweringMachine(leg.call, leg.id, event.verdict, event.reason, event.seconds)]
        if isinstance(event, GreetingEnded):
            return [MachineGreetingEnded(leg.call, leg.id, event.by)]
        return []

    def accept(self, leg: Leg, sdp: bytes) -> None:
        """Apply the answer ``sdp`` to our outstanding offer; raises SdpParseError or
        OfferAnswerError when it does not fit."""
        assert leg.offer is not None
        answer = SessionDescription.parse(sdp)
        if leg.webrtc is not None:
            negotiated = webrtc_accept(leg.offer, answer)
            self.apply(leg, negotiated.media)
            self._start_webrtc(leg, negotiated)
            return
        self.apply(leg, accept_answer(leg.offer, answer))

    # -- WebRTC ------------------------------------------------------------------------
    def webrtc_available(self) -> bool:
        """True when the transport runs WebRTC media (ICE, DTLS-SRTP)."""
        return getattr(self.transport, "dtls_fingerprint", None) is not None

    def to_browser(self, leg: Leg) -> bool:
        """Make the leg's media WebRTC (a call to a browser): its offers become WebRTC
        ones. False when the transport cannot run WebRTC media."""
        return self._webrtc_local(leg) is not None

    def _webrtc_local(self, leg: Leg) -> WebRtcLocal | None:
        fingerprint = getattr(self.transport, "dtls_fingerprint", None)
        if not isinstance(fingerprint, str) or leg.port is None or leg.stream is None:
            return None
        if leg.webrtc is None:
            rng = self.rng
            leg.webrtc = WebRtcLocal(
                self.transport.host,
                leg.port,
                "".join(rng.choice(ICE_CHARS) for _ in range(8)),
                "".join(rng.choice(ICE_CHARS) for _ in range(24)),
                fingerprint,
                leg.stream.local_ssrc,
                leg.stream.cname,
            )
        return leg.webrtc

    def _answer_webrtc(self, leg: Leg, offer: SessionDescription, hold: bool) -> bytes:
        if leg.media is not None and leg.webrtc is None:
            raise OfferAnswerError("a WebRTC offer on a leg that started as plain RTP")
        local = self._webrtc_local(leg)
        if local is None:
            raise OfferAnswerError("WebRTC media is not available here")
        leg.session_version += 1
        answer, negotiated = webrtc_answer(
            offer,
            local,
            session_id=leg.session_id,
            session_version=leg.session_version,
            hold=hold,
            dtls_client=leg.webrtc_dtls_client if leg.webrtc_started else None,
            opus=True,  # the shell that runs WebRTC transcodes Opus too
        )
        self.apply(leg, negotiated.media)
        leg.local_sdp = bytes(answer)
        self._start_webrtc(leg, negotiated)
        return leg.local_sdp

    def _start_webrtc(self, leg: Leg, negotiated: WebRtcNegotiated) -> None:
        """Have the shell run ICE and DTLS for the leg, once (re-INVITEs keep them)."""
        if leg.webrtc_started or leg.webrtc is None or leg.port is None:
            return
        leg.webrtc_started = True
        leg.webrtc_dtls_client = negotiated.dtls_client
        start = getattr(self.transport, "start_webrtc", None)
        if start is not None:
            start(leg.port, leg.webrtc, negotiated)
