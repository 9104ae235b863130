"""The simulated agent phone: a softphone that registers an extension and takes calls.

Theory of operation
-------------------
A :class:`SimAgent` is a :class:`~pbx.testing.phone.SimPhone` that registers its
extension at the pbx's registrar (RFC 3261 §10, answering the 401 digest challenge with
the extension's password, RFC 2617/7616) and then behaves as a one-line phone: an INVITE
rings it (180), it answers after ``answer_after`` seconds when ``auto_answer`` is on (200
with its SDP answer, RFC 3264 §6), refuses with ``reject_with`` when that is set, and
refuses a second call while busy with 486. Each call gets a new RTP stream on the phone's
one port pair. ``transfer`` sends a blind REFER (RFC 3515) with ``Refer-To`` the target
and answers the pbx's NOTIFYs about it.

The phone also places calls (:meth:`SimAgent.dial` → :class:`AgentCall`) from the same
SIP port and address it registered, as a desk phone does: the pbx knows it as the
extension's device, challenges the INVITE with 401 (RFC 3261 §22.2) and the phone
answers with the extension's credentials, so feature codes (``*1`` … ``*4``), internal
calls and supervisor monitoring (``*5``/``*6``/``*7`` + extension) reach the pbx exactly
as from production phones. One call at a time: an INVITE while it dials is refused
with 486.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import frozen

from pbx.calls.identity import caller_identity
from pbx.sip import events as sip
from pbx.sip.message import Request
from pbx.sip.offer_answer import OfferAnswerError, accept_answer, build_offer
from pbx.sip.sdp import SdpParseError, SessionDescription
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri
from pbx.testing.audio import Audio
from pbx.testing.errors import SimulationError, failure_status
from pbx.testing.phone import HOST, SimPhone

if TYPE_CHECKING:
    from pbx.testing.harness import Harness


@frozen
class Incoming:
    """An INVITE a simulated agent phone received."""

    caller_id: str
    """The caller's number as the phone displays it (P-Asserted-Identity, else From)."""
    caller_name: str
    """The caller's display name ('' when none)."""
    request: Request
    """The whole INVITE: ``incoming.request.headers.get("x-my-header")``."""
    at: float
    """Harness time it arrived."""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return self.request.headers.get(name.lower())


@frozen
class TextReceived:
    """A text message (SIP MESSAGE) a simulated agent phone received."""

    sender: str
    """The sender's number (From)."""
    text: str
    at: float


