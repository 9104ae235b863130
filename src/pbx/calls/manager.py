"""The call manager: the transaction user of the SIP endpoint and the user of the media engine.

Theory of operation
-------------------
A *call* is what a caller experiences from dialling to hanging up; it has one or more
*legs* — SIP dialogs the endpoint keeps, each with an RTP stream and a media-engine
channel anchored here, so every call can be recorded, monitored and mixed. An inbound
call's first leg is answered by us (IVR, echo, prompt, voicemail) or bridged to an
outbound leg (B2BUA: extension, agent, trunk). Media is always anchored: two legs talk
through a two-party bridge of the mixer, never directly.

The manager is sans-I/O: it holds the :class:`~pbx.sip.endpoint.SipEndpoint` and the
:class:`~pbx.media.engine.MediaEngine` (both sans-I/O) and a :class:`MediaTransport` that
binds RTP ports; the shell feeds it endpoint events (:meth:`handle_sip`) and media events
(:meth:`handle_media`) with ``now``, and drains :meth:`next_event` for the application's
modules. Modules (ACD, IVR, application handlers) own the calls routed to them and drive
them through this API: ``answer``, ``play``, ``bridge``, ``dial``, ``hold``, ``transfer``,
``hangup``.

Every call writes one CDR row, inserted ``in_progress`` when it starts and completed when
its last leg ends (see :mod:`pbx.store`).
"""

from __future__ import annotations

import enum
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import structlog
from attrs import define, field

from pbx.calls.dialplan import Dialplan, Target
from pbx.calls.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    DigitReceived,
    LegAnswered,
    LegEnded,
    LegFailed,
    PlaybackDone,
    RecordingDone,
    TransferRequested,
)
from pbx.calls.identity import CallerIdentity, caller_identity, dialled_number
from pbx.errors import InvalidStateError, PbxError, ResourceExhausted
from pbx.media.engine import MediaEngine
from pbx.media.events import (
    DtmfDetected,
    PlaybackFinished,
    RecordingFinished,
)
from pbx.media.mixer import Role
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.rtp.stream import RtpStream
from pbx.sip import events as sip
from pbx.sip.endpoint import SipEndpoint
from pbx.sip.errors import SipParseError
from pbx.sip.offer_answer import (
    LocalMedia,
    NegotiatedMedia,
    OfferAnswerError,
    accept_answer,
    build_offer,
    is_ip_literal,
    negotiate_answer,
)
from pbx.sip.registration import LocationService
from pbx.sip.sdp import SdpParseError, SessionDescription
from pbx.sip.transport import Destination
from pbx.sip.uri import NameAddr, SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

# Failure statuses of an outbound leg mapped to what the caller is told (B2BUA).
FAILURE_MAP = {
    486: 486,
    600: 486,
    603: 603,
    404: 404,
    604: 404,
    408: 480,
    480: 480,
    487: 487,
    503: 503,
    488: 488,
}


class MediaTransport(Protocol):
    """Binds RTP ports for legs; implemented by ``pbx.net.media`` (and fakes in tests)."""

    host: str

    def open(self) -> int:
        """Bind a new RTP port (RTCP on port+1); return the RTP port."""
        ...

    def attach(self, port: int, channel: int) -> None:
        """Deliver what arrives on ``port`` to engine channel ``channel``."""
        ...

    def close(self, port: int) -> None:
        """Unbind ``port``."""
        ...


class LegKind(enum.Enum):
    """Which way a leg was set up."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class LegState(enum.Enum):
    """Where a leg is, from the call's point of view."""

    RINGING = "ringing"
    """Inbound, not answered yet."""
    DIALING = "dialing"
    """Outbound, INVITE sent."""
    EARLY = "early"
    """Outbound, provisional response received."""
    ANSWERED = "answered"
    ENDED = "ended"


@define(slots=True)
class Leg:
    """One SIP leg of a call with its anchored media."""

    id: str
    call: str
    kind: LegKind
    state: LegState
    identity: CallerIdentity | None = None
    remote: str = ""
    """The other party's number or URI."""
    port: int | None = None
    stream: RtpStream | None = None
    channel: int | None = None
    media: NegotiatedMedia | None = None
    offer: SessionDescription | None = None
    """Our outstanding offer (outbound legs, late-offer answers, re-INVITEs)."""
    session_id: int = 0
    session_version: int = 0
    local_sdp: bytes = b""
    peer: str | None = None
    """The leg this one is bridged with."""
    bridge: int | None = None
    created: float = 0.0
    answered: float | None = None
    ended: float | None = None
    held: bool = False
    """The remote party put this leg on hold."""
    on_hold_by_us: bool = False
    hold_started: float | None = None
    hold_seconds: float = 0.0
    ring_timeout_at: float | None = None
    media_seen: int = -1
    """Packets (RTP + RTCP) received when the media watchdog last looked."""
    media_seen_at: float = 0.0
    """When the watchdog last saw media arrive (or stopped expecting none)."""
    on_answer: Callable[[Leg, float], None] | None = None
    on_failure: Callable[[Leg, int, str, float], None] | None = None
    end_cause: str = ""
    refer_tx: str | None = None
    dtmf_inband: bool = False


@define(slots=True)
class Call:
    """A caller's call: its legs, attached data, and CDR row."""

    id: str
    origin: str
    """``trunk``, ``user`` or ``api`` (originated by us)."""
    direction: str
    """``inbound``, ``outbound`` or ``internal``."""
    created: float
    number: str = ""
    trunk: str | None = None
    caller: CallerIdentity | None = None
    target: Target | None = None
    owner: str = ""
    """The module driving the call (``extension``, ``echo``, ``queue``, ``ivr`` ...)."""
    legs: list[str] = field(factory=list)
    data: dict[str, Any] = field(factory=dict)
    """Attached data: travels with the call through IVR, queue, agents and transfers."""
    cdr_row: int | None = None
    answered: float | None = None
    agent: str | None = None
    queue: str | None = None
    recording: str | None = None
    recording_key: str | None = None
    disposition: str = ""
    hangup_side: str = ""
    transferred: bool = False


TargetHandler = Callable[["CallManager", Call, Leg, float], None]


class CallError(PbxError):
    """A call operation could not be done (unknown call or leg, wrong state)."""


