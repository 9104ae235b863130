"""The simulated caller: a call arriving over the carrier trunk.

Theory of operation
-------------------
A :class:`SimCall` is a :class:`~pbx.testing.phone.SimPhone` that sends one INVITE from
its own port of 127.0.0.1 — a source the pbx does not know as a registered user, so the
call comes from the trunk and the Request-URI user is the DID — with a G.711 offer
(PCMU, PCMA, telephone-event; RFC 3264 §5). It follows the INVITE client side: 180/183
make it *ringing* (a 183 answer starts early media, RFC 3261 §13.2.1), 200 *answered*
(the answer is applied to the RTP stream, RFC 3264 §7), a final failure *failed* with
its status, BYE from either side *ended*. Inside the call it answers what a phone
answers: re-INVITEs (hold, resume) with an SDP answer, INFO/NOTIFY with 200.

After its call ended, the caller's phone keeps listening on the same port, as a
customer's phone does: when the pbx calls back the SIP contact of the original INVITE
(a callback that kept the caller's place in a queue, or one requested in the IVR), it
rings and, with ``accept_callbacks`` on, answers at once (RFC 3264 §6 answer to the
pbx's offer). The call goes on as *answered* on the new leg, with the same audio and
the same heard timeline; :meth:`SimCall.wait_called_back` waits for it. A second INVITE
while a call is up gets 486.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from pbx.calls.identity import caller_identity
from pbx.sip import events as sip
from pbx.sip.offer_answer import (
    DEFAULT_CODECS,
    PCMA,
    PCMU,
    OfferAnswerError,
    accept_answer,
    build_offer,
)
from pbx.sip.sdp import SdpParseError, SessionDescription
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri
from pbx.testing.agent import Incoming
from pbx.testing.audio import Audio
from pbx.testing.errors import SimulationError, failure_status
from pbx.testing.phone import DTMF_MODES, HOST, SimPhone

if TYPE_CHECKING:
    from pbx.testing.harness import Harness

log = structlog.get_logger(__name__)


class SimCall(SimPhone):
    """A caller dialling a DID over the carrier trunk (``Harness.call``)."""

    def __init__(
        self,
        harness: Harness,
        did: str,
        *,
        caller_id: str = "5551234",
        name: str | None = None,
        audio: Audio = None,
        dtmf_mode: str = "rfc4733",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(harness, audio)
        if dtmf_mode not in DTMF_MODES:
            raise SimulationError(f"unknown DTMF mode {dtmf_mode!r} (use {', '.join(DTMF_MODES)})")
        self.did = did
        self.caller_id = caller_id
        self.name = name
        self.dtmf_mode = dtmf_mode
        self.headers = list(headers or [])
        self.label = f"call to {did}"
        self.state = "new"
        """``calling``, ``ringing`` (180/183 received), ``answered``, ``ended`` or ``failed``."""
        self.status: int | None = None
        """The final SIP status: 200 when answered, else the failure (404, 486 ...)."""
        self.reason = ""
        self.provisional: list[int] = []
        """Provisional statuses received (180, 183)."""
        self.ended_by: str | None = None
        """``pbx`` when the pbx hung up, ``caller`` when we did."""
        self.sip_call_id = ""
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self._offer: SessionDescription | None = None
        self._abandon: object | None = None
        self.accept_callbacks = True
        """Answer the pbx's INVITEs that arrive after our call ended (callbacks)."""
        self.callbacks: list[Incoming] = []
        """INVITEs the pbx sent to this phone (callbacks), in order."""
        self._callbacks_seen = 0

    def _dial(self) -> None:
        now = self.harness.now()
        self.stream = self._new_stream()
        # A phone that sends its keys as tones offers no telephone-event (RFC 4733).
        codecs = (PCMU, PCMA) if self.dtmf_mode == "inband" else DEFAULT_CODECS
        offer = build_offer(
            self._local_media(),
            codecs,
            session_id=self._session_id,
            session_version=self._next_version(),
        )
        self._offer = offer
        target = SipUri("sip", self.did, None, HOST, self.harness.app.port)
        self.leg = self.endpoint.invite(
            target,
            now,
            from_user=self.caller_id,
            from_display=self.name,
            sdp=bytes(offer),
            destination=Destination("UDP", HOST, self.harness.app.port),
            extra=self.headers or None,
        )
        self.sip_call_id = self.endpoint.leg(self.leg).call_id
        self.state = "calling"
        self.sip.flush()

    # ------------------------------------------------------------------ SIP
    def on_sip(self, event: sip.EndpointEvent, now: float) -> None:
        if isinstance(event, sip.CallProgress):
            self.provisional.append(event.status)
            if self.state == "calling" and event.status in (180, 183):
                self.state = "ringing"
            if event.sdp is not None:
                self._take_answer(event.sdp)
                self._sending = True  # early media: RFC 3261 §13.2.1 lets us send too
        elif isinstance(event, sip.CallAnswered):
            if event.sdp is not None:
                self._take_answer(event.sdp)
            self.state = "answered"
            self.status = 200
            self.answered_at = now
            self._sending = True
        elif isinstance(event, sip.CallFailed):
            self.state = "failed"
            self.status = event.status
            self.reason = event.reason
            self.ended_at = now
            self._sending = False
        elif isinstance(event, sip.DialogEnded):
            self.state = "ended"
            self.ended_by = "pbx" if event.by == "remote" else "caller"
            self.ended_at = now
            self._sending = False
        elif isinstance(event, sip.InDialogRequest):
            self._answer_in_dialog(event, now)
        elif isinstance(event, (sip.RequestAnswered, sip.RequestFailed)):
            self._on_request_answered(event)
        elif isinstance(event, sip.IncomingCall):
            self._on_callback(event, now)

    def _on_callback(self, event: sip.IncomingCall, now: float) -> None:
        identity = caller_identity(event.request)
        self.callbacks.append(Incoming(identity.number, identity.name, event.request, now))
        if not self.ended or not self.accept_callbacks:
            self.endpoint.reject(event.leg, 486, now)
            return
        stream = self._new_stream()
        previous = self.stream
        self.stream = stream
        try:
            sdp = self._sdp_answer(event.sdp)
        except (SdpParseError, OfferAnswerError) as exc:
            self.stream = previous
            self.endpoint.reject(event.leg, 488, now)
            log.warning("sim_call_bad_callback_offer", did=self.did, reason=str(exc))
            return
        self.endpoint.answer(event.leg, sdp, now)
        self.leg = event.leg
        self.sip_call_id = event.call_id
        self._offer = None
        self.state = "answered"
        self.status = 200
        self.ended_by = None
        self.answered_at = now
        self.ended_at = None
        self._sending = True

    def _take_answer(self, sdp: bytes) -> None:
        if self._offer is None:
            return
        try:
            self._apply(accept_answer(self._offer, SessionDescription.parse(sdp)))
        except (SdpParseError, OfferAnswerError) as exc:
            log.warning("sim_call_bad_answer", did=self.did, reason=str(exc))

    # ------------------------------------------------------------------ waits
    @property
    def answered(self) -> bool:
        """True once the pbx answered (and until the call ends)."""
        return self.state == "answered"

    @property
    def ended(self) -> bool:
        """True once the call is over (hung up by either side, or failed)."""
        return self.state in ("ended", "failed")

    def wait_ringing(self, timeout: float | None = None) -> None:
        """Wait for 180 Ringing or 183 Session Progress (passes if already answered)."""
        self.harness.wait_for(
            lambda: self.state in ("ringing", "answered") or bool(self.provisional),
            self._timeout(timeout),
            f"{self.describe()} to ring",
            self.describe_state,
        )

    def wait_answered(self, timeout: float | None = None) -> None:
        """Wait until the pbx answers (200 OK)."""
        self.harness.wait_for(
            lambda: self.state == "answered" or self.ended,
            self._timeout(timeout),
            f"{self.describe()} to be answered",
            self.describe_state,
        )
        if self.state != "answered" and not (self.state == "ended" and self.status == 200):
            raise SimulationError(f"{self.describe()} was not answered: {self.describe_state()}")

    def wait_ended(self, timeout: float | None = None) -> None:
        """Wait until the call is over (BYE from the pbx, our hang-up, or a failure)."""
        self.harness.wait_for(
            lambda: self.ended,
            self._timeout(timeout),
            f"{self.describe()} to end",
            self.describe_state,
        )

    def wait_failed(self, status: int | None = None, timeout: float | None = None) -> int:
        """Wait for a final failure response; check it is ``status`` when given."""
        self.wait_ended(timeout)
        return failure_status(self, status)

    # ------------------------------------------------------------------ actions
    def wait_called_back(self, timeout: float | None = None) -> Incoming:
        """Wait until the pbx called this phone back (after our call ended) and we
        answered; return the callback's INVITE. The call is *answered* again."""
        seen = self._callbacks_seen
        self.harness.wait_for(
            lambda: len(self.callbacks) > seen and self.state == "answered",
            self._timeout(timeout),
            f"the pbx to call back {self.caller_id} ({self.describe()})",
            self.describe_state,
        )
        self._callbacks_seen = seen + 1
        return self.callbacks[seen]

    def hang_up(self, timeout: float | None = None) -> None:
        """Hang up — BYE when answered, CANCEL while ringing — and wait until it ended."""
        self._hang_up_now()
        self.wait_ended(timeout)

    def _hang_up_now(self) -> None:
        if self.ended or self.leg is None:
            return
        if self.leg not in self.endpoint.legs:
            return
        self.ended_by = self.ended_by or "caller"
        self.endpoint.hangup(self.leg, self.harness.now())
        self.sip.flush()
        if self.leg not in self.endpoint.legs and not self.ended:
            # Hung up before any response: nothing more will come for this leg.
            self.state = "ended"
            self.ended_at = self.harness.now()
            self.harness.poke()

    def abandon_after(self, seconds: float) -> None:
        """Hang up ``seconds`` from now unless the call ended before (does not block)."""
        self._abandon = self.harness.call_later(seconds, self._hang_up_now)

    def cdr(self, timeout: float | None = None) -> dict[str, Any]:
        """This call's CDR row once final (waits for the pbx to close it)."""
        return self.harness.wait_for_cdr(self.sip_call_id, timeout)

    @property
    def call_id(self) -> str | None:
        """The pbx's id of this call (``CallStarted.call``), once the pbx routed it."""
        return self.harness.pbx_call_id(self.sip_call_id)

    def describe_state(self) -> str:
        if self.state == "failed":
            return f"it failed with {self.status} {self.reason}"
        if self.state == "ended":
            return f"it ended (hung up by {self.ended_by or 'pbx'})"
        if self.state == "ringing":
            return f"it is ringing ({', '.join(map(str, self.provisional))} received)"
        if self.state == "calling":
            return "no final answer yet"
        return f"it is {self.state}"
