"""SIP transactions (RFC 3261 §17, updated by RFC 6026), sans-I/O.

Theory of operation
-------------------
A transaction is a request and every response to it. There are four kinds — INVITE and
non-INVITE, client and server — and each is a small state machine. All four are one
table, :data:`TRANSITIONS`, keyed by ``(kind, state, input)``; an input is a received
message class (``"1xx"``, ``"2xx"``, ``"final"`` = 300–699, ``"request"`` = a
retransmitted request, ``"ack"``), a response the transaction user sends
(``"send_1xx"``, ``"send_2xx"``, ``"send_final"``) or a timer (``"timer_A"`` ...). A
missing key means the input is absorbed silently when it came off the wire and raises
:class:`~pbx.errors.InvalidStateError` when the local user asked for it.

The :class:`TransactionLayer` keeps every live transaction, keyed per §17.1.3
(client: top Via branch + CSeq method) and §17.2.3 (server: branch + sent-by + method,
ACK matching its INVITE), with the RFC 2543 fallback for branches without the
``z9hG4bK`` magic cookie. Time comes in as ``now``; datagrams, events and the next
deadline go out. Retransmission of 2xx responses to INVITE and the ACK to 2xx belong to
the UA core (§13.3.1.4, §13.2.2.4) and live in :mod:`pbx.sip.endpoint`.

RFC 6026 replaces the "Terminated on 2xx" of §17.1.1.2 and §17.2.1 with an *Accepted*
state, so retransmitted 2xx responses still reach the UAC core and retransmitted INVITEs
are absorbed instead of starting a new transaction.
"""

from __future__ import annotations

import enum
import heapq
from collections import deque

import structlog
from attrs import define, field, frozen

from pbx.errors import InvalidStateError
from pbx.sip.errors import SipParseError
from pbx.sip.headers import Headers
from pbx.sip.message import Request, Response
from pbx.sip.timers import TimerConfig
from pbx.sip.transport import Destination

log = structlog.get_logger(__name__)

MAGIC_COOKIE = "z9hG4bK"


class Kind(enum.Enum):
    """The four transaction kinds of §17."""

    INVITE_CLIENT = "ict"
    NON_INVITE_CLIENT = "nict"
    INVITE_SERVER = "ist"
    NON_INVITE_SERVER = "nist"