@define
class CallManager:
    """Calls over one SIP endpoint and one media engine."""

    endpoint: SipEndpoint
    engine: MediaEngine
    transport: MediaTransport
    dialplan: Dialplan = field(factory=Dialplan)
    location: LocationService | None = None
    store: Store | None = None
    rng: random.Random = field(factory=random.Random)
    wall: Callable[[float], float] = field(default=lambda now: now)
    """Turns the monotonic ``now`` into wall-clock time for the records."""
    is_trunk: Callable[[Destination], bool] = field(default=lambda source: True)
    trunk_name: Callable[[Destination], str] = field(default=lambda source: "local")
    ring_timeout: float = 60.0
    media_timeout: float = 60.0
    """Seconds without RTP or RTCP from an answered leg that should be sending before its
    call is ended (0: never); see :meth:`handle_timer`."""
    #: Where :meth:`record_call` puts recordings (``YYYYMMDD/<call id>.wav`` below it).
    recordings: Path = Path("recordings")
    moh: tuple[PlayItem, ...] = (PromptItem("moh"),)
    """What a held party hears (music on hold)."""
    handlers: dict[str, TargetHandler] = field(factory=dict)
    """Handlers for target kinds the manager does not run itself (queue, ivr, app)."""
    calls: dict[str, Call] = field(init=False, factory=dict)
    legs: dict[str, Leg] = field(init=False, factory=dict)
    _by_channel: dict[int, str] = field(init=False, factory=dict)
    _events: deque[CallEvent] = field(init=False, factory=deque)
    _digit_listeners: dict[str, Callable[[str, float], None]] = field(init=False, factory=dict)
    store_errors: int = field(init=False, default=0)
    """Store writes that failed (logged; the calls went on)."""

    # ============================================================ queries
    def next_event(self) -> CallEvent | None:
        """The next event for the application, or None."""
        return self._events.popleft() if self._events else None

    def call(self, call_id: str) -> Call:
        """The call ``call_id``; raises :class:`CallError` when unknown."""
        c = self.calls.get(call_id)
        if c is None:
            raise CallError(f"unknown call {call_id!r}")
        return c

    def leg(self, leg_id: str) -> Leg:
        """The leg ``leg_id``; raises :class:`CallError` when unknown."""
        leg = self.legs.get(leg_id)
        if leg is None:
            raise CallError(f"unknown leg {leg_id!r}")
        return leg

    def legs_of(self, call_id: str) -> list[Leg]:
        """The live legs of a call, oldest first."""
        c = self.calls.get(call_id)
        if c is None:
            return []
        return [self.legs[i] for i in c.legs if i in self.legs]

    def _new_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    # ============================================================ media per leg
    def _open_media(self, leg: Leg) -> None:
        port = self.transport.open()
        stream = RtpStream(
            self.rng.getrandbits(32),
            0,
            clock_rate=8000,
            telephone_event_pt=101,
            initial_seq=self.rng.getrandbits(16),
            initial_ts=self.rng.getrandbits(32),
            cname=f"{leg.id}@{self.transport.host}",
            rng=self.rng,
        )
        channel = self.engine.add_channel(stream, "PCMU")
        self.transport.attach(port, channel)
        leg.port, leg.stream, leg.channel = port, stream, channel
        leg.session_id = self.rng.getrandbits(31)
        leg.session_version = 1
        self._by_channel[channel] = leg.id

    def _close_media(self, leg: Leg) -> None:
        if leg.channel is not None:
            self.engine.remove_channel(leg.channel)
            self._by_channel.pop(leg.channel, None)
            leg.channel = None
        if leg.port is not None:
            self.transport.close(leg.port)
            leg.port = None

    def _local(self, leg: Leg) -> LocalMedia:
        assert leg.port is not None
        return LocalMedia(self.transport.host, leg.port)

    def _apply(self, leg: Leg, media: NegotiatedMedia) -> None:
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

    def _make_offer(self, leg: Leg, direction: str = "sendrecv") -> bytes:
        leg.session_version += 1
        offer = build_offer(
            self._local(leg),
            session_id=leg.session_id,
            session_version=leg.session_version,
            direction=direction,
        )
        leg.offer = offer
        leg.local_sdp = bytes(offer)
        return leg.local_sdp

    def _answer_offer(self, leg: Leg, sdp: bytes, hold: bool = False) -> bytes:
        """Negotiate an answer to ``sdp``; raises OfferAnswerError (488) on failure."""
        try:
            offer = SessionDescription.parse(sdp)
        except SdpParseError as exc:
            raise OfferAnswerError(f"invalid SDP: {exc}", 400) from None
        leg.session_version += 1
        answer, media = negotiate_answer(
            offer,
            self._local(leg),
            session_id=leg.session_id,
            session_version=leg.session_version,
            hold=hold,
        )
        self._apply(leg, media)
        leg.local_sdp = bytes(answer)
        return leg.local_sdp

    # ============================================================ SIP events
    def handle_sip(self, event: sip.EndpointEvent, now: float) -> None:
        """Act on one endpoint event."""
        if isinstance(event, sip.IncomingCall):
            self._on_incoming(event, now)
            return
        if isinstance(event, sip.IncomingRequest):
            self._on_out_of_dialog(event, now)
            return
        leg_id = getattr(event, "leg", None)
        leg = self.legs.get(leg_id) if isinstance(leg_id, str) else None
        if leg is None:
            if isinstance(event, sip.InDialogRequest):
                self.endpoint.respond(event.transaction, 481, now)
            return
        if isinstance(event, sip.CallProgress):
            self._on_progress(leg, event, now)
        elif isinstance(event, sip.CallAnswered):
            self._on_answered(leg, event.sdp, now)
        elif isinstance(event, sip.CallConfirmed):
            self._on_confirmed(leg, event.sdp, now)
        elif isinstance(event, sip.CallFailed):
            self._on_failed(leg, event.status, event.reason, now)
        elif isinstance(event, sip.CallCancelled):
            leg.end_cause = "caller cancelled"
            self._leg_gone(leg, "remote", now)
        elif isinstance(event, sip.CallEnded):
            leg.end_cause = event.reason
            self._leg_gone(leg, event.by, now)
        elif isinstance(event, sip.InDialogRequest):
            self._on_in_dialog(leg, event, now)
        elif isinstance(event, sip.ReinviteAnswered):
            self._on_reinvite_answered(leg, event, now)
        elif isinstance(event, sip.RequestAnswered):
            pass

    def _on_out_of_dialog(self, ev: sip.IncomingRequest, now: float) -> None:
        """An out-of-dialog MESSAGE, NOTIFY, INFO or REFER: every one gets its answer."""
        req = ev.request
        if req.method == "MESSAGE":
            ctype = (req.content_type or "text/plain").lower()
            if ctype != "text/plain":
                # RFC 3428 §7: a body the UAS does not understand is a 415 with Accept.
                self.endpoint.respond(ev.transaction, 415, now, extra=[("Accept", "text/plain")])
            else:
                # Text is not routed to phones yet: tell the sender it was not delivered.
                self.endpoint.respond(
                    ev.transaction,
                    480,
                    now,
                    reason="Temporarily Unavailable (messages are not delivered)",
                )
        elif req.method in ("NOTIFY", "INFO"):
            # No subscription (RFC 6665 §4.1.3) and no INVITE dialog (RFC 6086 §4.2.2).
            self.endpoint.respond(ev.transaction, 481, now)
        else:
            self.endpoint.respond(
                ev.transaction, 403, now, reason="Forbidden (outside of a dialog)"
            )

    def _on_incoming(self, ev: sip.IncomingCall, now: float) -> None:
        req = ev.request
        try:
            identity = caller_identity(req)
            number = dialled_number(req)
        except SipParseError as exc:
            self.endpoint.reject(ev.leg, 400, now, reason=f"Bad Request ({exc.reason})")
            return
        if ev.auth_user is not None:
            origin, trunk = "user", None
        elif self.is_trunk(ev.source):
            origin, trunk = "trunk", self.trunk_name(ev.source)
        else:
            self.endpoint.reject(ev.leg, 403, now)
            return
        match = self.dialplan.resolve(
            origin=origin, number=number, caller=identity.number, trunk=trunk
        )
        if match is None:
            log.info("call_no_route", number=number, origin=origin)
            self.endpoint.reject(ev.leg, 404, now)
            return
        call = Call(
            self._new_id(),
            origin,
            "inbound" if origin == "trunk" else "internal",
            now,
            number=number,
            trunk=trunk,
            caller=identity,
            target=match.target,
            owner=match.target.kind,
        )
        if origin == "user":
            call.caller = CallerIdentity(ev.auth_user or identity.number, identity.name, "auth")
        leg = Leg(
            ev.leg,
            call.id,
            LegKind.INBOUND,
            LegState.RINGING,
            identity=call.caller,
            remote=call.caller.number if call.caller else "",
            created=now,
        )
        try:
            self._open_media(leg)
        except PbxError as exc:
            log.warning("call_no_media_port", error=str(exc))
            retry = (
                [("Retry-After", str(exc.retry_after))]
                if isinstance(exc, ResourceExhausted)
                else None
            )
            self.endpoint.reject(ev.leg, 503, now, extra=retry)
            return
        if ev.sdp is not None:
            try:
                self._answer_offer(leg, ev.sdp)
            except OfferAnswerError as exc:
                self._close_media(leg)
                self.endpoint.reject(ev.leg, exc.status_hint, now, reason=None)
                log.info("call_rejected_sdp", reason=str(exc))
                return
        self.calls[call.id] = call
        self.legs[leg.id] = leg
        call.legs.append(leg.id)
        self._cdr_open(call, req.call_id)
        log.info(
            "call_started",
            call=call.id,
            number=number,
            origin=origin,
            caller=call.caller.number if call.caller else "",
            target=match.target.kind,
        )
        self._events.append(
            CallStarted(call.id, leg.id, match.target, number, call.caller or identity, origin)
        )
        self.route(call, leg, match.target, now)

    def route(self, call: Call, leg: Leg, target: Target, now: float) -> None:
        """Send ``call`` (its leg ``leg``) to ``target``: the dial plan does this for new
        calls; modules do it to pass a call on (queue overflow, IVR choices)."""
        call.target = target
        call.owner = target.kind
        kind = target.kind
        if kind == "echo":
            self.answer(leg.id, now)
            assert leg.channel is not None
            self.engine.echo(leg.channel, True)
        elif kind == "play":
            self.answer(leg.id, now)
            self.play(leg.id, [target.name], now, then_hangup=True)
        elif kind == "hangup":
            self.hangup(leg.id, now, status=int(target.options.get("status", 480)))
        elif kind == "extension":
            self.connect_extension(leg.id, target.name or call.number, now)
        elif kind == "trunk":
            self.connect_trunk(leg.id, target, now)
        elif kind in self.handlers:
            self.handlers[kind](self, call, leg, now)
        elif target.name and f"{kind}:{target.name}" in self.handlers:
            self.handlers[f"{kind}:{target.name}"](self, call, leg, now)
        else:
            log.warning("call_target_unavailable", kind=kind, name=target.name)
            self.hangup(leg.id, now, status=480)

    def _on_progress(self, leg: Leg, ev: sip.CallProgress, now: float) -> None:
        if leg.state is LegState.DIALING:
            leg.state = LegState.EARLY
        peer = self.legs.get(leg.peer or "")
        if peer is not None and peer.kind is LegKind.INBOUND and peer.state is LegState.RINGING:
            # 180 goes on as 180 (the caller's phone plays its own ringback); 183 with
            # early media becomes our 183 with our ringback tone, since media is anchored.
            self._ring_caller(peer, now, early_media=ev.sdp is not None)

    def _ring_caller(self, leg: Leg, now: float, early_media: bool = False) -> None:
        if leg.state is not LegState.RINGING or leg.channel is None:
            return
        try:
            if early_media and leg.media is not None:
                self.endpoint.ring(leg.id, now, sdp=leg.local_sdp)
                if not self.engine.is_playing(leg.channel):
                    self.engine.play(leg.channel, [ToneItem(tone("ringback"))], loop=True)
            else:
                self.endpoint.ring(leg.id, now)
        except InvalidStateError:
            pass

    def _on_answered(self, leg: Leg, sdp: bytes | None, now: float) -> None:
        if sdp is not None and leg.offer is not None:
            try:
                answer = SessionDescription.parse(sdp)
                self._apply(leg, accept_answer(leg.offer, answer))
            except (SdpParseError, OfferAnswerError) as exc:
                log.info("call_bad_answer", leg=leg.id, reason=str(exc))
                leg.end_cause = "bad SDP answer"
                self.endpoint.bye(leg.id, now)
                return
            leg.offer = None
        leg.state = LegState.ANSWERED
        leg.answered = now
        leg.media_seen_at = now
        leg.ring_timeout_at = None
        self._arm_media_check(now)
        self._events.append(LegAnswered(leg.call, leg.id))
        if leg.on_answer is not None:
            callback, leg.on_answer = leg.on_answer, None
            callback(leg, now)

    def _on_confirmed(self, leg: Leg, sdp: bytes | None, now: float) -> None:
        if sdp is not None and leg.offer is not None:
            # Late offer: the ACK carries the answer to the offer in our 200 OK.
            try:
                self._apply(leg, accept_answer(leg.offer, SessionDescription.parse(sdp)))
            except (SdpParseError, OfferAnswerError) as exc:
                log.info("call_bad_answer", leg=leg.id, reason=str(exc))
            leg.offer = None

    def _on_failed(self, leg: Leg, status: int, reason: str, now: float) -> None:
        leg.end_cause = f"{status} {reason}"
        self._events.append(LegFailed(leg.call, leg.id, status, reason))
        callback = leg.on_failure
        leg.on_failure = None
        self._leg_gone(leg, "remote", now, failed_status=status)
        if callback is not None:
            callback(leg, status, reason, now)

    def _on_in_dialog(self, leg: Leg, ev: sip.InDialogRequest, now: float) -> None:
        req = ev.request
        method = req.method
        if method in ("INVITE", "UPDATE"):
            self._on_reoffer(leg, ev, now)
        elif method == "INFO":
            digit = _dtmf_from_info(req.content_type, req.body)
            self.endpoint.respond(ev.transaction, 200, now)
            if digit is not None:
                self._digit(leg, digit, "info", now)
        elif method == "REFER":
            self._on_refer(leg, ev, now)
        elif method == "OPTIONS":
            self.endpoint.respond(ev.transaction, 200, now)
        elif method in ("NOTIFY", "MESSAGE"):
            self.endpoint.respond(ev.transaction, 200, now)
        else:
            self.endpoint.respond(ev.transaction, 405, now)

    def _on_reoffer(self, leg: Leg, ev: sip.InDialogRequest, now: float) -> None:
        if ev.sdp is None and ev.request.method == "UPDATE":
            # An UPDATE without an offer (a session refresh, RFC 4028): 200, no body.
            self.endpoint.respond(ev.transaction, 200, now)
            return
        if ev.sdp is None:
            # An offerless re-INVITE: we offer our current media (RFC 3264 §8).
            sdp = self._make_offer(leg)
            self.endpoint.respond(
                ev.transaction, 200, now, body=sdp, content_type="application/sdp"
            )
            return
        try:
            sdp = self._answer_offer(leg, ev.sdp, hold=leg.on_hold_by_us)
        except OfferAnswerError as exc:
            self.endpoint.respond(ev.transaction, exc.status_hint, now)
            return
        self.endpoint.respond(ev.transaction, 200, now, body=sdp, content_type="application/sdp")
        media = leg.media
        held = media is not None and (media.remote_hold or not media.sends)
        if held != leg.held:
            self._set_remote_hold(leg, held, now)

    def _set_remote_hold(self, leg: Leg, held: bool, now: float) -> None:
        """The phone on ``leg`` put its party on hold (or took it off): MOH to the peer."""
        leg.held = held
        peer = self.legs.get(leg.peer or "")
        if held:
            leg.hold_started = now
            if peer is not None and peer.channel is not None:
                self.engine.play(peer.channel, list(self.moh), loop=True)
        else:
            if leg.hold_started is not None:
                leg.hold_seconds += now - leg.hold_started
                leg.hold_started = None
            if peer is not None and peer.channel is not None:
                self.engine.stop_playback(peer.channel)
        log.info("call_hold" if held else "call_resume", call=leg.call, leg=leg.id)

    def _on_reinvite_answered(self, leg: Leg, ev: sip.ReinviteAnswered, now: float) -> None:
        if ev.status < 300 and ev.sdp is not None and leg.offer is not None:
            try:
                self._apply(leg, accept_answer(leg.offer, SessionDescription.parse(ev.sdp)))
            except (SdpParseError, OfferAnswerError) as exc:
                log.info("call_bad_answer", leg=leg.id, reason=str(exc))
        leg.offer = None

    # ============================================================ media events
    def handle_media(self, event: object, now: float) -> None:
        """Act on one media-engine event."""
        if isinstance(event, DtmfDetected):
            leg = self.legs.get(self._by_channel.get(event.channel, ""))
            if leg is not None:
                self._digit(leg, event.digit, event.source, now)
        elif isinstance(event, PlaybackFinished):
            leg = self.legs.get(self._by_channel.get(event.channel, ""))
            if leg is not None:
                self._events.append(PlaybackDone(leg.call, leg.id, event.prompt, event.completed))
                hang = self._hangup_after_play.pop(leg.id, None) if event.completed else None
                if hang is not None:
                    self.hangup(leg.id, now)
        elif isinstance(event, RecordingFinished):
            for call in self.calls.values():
                if call.recording_key == event.key:
                    self._events.append(
                        RecordingDone(call.id, event.key, event.path, event.seconds)
                    )

    def _digit(self, leg: Leg, digit: str, source: str, now: float) -> None:
        self._events.append(DigitReceived(leg.call, leg.id, digit, source))
        listener = self._digit_listeners.get(leg.id)
        if listener is not None:
            listener(digit, now)

    def on_digit(self, leg_id: str, listener: Callable[[str, float], None] | None) -> None:
        """Call ``listener(digit, now)`` for every digit the party on ``leg_id`` presses."""
        if listener is None:
            self._digit_listeners.pop(leg_id, None)
        else:
            self._digit_listeners[leg_id] = listener

    # ============================================================ operations
    _hangup_after_play: dict[str, bool] = field(init=False, factory=dict)

    def answer(self, leg_id: str, now: float) -> None:
        """Answer an inbound leg (200 OK with our SDP; an offer if the INVITE had none)."""
        leg = self.leg(leg_id)
        if leg.kind is not LegKind.INBOUND or leg.state is not LegState.RINGING:
            return
        if leg.channel is not None:
            self.engine.stop_playback(leg.channel)
        sdp = leg.local_sdp if leg.media is not None else self._make_offer(leg)
        self.endpoint.answer(leg.id, sdp, now)
        leg.state = LegState.ANSWERED
        leg.answered = now
        leg.media_seen_at = now
        self._arm_media_check(now)
        call = self.calls[leg.call]
        if call.answered is None:
            call.answered = now
            self._cdr_update(call, answer_time=self.wall(now))
        self._events.append(LegAnswered(call.id, leg.id))

    def ring(self, leg_id: str, now: float, *, early_media: bool = False) -> None:
        """Tell the caller on an inbound leg that it is ringing: 180, or 183 with our
        ringback tone as early media."""
        self._ring_caller(self.leg(leg_id), now, early_media=early_media)

    def play(
        self,
        leg_id: str,
        items: Iterable[PlayItem | str],
        now: float,
        *,
        loop: bool = False,
        then_hangup: bool = False,
    ) -> None:
        """Play prompts/tones to the party on ``leg_id`` (PlaybackDone when finished)."""
        leg = self.leg(leg_id)
        if leg.channel is None:
            raise CallError(f"leg {leg_id} has no media")
        # Barge-in is the caller's module's decision (the IVR stops prompts itself), so the
        # engine never stops a prompt on a digit by its own.
        self.engine.play(leg.channel, list(items), loop=loop, interruptible=False)
        if then_hangup:
            self._hangup_after_play[leg.id] = True

    def stop_playback(self, leg_id: str) -> None:
        """Stop what the party on ``leg_id`` hears from a player."""
        leg = self.leg(leg_id)
        if leg.channel is not None:
            self.engine.stop_playback(leg.channel)

    def detect_inband_dtmf(self, leg_id: str, on: bool = True) -> None:
        """Also detect DTMF tones in the audio (for callers that do not send RFC 4733)."""
        leg = self.leg(leg_id)
        if leg.channel is not None:
            self.engine.detect_dtmf(leg.channel, on)
            leg.dtmf_inband = on

    def bridge(self, a_id: str, b_id: str, now: float) -> None:
        """Connect the media of two answered legs both ways (a two-party bridge)."""
        a, b = self.leg(a_id), self.leg(b_id)
        if a.channel is None or b.channel is None:
            raise CallError("both legs need media to be bridged")
        for leg in (a, b):
            self._unbridge(leg)
            assert leg.channel is not None
            self.engine.stop_playback(leg.channel)
        bridge = self.engine.bridge_create()
        self.engine.bridge_join(bridge, a.channel, Role.PARTICIPANT)
        self.engine.bridge_join(bridge, b.channel, Role.PARTICIPANT)
        a.bridge = b.bridge = bridge
        a.peer, b.peer = b.id, a.id
        log.info("call_bridged", a=a.id, b=b.id, bridge=bridge)

    def _unbridge(self, leg: Leg) -> None:
        if leg.bridge is None:
            return
        bridge = leg.bridge
        peer = self.legs.get(leg.peer or "")
        if leg.channel is not None:
            self.engine.bridge_leave(leg.channel)
        leg.bridge = None
        leg.peer = None
        if peer is None or peer.bridge != bridge:
            # A leg that joined another pair's bridge (a supervisor): the pair talks on;
            # the bridge goes with its last member.
            left = self.engine.mixer.bridges.get(bridge)
            if left is not None and not left.members:
                self.engine.bridge_destroy(bridge)
            return
        if peer.channel is not None:
            self.engine.bridge_leave(peer.channel)
        peer.bridge = None
        peer.peer = None
        self.engine.bridge_destroy(bridge)

    def join_bridge(
        self, leg_id: str, bridge: int, role: Role, *, whisper_to: str | None = None
    ) -> None:
        """Put a leg into an existing bridge with a role (supervisor listen/whisper/barge)."""
        leg = self.leg(leg_id)
        if leg.channel is None:
            raise CallError(f"leg {leg_id} has no media")
        target = self.legs.get(whisper_to or "")
        self.engine.bridge_join(
            bridge, leg.channel, role, whisper_to=target.channel if target is not None else None
        )
        leg.bridge = bridge

    def dial(
        self,
        call_id: str,
        uri: str | SipUri,
        now: float,
        *,
        from_number: str | None = None,
        from_name: str | None = None,
        destination: Destination | None = None,
        ring_timeout: float | None = None,
        on_answer: Callable[[Leg, float], None] | None = None,
        on_failure: Callable[[Leg, int, str, float], None] | None = None,
        extra: list[tuple[str, str]] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> str:
        """Add an outbound leg to ``call``: INVITE ``uri`` with our media offer.

        ``on_answer(leg, now)`` runs when it answers, ``on_failure(leg, status, reason,
        now)`` when it fails (busy, rejected, ring timeout → 408, cancelled → 487).
        """
        call = self.call(call_id)
        leg = Leg(
            "",
            call.id,
            LegKind.OUTBOUND,
            LegState.DIALING,
            created=now,
            remote=str(uri),
            on_answer=on_answer,
            on_failure=on_failure,
        )
        self._open_media(leg)
        sdp = self._make_offer(leg)
        caller = call.caller
        number = from_number or (caller.number if caller else "pbx") or "anonymous"
        name = from_name if from_name is not None else (caller.name if caller else None)
        leg.id = self.endpoint.invite(
            uri,
            now,
            from_user=number,
            from_display=name or None,
            sdp=sdp,
            destination=destination,
            extra=extra,
            credentials=credentials,
        )
        self.legs[leg.id] = leg
        assert leg.channel is not None
        self._by_channel[leg.channel] = leg.id
        call.legs.append(leg.id)
        timeout = self.ring_timeout if ring_timeout is None else ring_timeout
        leg.ring_timeout_at = now + timeout
        self._timers.append((leg.ring_timeout_at, leg.id))
        log.info("call_dial", call=call.id, leg=leg.id, uri=str(uri))
        return leg.id

    _timers: list[tuple[float, str]] = field(init=False, factory=list)
    _media_check_at: float | None = field(init=False, default=None)

    def originate(
        self,
        now: float,
        *,
        number: str = "",
        data: dict[str, Any] | None = None,
        direction: str = "outbound",
    ) -> str:
        """A new call with no legs yet, placed by us (callbacks, the dialer); add legs with
        :meth:`dial`. Its CDR row starts now."""
        call = Call(self._new_id(), "api", direction, now, number=number)
        call.data.update(data or {})
        self.calls[call.id] = call
        self._cdr_open(call, "")
        return call.id

    def get_timer(self) -> float | None:
        """The earliest ring timeout or media check, or None."""
        live = [
            (t, i) for t, i in self._timers if i in self.legs and self.legs[i].ring_timeout_at == t
        ]
        self._timers = live
        ring = min((t for t, _ in live), default=None)
        check = self._media_check_at
        if check is not None and (ring is None or check < ring):
            return check
        return ring

    def handle_timer(self, now: float) -> None:
        """Give up on outbound legs whose ring timeout passed (CANCEL, then 408 upward),
        and end calls whose media stopped (the watchdog)."""
        if self._media_check_at is not None and self._media_check_at <= now:
            self._check_media(now)
        self._ring_timeouts(now)

    def _arm_media_check(self, now: float) -> None:
        if self.media_timeout > 0 and self._media_check_at is None:
            self._media_check_at = now + min(5.0, self.media_timeout / 4)

    def _check_media(self, now: float) -> None:
        """The media watchdog: a zombie call (its BYE lost, its phone gone) ends.

        Every few seconds each answered leg's received packet count (RTP and RTCP) is
        compared with the last look; a leg that should be sending (it did not put the call
        on hold, we did not either, RFC 3264 §8.4) and has sent nothing for
        ``media_timeout`` seconds is hung up with a BYE, and its peer with it.
        """
        self._media_check_at = None
        answered = False
        for leg in list(self.legs.values()):
            stream = leg.stream
            if leg.state is not LegState.ANSWERED or stream is None:
                continue
            answered = True
            seen = stream.packets_received + stream.rtcp_received
            media = leg.media
            expected = not (
                leg.held
                or leg.on_hold_by_us
                or media is None
                or media.direction not in ("sendrecv", "recvonly")
            )
            if seen != leg.media_seen or not expected:
                leg.media_seen = seen
                leg.media_seen_at = now
                continue
            if now - leg.media_seen_at >= self.media_timeout:
                log.info(
                    "call_media_timeout", call=leg.call, leg=leg.id, seconds=self.media_timeout
                )
                leg.end_cause = "media timeout"
                self.hangup(leg.id, now)
        if answered:
            self._arm_media_check(now)

    def _ring_timeouts(self, now: float) -> None:
        for t, leg_id in list(self._timers):
            leg = self.legs.get(leg_id)
            if leg is None or leg.ring_timeout_at != t or t > now:
                continue
            leg.ring_timeout_at = None
            if leg.state in (LegState.DIALING, LegState.EARLY):
                log.info("call_ring_timeout", call=leg.call, leg=leg.id)
                leg.end_cause = "ring timeout"
                callback = leg.on_failure
                leg.on_failure = None
                self._events.append(LegFailed(leg.call, leg.id, 408, "Ring Timeout"))
                self.endpoint.hangup(leg.id, now)
                self._leg_gone(leg, "local", now, failed_status=408)
                if callback is not None:
                    callback(leg, 408, "Ring Timeout", now)

    def hangup(self, leg_id: str, now: float, *, status: int = 480) -> None:
        """End a leg: CANCEL, reject with ``status``, or BYE — whatever its state needs."""
        leg = self.legs.get(leg_id)
        if leg is None:
            return
        self.endpoint.hangup(leg.id, now, status=status)
        if not leg.end_cause:
            leg.end_cause = "hung up by pbx"
        self._leg_gone(
            leg, "local", now, failed_status=status if leg.state is LegState.RINGING else None
        )

    def hangup_call(self, call_id: str, now: float, *, status: int = 480) -> None:
        """End every leg of a call."""
        for leg in self.legs_of(call_id):
            self.hangup(leg.id, now, status=status)

    def hold(self, leg_id: str, now: float, on: bool = True) -> None:
        """Put the party on ``leg_id`` on hold (re-INVITE sendonly, music on hold) or back."""
        leg = self.leg(leg_id)
        if leg.state is not LegState.ANSWERED or leg.on_hold_by_us == on:
            return
        leg.on_hold_by_us = on
        sdp = self._make_offer(leg, "sendonly" if on else "sendrecv")
        self.endpoint.reinvite(leg.id, sdp, now)
        if leg.channel is not None:
            if on:
                self.engine.play(leg.channel, list(self.moh), loop=True)
            else:
                self.engine.stop_playback(leg.channel)

    # ============================================================ B2BUA targets
    def connect_extension(
        self,
        leg_id: str,
        extension: str,
        now: float,
        *,
        ring_timeout: float | None = None,
        on_failure: Callable[[Leg, int, str, float], None] | None = None,
        on_answer: Callable[[Leg, float], None] | None = None,
    ) -> str | None:
        """Ring a registered extension and bridge it with ``leg_id`` when it answers.

        Returns the new leg, or None when the extension has no registered device (the
        caller gets 480 unless ``on_failure`` handles it).
        """
        leg = self.leg(leg_id)
        bindings = self.location.lookup(extension, now) if self.location is not None else []
        if not bindings:
            log.info("call_extension_unavailable", extension=extension)
            if on_failure is not None:
                on_failure(leg, 480, "Not Registered", now)
            else:
                self.hangup(leg.id, now, status=480)
            return None
        binding = bindings[0]
        uri = binding.contact.uri
        assert isinstance(uri, SipUri)
        dest = binding.source
        call = self.call(leg.call)

        def answered(out: Leg, t: float) -> None:
            call.agent = call.agent or extension
            self.bridge_answered(leg.id, out, t)
            if on_answer is not None:
                on_answer(out, t)

        def failed(out: Leg, status: int, reason: str, t: float) -> None:
            if on_failure is not None:
                on_failure(out, status, reason, t)
            else:
                self.fail_caller(leg.id, status, t)

        out_id = self.dial(
            call.id,
            uri,
            now,
            destination=dest,
            ring_timeout=ring_timeout,
            on_answer=answered,
            on_failure=failed,
        )
        out = self.legs[out_id]
        out.peer = leg.id
        leg.peer = out_id
        return out_id

    def connect_trunk(self, leg_id: str, target: Target, now: float) -> None:
        """Place the call over an outbound trunk (configured by the application)."""
        handler = self.handlers.get(f"trunk:{target.name}") or self.handlers.get("trunk")
        if handler is None:
            log.warning("call_trunk_unknown", trunk=target.name)
            self.hangup(leg_id, now, status=503)
            return
        leg = self.leg(leg_id)
        handler(self, self.calls[leg.call], leg, now)

    def bridge_answered(self, in_id: str, out: Leg, now: float) -> None:
        """An outbound leg for caller ``in_id`` answered: answer the caller, bridge both."""
        inbound = self.legs.get(in_id)
        if inbound is None:
            self.hangup(out.id, now)
            return
        if inbound.state is LegState.RINGING:
            self.answer(inbound.id, now)
        self.bridge(inbound.id, out.id, now)
        call = self.calls.get(inbound.call)
        target = call.target if call is not None else None
        if call is not None and target is not None and target.options.get("record"):
            self.record_call(call, inbound, out, now)

    def record_call(self, call: Call, left: Leg, right: Leg, now: float) -> None:
        """Record ``call`` in stereo: what ``left`` says on the left channel, ``right``
        on the right, to ``recordings/YYYYMMDD/<call id>.wav``; the CDR names the file and
        the recording ends with the call."""
        if call.recording_key is not None or left.channel is None or right.channel is None:
            return
        stamp = time.strftime("%Y%m%d", time.gmtime(self.wall(now)))
        path = self.recordings / stamp / f"{call.id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        key = f"rec:{call.id}"
        self.engine.start_recording(key, path, left=left.channel, right=right.channel)
        call.recording = str(path)
        call.recording_key = key

    def fail_caller(self, in_id: str, status: int, now: float) -> None:
        """An outbound leg for caller ``in_id`` failed: tell the caller (486, 480 ...)."""
        inbound = self.legs.get(in_id)
        if inbound is None:
            return
        if inbound.state is LegState.RINGING:
            self.hangup(inbound.id, now, status=FAILURE_MAP.get(status, 480))
        else:
            self.hangup(inbound.id, now)

    # ============================================================ transfer
    def _on_refer(self, leg: Leg, ev: sip.InDialogRequest, now: float) -> None:
        refer_to = ev.request.headers.get("refer-to")
        if not refer_to:
            self.endpoint.respond(ev.transaction, 400, now, reason="Bad Request (no Refer-To)")
            return
        try:
            target = NameAddr.parse(refer_to)
        except SipParseError:
            self.endpoint.respond(ev.transaction, 400, now, reason="Bad Request (Refer-To)")
            return
        replaces = None
        uri = target.uri
        if isinstance(uri, SipUri) and uri.headers:
            for item in uri.headers.split("&"):
                name, _, value = item.partition("=")
                if name.lower() == "replaces":
                    from urllib.parse import unquote

                    replaces = unquote(value)
        self.endpoint.respond(ev.transaction, 202, now)
        leg.refer_tx = ev.transaction
        number = uri.user if isinstance(uri, SipUri) and uri.user else str(uri)
        self._events.append(TransferRequested(leg.call, leg.id, number, replaces))
        self._notify_refer(leg, "100 Trying", now)
        handler = self.handlers.get("transfer")
        if handler is not None:
            handler(self, self.calls[leg.call], leg, now)
        else:
            self.transfer(leg.id, number, now, replaces=replaces)

    def _notify_refer(self, leg: Leg, status_line: str, now: float, final: bool = False) -> None:
        """RFC 3515 §2.4.4: progress of a REFER as message/sipfrag NOTIFYs."""
        if leg.id not in self.endpoint.legs:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        try:
            self.endpoint.request(
                leg.id,
                "NOTIFY",
                now,
                body=f"SIP/2.0 {status_line}\r\n".encode(),
                content_type="message/sipfrag;version=2.0",
                extra=[("Event", "refer"), ("Subscription-State", state)],
            )
        except InvalidStateError:
            pass

    def transfer(
        self, leg_id: str, number: str, now: float, *, replaces: str | None = None
    ) -> None:
        """Transfer the party bridged with ``leg_id`` to ``number`` (blind), or join it with
        the leg of the dialog ``replaces`` names (attended, RFC 3891)."""
        transferor = self.leg(leg_id)
        party = self.legs.get(transferor.peer or "")
        if party is None:
            self._notify_refer(transferor, "503 Service Unavailable", now, final=True)
            return
        call = self.calls[transferor.call]
        call.transferred = True
        if replaces is not None:
            self._attended(transferor, party, replaces, now)
            return

        def answered(out: Leg, t: float) -> None:
            self.bridge(party.id, out.id, t)
            self._notify_refer(transferor, "200 OK", t, final=True)
            if transferor.id in self.legs:
                transferor.end_cause = "transferred"
                self.hangup(transferor.id, t)

        def failed(out: Leg, status: int, reason: str, t: float) -> None:
            self._notify_refer(transferor, f"{status} {reason}", t, final=True)
            # The transferee goes back to the transferor (still bridged).
            if transferor.id in self.legs and party.id in self.legs:
                self.bridge(party.id, transferor.id, t)

        self._unbridge(transferor)
        registered = self.location is not None and self.location.lookup(number, now)
        match = None
        if not registered and not number.startswith("sip:"):
            match = self.dialplan.resolve(origin="user", number=number, caller="", trunk=None)
        if match is not None and match.target.kind not in ("extension", "trunk"):
            # A queue, an IVR, voicemail ...: the transferred party goes there, with the
            # call's attached data; the transferor is released at once.
            self._notify_refer(transferor, "200 OK", now, final=True)
            transferor.end_cause = "transferred"
            self.hangup(transferor.id, now)
            call.owner = match.target.kind
            self.route(call, party, match.target, now)
            return
        if party.channel is not None:
            self.engine.play(party.channel, [ToneItem(tone("ringback"))], loop=True)
        self.connect_extension_or_uri(party, number, now, answered, failed)

    def connect_extension_or_uri(
        self,
        party: Leg,
        number: str,
        now: float,
        answered: Callable[[Leg, float], None],
        failed: Callable[[Leg, int, str, float], None],
    ) -> None:
        """Dial ``number`` (a registered extension or a SIP URI) for ``party``'s call."""
        if number.startswith("sip:"):
            out_id = self.dial(
                party.call, SipUri.parse(number), now, on_answer=answered, on_failure=failed
            )
            self.legs[out_id].peer = party.id
            return
        bindings = self.location.lookup(number, now) if self.location is not None else []
        if not bindings:
            dummy = Leg("", party.call, LegKind.OUTBOUND, LegState.ENDED)
            failed(dummy, 480, "Not Registered", now)
            return
        binding = bindings[0]
        contact = binding.contact.uri
        assert isinstance(contact, SipUri)
        out_id = self.dial(
            party.call,
            contact,
            now,
            destination=binding.source,
            on_answer=answered,
            on_failure=failed,
        )
        self.legs[out_id].peer = party.id

    def _attended(self, transferor: Leg, party: Leg, replaces: str, now: float) -> None:
        call_id, *params = replaces.split(";")
        tags = dict(p.split("=", 1) for p in params if "=" in p)
        # The dialog named is the transferor's consultation call, seen from its side; we
        # hold the other end of it: find our leg in that dialog and its bridged peer.
        consult = None
        for leg in self.legs.values():
            d = self.endpoint.legs.get(leg.id)
            if d is None or d.dialog is None or d.call_id != call_id:
                continue
            if d.dialog.local_tag in (tags.get("to-tag"), tags.get("from-tag")):
                consult = leg
                break
        target = self.legs.get(consult.peer or "") if consult is not None else None
        if consult is None or target is None:
            self._notify_refer(transferor, "481 Call/Transaction Does Not Exist", now, final=True)
            return
        self.bridge(party.id, target.id, now)
        target_call = self.calls.get(target.call)
        if target_call is not None and target.call != party.call:
            # The consultation leg joins the transferred call; attached data follows.
            target_call.legs.remove(target.id)
            target.call = party.call
            self.calls[party.call].legs.append(target.id)
        self._notify_refer(transferor, "200 OK", now, final=True)
        for leg in (transferor, consult):
            leg.end_cause = "transferred"
            self.hangup(leg.id, now)

    # ============================================================ ending
    def _leg_gone(self, leg: Leg, by: str, now: float, failed_status: int | None = None) -> None:
        if leg.state is LegState.ENDED:
            return
        was_answered = leg.state is LegState.ANSWERED
        leg.state = LegState.ENDED
        leg.ended = now
        if leg.hold_started is not None:
            leg.hold_seconds += now - leg.hold_started
            leg.hold_started = None
        peer = self.legs.get(leg.peer or "")
        call_of_leg = self.calls.get(leg.call)
        if call_of_leg is not None and leg.hold_seconds:
            self.record_hold(call_of_leg, leg.hold_seconds)
        self._unbridge(leg)
        self._close_media(leg)
        self._digit_listeners.pop(leg.id, None)
        self._hangup_after_play.pop(leg.id, None)
        self.legs.pop(leg.id, None)
        call = self.calls.get(leg.call)
        self._events.append(LegEnded(leg.call, leg.id, by))
        if call is None:
            return
        if not call.hangup_side and (was_answered or leg.kind is LegKind.INBOUND):
            # Who ended the conversation: the caller, the called party, or the pbx.
            if by != "remote":
                call.hangup_side = "pbx"
            else:
                call.hangup_side = "caller" if leg.kind is LegKind.INBOUND else "callee"
        if failed_status is not None and leg.kind is LegKind.OUTBOUND:
            call.data.setdefault("_last_failure", failed_status)
        if not was_answered and leg.kind is LegKind.INBOUND and call.answered is None:
            if by == "remote":
                call.disposition = call.disposition or "abandoned"
        if leg.kind is LegKind.INBOUND and by == "remote" and call.data.get("_waiting"):
            # Answered only by the pbx (a queue) and hung up while still waiting.
            call.disposition = call.disposition or "abandoned"
        # B2BUA: when a party that was talking (or the caller) goes, its peer goes too.
        # An outbound leg that never answered leaves the caller to its failure handler.
        if peer is not None and peer.state is not LegState.ENDED:
            if peer.peer == leg.id:
                peer.peer = None
            transferred = call.transferred and leg.end_cause == "transferred"
            if (was_answered or leg.kind is LegKind.INBOUND) and not transferred:
                self.hangup(peer.id, now)
        if not self.legs_of(call.id):
            self._finish(call, now)

    def _finish(self, call: Call, now: float) -> None:
        if self.calls.pop(call.id, None) is None:
            return  # already finished (a nested hang-up of its last leg)
        if call.recording_key is not None:
            try:
                self.engine.stop_recording(call.recording_key)
            except PbxError:
                pass
        if not call.disposition:
            if call.transferred:
                call.disposition = "transferred"
            elif call.answered is not None:
                call.disposition = "answered"
            else:
                status = call.data.get("_last_failure")
                call.disposition = {
                    486: "busy",
                    408: "no_answer",
                    480: "no_answer",
                    487: "abandoned",
                }.get(status or 0, "failed")
        call.data.pop("_last_failure", None)
        self._cdr_close(call, now)
        log.info("call_ended", call=call.id, disposition=call.disposition)
        self._events.append(CallEnded(call.id, call.disposition))

    # ============================================================ records
    def _cdr_open(self, call: Call, sip_call_id: str) -> None:
        if self.store is None:
            return
        caller = call.caller
        call.cdr_row = self._store_write(
            call,
            self.store.cdr_insert,
            {
                "call_id": call.id,
                "sip_call_id": sip_call_id,
                "direction": call.direction,
                "trunk": call.trunk,
                "did": call.number,
                "caller": caller.number if caller else None,
                "caller_name": caller.name if caller else None,
                "callee": call.number,
                "start_time": self.wall(call.created),
                "disposition": "in_progress",
                "data": call.data,
            },
        )

    def _cdr_update(self, call: Call, **values: Any) -> None:
        if self.store is not None and call.cdr_row is not None:
            self._store_write(call, self.store.cdr_update, call.cdr_row, values)

    def _store_write(self, call: Call, write: Callable[..., Any], *args: Any) -> Any:
        """Run one store write; a failure is logged and counted, never stops the call."""
        try:
            return write(*args)
        except Exception:
            self.store_errors += 1
            log.exception("cdr_write_failed", call=call.id)
            return None

    def _cdr_close(self, call: Call, now: float) -> None:
        if self.store is None or call.cdr_row is None:
            return
        answered = call.answered
        ring = (answered if answered is not None else now) - call.created
        self._store_write(
            call,
            self.store.cdr_update,
            call.cdr_row,
            {
                "end_time": self.wall(now),
                "ring_seconds": round(ring, 3),
                "talk_seconds": round(now - answered, 3) if answered is not None else 0.0,
                "hold_seconds": round(call.data.pop("_hold_seconds", 0.0), 3),
                "disposition": call.disposition,
                "hangup_side": call.hangup_side or None,
                "hangup_cause": None,
                "agent": call.agent,
                "queue": call.queue,
                "recording": call.recording,
                "data": {k: v for k, v in call.data.items() if not k.startswith("_")},
            },
        )

    def record_hold(self, call: Call, seconds: float) -> None:
        """Add held time to a call's CDR."""
        call.data["_hold_seconds"] = call.data.get("_hold_seconds", 0.0) + seconds


def _dtmf_from_info(content_type: str | None, body: bytes) -> str | None:
    """A digit from SIP INFO: application/dtmf-relay (``Signal=5``) or application/dtmf."""
    if not body or content_type not in ("application/dtmf-relay", "application/dtmf"):
        return None
    text = body.decode("ascii", "replace")
    if content_type == "application/dtmf":
        digit = text.strip()
    else:
        digit = ""
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                digit = value.strip()
    if digit == "10":
        digit = "*"
    elif digit == "11":
        digit = "#"
    if len(digit) == 1 and digit in "0123456789*#ABCDabcd":
        return digit.upper()
    return None
