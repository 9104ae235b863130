"""What the call layer keeps: calls, their legs, and the errors of call operations.

A *call* is what a caller experiences from dialling to hanging up; it has one or more
*legs* — SIP dialogs the endpoint keeps, each with an RTP stream and a media-engine
channel anchored here. Everything the layer needs to remember about a call is a typed
attribute of :class:`Call` or :class:`Leg`; ``Call.data`` is the customer's data only
(what the IVR, lookups, agents and the embedder attach), never internal bookkeeping.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from attrs import define, field

from pbx.calls.dialplan import Target
from pbx.calls.events import Purpose
from pbx.calls.identity import CallerIdentity
from pbx.errors import PbxError
from pbx.rtp.stream import RtpStream
from pbx.sip.offer_answer import NegotiatedMedia
from pbx.sip.sdp import SessionDescription
from pbx.sip.webrtc_sdp import WebRtcLocal

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
    purpose: Purpose | None = None
    """Why an outbound leg was dialled; its outcome events carry it."""
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
    hangup_after_play: bool = False
    """Hang the leg up when what it hears now has played to its end."""
    end_cause: str = ""
    refer_tx: str | None = None
    dtmf_inband: bool = False
    webrtc: WebRtcLocal | None = None
    """A browser's leg: ICE, DTLS-SRTP and rtcp-mux around the same payload (its offers
    and answers are WebRTC ones, :mod:`pbx.sip.webrtc_sdp`)."""
    webrtc_started: bool = False
    """The shell runs ICE and DTLS for the leg (after the first complete exchange)."""
    webrtc_dtls_client: bool = False
    """pbx starts the DTLS handshake (``a=setup:active``): kept in re-offers."""


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
    contact: str | None = None
    """The caller's Contact URI: where a callback reaches them over a SIP trunk."""
    waiting: str | None = None
    """The queue the caller waits in (answered by the pbx, no agent yet): hanging up now
    is abandoning."""
    last_failure: int | None = None
    """The SIP status of the first outbound leg that failed (busy, no answer ...)."""
    hold_seconds: float = 0.0
    """Time a party of the call spent on hold, for the CDR."""
    cdr_row: int | None = None
    answered: float | None = None
    agent: str | None = None
    queue: str | None = None
    recording: str | None = None
    recording_key: str | None = None
    recording_paused: bool = False
    """The recording records silence for now (a card number being read)."""
    disposition: str = ""
    hangup_side: str = ""
    hangup_cause: str = ""
    """Why the call ended: the end cause of the leg that ended it (``bye``, ``bye; Q.850;
    cause=16`` with an RFC 3326 Reason, ``486 Busy Here``, ``ring timeout`` ...)."""
    transferred: bool = False
    music_class: str = "default"
    """What the caller hears on hold: a ``[music.CLASS]`` (the queue's ``music_class``
    once it joined one)."""


class CallError(PbxError):
    """A call operation could not be done (unknown call or leg, wrong state)."""