class State(enum.Enum):
    """Transaction states of §17 and RFC 6026."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


K, S = Kind, State
TRANSITIONS: dict[tuple[Kind, State, str], State] = {
    # INVITE client, §17.1.1.2 and RFC 6026 §7.2 (Figure 5)
    (K.INVITE_CLIENT, S.CALLING, "timer_A"): S.CALLING,
    (K.INVITE_CLIENT, S.CALLING, "timer_B"): S.TERMINATED,
    (K.INVITE_CLIENT, S.CALLING, "1xx"): S.PROCEEDING,
    (K.INVITE_CLIENT, S.CALLING, "2xx"): S.ACCEPTED,
    (K.INVITE_CLIENT, S.CALLING, "final"): S.COMPLETED,
    (K.INVITE_CLIENT, S.PROCEEDING, "1xx"): S.PROCEEDING,
    (K.INVITE_CLIENT, S.PROCEEDING, "2xx"): S.ACCEPTED,
    (K.INVITE_CLIENT, S.PROCEEDING, "final"): S.COMPLETED,
    (K.INVITE_CLIENT, S.COMPLETED, "final"): S.COMPLETED,
    (K.INVITE_CLIENT, S.COMPLETED, "timer_D"): S.TERMINATED,
    (K.INVITE_CLIENT, S.ACCEPTED, "2xx"): S.ACCEPTED,
    (K.INVITE_CLIENT, S.ACCEPTED, "timer_M"): S.TERMINATED,
    # non-INVITE client, §17.1.2.2 (Figure 6)
    (K.NON_INVITE_CLIENT, S.TRYING, "timer_E"): S.TRYING,
    (K.NON_INVITE_CLIENT, S.TRYING, "timer_F"): S.TERMINATED,
    (K.NON_INVITE_CLIENT, S.TRYING, "1xx"): S.PROCEEDING,
    (K.NON_INVITE_CLIENT, S.TRYING, "2xx"): S.COMPLETED,
    (K.NON_INVITE_CLIENT, S.TRYING, "final"): S.COMPLETED,
    (K.NON_INVITE_CLIENT, S.PROCEEDING, "timer_E"): S.PROCEEDING,
    (K.NON_INVITE_CLIENT, S.PROCEEDING, "timer_F"): S.TERMINATED,
    (K.NON_INVITE_CLIENT, S.PROCEEDING, "1xx"): S.PROCEEDING,
    (K.NON_INVITE_CLIENT, S.PROCEEDING, "2xx"): S.COMPLETED,
    (K.NON_INVITE_CLIENT, S.PROCEEDING, "final"): S.COMPLETED,
    (K.NON_INVITE_CLIENT, S.COMPLETED, "timer_K"): S.TERMINATED,
    # INVITE server, §17.2.1 and RFC 6026 §7.1 (Figure 7)
    (K.INVITE_SERVER, S.PROCEEDING, "request"): S.PROCEEDING,
    (K.INVITE_SERVER, S.PROCEEDING, "send_1xx"): S.PROCEEDING,
    (K.INVITE_SERVER, S.PROCEEDING, "send_2xx"): S.ACCEPTED,
    (K.INVITE_SERVER, S.PROCEEDING, "send_final"): S.COMPLETED,
    (K.INVITE_SERVER, S.COMPLETED, "request"): S.COMPLETED,
    (K.INVITE_SERVER, S.COMPLETED, "timer_G"): S.COMPLETED,
    (K.INVITE_SERVER, S.COMPLETED, "timer_H"): S.TERMINATED,
    (K.INVITE_SERVER, S.COMPLETED, "ack"): S.CONFIRMED,
    (K.INVITE_SERVER, S.CONFIRMED, "ack"): S.CONFIRMED,
    (K.INVITE_SERVER, S.CONFIRMED, "timer_I"): S.TERMINATED,
    (K.INVITE_SERVER, S.ACCEPTED, "request"): S.ACCEPTED,
    (K.INVITE_SERVER, S.ACCEPTED, "ack"): S.ACCEPTED,
    (K.INVITE_SERVER, S.ACCEPTED, "send_2xx"): S.ACCEPTED,
    (K.INVITE_SERVER, S.ACCEPTED, "timer_L"): S.TERMINATED,
    # non-INVITE server, §17.2.2 (Figure 8)
    (K.NON_INVITE_SERVER, S.TRYING, "request"): S.TRYING,
    (K.NON_INVITE_SERVER, S.TRYING, "send_1xx"): S.PROCEEDING,
    (K.NON_INVITE_SERVER, S.TRYING, "send_2xx"): S.COMPLETED,
    (K.NON_INVITE_SERVER, S.TRYING, "send_final"): S.COMPLETED,
    (K.NON_INVITE_SERVER, S.PROCEEDING, "request"): S.PROCEEDING,
    (K.NON_INVITE_SERVER, S.PROCEEDING, "send_1xx"): S.PROCEEDING,
    (K.NON_INVITE_SERVER, S.PROCEEDING, "send_2xx"): S.COMPLETED,
    (K.NON_INVITE_SERVER, S.PROCEEDING, "send_final"): S.COMPLETED,
    (K.NON_INVITE_SERVER, S.COMPLETED, "request"): S.COMPLETED,
    (K.NON_INVITE_SERVER, S.COMPLETED, "timer_J"): S.TERMINATED,
}
del K, S


# -- events handed to the transaction user ---------------------------------------------
@frozen
class RequestReceived:
    """A new request (not a retransmission); ``transaction`` is None for ACK to a 2xx."""

    request: Request
    source: Destination
    """Where it came from (responses go back per §18.2.2)."""
    transaction: str | None
    """Id of the server transaction created for it."""


@frozen
class ResponseReceived:
    """A response matched to a client transaction (retransmitted 2xx included)."""

    response: Response
    transaction: str
    source: Destination


@frozen
class StrayResponse:
    """A response that matched no client transaction (§18.1.2): a 2xx may need an ACK."""

    response: Response
    source: Destination


@frozen
class TransactionTimedOut:
    """Timer B or F fired: the request got no final response (the TU acts as on 408)."""

    transaction: str
    request: Request


@frozen
class AckTimedOut:
    """Timer H fired: a non-2xx final response to INVITE was never acknowledged."""

    transaction: str
    request: Request


@frozen
class TransactionTerminated:
    """A transaction reached Terminated and was forgotten."""

    transaction: str
    kind: Kind


TransactionEvent = (
    RequestReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimedOut
    | AckTimedOut
    | TransactionTerminated
)


@define(slots=True)
class Transaction:
    """One transaction: its kind, state, request, last response and armed timers."""

    id: str
    kind: Kind
    state: State
    request: Request | None
    """The request; None once no step of the transaction reads it again (a client
    transaction after its final response, a server transaction after a 2xx or a final
    non-INVITE response): a switch keeps transactions 32 s after their call, and the
    collector then walks a few objects per transaction instead of a parsed message."""
    destination: Destination
    """Client: where the request goes. Server: where responses go."""
    request_bytes: bytes = b""
    last_response: Response | None = None
    last_response_bytes: bytes = b""
    ack_bytes: bytes = b""
    """Client INVITE: the ACK sent for a non-2xx final response (resent on retransmits)."""
    timers: dict[str, float] = field(factory=dict)
    interval: float = 0.0
    """The current retransmission interval of Timer A, E or G."""


def _response_class(status: int) -> str:
    if status < 200:
        return "1xx"
    if status < 300:
        return "2xx"
    return "final"


class TransactionLayer:
    """Every live transaction of one SIP endpoint, sans-I/O (§17)."""

    def __init__(self, timers: TimerConfig | None = None) -> None:
        self.timers = timers or TimerConfig()
        self._transactions: dict[str, Transaction] = {}
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = 0
        self._out: list[tuple[bytes, Destination]] = []
        self._events: deque[TransactionEvent] = deque()

    # -- output ---------------------------------------------------------------------
    def datagrams_to_send(self) -> list[tuple[bytes, Destination]]:
        """Every datagram queued since the last call."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> TransactionEvent | None:
        """The next event for the transaction user, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline of any transaction, or None."""
        heap = self._heap
        while heap:
            deadline, _, tx_id, name = heap[0]
            tx = self._transactions.get(tx_id)
            if tx is not None and tx.timers.get(name) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def __len__(self) -> int:
        return len(self._transactions)

    def get(self, tx_id: str) -> Transaction | None:
        """The live transaction ``tx_id``, or None."""
        return self._transactions.get(tx_id)

    # -- timers -----------------------------------------------------------------------
    def _arm(self, tx: Transaction, name: str, deadline: float) -> None:
        tx.timers[name] = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, tx.id, name))

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, tx_id, name = heapq.heappop(heap)
            tx = self._transactions.get(tx_id)
            if tx is None or tx.timers.get(name) != deadline:
                continue
            del tx.timers[name]
            self._fire(tx, name, now)

    def _fire(self, tx: Transaction, name: str, now: float) -> None:
        new = self._transition(tx, "timer_" + name, local=False)
        if new is None:
            return
        if name in ("A", "E", "G"):
            # §17.1.1.2 (A doubles), §17.1.2.2 (E doubles up to T2, T2 in Proceeding),
            # §17.2.1 (G doubles up to T2).
            if name == "A":
                tx.interval *= 2
            elif name == "E" and tx.state is State.PROCEEDING:
                tx.interval = self.timers.t2
            else:
                tx.interval = min(tx.interval * 2, self.timers.t2)
            payload = tx.request_bytes if name != "G" else tx.last_response_bytes
            self._out.append((payload, tx.destination))
            self._arm(tx, name, now + tx.interval)
            log.debug("sip_retransmit", tx=tx.id, timer=name, interval=tx.interval)
            return
        request = tx.request
        if request is not None:  # B, F and H fire before the request is forgotten
            if name in ("B", "F"):
                self._events.append(TransactionTimedOut(tx.id, request))
            elif name == "H":
                self._events.append(AckTimedOut(tx.id, request))
        self._terminate(tx)

    def _transition(self, tx: Transaction, event: str, *, local: bool) -> State | None:
        new = TRANSITIONS.get((tx.kind, tx.state, event))
        if new is None:
            if local:
                raise InvalidStateError(
                    f"transaction {tx.id} in state {tx.state.value} cannot {event}"
                )
            return None
        tx.state = new
        return new

    def _terminate(self, tx: Transaction) -> None:
        tx.state = State.TERMINATED
        tx.timers.clear()
        if self._transactions.pop(tx.id, None) is not None:
            self._events.append(TransactionTerminated(tx.id, tx.kind))

    # -- client side ------------------------------------------------------------------
    def send_request(self, request: Request, destination: Destination, now: float) -> str:
        """Start a client transaction for ``request`` (its top Via carries the branch).

        Returns the transaction id. ACK to a 2xx is not a transaction: send it with
        :meth:`send_stateless`.
        """
        if request.method == "ACK":
            raise InvalidStateError("ACK is not sent in a client transaction")
        branch = request.top_via.branch
        if not branch:
            raise InvalidStateError("request has no Via branch")
        tx_id = client_key(branch, request.method)
        if tx_id in self._transactions:
            raise InvalidStateError(f"transaction {tx_id} already exists")
        invite = request.method == "INVITE"
        tx = Transaction(
            tx_id,
            Kind.INVITE_CLIENT if invite else Kind.NON_INVITE_CLIENT,
            State.CALLING if invite else State.TRYING,
            request,
            destination,
        )
        tx.request_bytes = bytes(request)
        self._transactions[tx_id] = tx
        self._out.append((tx.request_bytes, destination))
        t = self.timers
        if not destination.reliable:
            tx.interval = t.t1
            self._arm(tx, "A" if invite else "E", now + t.t1)
        self._arm(tx, "B" if invite else "F", now + (t.b if invite else t.f))
        return tx_id

    def send_stateless(self, message: Request | Response, destination: Destination) -> None:
        """Send outside any transaction (ACK to 2xx, 2xx retransmissions by the UA core)."""
        self._out.append((bytes(message), destination))

    def send_raw(self, data: bytes, destination: Destination) -> None:
        """Send bytes already serialized (a UA core retransmission)."""
        self._out.append((data, destination))

    def cancel_timers(self, tx_id: str) -> None:
        """Stop retransmitting a client request (used when the TU gives up on it)."""
        tx = self._transactions.get(tx_id)
        if tx is not None:
            tx.timers.pop("A", None)
            tx.timers.pop("E", None)

    def _receive_response(self, response: Response, source: Destination, now: float) -> None:
        try:
            via = response.top_via
            method = response.cseq.method
        except SipParseError:
            return
        branch = via.branch
        tx = self._transactions.get(client_key(branch, method)) if branch else None
        if tx is None:
            self._events.append(StrayResponse(response, source))
            return
        cls = _response_class(response.status)
        if tx.state is State.COMPLETED and tx.kind is Kind.INVITE_CLIENT and cls == "final":
            # §17.1.1.2: a retransmitted final response gets the ACK again.
            self._out.append((tx.ack_bytes, tx.destination))
            return
        new = self._transition(tx, cls, local=False)
        if new is None:
            return
        tx.last_response = response
        tx.timers.pop("A", None)
        if tx.kind is Kind.NON_INVITE_CLIENT and cls == "1xx":
            pass  # Timer E keeps running, at T2 from now on (§17.1.2.2)
        elif cls != "1xx":
            tx.timers.pop("E", None)
            tx.timers.pop("B", None)
            tx.timers.pop("F", None)
        else:
            tx.timers.pop("B", None)  # Proceeding: the TU decides when to give up
        self._events.append(ResponseReceived(response, tx.id, source))
        request = tx.request
        if cls != "1xx":
            # Final: the event carries the response; the transaction keeps no parsed
            # message it will not read again (fewer live objects for the collector).
            tx.last_response = None
            tx.request = None
        if new is State.COMPLETED:
            reliable = tx.destination.reliable
            if tx.kind is Kind.INVITE_CLIENT and request is not None:
                ack = build_non2xx_ack(request, response)
                tx.ack_bytes = bytes(ack)
                self._out.append((tx.ack_bytes, tx.destination))
                wait = 0.0 if reliable else self.timers.d
                name = "D"
            else:
                wait = 0.0 if reliable else self.timers.t4
                name = "K"
            if wait == 0.0:
                self._terminate(tx)
            else:
                self._arm(tx, name, now + wait)
        elif new is State.ACCEPTED and "M" not in tx.timers:
            self._arm(tx, "M", now + self.timers.m)

    # -- server side ------------------------------------------------------------------
    def _receive_request(self, request: Request, source: Destination, now: float) -> None:
        key = server_key(request)
        tx = self._transactions.get(key)
        if request.method == "ACK":
            if tx is None:
                # ACK for a 2xx (its own branch) or for a transaction long gone: the UA core.
                self._events.append(RequestReceived(request, source, None))
                return
            if tx.state is State.ACCEPTED:
                # RFC 6026 §8.7: pass the ACK to the TU.
                self._events.append(RequestReceived(request, source, None))
                return
            new = self._transition(tx, "ack", local=False)
            if new is State.CONFIRMED and "I" not in tx.timers:
                tx.timers.pop("G", None)
                tx.timers.pop("H", None)
                if source.reliable:
                    self._terminate(tx)
                else:
                    self._arm(tx, "I", now + self.timers.t4)
            return
        if tx is not None:
            # A retransmission: answer with the last response, if any (§17.2.1, §17.2.2).
            if self._transition(tx, "request", local=False) is None:
                return
            if tx.last_response_bytes and not (
                tx.kind is Kind.INVITE_SERVER and tx.state is State.ACCEPTED
            ):
                self._out.append((tx.last_response_bytes, tx.destination))
            return
        invite = request.method == "INVITE"
        tx = Transaction(
            key,
            Kind.INVITE_SERVER if invite else Kind.NON_INVITE_SERVER,
            State.PROCEEDING if invite else State.TRYING,
            request,
            response_destination(request, source),
        )
        self._transactions[key] = tx
        self._events.append(RequestReceived(request, source, key))

    def send_response(self, tx_id: str, response: Response, now: float) -> None:
        """Send ``response`` in server transaction ``tx_id`` (§17.2.1, §17.2.2)."""
        tx = self._transactions.get(tx_id)
        if tx is None:
            raise InvalidStateError(f"no server transaction {tx_id}")
        cls = "send_" + _response_class(response.status)
        self._transition(tx, cls, local=True)
        data = bytes(response)
        tx.last_response = response if response.status < 200 else None
        tx.last_response_bytes = data
        if response.status >= 200 and (response.status < 300 or tx.kind is not Kind.INVITE_SERVER):
            tx.request = None  # Timer H (non-2xx to INVITE) still reports the request
        self._out.append((data, tx.destination))
        reliable = tx.destination.reliable
        t = self.timers
        if tx.state is State.COMPLETED:
            if tx.kind is Kind.INVITE_SERVER:
                if not reliable:
                    tx.interval = t.t1
                    self._arm(tx, "G", now + t.t1)
                self._arm(tx, "H", now + t.h)
            elif reliable:
                self._terminate(tx)
            elif "J" not in tx.timers:
                self._arm(tx, "J", now + t.f)
        elif tx.state is State.ACCEPTED and "L" not in tx.timers:
            self._arm(tx, "L", now + t.l)

    def find_invite_server(self, cancel: Request) -> Transaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2)."""
        tx = self._transactions.get(server_key(cancel, method="INVITE"))
        if tx is not None and tx.kind is Kind.INVITE_SERVER:
            return tx
        return None

    # -- input ------------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Destination, now: float) -> None:
        """Hand a parsed message to the layer; events come out of :meth:`next_event`."""
        if isinstance(message, Response):
            self._receive_response(message, source, now)
        else:
            self._receive_request(message, source, now)


# -- keys and helpers --------------------------------------------------------------------
def client_key(branch: str, method: str) -> str:
    """§17.1.3: branch of the top Via and CSeq method (ACK belongs to INVITE)."""
    return f"c|{branch}|{'INVITE' if method == 'ACK' else method}"


def server_key(request: Request, method: str | None = None) -> str:
    """§17.2.3: branch + sent-by + method; RFC 2543 fallback without the magic cookie."""
    via = request.top_via
    m = method or request.method
    if m == "ACK":
        m = "INVITE"
    branch = via.branch
    host, port = via.sent_by
    if branch and branch.startswith(MAGIC_COOKIE):
        # The CSeq number is not in §17.2.3's key; with it, a client that wrongly reuses
        # a branch for a new request (pyVoIP after a 401) is not taken for a
        # retransmission. ACK and CANCEL carry their INVITE's number, so they still match.
        return f"s|{branch}|{host.lower()}:{port or ''}|{m}|{request.cseq.seq}"
    # RFC 2543 (§17.2.3 last paragraphs): Request-URI, tags, Call-ID, CSeq, top Via.
    # The To tag is left out so that an ACK (which carries it) matches its INVITE.
    return f"s2543|{request.uri}|{request.from_tag}|{request.call_id}|{request.cseq.seq}|{via}|{m}"


def response_destination(request: Request, source: Destination) -> Destination:
    """Where responses to ``request`` go (§18.2.2 with RFC 3581 rport)."""
    if source.reliable:
        return source
    via = request.top_via
    if via.maddr:
        return Destination(source.transport, via.maddr, via.port or 5060)
    if via.wants_rport:
        return source
    return Destination(source.transport, source.host, via.port or 5060)


def build_non2xx_ack(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response, built by the transaction (§17.1.1.3)."""
    fields: list[tuple[str, str]] = [("Via", str(request.top_via))]
    for name in ("Route",):
        for value in request.headers.get_all(name):
            fields.append((name, value))
    fields.append(("Max-Forwards", "70"))
    fields.append(("From", request.headers.get("from") or ""))
    fields.append(("To", response.headers.get("to") or ""))
    fields.append(("Call-ID", request.call_id))
    fields.append(("CSeq", f"{request.cseq.seq} ACK"))
    return Request("ACK", request.uri, Headers(fields))
