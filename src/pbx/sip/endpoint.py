"""The SIP endpoint: one sans-I/O UAC, UAS and registrar (RFC 3261 §8, §10, §12–§15).

Theory of operation
-------------------
``SipEndpoint`` stacks the layers of §5 by composition: bytes are parsed into messages,
the :class:`~pbx.sip.transaction.TransactionLayer` matches them to transactions, and the
transaction user routes each request and response to the usage it belongs to:

* the INVITE usage (:mod:`pbx.sip.invite`): the legs, one per INVITE dialog, named by
  our local tag, with their 2xx retransmission, ACK, CANCEL, BYE and re-INVITE, and the
  session timers (:mod:`pbx.sip.session_refresh`);
* the registrar front (REGISTER for our users, bindings kept by
  :class:`~pbx.sip.registration.Registrar`) and the registration client for our own
  registrations at carriers (:mod:`pbx.sip.registration_client`);
* the digest front (a 401 challenge when the policy asks for one, §22) and the checks a
  UAS makes before acting on any request (:mod:`pbx.sip.validation`, §8.2);
* OPTIONS (200 with Allow, Accept, Supported), and everything else handed up as
  :mod:`pbx.sip.events` (``IncomingRequest`` outside a dialog, ``InDialogRequest``).

The call-level API (``invite``, ``ring``, ``answer``, ``reject``, ``cancel``, ``bye``,
``reinvite``, ``request``, ``respond``, ``register``) turns calls into requests and
responses. Everything is driven by ``receive_datagram(data, source, now)`` and
``handle_timer(now)``; output is ``datagrams_to_send()``, ``next_event()`` and
``get_timer()``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Literal

import structlog
from attrs import define, field

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.loglimit import LogLimiter, bounded
from pbx.sip import auth
from pbx.sip.dialog import uri_destination
from pbx.sip.errors import SipParseError
from pbx.sip.events import (
    DeviceRegistered,
    EndpointEvent,
    IncomingRequest,
    MessageRejected,
    RequestAnswered,
    RequestFailed,
)
from pbx.sip.headers import Headers
from pbx.sip.invite import InviteUsage
from pbx.sip.legs import SipLeg, SipLegState, dialog_destination, dialog_request
from pbx.sip.message import Request, Response, error_response_for, parse_message
from pbx.sip.registration import Registrar
from pbx.sip.registration_client import RegistrationClient
from pbx.sip.session_refresh import SessionRefresh
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
from pbx.sip.ua import (
    ACCEPTED_BODIES,
    ALLOWED_METHODS,
    KNOWN_METHODS,
    SUPPORTED_EXTENSIONS,
    EndpointConfig,
    Owner,
    UaCore,
    authorized,
    uri_host,
)
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri, parse_uri
from pbx.sip.validation import refusal

__all__ = [
    "ACCEPTED_BODIES",
    "ALLOWED_METHODS",
    "KNOWN_METHODS",
    "SUPPORTED_EXTENSIONS",
    "TrustPolicy",
    "EndpointConfig",
    "SipLeg",
    "SipLegState",
    "SipEndpoint",
]

log = structlog.get_logger(__name__)

TrustPolicy = Callable[[Request, Destination, float], str | None]
"""Decides once per request who it comes from: the name of the trusted peer (a carrier
trunk) whose requests need no authentication, or None when it must authenticate."""


@define
class SipEndpoint:
    """UAC, UAS, registrar and registration client over one transaction layer."""

    _config: EndpointConfig = field(factory=EndpointConfig, alias="config")
    rng: random.Random = field(factory=random.Random)
    registrar: Registrar | None = None
    authenticator: auth.DigestAuthenticator | None = None
    trust: TrustPolicy | None = None
    """Classifies INVITEs and application requests: a trunk name (trusted, carried on
    the event) or None (digest authentication). Without a policy nothing authenticates."""
    transactions: TransactionLayer = field(init=False)
    core: UaCore = field(init=False)
    invites: InviteUsage = field(init=False)
    registrations: RegistrationClient = field(init=False)
    bad_messages: int = field(init=False, default=0)
    """Received messages that could not be parsed (answered 400 or dropped)."""
    requests_in: dict[tuple[str, ...], int] = field(init=False, factory=dict)
    """Requests received, by (method,); a method outside KNOWN_METHODS counts as OTHER."""
    responses_in: dict[tuple[str, ...], int] = field(init=False, factory=dict)
    """Responses received, by (CSeq method, status code)."""
    requests_out: dict[tuple[str, ...], int] = field(init=False, factory=dict)
    """Requests sent (retransmissions included), by (method,)."""
    responses_out: dict[tuple[str, ...], int] = field(init=False, factory=dict)
    """Responses sent (retransmissions included), by (CSeq method, status code)."""
    _pending_server: dict[tuple[str, str, int], str] = field(init=False, factory=dict)
    """(From tag, Call-ID, CSeq) of requests without a To tag → their transaction (§8.2.2.2)."""
    _pending_key: dict[str, tuple[str, str, int]] = field(init=False, factory=dict)
    _extra_out: list[tuple[bytes, Destination]] = field(init=False, factory=list)
    _challengeable: dict[str, tuple[Request, Destination, tuple[str, str]]] = field(
        init=False, factory=dict
    )
    """Out-of-dialog requests sent with credentials, by handle, until their first answer:
    a 401/407 is answered once (§22.2) before the handle's answer is handed up."""

    def __attrs_post_init__(self) -> None:
        self.transactions = TransactionLayer(self._config.timers)
        self.core = UaCore(self._config, self.rng, self.transactions)
        legs: dict[str, SipLeg] = {}
        sessions = SessionRefresh(self.core, legs, {})
        self.invites = InviteUsage(self.core, legs, sessions)
        self.registrations = RegistrationClient(self.core)

    @property
    def config(self) -> EndpointConfig:
        """How the endpoint presents itself; replacing it (say, with the port a socket
        bound to) takes effect for every message written from then on."""
        return self._config

    @config.setter
    def config(self, value: EndpointConfig) -> None:
        self._config = value
        self.core.config = value

    @property
    def log_limit(self) -> LogLimiter:
        """The rate limit on lines a sender can trigger (see :mod:`pbx.loglimit`)."""
        return self.core.log_limit

    # ================================================================ sans-I/O surface
    def receive_datagram(self, data: bytes, source: Destination, now: float) -> None:
        """Hand one received datagram (or one framed stream message) to the endpoint."""
        if not data.strip(b"\r\n"):
            return  # keep-alive (RFC 5626 §3.5.1)
        try:
            message = parse_message(data, stream=source.stream)
            message.check()
        except SipParseError as exc:
            self._reject_unparseable(exc, source)
            return
        if isinstance(message, Request):
            key: tuple[str, ...] = (_method_label(message.method),)
            counts = self.requests_in
        else:
            key = (_method_label(message.cseq.method), str(message.status))
            counts = self.responses_in
        counts[key] = counts.get(key, 0) + 1
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
        heap = self.core.timers
        while heap and heap[0][0] <= now:
            _, _, kind, key = heapq.heappop(heap)
            if kind == "2xx":
                self.invites.retransmit_2xx(key, now)
            elif kind == "session":
                self.invites.sessions.handle_timer(key, now)
            elif kind == "reg":
                self.registrations.handle_timer(key, now)
            elif kind == "expire" and self.registrar is not None:
                for change in self.registrar.expire(now):
                    self.core.events.append(DeviceRegistered(change.aor, change.bindings))
                self._arm_expiry()
        self._process_transaction_events(now)

    def flow_closed(self, flow: Destination, now: float) -> None:
        """The connection ``flow`` names closed: the bindings registered over it go at
        once (RFC 5626 §5: the phone is reachable over that flow only), and so do the
        calls over it."""
        self.invites.flow_lost(flow, now)
        if self.registrar is not None:
            for change in self.registrar.forget_flow(flow):
                self.core.events.append(DeviceRegistered(change.aor, change.bindings))

    def get_timer(self) -> float | None:
        """The earliest deadline of the endpoint, or None."""
        t = self.transactions.get_timer()
        heap = self.core.timers
        while heap:
            deadline, _, kind, key = heap[0]
            # A deadline the ACK, a refresh or the leg's end replaced: drop it here rather
            # than wake up for it.
            if (kind == "2xx" and not self.invites.retransmit_due(key, deadline)) or (
                kind == "session" and not self.invites.sessions.armed(key, deadline)
            ):
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
        requests, responses = self.requests_out, self.responses_out
        key: tuple[str, ...]
        for data, _ in out:
            if data[:8] == b"SIP/2.0 ":
                key = (_sent_cseq_method(data), data[8:11].decode("ascii", "replace"))
                responses[key] = responses.get(key, 0) + 1
            elif data[:1] not in (b"\r", b"\n", b""):
                key = (_method_label(data[: data.find(b" ")].decode("ascii", "replace")),)
                requests[key] = requests.get(key, 0) + 1
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
        events = self.core.events
        return events.popleft() if events else None

    def leg(self, leg_id: str) -> SipLeg:
        """The leg ``leg_id``; raises :class:`~pbx.errors.InvalidStateError` when unknown."""
        return self.invites.leg(leg_id)

    @property
    def legs(self) -> dict[str, SipLeg]:
        """Every live leg by id."""
        return self.invites.legs

    def new_branch(self) -> str:
        """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
        return self.core.new_branch()

    def contact_for(self, user: str | None, transport: str) -> NameAddr:
        """Our Contact for requests and responses over ``transport``."""
        return self.core.contact_for(user, transport)

    # ================================================================ incoming
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
        self.core.events.append(MessageRejected(exc.reason, source, answered))

    def _process_transaction_events(self, now: float) -> None:
        tl = self.transactions
        owners = self.core.owners
        while (ev := tl.next_event()) is not None:
            if isinstance(ev, RequestReceived):
                if ev.transaction is None:
                    self.invites.on_ack(ev.request)
                else:
                    self._on_request(ev.request, ev.source, ev.transaction, now)
            elif isinstance(ev, ResponseReceived):
                owner = owners.get(ev.transaction)
                if owner is not None:
                    self._on_response(owner, ev.response, ev.transaction, now)
            elif isinstance(ev, StrayResponse):
                self.invites.on_stray_response(ev.response)
            elif isinstance(ev, TransactionTimedOut):
                owner = owners.pop(ev.transaction, None)
                if owner is not None:
                    self._on_timeout(owner, now)
            elif isinstance(ev, AckTimedOut):
                self.core.log_limit.log(
                    log.info, "sip_ack_timeout", now, call_id=bounded(ev.request.call_id)
                )
            elif isinstance(ev, TransactionTerminated):
                owners.pop(ev.transaction, None)
                # A re-INVITE or UPDATE that ended unanswered (the leg went first).
                self.invites.sessions.answers.pop(ev.transaction, None)
                key = self._pending_key.pop(ev.transaction, None)
                if key is not None and self._pending_server.get(key) == ev.transaction:
                    del self._pending_server[key]

    def _on_request(self, req: Request, source: Destination, tx: str, now: float) -> None:
        if not self._validate_request(req, tx, now):
            return
        if req.to_tag is not None:
            self.invites.on_in_dialog(req, tx, now)
            return
        core = self.core
        method = req.method
        if method == "CANCEL":
            self.invites.on_cancel(req, tx, now)
        elif method == "INVITE":
            # Challenge first: a 401 needs no 100 Trying before it (and some clients stop
            # reading at the 100).
            trunk = self.trust(req, source, now) if self.trust is not None else None
            user = None if trunk is not None else self._authenticate(req, tx, now)
            if user is not False:
                self.invites.on_invite(req, source, tx, now, user, trunk)
        elif method == "REGISTER":
            self._on_register(req, source, tx, now)
        elif method == "OPTIONS":
            core.respond(
                tx,
                req,
                200,
                now,
                to_tag=core.token(),
                extra=[*core.allow_fields(), ("Accept", ", ".join(ACCEPTED_BODIES))],
            )
        elif method == "BYE":
            core.respond(tx, req, 481, now, to_tag=core.token())
        elif method in self.config.app_methods:
            trunk = self.trust(req, source, now) if self.trust is not None else None
            user = None if trunk is not None else self._authenticate(req, tx, now)
            if user is not False:
                core.events.append(IncomingRequest(req, source, tx, trunk, user))
        else:
            core.respond(tx, req, 405, now, to_tag=core.token(), extra=core.allow_fields())

    def _validate_request(self, req: Request, tx: str, now: float) -> bool:
        """§8.2: refuse what a UAS must not act on; False when it was answered here."""
        core = self.core
        refused = refusal(req, core.supported(), self.config.host)
        if refused is not None:
            extra = [*refused.fields, *(core.allow_fields() if refused.allow else [])]
            core.respond(tx, req, refused.status, now, extra=extra)
            return False
        if req.to_tag is None and req.method != "CANCEL":
            # §8.2.2.2 merged requests: same From tag, Call-ID and CSeq on another branch.
            key = (req.from_tag or "", req.call_id, req.cseq.seq)
            other = self._pending_server.get(key)
            if other is not None and other != tx and self.transactions.get(other) is not None:
                core.respond(tx, req, 482, now)
                return False
            self._pending_server[key] = tx
            self._pending_key[tx] = key
        return True

    def _authenticate(
        self, req: Request, tx: str, now: float, *, always: bool = False
    ) -> str | None | Literal[False]:
        """Digest-check ``req`` (unless no trust policy is set); False when a challenge
        was sent.

        Returns the authenticated user name, or None when no authentication was needed.
        """
        authn = self.authenticator
        if authn is None:
            return None
        core = self.core
        source = self._tx_source(tx)
        if not always and self.trust is None:
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
                core.respond(tx, req, 400, now, reason=f"Bad Request ({exc})")
                return False
            if result.ok:
                return result.username
            stale = stale or result.stale
            core.log_limit.log(
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
        core.respond(tx, req, status, now, to_tag=core.token(), extra=extra)
        return False

    def _tx_source(self, tx: str) -> Destination:
        t = self.transactions.get(tx)
        return t.destination if t is not None else Destination("UDP", "0.0.0.0", 0)

    def _on_register(self, req: Request, source: Destination, tx: str, now: float) -> None:
        core = self.core
        if self.registrar is None:
            core.respond(tx, req, 405, now, extra=core.allow_fields())
            return
        if not isinstance(req.to.uri, SipUri):
            # §10.3 step 5: the address of record is a SIP or SIPS URI (RFC 4475 §3.3.2).
            reason = "Bad Request (To must be a SIP or SIPS URI)"
            core.respond(tx, req, 400, now, reason=reason, to_tag=core.token())
            return
        user = self._authenticate(req, tx, now, always=True)
        if user is False:
            return
        if isinstance(user, str) and _user_of(req.to.uri) != user:
            core.respond(tx, req, 403, now, to_tag=core.token())
            return
        try:
            outcome = self.registrar.process(req, source, now)
        except SipParseError as exc:
            reason = f"Bad Request ({exc.reason})"
            core.respond(tx, req, 400, now, reason=reason, to_tag=core.token())
            return
        core.respond(tx, req, outcome.status, now, to_tag=core.token(), extra=list(outcome.fields))
        if outcome.changed is not None:
            core.events.append(DeviceRegistered(outcome.changed.aor, outcome.changed.bindings))
            self._arm_expiry()

    def _arm_expiry(self) -> None:
        if self.registrar is not None:
            t = self.registrar.next_expiry()
            if t is not None:
                self.core.arm(t, "expire", "")

    def _on_response(self, owner: Owner, resp: Response, tx: str, now: float) -> None:
        kind = owner.kind
        if kind == "register":
            self.registrations.on_response(owner.key, resp, now)
            return
        if kind == "request":
            if resp.status < 200:
                return
            sent = self._challengeable.pop(owner.key, None)
            if sent is not None and resp.status in (401, 407):
                request, dest, credentials = sent
                try:
                    again = authorized(self.core, request, resp, credentials)
                except auth.AuthError:
                    again = None
                if again is not None:
                    retry = self.transactions.send_request(again, dest, now)
                    self.core.owners[retry] = Owner("request", owner.key, owner.leg)
                    return
            self.core.events.append(RequestAnswered(owner.key, owner.leg, resp))
            return
        invites = self.invites
        leg = invites.legs.get(owner.key)
        if leg is None:
            if kind == "invite" and resp.success:
                invites.on_stray_2xx(resp, now)
            return
        if kind == "invite":
            invites.on_invite_response(leg, resp, now)
        elif kind == "reinvite":
            invites.on_reinvite_response(leg, resp, tx, now)
        elif kind == "refresh":
            invites.sessions.on_response(leg, resp, tx, now)
        elif kind == "bye":
            invites.on_bye_response(leg, resp)

    def _on_timeout(self, owner: Owner, now: float) -> None:
        kind = owner.kind
        if kind == "request":
            self._challengeable.pop(owner.key, None)
            self.core.events.append(RequestFailed(owner.key, owner.leg))
        elif kind == "register":
            self.registrations.timed_out(owner.key, now)
        else:
            leg = self.invites.legs.get(owner.leg or "")
            if leg is not None:
                self.invites.timed_out(kind, leg, now)

    # ================================================================ call API
    def ring(self, leg_id: str, now: float, *, sdp: bytes | None = None, status: int = 180) -> None:
        """Send 180 Ringing, or 183 Session Progress with early-media SDP."""
        self.invites.ring(leg_id, now, sdp=sdp, status=status)

    def answer(
        self, leg_id: str, sdp: bytes | None, now: float, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """Send 200 OK (with our SDP answer or offer) and retransmit it until the ACK."""
        self.invites.answer(leg_id, sdp, now, extra)

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
        self.invites.reject(leg_id, status, now, reason=reason, extra=extra)

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
        self.invites.respond(
            transaction,
            status,
            now,
            reason=reason,
            body=body,
            content_type=content_type,
            extra=extra,
        )

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
        return self.invites.invite(
            target,
            now,
            from_user=from_user,
            from_display=from_display,
            from_host=from_host,
            sdp=sdp,
            destination=destination,
            extra=extra,
            credentials=credentials,
            call_id=call_id,
            to=to,
        )

    def cancel(self, leg_id: str, now: float) -> None:
        """Give up on our INVITE (§9.1): CANCEL once a provisional response has arrived."""
        self.invites.cancel(leg_id, now)

    def bye(self, leg_id: str, now: float) -> None:
        """End a confirmed call with BYE (§15)."""
        self.invites.bye(leg_id, now)

    def hangup(self, leg_id: str, now: float, status: int = 480) -> None:
        """End the leg whatever its state: CANCEL, reject with ``status``, or BYE."""
        self.invites.hangup(leg_id, now, status)

    def reinvite(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Send a re-INVITE with a new offer (hold, resume, media change) (§14.1)."""
        self.invites.reinvite(leg_id, sdp, now)

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
        credentials: tuple[str, str] | None = None,
    ) -> str:
        """Send a non-INVITE request in a call (INFO, REFER, NOTIFY, MESSAGE, UPDATE) or,
        with ``leg_id`` None, outside any dialog to ``target`` (OPTIONS, MESSAGE ...);
        ``credentials`` (user, password) answer one 401/407 challenge of an out-of-dialog
        request.

        Returns a handle; the final response arrives as :class:`RequestAnswered`.
        """
        if method in ("INVITE", "ACK", "CANCEL", "BYE", "REGISTER"):
            raise LocalProtocolError(f"use the dedicated call for {method}")
        core = self.core
        handle = core.token()
        if leg_id is not None:
            leg = self.invites.leg(leg_id)
            if leg.dialog is None or leg.state in (SipLegState.ENDING, SipLegState.ENDED):
                raise InvalidStateError(f"leg {leg_id} has no dialog for {method}")
            req = dialog_request(
                core, leg, method, body=body, content_type=content_type, extra=extra
            )
            dest = dialog_destination(leg)
        else:
            if target is None:
                raise LocalProtocolError("an out-of-dialog request needs a target")
            uri = parse_uri(target) if isinstance(target, str) else target
            dest = destination or uri_destination(uri, self.config.transport)
            from_addr = NameAddr(
                SipUri("sip", from_user, None, uri_host(self.config.host)),
                None,
                (("tag", core.token()),),
            )
            fields: list[tuple[str, str]] = [
                ("Via", str(core.via(dest.transport))),
                ("Max-Forwards", "70"),
                ("From", str(from_addr)),
                ("To", str(NameAddr(uri))),
                ("Call-ID", f"{core.token()}@{self.config.host}"),
                ("CSeq", f"1 {method}"),
                *core.common_fields(),
                *(extra or []),
            ]
            if body and content_type:
                fields.append(("Content-Type", content_type))
            req = Request(method, uri, Headers(fields), body)
        tx = self.transactions.send_request(req, dest, now)
        core.owners[tx] = Owner("request", handle, leg_id)
        if credentials is not None and leg_id is None:
            self._challengeable[handle] = (req, dest, credentials)
        return handle

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
        return self.registrations.register(
            registrar,
            now,
            user=user,
            credentials=credentials,
            expires=expires,
            domain=domain,
            destination=destination,
        )

    def unregister(self, handle: str, now: float) -> None:
        """Remove our binding (Expires: 0) and stop refreshing."""
        self.registrations.unregister(handle, now)


def _method_label(method: str) -> str:
    """``method`` as a metric label: methods outside KNOWN_METHODS are OTHER, so a
    sender cannot grow the label set."""
    return method if method in KNOWN_METHODS else "OTHER"


def _sent_cseq_method(data: bytes) -> str:
    """The CSeq method of a serialized response, as a metric label."""
    start = data.find(b"\nCSeq:")
    if start < 0:
        end = data.find(b"\r\n\r\n")
        start = data.lower().find(b"\ncseq:", 0, end if end >= 0 else len(data))
        if start < 0:
            return "OTHER"
    start += 6
    end = data.find(b"\r", start)
    value = data[start : end if end >= 0 else len(data)].split()
    return _method_label(value[-1].decode("ascii", "replace")) if len(value) == 2 else "OTHER"


def _user_of(uri: SipUri | AbsoluteUri) -> str | None:
    return uri.user_unescaped if isinstance(uri, SipUri) else uri.user