class SimAgent(SimPhone):
    """An agent's softphone: registers an extension with digest auth, rings, answers."""

    def __init__(
        self,
        harness: Harness,
        extension: str,
        password: str,
        *,
        auto_answer: bool = True,
        answer_after: float = 0.5,
        reject_with: int | None = None,
        audio: Audio = None,
    ) -> None:
        super().__init__(harness, audio)
        self.extension = extension
        self.password = password
        self.auto_answer = auto_answer
        self.answer_after = answer_after
        self.reject_with = reject_with
        self.label = f"agent {extension}"
        self.registered = False
        self.register_status: int | None = None
        self.state = "idle"
        """``idle``, ``ringing``, ``answered`` (200 sent), ``connected`` (ACK received)."""
        self.incoming: Incoming | None = None
        """The INVITE of the current (or last) call offered to this phone."""
        self.offered: list[Incoming] = []
        """Every INVITE offered, in order."""
        self.rejected: list[int] = []
        """Statuses this phone rejected calls with."""
        self.calls_ended = 0
        self.last_end = ""
        self._registration: str | None = None
        self._ring_seen = 0
        self._pending_answer: object | None = None
        self._refers: dict[str, int | None] = {}
        self._offer_sdp: bytes | None = None
        self.outgoing: AgentCall | None = None
        """The call this phone placed last (:meth:`dial`)."""
        self.texts: list[TextReceived] = []
        """Text messages received, in order (each answered 200)."""
        self._texts_sent: dict[str, int | None] = {}

    # ------------------------------------------------------------------ registration
    def _register(self) -> None:
        registrar = SipUri("sip", None, None, HOST, self.harness.app.port)
        self._registration = self.endpoint.register(
            registrar,
            self.harness.now(),
            user=self.extension,
            credentials=(self.extension, self.password),
            expires=3600,
            destination=Destination("UDP", HOST, self.harness.app.port),
        )
        self.sip.flush()

    def wait_registered(self, timeout: float | None = None) -> None:
        """Wait until the registrar accepted our binding."""
        self.harness.wait_for(
            lambda: self.registered or (self.register_status or 0) >= 300,
            self._timeout(timeout),
            f"{self.describe()} to register",
            lambda: f"no answer to REGISTER; {self.describe_state()}",
        )
        if not self.registered:
            raise SimulationError(
                f"{self.describe()} could not register: {self.register_status} from the pbx"
            )

    def unregister(self, timeout: float | None = None) -> None:
        """Remove our binding (REGISTER with Expires: 0) and wait for the answer."""
        if self._registration is None or not self.registered:
            return
        self.endpoint.unregister(self._registration, self.harness.now())
        self.sip.flush()
        self.harness.wait_for(
            lambda: not self.registered,
            self._timeout(timeout),
            f"{self.describe()} to unregister",
            self.describe_state,
        )

    # ------------------------------------------------------------------ SIP
    def on_sip(self, event: sip.EndpointEvent, now: float) -> None:
        out = self.outgoing
        if out is not None and getattr(event, "leg", None) == out.leg and out._on_sip(event, now):
            return
        if isinstance(event, sip.RegistrationStatus):
            self.registered = event.registered
            self.register_status = event.status
        elif isinstance(event, sip.IncomingCall):
            self._on_incoming(event, now)
        elif isinstance(event, sip.CallConfirmed):
            if event.leg == self.leg:
                self.state = "connected"
        elif isinstance(event, (sip.DialogEnded, sip.CallCancelled)):
            if event.leg == self.leg:
                self._call_over("cancelled" if isinstance(event, sip.CallCancelled) else "bye")
        elif isinstance(event, sip.InDialogRequest):
            self._answer_in_dialog(event, now)
        elif isinstance(event, sip.IncomingRequest) and event.request.method == "MESSAGE":
            sender = caller_identity(event.request).number
            text = event.request.body.decode("utf-8", "replace")
            self.texts.append(TextReceived(sender, text, now))
            self.endpoint.respond(event.transaction, 200, now)
        elif isinstance(event, sip.IncomingRequest):
            self.endpoint.respond(event.transaction, 405, now)
        elif isinstance(event, sip.RequestAnswered) and event.handle in self._texts_sent:
            self._texts_sent[event.handle] = event.response.status
        elif isinstance(event, sip.RequestFailed) and event.handle in self._texts_sent:
            self._texts_sent[event.handle] = 408
        elif isinstance(event, sip.RequestAnswered):
            if event.handle in self._refers:
                self._refers[event.handle] = event.response.status
            self._on_request_answered(event)
        elif isinstance(event, sip.RequestFailed):
            if event.handle in self._refers:
                self._refers[event.handle] = 408
            self._on_request_answered(event)

    def _on_incoming(self, event: sip.IncomingCall, now: float) -> None:
        identity = caller_identity(event.request)
        incoming = Incoming(identity.number, identity.name, event.request, now)
        self.offered.append(incoming)
        if self.state != "idle":
            # One line: a second call while busy is refused like a real phone does.
            self.endpoint.reject(event.leg, 486, now)
            self.rejected.append(486)
            return
        if self.reject_with is not None:
            self.incoming = incoming
            self.endpoint.reject(event.leg, self.reject_with, now)
            self.rejected.append(self.reject_with)
            return
        self.incoming = incoming
        self.leg = event.leg
        self.state = "ringing"
        self.stream = self._new_stream()
        self.media = None
        self._offer_sdp = event.sdp
        self.endpoint.ring(event.leg, now)
        if self.auto_answer:
            if self.answer_after <= 0:
                self.answer()
            else:
                leg = event.leg
                self._pending_answer = self.harness.call_later(
                    self.answer_after, lambda: self._auto_answer(leg)
                )

    def _auto_answer(self, leg: str) -> None:
        if self.leg == leg and self.state == "ringing":
            self.answer()

    def _call_over(self, how: str) -> None:
        self.state = "idle"
        self._sending = False
        self.calls_ended += 1
        self.last_end = how

    # ------------------------------------------------------------------ waits
    def wait_ringing(self, timeout: float | None = None) -> Incoming:
        """Wait for the next call offered to this phone; return its INVITE."""
        self.harness.wait_for(
            lambda: len(self.offered) > self._ring_seen,
            self._timeout(timeout),
            f"{self.describe()} to ring",
            lambda: f"{len(self.offered) - self._ring_seen} new calls; {self.describe_state()}",
        )
        incoming = self.offered[self._ring_seen]
        self._ring_seen += 1
        return incoming

    def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the current call is connected (our 200 OK was acknowledged)."""
        self.harness.wait_for(
            lambda: self.state == "connected",
            self._timeout(timeout),
            f"{self.describe()} to be connected",
            self.describe_state,
        )

    def wait_ended(self, timeout: float | None = None) -> None:
        """Wait until the current call is over (the phone is idle again)."""
        self.harness.wait_for(
            lambda: self.state == "idle",
            self._timeout(timeout),
            f"{self.describe()} to be idle",
            self.describe_state,
        )

    # ------------------------------------------------------------------ actions
    def answer(self) -> None:
        """Answer the ringing call (200 OK with our SDP answer; see :meth:`wait_connected`)."""
        if self.state != "ringing" or self.leg is None:
            raise SimulationError(f"{self.describe()} has no ringing call to answer")
        now = self.harness.now()
        try:
            sdp = self._sdp_answer(self._offer_sdp)
        except (SdpParseError, OfferAnswerError) as exc:
            self.endpoint.reject(self.leg, 488, now)
            self.rejected.append(488)
            self._call_over("rejected")
            raise SimulationError(f"{self.describe()}: cannot answer the offer: {exc}") from None
        self.endpoint.answer(self.leg, sdp, now)
        self.state = "answered"
        self._sending = True
        self.sip.flush()
        self.harness.poke()

    def send_text(self, number: str, text: str, timeout: float | None = None) -> int:
        """Send ``text`` to ``number`` as a SIP MESSAGE through the pbx (its 401 answered
        with the extension's credentials); the final status once it came back."""
        port = self.harness.app.port
        handle = self.endpoint.request(
            None,
            "MESSAGE",
            self.harness.now(),
            body=text.encode(),
            content_type="text/plain",
            target=SipUri("sip", number, None, HOST, port),
            from_user=self.extension,
            destination=Destination("UDP", HOST, port),
            credentials=(self.extension, self.password),
        )
        self._texts_sent[handle] = None
        self.sip.flush()
        self.harness.poke()
        self.harness.wait_for(
            lambda: self._texts_sent[handle] is not None,
            timeout,
            f"{self.describe()}: the answer to a MESSAGE to {number}",
        )
        status = self._texts_sent.pop(handle)
        assert status is not None
        return status

    def dial(
        self,
        number: str,
        audio: Audio | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
    ) -> AgentCall:
        """Call ``number`` from this phone (feature codes ``*1``…, an extension, a
        supervisor code ``*62001``); returns once the INVITE left. The pbx's 401 is
        answered with the extension's credentials. ``audio``: what the phone says once
        the call is answered (default: what it was given)."""
        if self.state != "idle":
            raise SimulationError(f"{self.describe()} is busy ({self.state}); one call at a time")
        now = self.harness.now()
        if audio is not None:
            self.play(audio)
        self.stream = self._new_stream()
        self.media = None
        offer = build_offer(
            self._local_media(), session_id=self._session_id, session_version=self._next_version()
        )
        port = self.harness.app.port
        leg = self.endpoint.invite(
            SipUri("sip", number, None, HOST, port),
            now,
            from_user=self.extension,
            sdp=bytes(offer),
            destination=Destination("UDP", HOST, port),
            credentials=(self.extension, self.password),
            extra=headers,
        )
        self.leg = leg
        self.state = "dialling"
        call = AgentCall(self, number, leg, self.endpoint.leg(leg).call_id, offer)
        self.outgoing = call
        self.sip.flush()
        return call

    def reject(self, status: int = 486) -> None:
        """Refuse the ringing call with ``status`` (486 Busy Here, 603 Decline ...)."""
        if self.state != "ringing" or self.leg is None:
            raise SimulationError(f"{self.describe()} has no ringing call to reject")
        self.endpoint.reject(self.leg, status, self.harness.now())
        self.rejected.append(status)
        self._call_over("rejected")
        self.sip.flush()
        self.harness.poke()

    def hang_up(self, timeout: float | None = None) -> None:
        """End the current call (BYE, or 480 while ringing) and wait until it is over."""
        if self.state == "idle" or self.leg is None:
            return
        leg = self.leg
        if self.state == "ringing":
            self.reject(480)
            return
        self.endpoint.hangup(leg, self.harness.now())
        self.sip.flush()
        if leg not in self.endpoint.legs:
            self._call_over("bye")
        self.wait_ended(timeout)

    def transfer(self, to: str, timeout: float | None = None) -> int:
        """Blind transfer (RFC 3515 REFER) of the connected caller to ``to`` (an extension
        or number); waits for the pbx's answer to the REFER (202) and returns its status."""
        if self.state not in ("answered", "connected") or self.leg is None:
            raise SimulationError(f"{self.describe()} has no connected call to transfer")
        port = self.harness.app.port
        handle = self.endpoint.request(
            self.leg,
            "REFER",
            self.harness.now(),
            extra=[
                ("Refer-To", f"<sip:{to}@{HOST}:{port}>"),
                ("Referred-By", f"<sip:{self.extension}@{HOST}>"),
            ],
        )
        self._refers[handle] = None
        self.sip.flush()
        self.harness.wait_for(
            lambda: self._refers.get(handle) is not None,
            self._timeout(timeout),
            f"{self.describe()}'s REFER to {to} to be answered",
            self.describe_state,
        )
        status = self._refers[handle]
        assert status is not None
        if status >= 300:
            raise SimulationError(f"{self.describe()}: the pbx refused the transfer with {status}")
        return status

    def describe_state(self) -> str:
        reg = "registered" if self.registered else "not registered"
        state = self.state
        if state == "idle" and self.calls_ended:
            state = f"idle after {self.calls_ended} calls (last: {self.last_end})"
        return f"{reg}, {state}, {len(self.offered)} calls offered"


class AgentCall:
    """A call an agent's phone placed (:meth:`SimAgent.dial`): its progress, and what
    the phone hears and says while it lasts.

    States as :class:`~pbx.testing.caller.SimCall`'s: ``calling``, ``ringing``,
    ``answered``, ``ended`` or ``failed`` (with the final ``status``). Audio goes through
    the phone: :attr:`heard` and the ``assert_heard_*`` checks are the phone's.
    """

    def __init__(
        self, phone: SimAgent, number: str, leg: str, sip_call_id: str, offer: SessionDescription
    ) -> None:
        self.phone = phone
        self.harness = phone.harness
        self.number = number
        self.leg = leg
        self.sip_call_id = sip_call_id
        self.state = "calling"
        self.status: int | None = None
        """200 once answered, else the failure status (403, 404, 480 ...)."""
        self.reason = ""
        self.provisional: list[int] = []
        self.ended_by: str | None = None
        """``pbx`` when the pbx hung up, ``phone`` when we did."""
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self._offer = offer

    # ------------------------------------------------------------------ SIP
    def _on_sip(self, event: sip.EndpointEvent, now: float) -> bool:
        """Take the events of our leg; False for the ones the phone handles itself."""
        phone = self.phone
        if isinstance(event, sip.CallProgress):
            self.provisional.append(event.status)
            if self.state == "calling" and event.status in (180, 183):
                self.state = "ringing"
            if event.sdp is not None:
                self._take_answer(event.sdp)
        elif isinstance(event, sip.CallAnswered):
            if event.sdp is not None:
                self._take_answer(event.sdp)
            self.state = "answered"
            self.status = 200
            self.answered_at = now
            phone.state = "connected"
            phone._sending = True
        elif isinstance(event, sip.CallFailed):
            self.state = "failed"
            self.status = event.status
            self.reason = event.reason
            self.ended_at = now
            phone._call_over(f"failed {event.status}")
        elif isinstance(event, sip.DialogEnded):
            self.state = "ended"
            self.ended_by = "pbx" if event.by == "remote" else "phone"
            self.ended_at = now
            phone._call_over("bye")
        else:
            return False
        return True

    def _take_answer(self, sdp: bytes) -> None:
        try:
            self.phone._apply(accept_answer(self._offer, SessionDescription.parse(sdp)))
        except (SdpParseError, OfferAnswerError) as exc:
            raise SimulationError(f"{self.describe()}: bad SDP answer: {exc}") from None

    # ------------------------------------------------------------------ waits
    @property
    def answered(self) -> bool:
        """True once the pbx answered (and until the call ends)."""
        return self.state == "answered"

    @property
    def ended(self) -> bool:
        """True once the call is over (hung up by either side, or failed)."""
        return self.state in ("ended", "failed")

    def wait_answered(self, timeout: float | None = None) -> None:
        """Wait until the pbx answers (200 OK)."""
        self.harness.wait_for(
            lambda: self.state != "calling" and self.state != "ringing",
            self.phone._timeout(timeout),
            f"{self.describe()} to be answered",
            self.describe_state,
        )
        if self.status != 200:
            raise SimulationError(f"{self.describe()} was not answered: {self.describe_state()}")

    def wait_ended(self, timeout: float | None = None) -> None:
        """Wait until the call is over (BYE from the pbx, our hang-up, or a failure)."""
        self.harness.wait_for(
            lambda: self.ended,
            self.phone._timeout(timeout),
            f"{self.describe()} to end",
            self.describe_state,
        )

    def wait_failed(self, status: int | None = None, timeout: float | None = None) -> int:
        """Wait for a final failure response; check it is ``status`` when given."""
        self.wait_ended(timeout)
        return failure_status(self, status)

    # ------------------------------------------------------------------ actions
    def hang_up(self, timeout: float | None = None) -> None:
        """Hang up (BYE, or CANCEL while ringing) and wait until the call is over."""
        if self.ended or self.leg not in self.phone.endpoint.legs:
            return
        self.ended_by = self.ended_by or "phone"
        self.phone.endpoint.hangup(self.leg, self.harness.now())
        self.phone.sip.flush()
        if self.leg not in self.phone.endpoint.legs and not self.ended:
            self.state = "ended"
            self.ended_at = self.harness.now()
            self.phone._call_over("bye")
        self.wait_ended(timeout)

    def send_dtmf(self, digits: str, mode: str | None = None, **kwargs: Any) -> None:
        """Press ``digits`` on the phone (see :meth:`SimPhone.send_dtmf`)."""
        self.phone.send_dtmf(digits, mode, **kwargs)

    def cdr(self, timeout: float | None = None) -> dict[str, Any]:
        """This call's CDR row once final."""
        return self.harness.wait_for_cdr(self.sip_call_id, timeout)

    @property
    def call_id(self) -> str | None:
        """The pbx's id of this call, once the pbx routed it."""
        return self.harness.pbx_call_id(self.sip_call_id)

    def describe(self) -> str:
        """Who placed the call and to where, for messages."""
        return f"call from {self.phone.extension} to {self.number}"

    def describe_state(self) -> str:
        """What the call is doing, for messages."""
        if self.state == "failed":
            return f"it failed with {self.status} {self.reason}"
        if self.state == "ended":
            return f"it ended (hung up by {self.ended_by or 'pbx'})"
        return f"it is {self.state}"
