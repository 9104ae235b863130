"""The call manager: the transaction user of the SIP endpoint and the user of the media engine.

Theory of operation
-------------------
A *call* is what a caller experiences from dialling to hanging up; it has one or more
*legs* (:mod:`pbx.calls.model`) — SIP dialogs the endpoint keeps, each with an RTP
stream and a media-engine channel anchored here (:mod:`pbx.calls.leg_media`), so every
call can be recorded, monitored and mixed. An inbound call's first leg is answered by
us (IVR, echo, prompt, voicemail) or bridged to an outbound leg (B2BUA: extension,
agent, trunk). Media is always anchored: two legs talk through a two-party bridge of the
mixer, never directly.

The manager is sans-I/O: it holds the :class:`~pbx.sip.endpoint.SipEndpoint` and the
:class:`~pbx.media.engine.MediaEngine` (both sans-I/O) and a
:class:`~pbx.calls.model.MediaTransport` that binds RTP ports; the shell feeds it
endpoint events (:meth:`handle_sip`) and media events (:meth:`handle_media`) with
``now``, and drains :meth:`next_event`. Modules (queues, IVR, voicemail, the dialer,
application routes) drive calls through this API: ``answer``, ``play``, ``bridge``,
``dial``, ``connect``, ``hold``, ``transfer``, ``hangup``.

Every outbound leg is placed by :meth:`dial` with a :class:`~pbx.calls.events.Purpose`,
and its outcome comes back as one event carrying it (``LegAnswered``, ``LegFailed``,
``LegEnded``) — also when the dial fails at once (extension not registered, no media
port, unknown trunk). The manager carries out the ``connect`` (B2BUA) and ``transfer``
purposes itself (:mod:`pbx.calls.transfer`); everything else is the dialling module's.
A target the manager does not run itself (queue, IVR, voicemail ...) becomes a
``CallRouted`` event for the module registered for it.

Every call writes one CDR row (:mod:`pbx.calls.records`), inserted ``in_progress`` when
it starts and completed when its last leg ends.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog
from attrs import define, field

from pbx.calls.bridging import Bridges
from pbx.calls.dialplan import Dialplan, Target
from pbx.calls.events import (
    CallEnded,
    CallEvent,
    CallRouted,
    CallStarted,
    HoldChanged,
    LegAnswered,
    LegEnded,
    LegFailed,
    LegRinging,
    PlaybackDone,
    Purpose,
)
from pbx.calls.identity import ANONYMOUS
from pbx.calls.inbound import Refused, admit
from pbx.calls.leg_media import LegMedia
from pbx.calls.messaging import TextMessages
from pbx.calls.model import (
    FAILURE_MAP,
    Call,
    CallError,
    Leg,
    LegKind,
    LegState,
    MediaTransport,
)
from pbx.calls.records import CallRecords, account_leg_end, disposition
from pbx.calls.requests import InDialogRequests, answer_out_of_dialog
from pbx.calls.targets import DialTo, resolve
from pbx.calls.transfer import Transfers
from pbx.calls.watchdog import MediaWatchdog
from pbx.config import TrunkConfig
from pbx.errors import InvalidStateError, PbxError, ResourceExhausted
from pbx.media.amd import AmdParams
from pbx.media.engine import MediaEngine
from pbx.media.mixer import Role
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.sip import events as sip
from pbx.sip.endpoint import SipEndpoint
from pbx.sip.offer_answer import OfferAnswerError
from pbx.sip.registration import Binding, LocationService
from pbx.sip.sdp import SdpParseError
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

TargetHandler = Callable[["CallManager", Call, Leg, float], None]
"""What a module registers for a target kind: ``handler(manager, call, leg, now)``."""

FALLBACK_STATUSES = frozenset({404, 408, 480, 486, 600, 603})
"""Failures of a ``connect`` leg after which a fallback (voicemail) takes the caller:
unreachable, no answer (our ring time-out is 408), busy, declined."""
RUNS_ITSELF = ("echo", "play", "hangup", "extension", "trunk")
"""Target kinds the manager carries out; any other is a :class:`CallRouted` event."""


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
    trunks: Mapping[str, TrunkConfig] = field(factory=dict)
    """The outbound trunks ``trunk`` targets name."""
    ring_timeout: float = 60.0
    inband_dtmf: str = "auto"
    """``[calls] inband_dtmf``: detect DTMF tones in the audio of legs whose peer takes
    no RFC 4733 events (``auto``), of every leg (``always``) or of none (``never``)."""
    media_timeout: float = 60.0
    """Seconds without RTP or RTCP from an answered leg that should be sending before its
    call is ended (0: never); see :meth:`handle_timer`."""
    #: Where :meth:`record_call` puts recordings (``YYYYMMDD/<call id>.wav`` below it).
    recordings: Path = Path("recordings")
    moh: tuple[PlayItem, ...] = (PromptItem("moh"),)
    """What a held party hears (music on hold) unless its call has a music class."""
    music_classes: Mapping[str, tuple[PlayItem, ...]] = field(factory=dict)
    """``[music.CLASS]`` → its files in order (prompts ``music/CLASS/NAME``)."""
    calls: dict[str, Call] = field(init=False, factory=dict)
    legs: dict[str, Leg] = field(init=False, factory=dict)
    media: LegMedia = field(init=False)
    records: CallRecords = field(init=False)
    transfers: Transfers = field(init=False)
    messages: TextMessages = field(init=False)
    """Out-of-dialog MESSAGE requests: routed by the dial plan, relayed to phones and trunks."""
    in_dialog: InDialogRequests = field(init=False)
    _events: deque[CallEvent] = field(init=False, factory=deque)
    _timers: list[tuple[float, str]] = field(init=False, factory=list)
    bridges: Bridges = field(init=False)
    watchdog: MediaWatchdog = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.media = LegMedia(self.engine, self.transport, self.rng, self.inband_dtmf)
        self.records = CallRecords(self.store, self.wall)
        self.transfers = Transfers(self)
        self.messages = TextMessages(self)
        self.in_dialog = InDialogRequests(self)
        self.bridges = Bridges(self.engine, self.legs)
        self.watchdog = MediaWatchdog(self.media_timeout)

    # ============================================================ queries
    def next_event(self) -> CallEvent | None:
        """The next event for the application, or None."""
        return self._events.popleft() if self._events else None

    def emit(self, event: CallEvent) -> None:
        """Queue an event for the application (the manager's parts use this)."""
        self._events.append(event)

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

    def registered(self, extension: str, now: float) -> bool:
        """True when ``extension`` has a registered device to ring."""
        return self._binding(extension, now) is not None

    def uri_at_host(self, number: str) -> SipUri:
        """``sip:number@`` our own host: where a number with no contact of its own is
        called (a callback to a caller who left none)."""
        return SipUri("sip", number, None, self.transport.host)

    def notify_devices(
        self, extension: str, event: str, body: bytes, content_type: str, now: float
    ) -> int:
        """Send an unsolicited NOTIFY (``Event: event``) to every registered device of
        ``extension`` (message-waiting, RFC 3842); returns how many were told."""
        bindings = self.location.lookup(extension, now) if self.location is not None else []
        told = 0
        for binding in bindings:
            uri = binding.contact.uri
            if not isinstance(uri, SipUri):
                continue
            self.endpoint.request(
                None,
                "NOTIFY",
                now,
                body=body,
                content_type=content_type,
                target=uri,
                from_user=extension,
                destination=binding.source,
                extra=[("Event", event), ("Subscription-State", "active")],
            )
            told += 1
        return told

    def has_prompt(self, name: str) -> bool:
        """True when the prompt ``name`` is loaded."""
        return name in self.engine.prompts

    def load_prompt(self, name: str, path: Path) -> float:
        """Load the audio file ``path`` (a voicemail message, a greeting) as the prompt
        ``name``; its length in seconds. :class:`~pbx.media.prompts.PromptError` when the
        file is missing or unreadable."""
        return len(self.engine.prompts.load(name, path)) / 8000

    def forget_prompt(self, name: str) -> None:
        """Unload a prompt loaded by :meth:`load_prompt` once nothing plays it."""
        self.engine.prompts.discard(name)

    @property
    def store_errors(self) -> int:
        """Store writes that failed (logged; the calls went on)."""
        return self.records.errors

    def _binding(self, extension: str, now: float) -> Binding | None:
        bindings = self.location.lookup(extension, now) if self.location is not None else []
        return bindings[0] if bindings else None

    def _new_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    # ============================================================ SIP events
    def handle_sip(self, event: sip.EndpointEvent, now: float) -> None:
        """Act on one endpoint event."""
        if isinstance(event, sip.IncomingCall):
            self._on_incoming(event, now)
            return
        if isinstance(event, sip.IncomingRequest):
            if event.request.method == "MESSAGE":
                self.messages.on_message(event, now)
            else:
                answer_out_of_dialog(self.endpoint, event, now)
            return
        if isinstance(event, sip.RequestAnswered | sip.RequestFailed) and self.messages.owns(
            event.handle
        ):
            self.messages.on_answer(event, now)
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
            self._on_confirmed(leg, event.sdp)
        elif isinstance(event, sip.CallFailed):
            self._on_failed(leg, event.status, event.reason, now)
        elif isinstance(event, sip.CallCancelled):
            leg.end_cause = "caller cancelled"
            self._leg_gone(leg, "remote", now)
        elif isinstance(event, sip.DialogEnded):
            leg.end_cause = event.reason
            self._leg_gone(leg, event.by, now)
        elif isinstance(event, sip.InDialogRequest):
            self.in_dialog.handle(leg, event, now)
        elif isinstance(event, sip.ReinviteAnswered):
            self._on_reinvite_answered(leg, event)

    def _on_incoming(self, ev: sip.IncomingCall, now: float) -> None:
        call = admit(ev, self.dialplan, self._new_id, now)
        if isinstance(call, Refused):
            self.endpoint.reject(ev.leg, call.status, now, reason=call.reason)
            if call.call is not None:
                self.records.refused(call.call, ev.call_id, call.status, now)
            return
        caller = call.caller
        leg = Leg(
            ev.leg,
            call.id,
            LegKind.INBOUND,
            LegState.RINGING,
            identity=caller,
            remote=caller.number if caller else "",
            created=now,
        )
        try:
            self.media.open(leg)
        except PbxError as exc:
            log.warning("call_no_media_port", error=str(exc))
            retry = (
                [("Retry-After", str(exc.retry_after))]
                if isinstance(exc, ResourceExhausted)
                else None
            )
            # No row: under overload the store must not take a write per refused call.
            self.endpoint.reject(ev.leg, 503, now, extra=retry)
            return
        if ev.sdp is not None:
            try:
                self.media.answer(leg, ev.sdp)
            except OfferAnswerError as exc:
                self.media.close(leg)
                self.endpoint.reject(ev.leg, exc.status_hint, now, reason=None)
                self.records.refused(call, ev.call_id, exc.status_hint, now)
                log.info("call_rejected_sdp", reason=str(exc))
                return
        self.calls[call.id] = call
        self.legs[leg.id] = leg
        call.legs.append(leg.id)
        self.records.open(call, ev.call_id)
        target = call.target
        assert target is not None and caller is not None
        log.info(
            "call_started",
            call=call.id,
            number=call.number,
            origin=call.origin,
            caller=caller.number,
            target=target.kind,
        )
        self._events.append(CallStarted(call.id, leg.id, target, call.number, caller, call.origin))
        self.route(call, leg, target, now)

    def route(self, call: Call, leg: Leg, target: Target, now: float) -> None:
        """Send ``call`` (its leg ``leg``) to ``target``: the dial plan does this for new
        calls; modules do it to pass a call on (queue overflow, IVR choices). A kind the
        manager does not run itself becomes a :class:`CallRouted` event."""
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
            extension = target.name or call.number
            ring = target.options.get("ring_timeout")
            self.connect(
                leg.id,
                Target("extension", extension),
                now,
                agent=extension,
                ring_timeout=float(ring) if ring else None,
                fallback=f"voicemail:{extension}" if target.options.get("voicemail") else None,
            )
        elif kind == "trunk":
            call.direction = "outbound"
            self.connect(leg.id, target, now)
        else:
            self._events.append(CallRouted(call.id, leg.id, target))

    def _on_progress(self, leg: Leg, ev: sip.CallProgress, now: float) -> None:
        if leg.state is LegState.DIALING:
            leg.state = LegState.EARLY
            self._events.append(LegRinging(leg.call, leg.id, leg.purpose))
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
                self.media.accept(leg, sdp)
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
        self.watchdog.arm(now)
        self._events.append(LegAnswered(leg.call, leg.id, leg.purpose))
        purpose = leg.purpose
        if purpose is not None and purpose.kind == "connect":
            self._connect_answered(leg, purpose, now)
        elif purpose is not None and purpose.kind == "transfer":
            self.transfers.answered(leg, purpose, now)

    def _on_confirmed(self, leg: Leg, sdp: bytes | None) -> None:
        if sdp is not None and leg.offer is not None:
            # Late offer: the ACK carries the answer to the offer in our 200 OK.
            try:
                self.media.accept(leg, sdp)
            except (SdpParseError, OfferAnswerError) as exc:
                log.info("call_bad_answer", leg=leg.id, reason=str(exc))
            leg.offer = None

    def _on_failed(self, leg: Leg, status: int, reason: str, now: float) -> None:
        leg.end_cause = f"{status} {reason}"
        self._events.append(LegFailed(leg.call, leg.id, status, reason, leg.purpose))
        self._leg_gone(leg, "remote", now, failed_status=status)
        self._failed(leg.purpose, status, reason, now)

    def _failed(self, purpose: Purpose | None, status: int, reason: str, now: float) -> None:
        """Carry out the failure of a leg placed for a purpose the manager owns."""
        if purpose is None:
            return
        if purpose.kind == "connect" and purpose.peer is not None:
            if purpose.fallback and status in FALLBACK_STATUSES:
                caller = self.legs.get(purpose.peer)
                call = self.calls.get(caller.call) if caller is not None else None
                if caller is not None and call is not None and caller.state is LegState.RINGING:
                    kind, _, name = purpose.fallback.partition(":")
                    log.info("call_fallback", call=call.id, status=status, to=purpose.fallback)
                    self.route(call, caller, Target(kind, name), now)
                    return
            self.fail_caller(purpose.peer, status, now)
        elif purpose.kind == "transfer":
            self.transfers.failed(purpose, status, reason, now)

    def _on_reinvite_answered(self, leg: Leg, ev: sip.ReinviteAnswered) -> None:
        if ev.status < 300 and ev.sdp is not None and leg.offer is not None:
            try:
                self.media.accept(leg, ev.sdp)
            except (SdpParseError, OfferAnswerError) as exc:
                log.info("call_bad_answer", leg=leg.id, reason=str(exc))
        leg.offer = None

    # ============================================================ media events
    def handle_media(self, event: object, now: float) -> None:
        """Act on one media-engine event: it becomes the call event of its leg."""
        for call_event in self.media.call_events(event, self.legs, self.calls.values()):
            self._events.append(call_event)
            if isinstance(call_event, PlaybackDone) and call_event.completed:
                leg = self.legs.get(call_event.leg)
                if leg is not None and leg.hangup_after_play:
                    self.hangup(leg.id, now)

    # ============================================================ operations
    def answer(self, leg_id: str, now: float) -> None:
        """Answer an inbound leg (200 OK with our SDP; an offer if the INVITE had none)."""
        leg = self.leg(leg_id)
        if leg.kind is not LegKind.INBOUND or leg.state is not LegState.RINGING:
            return
        if leg.channel is not None:
            self.engine.stop_playback(leg.channel)
        sdp = leg.local_sdp if leg.media is not None else self.media.offer(leg)
        self.endpoint.answer(leg.id, sdp, now)
        leg.state = LegState.ANSWERED
        leg.answered = now
        leg.media_seen_at = now
        self.watchdog.arm(now)
        call = self.calls[leg.call]
        self.mark_answered(call, now)
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
            leg.hangup_after_play = True

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

    def detect_machine(self, leg_id: str, params: AmdParams | None = None) -> None:
        """Run answering-machine detection on the answered leg: ``AnsweringMachine``,
        then for a machine ``MachineGreetingEnded``."""
        leg = self.leg(leg_id)
        if leg.channel is None:
            raise CallError(f"leg {leg_id} has no media")
        self.engine.detect_amd(leg.channel, True, params)

    def send_dtmf(self, leg_id: str, digits: str) -> None:
        """Send ``digits`` to the party on ``leg_id`` as RFC 4733 events, one after another."""
        leg = self.leg(leg_id)
        if leg.channel is None:
            raise CallError(f"leg {leg_id} has no media")
        for digit in digits:
            self.engine.send_dtmf(leg.channel, digit)

    def pause_recording(self, call_id: str, paused: bool = True) -> bool:
        """Pause (silence) or resume the call's recording, e.g. while a card number is
        read out; False when the call is not being recorded."""
        call = self.call(call_id)
        key = call.recording_key
        if key is None:
            return False
        call.recording_paused = paused
        if paused:
            self.engine.pause_recording(key)
        else:
            self.engine.resume_recording(key)
        return True

    def record_leg(self, leg_id: str, key: str, path: Path) -> None:
        """Record what the party on ``leg_id`` says (mono) to ``path`` under ``key``."""
        leg = self.leg(leg_id)
        if leg.channel is None:
            raise CallError(f"leg {leg_id} has no media")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine.start_recording(key, path, mono=[leg.channel])

    def record_also(self, key: str, leg_id: str, *, silent: bool | None = None) -> None:
        """Mix what the party on ``leg_id`` says into the mono recording ``key`` from now
        on (``silent`` None), or record it as silence (True) or again (False)."""
        leg = self.leg(leg_id)
        if leg.channel is None:
            raise CallError(f"leg {leg_id} has no media")
        if silent is None:
            self.engine.recording_add(key, leg.channel)
        else:
            self.engine.recording_silence(key, leg.channel, silent)

    def stop_recording(self, key: str) -> None:
        """Finish the recording ``key`` (its file is complete and readable)."""
        self.engine.stop_recording(key)

    def bridge(self, a_id: str, b_id: str, now: float) -> None:
        """Connect the media of two answered legs both ways (a two-party bridge)."""
        self.bridges.bridge(self.leg(a_id), self.leg(b_id))

    def unbridge(self, leg_id: str) -> None:
        """Take a leg (and its two-party peer) out of its bridge."""
        self.bridges.unbridge(self.leg(leg_id))

    def new_bridge(self) -> int:
        """An empty bridge of the mixer (a conference room's), joined with
        :meth:`join_bridge`; it goes with its last member."""
        return self.engine.bridge_create()

    def mute(self, leg_id: str, muted: bool = True) -> None:
        """Mute the party on ``leg_id`` in its bridge (heard by nobody, still hears)."""
        leg = self.leg(leg_id)
        if leg.channel is None or leg.bridge is None:
            raise CallError(f"leg {leg_id} is in no bridge")
        self.engine.bridge_mute(leg.channel, muted)

    def join_bridge(
        self, leg_id: str, bridge: int, role: Role, *, whisper_to: str | None = None
    ) -> None:
        """Put a leg into an existing bridge with a role (supervisor listen/whisper/barge)."""
        self.bridges.join(self.leg(leg_id), bridge, role, self.legs.get(whisper_to or ""))

    def set_role(self, leg_id: str, role: Role, *, whisper_to: str | None = None) -> None:
        """Change the role of a leg in the bridge it joined (listen, whisper, barge)."""
        self.bridges.set_role(self.leg(leg_id), role, self.legs.get(whisper_to or ""))

    def music(self, music_class: str) -> list[PlayItem]:
        """The hold music of ``music_class`` (the ``moh`` prompt for ``default`` or an
        unknown class). Playing it again on a channel resumes where it stopped."""
        return list(self.music_classes.get(music_class) or self.moh)

    def hold(self, leg_id: str, now: float, on: bool = True) -> None:
        """Put the party on ``leg_id`` on hold (re-INVITE sendonly, music on hold) or back."""
        leg = self.leg(leg_id)
        if leg.state is not LegState.ANSWERED or leg.on_hold_by_us == on:
            return
        leg.on_hold_by_us = on
        sdp = self.media.offer(leg, "sendonly" if on else "sendrecv")
        self.endpoint.reinvite(leg.id, sdp, now)
        if leg.channel is not None:
            if on:
                call = self.calls.get(leg.call)
                music = self.music(call.music_class if call is not None else "")
                self.engine.play(leg.channel, music, loop=True)
            else:
                self.engine.stop_playback(leg.channel)
            # The held party hears the music only, never the other side talking.
            self.engine.bridge_deafen(leg.channel, on)
        self.emit(HoldChanged(leg.call, leg.id, on, "pbx"))

    def transfer(
        self, leg_id: str, number: str, now: float, *, replaces: str | None = None
    ) -> None:
        """Transfer the party bridged with ``leg_id`` to ``number`` (blind), or join it with
        the leg of the dialog ``replaces`` names (attended, RFC 3891)."""
        self.transfers.transfer(leg_id, number, now, replaces=replaces)

    # ============================================================ placing legs
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
        self.records.open(call, "")
        return call.id

    def dial(
        self,
        call_id: str,
        to: DialTo,
        now: float,
        *,
        purpose: Purpose,
        from_number: str | None = None,
        from_name: str | None = None,
        destination: Destination | None = None,
        ring_timeout: float | None = None,
        extra: list[tuple[str, str]] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> str:
        """Add an outbound leg to ``call``: INVITE ``to`` with our media offer.

        Returns the leg's id. Its outcome is an event carrying ``purpose``:
        ``LegAnswered``, or ``LegFailed`` (busy, rejected, ring timeout → 408) and then
        ``LegEnded``. A dial that cannot be placed — the extension has no registered
        device (480), no RTP port is free or the trunk is unknown (503), the URI does
        not parse (400) — gives ``LegFailed`` at once, for a leg that never existed.
        """
        call = self.call(call_id)
        route = resolve(to, call.number, self.trunks, lambda ext: self._binding(ext, now))
        if isinstance(route, tuple):
            return self._failed_at_once(call, purpose, *route, now)
        if isinstance(to, Target) and to.kind == "trunk" and call.trunk is None:
            call.trunk = to.name  # an outbound call's record names the trunk it went out on
        leg = Leg("", call.id, LegKind.OUTBOUND, LegState.DIALING, created=now, purpose=purpose)
        leg.remote = str(route.uri)
        try:
            self.media.open(leg)
        except PbxError as exc:
            log.warning("call_no_media_port", call=call.id, error=str(exc))
            return self._failed_at_once(call, purpose, 503, "No Media Port", now)
        if route.webrtc and not self.media.to_browser(leg):
            self.media.close(leg)
            return self._failed_at_once(call, purpose, 488, "No WebRTC Media", now)
        caller = call.caller.presented if call.caller is not None else None
        number = from_number or route.from_number or (caller.number if caller else "pbx")
        name = from_name if from_name is not None else (caller.name if caller else None)
        if caller is not None and caller.privacy and number == ANONYMOUS:
            # RFC 3323 §4.2: the next hop learns the identity is withheld on purpose.
            extra = [*(extra or []), ("Privacy", "id")]
        leg.id = self.endpoint.invite(
            route.uri,
            now,
            from_user=number or "anonymous",
            from_display=name or None,
            sdp=self.media.offer(leg),
            destination=destination or route.destination,
            extra=extra,
            credentials=credentials or route.credentials,
        )
        self.legs[leg.id] = leg
        self.media.adopt(leg)
        call.legs.append(leg.id)
        if purpose.peer is not None:
            leg.peer = purpose.peer
        timeout = self.ring_timeout if ring_timeout is None else ring_timeout
        leg.ring_timeout_at = now + timeout
        self._timers.append((leg.ring_timeout_at, leg.id))
        log.info("call_dial", call=call.id, leg=leg.id, uri=leg.remote, purpose=purpose.kind)
        return leg.id

    def connect(
        self,
        leg_id: str,
        to: DialTo,
        now: float,
        *,
        agent: str | None = None,
        ring_timeout: float | None = None,
        extra: list[tuple[str, str]] | None = None,
        fallback: str | None = None,
    ) -> str:
        """Ring ``to`` for the party on ``leg_id`` and bridge the two when it answers
        (answering the party first if it still rings); when it fails the party is told
        (486, 480 ...), or, with ``fallback`` (``voicemail:BOX``), sent there when it was
        not answered, busy or unreachable. ``agent`` names whose phone it rings, for the
        CDR."""
        leg = self.leg(leg_id)
        out = self.dial(
            leg.call,
            to,
            now,
            purpose=Purpose("connect", peer=leg.id, agent=agent, fallback=fallback),
            ring_timeout=ring_timeout,
            extra=extra,
        )
        if out in self.legs:
            leg.peer = out
        return out

    def _failed_at_once(
        self, call: Call, purpose: Purpose, status: int, reason: str, now: float
    ) -> str:
        leg_id = self._new_id()
        self._events.append(LegFailed(call.id, leg_id, status, reason, purpose))
        self._failed(purpose, status, reason, now)
        return leg_id

    def mark_answered(self, call: Call, now: float) -> None:
        """``call`` is answered from ``now`` on (its CDR's answer time), unless it was
        already: an inbound call when we answer it, one we placed (``origin`` ``api``)
        when the party it was placed for answers."""
        if call.answered is None:
            call.answered = now
            self.records.update(call, answer_time=self.wall(now))

    def _connect_answered(self, out: Leg, purpose: Purpose, now: float) -> None:
        call = self.calls.get(out.call)
        if call is not None and purpose.agent:
            call.agent = call.agent or purpose.agent
        if call is not None and call.origin == "api":
            self.mark_answered(call, now)  # click-to-call: the far end answered
        if purpose.peer is not None:
            self.bridge_answered(purpose.peer, out, now)

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

    # ============================================================ deadlines
    def get_timer(self) -> float | None:
        """The earliest ring timeout or media check, or None."""
        live = [
            (t, i) for t, i in self._timers if i in self.legs and self.legs[i].ring_timeout_at == t
        ]
        self._timers = live
        ring = min((t for t, _ in live), default=None)
        check = self.watchdog.deadline
        if check is not None and (ring is None or check < ring):
            return check
        return ring

    def handle_timer(self, now: float) -> None:
        """Give up on outbound legs whose ring timeout passed (CANCEL, then 408 upward),
        and end calls whose media stopped (the watchdog)."""
        check = self.watchdog.deadline
        if check is not None and check <= now:
            self._check_media(now)
        self._ring_timeouts(now)

    def _check_media(self, now: float) -> None:
        for leg in self.watchdog.silent(list(self.legs.values()), now):
            log.info("call_media_timeout", call=leg.call, leg=leg.id, seconds=self.media_timeout)
            leg.end_cause = "media timeout"
            self.hangup(leg.id, now)

    def _ring_timeouts(self, now: float) -> None:
        for t, leg_id in list(self._timers):
            leg = self.legs.get(leg_id)
            if leg is None or leg.ring_timeout_at != t or t > now:
                continue
            leg.ring_timeout_at = None
            if leg.state in (LegState.DIALING, LegState.EARLY):
                log.info("call_ring_timeout", call=leg.call, leg=leg.id)
                leg.end_cause = "ring timeout"
                self._events.append(LegFailed(leg.call, leg.id, 408, "Ring Timeout", leg.purpose))
                self.endpoint.hangup(leg.id, now)
                self._leg_gone(leg, "local", now, failed_status=408)
                self._failed(leg.purpose, 408, "Ring Timeout", now)

    # ============================================================ ending
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
        call = self.calls.get(leg.call)
        if call is not None:
            call.hold_seconds += leg.hold_seconds
        self.bridges.unbridge(leg)
        self.media.close(leg)
        self.legs.pop(leg.id, None)
        self._events.append(LegEnded(leg.call, leg.id, by, leg.purpose))
        if call is None:
            return
        account_leg_end(call, leg, by, was_answered, failed_status)
        # B2BUA: when a party that was talking (or the caller) goes, its peer goes too.
        # An outbound leg that never answered leaves the caller to its failure handling.
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
        call.disposition = disposition(call)
        self.records.close(call, now)
        log.info("call_ended", call=call.id, disposition=call.disposition)
        self._events.append(CallEnded(call.id, call.disposition))
