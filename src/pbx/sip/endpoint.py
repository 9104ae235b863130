"""The SIP endpoint: one sans-I/O UAC, UAS and registrar (RFC 3261 §8, §10, §12–§15).

Theory of operation
-------------------
``SipEndpoint`` stacks the layers of §5 by composition: bytes are parsed into messages,
the :class:`~pbx.sip.transaction.TransactionLayer` matches them to transactions, and this
module — the transaction user — keeps the *legs* (one per INVITE dialog, named by our
local tag), the registrar and our own registrations. It answers what a UA must answer by
itself (100 Trying, OPTIONS, CANCEL/487, BYE, 481 for unknown dialogs, 400/405/416/420/
482/483/491/500/501 for requests it cannot accept, digest challenges) and hands everything
else up as :mod:`pbx.sip.events`. The call-level API (``invite``, ``ring``, ``answer``,
``reject``, ``cancel``, ``bye``, ``reinvite``, ``request``, ``respond``, ``register``)
turns calls into requests and responses.

The UA core's own retransmissions live here: the 2xx to an INVITE is resent from T1
doubling to T2 until the ACK arrives, and the call is ended with BYE after 64·T1
without one (§13.3.1.4); a retransmitted 2xx gets our ACK again (§13.2.2.4).

Everything is driven by ``receive_datagram(data, source, now)`` and
``handle_timer(now)``; output is ``datagrams_to_send()``, ``next_event()`` and
``get_timer()``.
"""

from __future__ import annotations

import enum
import heapq
import random
from collections import deque
from collections.abc import Callable
from typing import Literal

import structlog
from attrs import define, field, frozen

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.loglimit import LogLimiter, bounded
from pbx.sip import auth, session_timer
from pbx.sip.dialog import Dialog, DialogState, uri_destination
from pbx.sip.errors import SipParseError
from pbx.sip.events import (
    CallAnswered,
    CallCancelled,
    CallConfirmed,
    CallEnded,
    CallFailed,
    CallProgress,
    DeviceRegistered,
    EndpointEvent,
    IncomingCall,
    IncomingRequest,
    InDialogRequest,
    MessageRejected,
    RegistrationStatus,
    ReinviteAnswered,
    RequestAnswered,
    RequestFailed,
)
from pbx.sip.headers import Headers, Via
from pbx.sip.message import (
    Request,
    Response,
    build_response,
    error_response_for,
    parse_message,
)
from pbx.sip.registration import Registrar
from pbx.sip.session_timer import (
    Negotiated,
    SessionTimer,
    SessionTimerConfig,
    TooSmall,
    uac_fields,
    uac_timer,
    uas_negotiate,
)
from pbx.sip.timers import TimerConfig
from pbx.sip.transaction import (
    AckTimedOut,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    response_destination,
)
from pbx.sip.transport import Destination
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri, parse_uri

log = structlog.get_logger(__name__)

ALLOWED_METHODS = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "REGISTER",
    "INFO",
    "REFER",
    "NOTIFY",
    "MESSAGE",
    "UPDATE",
)
KNOWN_METHODS = frozenset({*ALLOWED_METHODS, "PRACK", "SUBSCRIBE", "PUBLISH"})
SUPPORTED_EXTENSIONS = ("replaces", "norefersub", "timer")
ACCEPTED_BODIES = ("application/sdp",)
IN_DIALOG_EVENTS = frozenset({"INVITE", "UPDATE", "INFO", "REFER", "NOTIFY", "MESSAGE", "OPTIONS"})


@frozen
class EndpointConfig:
    """How the endpoint presents itself on the wire."""

    host: str = "127.0.0.1"
    """Address written in Via and Contact."""
    port: int = 5060
    transport: str = "UDP"
    """Default transport for requests we originate."""
    user_agent: str = "pbx"
    timers: TimerConfig = TimerConfig()
    app_methods: frozenset[str] = frozenset({"MESSAGE", "NOTIFY", "INFO", "REFER"})
    """Out-of-dialog methods handed up as :class:`IncomingRequest` (the rest: 405)."""
    trace: bool = False
    """Log every message in and out (``sip_trace``)."""
    challenge_status: int = 401
    """401 (UAS, RFC 3261 §22.3) or 407 (proxy style) for requests other than REGISTER."""
    session_timer: SessionTimerConfig | None = SessionTimerConfig()
    """RFC 4028 session timers on every INVITE dialog; None leaves them out."""


class LegState(enum.Enum):
    """Where one INVITE leg is."""

    CALLING = "calling"
    """UAC: INVITE sent, nothing back yet."""
    EARLY = "early"
    """A provisional response was sent (UAS) or received (UAC)."""
    ANSWERED = "answered"
    """UAS: 2xx sent, waiting for the ACK."""
    CONFIRMED = "confirmed"
    ENDING = "ending"
    """BYE sent, waiting for its response."""
    ENDED = "ended"


@define(slots=True)
class Leg:
    """One INVITE leg and its dialog."""

    id: str
    role: str
    call_id: str
    invite: Request
    peer: Destination
    """UAC: where requests go before a dialog exists; UAS: where the INVITE came from."""
    state: LegState = LegState.CALLING
    invite_tx: str | None = None
    dialog: Dialog | None = None
    credentials: tuple[str, str] | None = None
    auth_attempts: int = 0
    cancel_wanted: bool = False
    provisional_seen: bool = False
    ok_bytes: bytes = b""
    ok_interval: float = 0.0
    ok_deadline: float | None = None
    ok_giveup: float = 0.0
    ack_bytes: bytes = b""
    ack_destination: Destination | None = None
    reinvite_out: str | None = None
    reinvite_out_request: Request | None = None
    reinvite_in: str | None = None
    local_sdp: bytes | None = None
    auth_user: str | None = None
    session: SessionTimer | None = None
    """The dialog's RFC 4028 session timer, once a 2xx set it up."""
    session_offer: Negotiated | None = None
    """UAS: what the 2xx to the INVITE will say about the session timer."""
    session_armed: float | None = None
    refresh_tx: str | None = None
    """Our session refresh in progress."""
    refresh_with_invite: bool = False
    """The peer does not take UPDATE: refresh with a re-INVITE of the same SDP."""
    session_retries: int = 0


@define(slots=True)
class OwnRegistration:
    """A registration of ours at a registrar or carrier trunk (§10.2)."""

    id: str
    registrar: SipUri
    aor: NameAddr
    contact: NameAddr
    destination: Destination
    credentials: tuple[str, str] | None
    expires: int
    call_id: str
    cseq: int = 0
    auth_attempts: int = 0
    refresh_at: float | None = None
    registered: bool = False
    last_request: Request | None = None


@define(slots=True)
class _Owner:
    """What a client transaction belongs to."""

    kind: str
    """``invite``, ``cancel``, ``bye``, ``reinvite``, ``request``, ``register``."""
    key: str
    """Leg id, request handle or registration id."""
    leg: str | None = None


AuthPolicy = Callable[[Request, Destination], bool]


