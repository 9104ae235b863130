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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import frozen

from pbx.calls.identity import caller_identity
from pbx.sip import events as sip
from pbx.sip.message import Request
from pbx.sip.offer_answer import OfferAnswerError, build_offer, negotiate_answer
from pbx.sip.sdp import SdpParseError, SessionDescription
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri
from pbx.testing.audio import Audio
from pbx.testing.errors import SimulationError
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
        if isinstance(event, sip.RegistrationStatus):
            self.registered = event.registered
            self.register_status = event.status
        elif isinstance(event, sip.IncomingCall):
            self._on_incoming(event, now)
        elif isinstance(event, sip.CallConfirmed):
            if event.leg == self.leg:
                self.state = "connected"
        elif isinstance(event, (sip.CallEnded, sip.CallCancelled)):
            if event.leg == self.leg:
                self._call_over("cancelled" if isinstance(event, sip.CallCancelled) else "bye")
        elif isinstance(event, sip.InDialogRequest):
            self._answer_in_dialog(event, now)
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
        sdp: bytes
        if self._offer_sdp is not None:
            try:
                answer, media = negotiate_answer(
                    SessionDescription.parse(self._offer_sdp),
                    self._local_media(),
                    session_id=self._session_id,
                    session_version=self._next_version(),
                )
            except (SdpParseError, OfferAnswerError) as exc:
                self.endpoint.reject(self.leg, 488, now)
                self.rejected.append(488)
                self._call_over("rejected")
                raise SimulationError(
                    f"{self.describe()}: cannot answer the offer: {exc}"
                ) from None
            self._apply(media)
            sdp = bytes(answer)
        else:
            sdp = bytes(
                build_offer(
                    self._local_media(),
                    session_id=self._session_id,
                    session_version=self._next_version(),
                )
            )
        self.endpoint.answer(self.leg, sdp, now)
        self.state = "answered"
        self._sending = True
        self.sip.flush()
        self.harness.poke()

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