@define
class SipEndpoint:
    """UAC, UAS, registrar and registration client over one transaction layer."""

    config: EndpointConfig = field(factory=EndpointConfig)
    rng: random.Random = field(factory=random.Random)
    registrar: Registrar | None = None
    authenticator: auth.DigestAuthenticator | None = None
    auth_policy: AuthPolicy | None = None
    """Requests (other than REGISTER) for which it returns True must authenticate."""
    transactions: TransactionLayer = field(init=False)
    _legs: dict[str, Leg] = field(init=False, factory=dict)
    _owners: dict[str, _Owner] = field(init=False, factory=dict)
    _regs: dict[str, OwnRegistration] = field(init=False, factory=dict)
    _events: deque[EndpointEvent] = field(init=False, factory=deque)
    _timers: list[tuple[float, int, str, str]] = field(init=False, factory=list)
    _timer_seq: int = field(init=False, default=0)
    bad_messages: int = field(init=False, default=0)
    """Received messages that could not be parsed (answered 400 or dropped)."""
    log_limit: LogLimiter = field(init=False, factory=LogLimiter)
    """Lines a sender can trigger at will (failed digests, stray 2xx ...) are rate-limited."""
    _pending_server: dict[tuple[str, str, int], str] = field(init=False, factory=dict)
    """(From tag, Call-ID, CSeq) of requests without a To tag → their transaction (§8.2.2.2)."""
    _pending_key: dict[str, tuple[str, str, int]] = field(init=False, factory=dict)
    _extra_out: list[tuple[bytes, Destination]] = field(init=False, factory=list)
    _session_answers: dict[str, tuple[str, Negotiated]] = field(init=False, factory=dict)
    """In-dialog INVITE/UPDATE transaction → (leg, what its 2xx says about the timer)."""

    def __attrs_post_init__(self) -> None:
        self.transactions = TransactionLayer(self.config.timers)

    # ================================================================ sans-I/O surface
    def receive_datagram(self, data: bytes, source: Destination, now: float) -> None:
        """Hand one received datagram (or one framed stream message) to the endpoint."""
        if not data.strip(b"\r\n"):
            return  # keep-alive (RFC 5626 §3.5.1)
        try:
            message = parse_message(data, stream=source.reliable)
            message.check()
        except SipParseError as exc:
            self._reject_unparseable(exc, source)
            return
        if self.config.trace:
            log.info(
                "sip_trace",
                direction="in",
                peer=str(source),
                message=data.decode("utf-8", "replace"),
            )
        self.transactions.receive(message, source, now)
        self._process_transaction_events(now)

    def handle_timer(self, now: float) -> None:
        """Fire every deadline due at ``now``."""
        self.transactions.handle_timer(now)
        self._process_transaction_events(now)
        heap = self._timers
        while heap and heap[0][0] <= now:
            _, _, kind, key = heapq.heappop(heap)
            if kind == "2xx":
                self._retransmit_2xx(key, now)
            elif kind == "reg":
                self._refresh_registration(key, now)
            elif kind == "session":
                self._on_session_timer(key, now)
            elif kind == "expire" and self.registrar is not None:
                for change in self.registrar.expire(now):
                    self._events.append(DeviceRegistered(change.aor, change.bindings))
                self._arm_expiry()
        self._process_transaction_events(now)

    def get_timer(self) -> float | None:
        """The earliest deadline of the endpoint, or None."""
        t = self.transactions.get_timer()
        heap = self._timers
        while heap:
            deadline, _, kind, key = heap[0]
            if kind == "2xx":
                # The ACK (or the leg's end) cancelled this retransmission: drop it here
                # rather than wake up for it.
                leg = self._legs.get(key)
                if leg is None or leg.ok_deadline != deadline:
                    heapq.heappop(heap)
                    continue
            elif kind == "session":
                leg = self._legs.get(key)
                if leg is None or leg.session_armed != deadline:
                    heapq.heappop(heap)
                    continue
            t = deadline if t is None else min(t, deadline)
            break
        return t

    def datagrams_to_send(self) -> list[tuple[bytes, Destination]]:
        """Everything to send, in order."""
        out = self.transactions.datagrams_to_send()
        if self._extra_out:
            out.extend(self._extra_out)
            self._extra_out = []
        if self.config.trace:
            for data, dest in out:
                log.info(
                    "sip_trace",
                    direction="out",
                    peer=str(dest),
                    message=data.decode("utf-8", "replace"),
                )
        return out

    def next_event(self) -> EndpointEvent | None:
        """The next event for the application, or None."""
        return self._events.popleft() if self._events else None

    def leg(self, leg_id: str) -> Leg:
        """The leg ``leg_id``; raises :class:`InvalidStateError` when unknown."""
        leg = self._legs.get(leg_id)
        if leg is None:
            raise InvalidStateError(f"unknown leg {leg_id!r}")
        return leg

    @property
    def legs(self) -> dict[str, Leg]:
        """Every live leg by id."""
        return self._legs

    # ================================================================ helpers
    def _arm(self, deadline: float, kind: str, key: str) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (deadline, self._timer_seq, kind, key))

    def _token(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def new_branch(self) -> str:
        """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
        return f"z9hG4bK{self.rng.getrandbits(64):016x}"

    def _via(self, transport: str) -> Via:
        c = self.config
        return Via(
            transport, _uri_host(c.host), c.port, (("branch", self.new_branch()), ("rport", None))
        )

    def contact_for(self, user: str | None, transport: str) -> NameAddr:
        """Our Contact for requests and responses over ``transport``."""
        c = self.config
        params: tuple[tuple[str, str | None], ...] = ()
        if transport != "UDP":
            params = (("transport", transport.lower()),)
        return NameAddr(SipUri("sip", user, None, _uri_host(c.host), c.port, params))

    def _common_fields(self) -> list[tuple[str, str]]:
        return [("User-Agent", self.config.user_agent)]

    def _supported(self) -> tuple[str, ...]:
        if self.config.session_timer is None:
            return tuple(t for t in SUPPORTED_EXTENSIONS if t != "timer")
        return SUPPORTED_EXTENSIONS

    def _allow_fields(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ", ".join(ALLOWED_METHODS)),
            ("Supported", ", ".join(self._supported())),
        ]

    def _reject_unparseable(self, exc: SipParseError, source: Destination) -> None:
        response = error_response_for(exc)
        answered = False
        if response is not None:
            try:
                fake = Request("OPTIONS", SipUri(host="invalid"), response.headers)
                dest = response_destination(fake, source)
                self._extra_out.append((bytes(response), dest))
                answered = True
            except SipParseError:
                answered = False
        self.bad_messages += 1
        # Bad input is the sender's problem: at debug, bounded, counted (a 64 KB header
        # must not become a 384 KB log line).
        log.debug(
            "sip_bad_message",
            reason=bounded(exc.reason),
            peer=str(source),
            answered=answered,
            count=self.bad_messages,
        )
        self._events.append(MessageRejected(exc.reason, source, answered))

    def _respond(
        self,
        tx_id: str,
        request: Request,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        to_tag: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        fields = list(extra or [])
        if content_type is not None and body:
            fields.append(("Content-Type", content_type))
        fields.extend(self._common_fields())
        response = build_response(request, status, reason, to_tag=to_tag, extra=fields, body=body)
        self.transactions.send_response(tx_id, response, now)
        return response

    # ================================================================ incoming
    def _process_transaction_events(self, now: float) -> None:
        tl = self.transactions
        while (ev := tl.next_event()) is not None:
            if isinstance(ev, RequestReceived):
                if ev.transaction is None:
                    self._on_ack(ev.request, now)
                else:
                    self._on_request(ev.request, ev.source, ev.transaction, now)
            elif isinstance(ev, ResponseReceived):
                owner = self._owners.get(ev.transaction)
                if owner is not None:
                    self._on_response(owner, ev.response, ev.transaction, now)
            elif isinstance(ev, StrayResponse):
                self._on_stray_response(ev.response)
            elif isinstance(ev, TransactionTimedOut):
                owner = self._owners.pop(ev.transaction, None)
                if owner is not None:
                    self._on_timeout(owner, now)
            elif isinstance(ev, AckTimedOut):
                self.log_limit.log(
                    log.info, "sip_ack_timeout", now, call_id=bounded(ev.request.call_id)
                )
            elif isinstance(ev, TransactionTerminated):
                self._owners.pop(ev.transaction, None)
                key = self._pending_key.pop(ev.transaction, None)
                if key is not None and self._pending_server.get(key) == ev.transaction:
                    del self._pending_server[key]

    def _on_request(self, req: Request, source: Destination, tx: str, now: float) -> None:
        method = req.method
        if not self._validate_request(req, tx, now):
            return
        if req.to_tag is not None:
            self._on_in_dialog_request(req, source, tx, now)
            return
        if method == "CANCEL":
            self._on_cancel(req, tx, now)
        elif method == "INVITE":
            self._on_invite(req, source, tx, now)
        elif method == "REGISTER":
            self._on_register(req, source, tx, now)
        elif method == "OPTIONS":
            self._respond(
                tx,
                req,
                200,
                now,
                to_tag=self._token(),
                extra=[*self._allow_fields(), ("Accept", ", ".join(ACCEPTED_BODIES))],
            )
        elif method == "BYE":
            self._respond(tx, req, 481, now, to_tag=self._token())
        elif method in self.config.app_methods:
            if self._authenticate(req, tx, now) is False:
                return
            self._events.append(IncomingRequest(req, source, tx))
        else:
            self._respond(tx, req, 405, now, to_tag=self._token(), extra=self._allow_fields())

    def _validate_request(self, req: Request, tx: str, now: float) -> bool:
        """§8.2.1–§8.2.3 and §16.3: the checks before a UAS acts on a request."""
        method = req.method
        if method not in KNOWN_METHODS:
            self._respond(tx, req, 501, now, extra=self._allow_fields())
            return False
        if method not in ALLOWED_METHODS:
            self._respond(tx, req, 405, now, extra=self._allow_fields())
            return False
        uri = req.uri
        if isinstance(uri, AbsoluteUri) and uri.scheme != "tel":
            self._respond(tx, req, 416, now)
            return False
        max_forwards = req.max_forwards
        if max_forwards is not None and max_forwards == 0 and method not in ("OPTIONS", "CANCEL"):
            self._respond(tx, req, 483, now)
            return False
        if method != "CANCEL":
            required = [
                t for t in req.header_tokens("require") if t.lower() not in self._supported()
            ]
            if required and method != "ACK":
                self._respond(tx, req, 420, now, extra=[("Unsupported", ", ".join(required))])
                return False
        if req.to_tag is None and method not in ("CANCEL",):
            # §8.2.2.2 merged requests: same From tag, Call-ID and CSeq on another branch.
            key = (req.from_tag or "", req.call_id, req.cseq.seq)
            other = self._pending_server.get(key)
            if other is not None and other != tx and self.transactions.get(other) is not None:
                self._respond(tx, req, 482, now)
                return False
            self._pending_server[key] = tx
            self._pending_key[tx] = key
        if method in ("INVITE", "UPDATE") and not _accepts_sdp(req):
            # §8.2.3 / RFC 4475 §3.3.11: our answer would carry SDP, which Accept excludes.
            self._respond(
                tx, req, 406, now, extra=[("Warning", f'399 {self.config.host} "SDP not accepted"')]
            )
            return False
        if req.body and method in ("INVITE", "UPDATE"):
            ctype = req.content_type
            if (
                ctype is not None
                and ctype not in ACCEPTED_BODIES
                and not ctype.startswith("multipart/")
            ):
                self._respond(tx, req, 415, now, extra=[("Accept", ", ".join(ACCEPTED_BODIES))])
                return False
        return True

    def _authenticate(
        self, req: Request, tx: str, now: float, *, always: bool = False
    ) -> str | None | bool:
        """Digest-check ``req`` when policy asks; False when a challenge was sent.

        Returns the authenticated user name, or None when no authentication was needed.
        """
        authn = self.authenticator
        if authn is None:
            return None
        source = self._tx_source(tx)
        if not always and (self.auth_policy is None or not self.auth_policy(req, source)):
            return None
        # RFC 3261 §22.3: a UAS or registrar challenges with 401 (proxies use 407); a
        # B2BUA is the UAS of its inbound legs. Proxy-Authorization is accepted as well.
        # Credentials in a scheme we do not speak are ignored (RFC 4475 §3.3.7: a fresh
        # challenge, not a 400); several Digest fields may each serve another realm
        # (§22.4), and only a malformed Digest one is a 400.
        values = [
            v
            for v in req.headers.get_all("authorization")
            + req.headers.get_all("proxy-authorization")
            if v.split(None, 1)[:1] and v.split(None, 1)[0].lower() == "digest"
        ]
        stale = False
        for value in values:
            try:
                result = authn.verify(value, req.method, now)
            except auth.AuthError as exc:
                self._respond(tx, req, 400, now, reason=f"Bad Request ({exc})")
                return False
            if result.ok:
                return result.username
            stale = stale or result.stale
            self.log_limit.log(
                log.info,
                "sip_auth_failed",
                now,
                call_id=bounded(req.call_id),
                user=bounded(result.username or ""),
                peer=str(source),
                reason=result.reason,
            )
        status = 401 if req.method == "REGISTER" else self.config.challenge_status
        challenge_header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        extra = [(challenge_header, c) for c in authn.challenges(now, stale=stale)]
        self._respond(tx, req, status, now, to_tag=self._token(), extra=extra)
        return False

    def _tx_source(self, tx: str) -> Destination:
        t = self.transactions.get(tx)
        return t.destination if t is not None else Destination("UDP", "0.0.0.0", 0)

    def _on_invite(self, req: Request, source: Destination, tx: str, now: float) -> None:
        leg_id = self._token()
        # Challenge first: a 401 needs no 100 Trying before it (and some clients stop
        # reading at the 100).
        user = self._authenticate(req, tx, now)
        if user is False:
            return
        offer = self._negotiate_session(req, tx, now)
        if offer is False:
            return
        self._respond(tx, req, 100, now)
        leg = Leg(leg_id, "uas", req.call_id, req, source, invite_tx=tx)
        leg.session_offer = offer
        leg.refresh_with_invite = not _allows(req, "UPDATE")
        leg.auth_user = user if isinstance(user, str) else None
        leg.dialog = Dialog.from_uas(req, leg_id)
        self._legs[leg_id] = leg
        self._owners[tx] = _Owner("uas-invite", leg_id, leg_id)
        log.info("sip_incoming_call", call_id=req.call_id, leg=leg_id, peer=str(source))
        self._events.append(
            IncomingCall(leg_id, req.call_id, req, source, _sdp_of(req), leg.auth_user)
        )

    def _on_cancel(self, req: Request, tx: str, now: float) -> None:
        invite_tx = self.transactions.find_invite_server(req)
        if invite_tx is None:
            self._respond(tx, req, 481, now)
            return
        owner = self._owners.get(invite_tx.id)
        leg = self._legs.get(owner.key) if owner is not None else None
        to_tag = leg.id if leg is not None else None
        self._respond(tx, req, 200, now, to_tag=to_tag)
        if leg is not None and leg.state in (LegState.CALLING, LegState.EARLY):
            self._respond(invite_tx.id, leg.invite, 487, now, to_tag=leg.id)
            self._end_leg(leg)
            self._events.append(CallCancelled(leg.id))

    def _on_register(self, req: Request, source: Destination, tx: str, now: float) -> None:
        if self.registrar is None:
            self._respond(tx, req, 405, now, extra=self._allow_fields())
            return
        if not isinstance(req.to.uri, SipUri):
            # §10.3 step 5: the address of record is a SIP or SIPS URI (RFC 4475 §3.3.2).
            self._respond(
                tx,
                req,
                400,
                now,
                reason="Bad Request (To must be a SIP or SIPS URI)",
                to_tag=self._token(),
            )
            return
        user = self._authenticate(req, tx, now, always=True)
        if user is False:
            return
        to_user = _user_of(req.to.uri)
        if isinstance(user, str) and to_user != user:
            self._respond(tx, req, 403, now, to_tag=self._token())
            return
        try:
            outcome = self.registrar.process(req, source, now)
        except SipParseError as exc:
            self._respond(
                tx, req, 400, now, reason=f"Bad Request ({exc.reason})", to_tag=self._token()
            )
            return
        extra = list(outcome.fields)
        self._respond(tx, req, outcome.status, now, to_tag=self._token(), extra=extra)
        if outcome.changed is not None:
            self._events.append(DeviceRegistered(outcome.changed.aor, outcome.changed.bindings))
            self._arm_expiry()

    def _arm_expiry(self) -> None:
        if self.registrar is not None:
            t = self.registrar.next_expiry()
            if t is not None:
                self._arm(t, "expire", "")

    def _on_in_dialog_request(self, req: Request, source: Destination, tx: str, now: float) -> None:
        leg = self._legs.get(req.to_tag or "")
        if leg is None or leg.dialog is None or leg.call_id != req.call_id:
            self._respond(tx, req, 481, now)  # §12.2.2
            return
        dialog = leg.dialog
        if not dialog.accept_remote_cseq(req):
            self._respond(tx, req, 500, now, reason="Server Internal Error (CSeq out of order)")
            return
        if req.contacts and req.method in ("INVITE", "UPDATE"):
            dialog.remote_target = req.contacts[0].uri  # target refresh, §12.2.2
        method = req.method
        if method == "BYE":
            self._respond(tx, req, 200, now)
            was = leg.state
            self._end_leg(leg)
            if (
                was in (LegState.CALLING, LegState.EARLY, LegState.ANSWERED)
                and leg.role == "uas"
                and leg.invite_tx
            ):
                t = self.transactions.get(leg.invite_tx)
                if t is not None and t.last_response is not None and t.last_response.status < 200:
                    self._respond(leg.invite_tx, leg.invite, 487, now, to_tag=leg.id)
            self._events.append(CallEnded(leg.id, "remote", "bye"))
            return
        if method in ("INVITE", "UPDATE"):
            offer = self._negotiate_session(req, tx, now)
            if offer is False:
                return
            if offer is not None:
                self._session_answers[tx] = (leg.id, offer)
        if method == "INVITE":
            if leg.reinvite_out is not None:
                self._respond(tx, req, 491, now)  # §14.2 glare
                return
            if leg.reinvite_in is not None or leg.state is not LegState.CONFIRMED:
                self._respond(
                    tx, req, 500, now, extra=[("Retry-After", str(self.rng.randint(0, 10)))]
                )
                return
            leg.reinvite_in = tx
            self._owners[tx] = _Owner("uas-reinvite", leg.id, leg.id)
        if method in IN_DIALOG_EVENTS:
            self._events.append(InDialogRequest(leg.id, req, tx, _sdp_of(req)))
        else:
            self._respond(tx, req, 405, now, extra=self._allow_fields())

    def _on_ack(self, req: Request, now: float) -> None:
        leg = self._legs.get(req.to_tag or "")
        if leg is None or leg.call_id != req.call_id:
            return
        if leg.state is LegState.ANSWERED and req.cseq.seq == leg.invite.cseq.seq:
            leg.state = LegState.CONFIRMED
            leg.ok_deadline = None
            if leg.dialog is not None:
                leg.dialog.state = DialogState.CONFIRMED
            self._events.append(CallConfirmed(leg.id, _sdp_of(req)))
        elif leg.reinvite_in is None and leg.ok_deadline is not None:
            leg.ok_deadline = None  # ACK to a re-INVITE 2xx

    # ================================================================ UAS API
    def _unanswered(self, leg_id: str, what: str) -> tuple[Leg, str]:
        """The incoming leg ``leg_id``, still unanswered, and its INVITE transaction."""
        leg = self.leg(leg_id)
        if (
            leg.role != "uas"
            or leg.state not in (LegState.CALLING, LegState.EARLY)
            or not leg.invite_tx
        ):
            raise InvalidStateError(f"leg {leg_id} {what} in state {leg.state.value}")
        return leg, leg.invite_tx

    def ring(self, leg_id: str, now: float, *, sdp: bytes | None = None, status: int = 180) -> None:
        """Send 180 Ringing, or 183 Session Progress with early-media SDP."""
        leg, tx = self._unanswered(leg_id, "cannot ring")
        if sdp is not None and status == 180:
            status = 183
        extra = [("Contact", str(self.contact_for(None, leg.peer.transport)))]
        self._respond(
            tx,
            leg.invite,
            status,
            now,
            to_tag=leg.id,
            extra=extra,
            body=sdp or b"",
            content_type="application/sdp" if sdp else None,
        )
        leg.state = LegState.EARLY
        if sdp is not None:
            leg.local_sdp = sdp

    def answer(
        self, leg_id: str, sdp: bytes | None, now: float, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """Send 200 OK (with our SDP answer or offer) and retransmit it until the ACK."""
        leg, tx = self._unanswered(leg_id, "cannot be answered")
        fields = [
            ("Contact", str(self.contact_for(None, leg.peer.transport))),
            *self._allow_fields(),
        ]
        offer = leg.session_offer
        if offer is not None:
            fields.extend(offer.fields)
            self._start_session(leg, SessionTimer(offer.interval, offer.refresher == "uas", now))
        if extra:
            fields.extend(extra)
        response = self._respond(
            tx,
            leg.invite,
            200,
            now,
            to_tag=leg.id,
            extra=fields,
            body=sdp or b"",
            content_type="application/sdp" if sdp else None,
        )
        leg.state = LegState.ANSWERED
        leg.local_sdp = sdp
        self._start_2xx_retransmit(leg, response, tx, now)

    def _start_2xx_retransmit(self, leg: Leg, response: Response, sent_in: str, now: float) -> None:
        tx = self.transactions.get(leg.reinvite_in or leg.invite_tx or "")
        # The server transaction that sent this 2xx has serialized it: resend those bytes.
        sent = self.transactions.get(sent_in)
        leg.ok_bytes = sent.last_response_bytes if sent is not None else b""
        if not leg.ok_bytes:
            leg.ok_bytes = bytes(response)
        leg.ok_interval = self.config.timers.t1
        leg.ok_giveup = now + 64 * self.config.timers.t1
        dest = tx.destination if tx is not None else leg.peer
        leg.ack_destination = dest
        # Over TCP the transport carries the 2xx reliably: nothing to resend, but the
        # wait for the ACK still ends after 64·T1 (§13.3.1.4 applies to every transport).
        leg.ok_deadline = leg.ok_giveup if dest.reliable else now + leg.ok_interval
        self._arm(leg.ok_deadline, "2xx", leg.id)

    def _retransmit_2xx(self, leg_id: str, now: float) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.ok_deadline is None or leg.ok_deadline > now:
            return
        if now >= leg.ok_giveup:
            leg.ok_deadline = None
            if leg.state is LegState.ANSWERED:
                # §13.3.1.4: no ACK within 64·T1 — confirm and end the session with BYE.
                log.info("sip_no_ack", call_id=leg.call_id, leg=leg.id)
                leg.state = LegState.CONFIRMED
                if leg.dialog is not None:
                    leg.dialog.state = DialogState.CONFIRMED
                self._send_bye(leg, now)
                self._events.append(CallEnded(leg.id, "local", "no ACK"))
            return
        assert leg.ack_destination is not None
        self.transactions.send_raw(leg.ok_bytes, leg.ack_destination)
        leg.ok_interval = min(leg.ok_interval * 2, self.config.timers.t2)
        leg.ok_deadline = now + leg.ok_interval
        self._arm(leg.ok_deadline, "2xx", leg.id)

    def reject(
        self,
        leg_id: str,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Answer an incoming INVITE with a final non-2xx response (486, 480, 603 ...)."""
        leg, tx = self._unanswered(leg_id, "cannot be rejected")
        if status < 300:
            raise LocalProtocolError("reject needs a status of 300 or more")
        self._respond(tx, leg.invite, status, now, reason=reason, to_tag=leg.id, extra=extra)
        self._end_leg(leg)

    def respond(
        self,
        transaction: str,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Answer a request handed up as :class:`InDialogRequest` or :class:`IncomingRequest`."""
        tx = self.transactions.get(transaction)
        if tx is None:
            raise InvalidStateError(f"no server transaction {transaction}")
        req = tx.request
        if req is None:
            raise InvalidStateError(
                f"transaction {transaction} in state {tx.state.value} was already answered"
            )
        owner = self._owners.get(transaction)
        leg = (
            self._legs.get(owner.key)
            if owner is not None and owner.kind == "uas-reinvite"
            else None
        )
        to_tag = None if req.to_tag else self._token()
        fields = list(extra or [])
        if leg is not None and status < 300:
            fields.append(("Contact", str(self.contact_for(None, leg.peer.transport))))
        refreshed = self._session_answers.pop(transaction, None) if status >= 200 else None
        if refreshed is not None and status < 300:
            # A 2xx to the peer's re-INVITE or UPDATE is a session refresh (RFC 4028 §9).
            refreshed_leg = self._legs.get(refreshed[0])
            offer = refreshed[1]
            if refreshed_leg is not None:
                fields.extend(offer.fields)
                self._start_session(
                    refreshed_leg, SessionTimer(offer.interval, offer.refresher == "uas", now)
                )
        response = self._respond(
            transaction,
            req,
            status,
            now,
            reason=reason,
            to_tag=to_tag,
            extra=fields,
            body=body,
            content_type=content_type,
        )
        if leg is not None and status >= 200:
            leg.reinvite_in = None
            if status < 300:
                leg.local_sdp = body or leg.local_sdp
                self._start_2xx_retransmit(leg, response, transaction, now)

    # ================================================================ UAC API
    def invite(
        self,
        target: str | SipUri,
        now: float,
        *,
        from_user: str,
        from_display: str | None = None,
        from_host: str | None = None,
        sdp: bytes | None = None,
        destination: Destination | None = None,
        extra: list[tuple[str, str]] | None = None,
        credentials: tuple[str, str] | None = None,
        call_id: str | None = None,
        to: NameAddr | None = None,
    ) -> str:
        """Place a call: send an INVITE and return the new leg's id.

        ``destination`` overrides where it goes (an outbound proxy, a registered phone's
        source address); by default the target URI's host and port.
        """
        uri = parse_uri(target) if isinstance(target, str) else target
        dest = destination or uri_destination(uri, self.config.transport)
        leg_id = self._token()
        cid = call_id or f"{self._token()}@{self.config.host}"
        host = from_host or _uri_host(self.config.host)
        from_addr = NameAddr.of(SipUri("sip", from_user, None, host), from_display, tag=leg_id)
        to_addr = to or NameAddr(uri)
        fields: list[tuple[str, str]] = [
            ("Via", str(self._via(dest.transport))),
            ("Max-Forwards", "70"),
            ("From", str(from_addr)),
            ("To", str(to_addr)),
            ("Call-ID", cid),
            ("CSeq", "1 INVITE"),
            ("Contact", str(self.contact_for(from_user, dest.transport))),
            *self._allow_fields(),
            *self._common_fields(),
        ]
        if self.config.session_timer is not None:
            fields.extend(uac_fields(self.config.session_timer))
        if extra:
            fields.extend(extra)
        if sdp:
            fields.append(("Content-Type", "application/sdp"))
        request = Request("INVITE", uri, Headers(fields), sdp or b"")
        leg = Leg(leg_id, "uac", cid, request, dest, credentials=credentials, local_sdp=sdp)
        self._legs[leg_id] = leg
        self._send_invite(leg, request, now)
        log.info("sip_outgoing_call", call_id=cid, leg=leg_id, target=str(uri))
        return leg_id

    def _send_invite(self, leg: Leg, request: Request, now: float) -> None:
        leg.invite = request
        tx = self.transactions.send_request(request, leg.peer, now)
        leg.invite_tx = tx
        self._owners[tx] = _Owner("invite", leg.id, leg.id)

    def cancel(self, leg_id: str, now: float) -> None:
        """Give up on our INVITE (§9.1): CANCEL once a provisional response has arrived."""
        leg = self.leg(leg_id)
        if leg.role != "uac" or leg.state not in (LegState.CALLING, LegState.EARLY):
            raise InvalidStateError(f"leg {leg_id} cannot be cancelled in state {leg.state.value}")
        if not leg.provisional_seen:
            leg.cancel_wanted = True
            return
        self._send_cancel(leg, now)

    def _send_cancel(self, leg: Leg, now: float) -> None:
        inv = leg.invite
        fields: list[tuple[str, str]] = [("Via", str(inv.top_via))]
        fields.extend(("Route", v) for v in inv.headers.get_all("route"))
        fields += [
            ("Max-Forwards", "70"),
            ("From", inv.headers.get("from") or ""),
            ("To", inv.headers.get("to") or ""),
            ("Call-ID", inv.call_id),
            ("CSeq", f"{inv.cseq.seq} CANCEL"),
            *self._common_fields(),
        ]
        cancel = Request("CANCEL", inv.uri, Headers(fields))
        tx = self.transactions.send_request(cancel, leg.peer, now)
        self._owners[tx] = _Owner("cancel", leg.id, leg.id)
        leg.cancel_wanted = False

    def bye(self, leg_id: str, now: float) -> None:
        """End a confirmed call with BYE (§15)."""
        leg = self.leg(leg_id)
        if leg.state not in (LegState.CONFIRMED, LegState.ANSWERED):
            raise InvalidStateError(f"leg {leg_id} cannot send BYE in state {leg.state.value}")
        self._send_bye(leg, now)

    def hangup(self, leg_id: str, now: float, status: int = 480) -> None:
        """End the leg whatever its state: CANCEL, reject with ``status``, or BYE."""
        leg = self._legs.get(leg_id)
        if leg is None or leg.state in (LegState.ENDING, LegState.ENDED):
            return
        if leg.state in (LegState.CONFIRMED, LegState.ANSWERED):
            self._send_bye(leg, now)
        elif leg.role == "uac":
            self.cancel(leg_id, now)
        else:
            self.reject(leg_id, status, now)

    def _send_bye(self, leg: Leg, now: float) -> None:
        dialog = leg.dialog
        if dialog is None:
            self._end_leg(leg)
            return
        bye = self._dialog_request(leg, "BYE")
        tx = self.transactions.send_request(bye, self._dialog_destination(leg), now)
        self._owners[tx] = _Owner("bye", leg.id, leg.id)
        leg.state = LegState.ENDING
        leg.ok_deadline = None

    def _dialog_request(
        self,
        leg: Leg,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
    ) -> Request:
        assert leg.dialog is not None
        dest = self._dialog_destination(leg)
        contact = (
            self.contact_for(None, dest.transport)
            if method in ("INVITE", "UPDATE", "REFER", "NOTIFY")
            else None
        )
        return leg.dialog.create_request(
            method,
            self._via(dest.transport),
            contact=contact,
            extra=[*(extra or []), *self._common_fields()],
            body=body,
            content_type=content_type,
            cseq=cseq,
        )

    def _dialog_destination(self, leg: Leg) -> Destination:
        assert leg.dialog is not None
        try:
            dest = leg.dialog.next_hop(leg.peer.transport)
        except InvalidStateError:
            return leg.peer
        if leg.role == "uas" and not leg.dialog.route_set and leg.peer.reliable:
            # Reuse the connection the call came in on (RFC 5923 style reuse).
            return leg.peer
        if leg.role == "uas" and not leg.dialog.route_set and _is_private_mismatch(dest, leg.peer):
            return leg.peer
        return dest

    def reinvite(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Send a re-INVITE with a new offer (hold, resume, media change) (§14.1)."""
        leg = self.leg(leg_id)
        if leg.state is not LegState.CONFIRMED or leg.dialog is None:
            raise InvalidStateError(f"leg {leg_id} cannot re-INVITE in state {leg.state.value}")
        if leg.reinvite_out is not None or leg.reinvite_in is not None:
            raise InvalidStateError(f"leg {leg_id} has an offer/answer in progress")
        req = self._dialog_request(
            leg,
            "INVITE",
            body=sdp,
            content_type="application/sdp",
            extra=[*self._allow_fields(), *self._refresh_fields(leg)],
        )
        tx = self.transactions.send_request(req, self._dialog_destination(leg), now)
        leg.reinvite_out = tx
        leg.reinvite_out_request = req
        leg.local_sdp = sdp
        self._owners[tx] = _Owner("reinvite", leg.id, leg.id)

    def request(
        self,
        leg_id: str | None,
        method: str,
        now: float,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        target: str | SipUri | None = None,
        from_user: str = "pbx",
        destination: Destination | None = None,
    ) -> str:
        """Send a non-INVITE request in a call (INFO, REFER, NOTIFY, MESSAGE, UPDATE) or,
        with ``leg_id`` None, outside any dialog to ``target`` (OPTIONS, MESSAGE ...).

        Returns a handle; the final response arrives as :class:`RequestAnswered`.
        """
        if method in ("INVITE", "ACK", "CANCEL", "BYE", "REGISTER"):
            raise LocalProtocolError(f"use the dedicated call for {method}")
        handle = self._token()
        if leg_id is not None:
            leg = self.leg(leg_id)
            if leg.dialog is None or leg.state in (LegState.ENDING, LegState.ENDED):
                raise InvalidStateError(f"leg {leg_id} has no dialog for {method}")
            req = self._dialog_request(
                leg, method, body=body, content_type=content_type, extra=extra
            )
            dest = self._dialog_destination(leg)
        else:
            if target is None:
                raise LocalProtocolError("an out-of-dialog request needs a target")
            uri = parse_uri(target) if isinstance(target, str) else target
            dest = destination or uri_destination(uri, self.config.transport)
            fields: list[tuple[str, str]] = [
                ("Via", str(self._via(dest.transport))),
                ("Max-Forwards", "70"),
                (
                    "From",
                    str(
                        NameAddr(
                            SipUri("sip", from_user, None, _uri_host(self.config.host)),
                            None,
                            (("tag", self._token()),),
                        )
                    ),
                ),
                ("To", str(NameAddr(uri))),
                ("Call-ID", f"{self._token()}@{self.config.host}"),
                ("CSeq", f"1 {method}"),
                *self._common_fields(),
                *(extra or []),
            ]
            if body and content_type:
                fields.append(("Content-Type", content_type))
            req = Request(method, uri, Headers(fields), body)
        tx = self.transactions.send_request(req, dest, now)
        self._owners[tx] = _Owner("request", handle, leg_id)
        return handle

    # ---------------------------------------------------------------- responses
    def _on_response(self, owner: _Owner, resp: Response, tx: str, now: float) -> None:
        kind = owner.kind
        if kind == "invite":
            leg = self._legs.get(owner.key)
            if leg is not None:
                self._on_invite_response(leg, resp, tx, now)
            elif resp.success:
                self._ack_and_bye_stray(resp, now)
        elif kind == "reinvite":
            leg = self._legs.get(owner.key)
            if leg is not None:
                self._on_reinvite_response(leg, resp, tx, now)
        elif kind == "refresh":
            leg = self._legs.get(owner.key)
            if leg is not None and leg.refresh_tx == tx:
                self._on_refresh_response(leg, resp, tx, now)
        elif kind == "bye":
            if resp.status >= 200:
                leg = self._legs.get(owner.key)
                if leg is not None:
                    self._end_leg(leg)
                    self._events.append(CallEnded(leg.id, "local", "bye"))
        elif kind == "request":
            if resp.status >= 200:
                self._events.append(RequestAnswered(owner.key, owner.leg, resp))
        elif kind == "register":
            self._on_register_response(owner.key, resp, now)

    def _on_invite_response(self, leg: Leg, resp: Response, tx: str, now: float) -> None:
        status = resp.status
        if status < 200:
            if status == 100:
                leg.provisional_seen = True
                if leg.cancel_wanted:
                    self._send_cancel(leg, now)
                return
            leg.provisional_seen = True
            if resp.to_tag and leg.dialog is None:
                leg.dialog = Dialog.from_uac(leg.invite, resp)
            if leg.state is LegState.CALLING:
                leg.state = LegState.EARLY
            if leg.cancel_wanted:
                self._send_cancel(leg, now)
            self._events.append(CallProgress(leg.id, status, resp.reason, _sdp_of(resp)))
            return
        if status < 300:
            if leg.state in (LegState.CONFIRMED, LegState.ENDING):
                if leg.ack_bytes and leg.ack_destination is not None:
                    self.transactions.send_raw(leg.ack_bytes, leg.ack_destination)  # §13.2.2.4
                return
            if leg.dialog is None or leg.dialog.remote_tag != resp.to_tag:
                leg.dialog = Dialog.from_uac(leg.invite, resp)
            else:
                leg.dialog.update_from_response(resp)
            leg.dialog.state = DialogState.CONFIRMED
            self._send_ack(leg, resp, now)
            cancelled = leg.cancel_wanted
            leg.state = LegState.CONFIRMED
            if self.config.session_timer is not None:
                leg.refresh_with_invite = not _allows(resp, "UPDATE")
                timer = uac_timer(resp, now)
                if timer is not None:
                    self._start_session(leg, timer)
            self._events.append(CallAnswered(leg.id, _sdp_of(resp), resp))
            if cancelled:
                self._send_bye(leg, now)
            return
        if status == 422 and leg.session_retries < 2:
            retry = self._with_larger_interval(leg.invite, resp)
            if retry is not None:
                leg.session_retries += 1
                self._send_invite(leg, retry, now)
                return
        if status in (401, 407) and leg.credentials is not None and leg.auth_attempts < 2:
            retry = self._authorize(leg.invite, resp, leg.credentials)
            if retry is not None:
                leg.auth_attempts += 1
                self._send_invite(leg, retry, now)
                return
        self._end_leg(leg)
        self._events.append(CallFailed(leg.id, status, resp.reason, resp))

    def _send_ack(self, leg: Leg, resp: Response, now: float) -> None:
        """ACK for a 2xx: a new transaction-less request in the dialog (§13.2.2.4)."""
        assert leg.dialog is not None
        ack = self._dialog_request(leg, "ACK", cseq=resp.cseq.seq)
        dest = self._dialog_destination(leg)
        leg.ack_bytes = bytes(ack)
        leg.ack_destination = dest
        self.transactions.send_raw(leg.ack_bytes, dest)

    def _on_reinvite_response(self, leg: Leg, resp: Response, tx: str, now: float) -> None:
        if resp.status < 200:
            return
        if resp.status < 300:
            assert leg.dialog is not None
            leg.dialog.update_from_response(resp)
            if leg.reinvite_out == tx:
                self._send_ack(leg, resp, now)
            elif leg.ack_bytes and leg.ack_destination is not None:
                self.transactions.send_raw(leg.ack_bytes, leg.ack_destination)
                return
            self._session_refreshed(leg, resp, now)
        leg.reinvite_out = None
        leg.reinvite_out_request = None
        self._events.append(ReinviteAnswered(leg.id, resp.status, _sdp_of(resp)))
        if resp.status in (408, 481):
            # §14.1: the dialog is gone.
            self._send_bye(leg, now)

    def _on_stray_response(self, resp: Response) -> None:
        try:
            if resp.cseq.method != "INVITE" or not resp.success:
                return
        except SipParseError:
            return
        leg = self._legs.get(resp.from_tag or "")
        if leg is not None and leg.ack_bytes and leg.ack_destination is not None:
            self.transactions.send_raw(leg.ack_bytes, leg.ack_destination)

    def _ack_and_bye_stray(self, resp: Response, now: float) -> None:
        self.log_limit.log(log.info, "sip_stray_2xx", now, call_id=bounded(resp.call_id))

    def _on_timeout(self, owner: _Owner, now: float) -> None:
        kind = owner.kind
        leg = self._legs.get(owner.leg or "")
        if kind == "invite" and leg is not None and leg.state in (LegState.CALLING, LegState.EARLY):
            self._end_leg(leg)
            self._events.append(CallFailed(leg.id, 408, "Request Timeout", None))
        elif kind == "bye" and leg is not None:
            self._end_leg(leg)
            self._events.append(CallEnded(leg.id, "local", "bye timeout"))
        elif kind == "reinvite" and leg is not None:
            leg.reinvite_out = None
            self._events.append(ReinviteAnswered(leg.id, 408, None))
            self._send_bye(leg, now)
        elif kind == "refresh" and leg is not None:
            # RFC 4028 §10: a refresh that times out ends the session.
            self._end_session(leg, "session refresh timed out", now)
        elif kind == "request":
            self._events.append(RequestFailed(owner.key, owner.leg))
        elif kind == "register":
            reg = self._regs.get(owner.key)
            if reg is not None:
                reg.registered = False
                self._events.append(RegistrationStatus(reg.id, False, 408, 0))
                reg.refresh_at = now + 30.0
                self._arm(reg.refresh_at, "reg", reg.id)

    def _end_leg(self, leg: Leg) -> None:
        leg.state = LegState.ENDED
        leg.ok_deadline = None
        if leg.dialog is not None:
            leg.dialog.state = DialogState.TERMINATED
        self._legs.pop(leg.id, None)

    # ================================================================ session timers
    def _negotiate_session(
        self, req: Request, tx: str, now: float
    ) -> Negotiated | None | Literal[False]:
        """RFC 4028 for an INVITE or UPDATE we answer: what our 2xx will say, or False
        when the request was answered here (422 below our Min-SE, 400 malformed)."""
        config = self.config.session_timer
        if config is None:
            return None
        try:
            got = uas_negotiate(req, config)
        except SipParseError as exc:
            self._respond(tx, req, 400, now, reason=f"Bad Request ({exc.reason})")
            return False
        if isinstance(got, TooSmall):
            self._respond(
                tx, req, 422, now, to_tag=None if req.to_tag else self._token(),
                extra=[("Min-SE", str(got.min_se))],
            )  # fmt: skip
            return False
        return got

    def _start_session(self, leg: Leg, timer: SessionTimer) -> None:
        leg.session = timer
        self._arm_session(leg, timer.deadline)

    def _arm_session(self, leg: Leg, at: float) -> None:
        leg.session_armed = at
        self._arm(at, "session", leg.id)

    def _refresh_fields(self, leg: Leg) -> list[tuple[str, str]]:
        """Session-Expires for a re-INVITE or UPDATE we send in a dialog with a timer."""
        config = self.config.session_timer
        if config is None or leg.session is None:
            return []
        # Sending it, we are the UAC of the transaction; we offer to go on refreshing
        # when we did, and leave the choice to the peer otherwise.
        fields = uac_fields(config, leg.session.interval)
        if leg.session.local_refreshes:
            fields[0] = ("Session-Expires", f"{leg.session.interval};refresher=uac")
        return fields

    def _session_refreshed(self, leg: Leg, resp: Response, now: float) -> None:
        """A 2xx to our re-INVITE or UPDATE restarts the timer on its terms (§7.2)."""
        if self.config.session_timer is None:
            return
        timer = uac_timer(resp, now)
        if timer is None and leg.session is not None:
            # The peer gave no Session-Expires: we keep refreshing ourselves rather than
            # end a call over a missing header (refreshing costs nothing).
            timer = SessionTimer(leg.session.interval, True, now)
        if timer is not None:
            self._start_session(leg, timer)

    def _on_session_timer(self, leg_id: str, now: float) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.session_armed is None or leg.session_armed > now:
            return  # ended, or a later deadline replaced this one
        leg.session_armed = None
        timer = leg.session
        if timer is None or leg.state not in (LegState.ANSWERED, LegState.CONFIRMED):
            return
        if now >= timer.expires_at:
            self._end_session(leg, "session expired", now)
            return
        if timer.local_refreshes and now >= timer.refresh_at:
            if leg.state is LegState.CONFIRMED and leg.refresh_tx is None:
                self._send_refresh(leg, now)
            if leg.refresh_tx is None and leg.state is LegState.CONFIRMED:
                # An offer/answer of the call's own is in progress: try again shortly.
                self._arm_session(leg, min(now + 1.0, timer.expires_at))
                return
            self._arm_session(leg, timer.expires_at)
            return
        self._arm_session(leg, timer.deadline)

    def _send_refresh(self, leg: Leg, now: float) -> None:
        """Refresh the session: UPDATE without a body, or a re-INVITE with the same SDP
        (an unchanged version, so no media change, RFC 3264 §8) when UPDATE is not taken."""
        extra = [*self._allow_fields(), *self._refresh_fields(leg)]
        if leg.refresh_with_invite:
            if leg.reinvite_out is not None or leg.reinvite_in is not None:
                return  # that re-INVITE will refresh the session
            req = self._dialog_request(
                leg,
                "INVITE",
                body=leg.local_sdp or b"",
                content_type="application/sdp" if leg.local_sdp else None,
                extra=extra,
            )
        else:
            req = self._dialog_request(leg, "UPDATE", extra=extra)
        tx = self.transactions.send_request(req, self._dialog_destination(leg), now)
        self._owners[tx] = _Owner("refresh", leg.id, leg.id)
        leg.refresh_tx = tx
        if req.method == "INVITE":
            leg.reinvite_out = tx
            leg.reinvite_out_request = req
        log.debug("sip_session_refresh", call_id=leg.call_id, leg=leg.id, method=req.method)

    def _on_refresh_response(self, leg: Leg, resp: Response, tx: str, now: float) -> None:
        status = resp.status
        if status < 200:
            return
        is_invite = leg.reinvite_out == tx
        if is_invite and status < 300:
            assert leg.dialog is not None
            leg.dialog.update_from_response(resp)
            self._send_ack(leg, resp, now)
        if is_invite:
            leg.reinvite_out = None
            leg.reinvite_out_request = None
        leg.refresh_tx = None
        if status < 300:
            self._session_refreshed(leg, resp, now)
        elif status in (408, 481):
            self._end_session(leg, f"session refresh failed ({status})", now)  # §10
        elif status in (405, 501) and not is_invite:
            leg.refresh_with_invite = True  # the peer does not take UPDATE
            self._send_refresh(leg, now)
        elif status == 422 and leg.session is not None:
            floor = session_timer.min_se(resp) if _parses(resp) else None
            if floor is not None and floor > leg.session.interval:
                leg.session.interval = floor
                self._send_refresh(leg, now)
        elif status == 491 and leg.session is not None:
            # §14.1 glare: try again after a random 2.1–4 s (we may own the Call-ID or not).
            retry = now + self.rng.uniform(2.1, 4.0)
            self._arm_session(leg, min(retry, leg.session.expires_at))
        # Any other failure: the session runs to its end and is then ended (§10).

    def _end_session(self, leg: Leg, reason: str, now: float) -> None:
        """The session timer ran out (or its refresh failed): BYE, and tell the call layer."""
        log.info("sip_session_expired", call_id=leg.call_id, leg=leg.id, reason=reason)
        leg.session = None
        leg.session_armed = None
        if leg.state is LegState.ANSWERED and leg.dialog is not None:
            leg.state = LegState.CONFIRMED
            leg.dialog.state = DialogState.CONFIRMED
        self._send_bye(leg, now)
        self._events.append(CallEnded(leg.id, "local", reason))

    def _with_larger_interval(self, request: Request, resp: Response) -> Request | None:
        """Our INVITE again, asking for at least the 422's Min-SE (RFC 4028 §7.4)."""
        config = self.config.session_timer
        floor = session_timer.min_se(resp) if _parses(resp) else None
        if config is None or floor is None or floor > 86400:
            return None
        headers = request.headers.copy()
        headers.remove("via")
        headers.prepend("Via", str(self._via(request.top_via.transport)))
        headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
        headers.set("Session-Expires", str(max(floor, config.expires)))
        headers.set("Min-SE", str(floor))
        return Request(request.method, request.uri, headers, request.body)

    # ================================================================ authentication
    def _authorize(
        self, request: Request, resp: Response, credentials: tuple[str, str]
    ) -> Request | None:
        """A copy of ``request`` answering the 401/407 challenge, CSeq+1 and a new branch."""
        header = "www-authenticate" if resp.status == 401 else "proxy-authenticate"
        answer_header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        challenges = []
        for value in resp.headers.get_all(header):
            try:
                challenges.append(auth.Challenge.parse(value))
            except auth.AuthError:
                continue
        if not challenges:
            return None
        challenge = _pick_challenge(challenges)
        if challenge is None:
            return None
        user, password = credentials
        creds = auth.answer_challenge(
            challenge,
            username=user,
            password=password,
            method=request.method,
            uri=str(request.uri),
            cnonce=self._token(),
            nc=1,
        )
        headers = request.headers.copy()
        headers.remove("via")
        headers.prepend("Via", str(self._via(request.top_via.transport)))
        headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
        headers.remove("authorization")
        headers.remove("proxy-authorization")
        headers.add(answer_header, str(creds))
        return Request(request.method, request.uri, headers, request.body)

    # ================================================================ registration client
    def register(
        self,
        registrar: str | SipUri,
        now: float,
        *,
        user: str,
        credentials: tuple[str, str] | None = None,
        expires: int = 3600,
        domain: str | None = None,
        destination: Destination | None = None,
    ) -> str:
        """Register ``user`` at ``registrar`` (a carrier trunk) and keep it refreshed."""
        uri = parse_uri(registrar) if isinstance(registrar, str) else registrar
        if not isinstance(uri, SipUri):
            raise LocalProtocolError("registrar must be a sip: URI")
        dest = destination or uri_destination(uri, self.config.transport)
        aor = NameAddr(SipUri("sip", user, None, domain or uri.host))
        reg = OwnRegistration(
            self._token(),
            uri,
            aor,
            self.contact_for(user, dest.transport),
            dest,
            credentials,
            expires,
            f"{self._token()}@{self.config.host}",
        )
        self._regs[reg.id] = reg
        self._send_register(reg, now, expires)
        return reg.id

    def unregister(self, handle: str, now: float) -> None:
        """Remove our binding (Expires: 0) and stop refreshing."""
        reg = self._regs.get(handle)
        if reg is None:
            raise InvalidStateError(f"unknown registration {handle!r}")
        reg.expires = 0
        reg.refresh_at = None
        self._send_register(reg, now, 0)

    def _send_register(
        self,
        reg: OwnRegistration,
        now: float,
        expires: int,
        authorization: tuple[str, str] | None = None,
    ) -> None:
        reg.cseq += 1
        dest = reg.destination
        fields: list[tuple[str, str]] = [
            ("Via", str(self._via(dest.transport))),
            ("Max-Forwards", "70"),
            ("From", str(reg.aor.with_param("tag", self._token()))),
            ("To", str(reg.aor)),
            ("Call-ID", reg.call_id),
            ("CSeq", f"{reg.cseq} REGISTER"),
            ("Contact", str(reg.contact)),
            ("Expires", str(expires)),
            *self._allow_fields(),
            *self._common_fields(),
        ]
        if authorization is not None:
            fields.append(authorization)
        req = Request("REGISTER", reg.registrar.without_headers(), Headers(fields))
        reg.last_request = req
        tx = self.transactions.send_request(req, dest, now)
        self._owners[tx] = _Owner("register", reg.id)

    def _on_register_response(self, handle: str, resp: Response, now: float) -> None:
        reg = self._regs.get(handle)
        if reg is None or resp.status < 200:
            return
        if (
            resp.status in (401, 407)
            and reg.credentials
            and reg.auth_attempts < 2
            and reg.last_request
        ):
            retry = self._authorize(reg.last_request, resp, reg.credentials)
            if retry is not None:
                reg.auth_attempts += 1
                header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
                value = retry.headers.get(header) or ""
                self._send_register(reg, now, reg.expires, (header, value))
                return
        reg.auth_attempts = 0
        if resp.status == 423:
            min_expires = resp.headers.int_value("min-expires")
            if min_expires and min_expires > reg.expires:
                reg.expires = min_expires
                self._send_register(reg, now, reg.expires)
                return
        if resp.success:
            granted = reg.expires
            for c in resp.contacts:
                if c.uri.equivalent(reg.contact.uri):
                    exp = c.param("expires")
                    if exp and exp.isdigit():
                        granted = int(exp)
            if granted == 0 or reg.expires == 0:
                reg.registered = False
                self._regs.pop(reg.id, None)
                self._events.append(RegistrationStatus(reg.id, False, resp.status, 0))
                return
            reg.registered = True
            reg.refresh_at = now + max(granted - 30, granted / 2)
            self._arm(reg.refresh_at, "reg", reg.id)
            self._events.append(RegistrationStatus(reg.id, True, resp.status, granted))
        else:
            reg.registered = False
            self._events.append(RegistrationStatus(reg.id, False, resp.status, 0))
            reg.refresh_at = now + 60.0
            self._arm(reg.refresh_at, "reg", reg.id)

    def _refresh_registration(self, handle: str, now: float) -> None:
        reg = self._regs.get(handle)
        if reg is None or reg.refresh_at is None or reg.refresh_at > now:
            return
        reg.refresh_at = None
        self._send_register(reg, now, reg.expires)


def _accepts_sdp(req: Request) -> bool:
    """Whether ``req``'s Accept (absent: application/sdp, §20.1) allows an SDP body."""
    if "accept" not in req.headers:
        return True
    for item in req.header_tokens("accept"):
        media = item.split(";", 1)[0].strip().lower()
        if media in ("application/sdp", "application/*", "*/*"):
            return True
    return False


def _allows(message: Request | Response, method: str) -> bool:
    """Whether ``message``'s Allow lists ``method`` (absent: we do not assume it does)."""
    return any(t.upper() == method for t in message.header_tokens("allow"))


def _parses(resp: Response) -> bool:
    """Whether ``resp``'s Min-SE is readable (a bad one is ignored, never raised)."""
    try:
        session_timer.min_se(resp)
    except SipParseError:
        return False
    return True


def _pick_challenge(challenges: list[auth.Challenge]) -> auth.Challenge | None:
    """RFC 8760 §2.4: prefer SHA-256 over MD5 when both are offered."""
    by_alg = {(c.algorithm or "MD5").upper(): c for c in challenges}
    for alg in ("SHA-256", "MD5", "SHA-256-SESS", "MD5-SESS"):
        if alg in by_alg:
            return by_alg[alg]
    return None


def _sdp_of(message: Request | Response) -> bytes | None:
    if message.body and message.content_type == "application/sdp":
        return message.body
    return None


def _user_of(uri: SipUri | AbsoluteUri) -> str | None:
    return uri.user_unescaped if isinstance(uri, SipUri) else uri.user


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_private_mismatch(dest: Destination, peer: Destination) -> bool:
    """True when a Contact names another host than the one the call came from (NAT).

    Phones behind NAT put their private address in Contact; requests to them go back to
    the address their INVITE came from, as symmetric-response routing does (RFC 3581).
    """
    return dest.host != peer.host
