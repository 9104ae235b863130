"""What every usage of the endpoint shares: the UA core (RFC 3261 §8).

:class:`UaCore` holds the endpoint's configuration, its randomness, the transaction
layer, the table of who owns each client transaction, the UA-level deadlines and the
queue of events for the application. The INVITE usage (:mod:`pbx.sip.invite`), the
session timers (:mod:`pbx.sip.session_refresh`), the registration client
(:mod:`pbx.sip.registration_client`) and the endpoint itself each take one and never
reach into each other's state.
"""

from __future__ import annotations

import heapq
import random
from collections import deque

from attrs import define, field, frozen

from pbx.loglimit import LogLimiter
from pbx.sip import auth
from pbx.sip.events import EndpointEvent
from pbx.sip.headers import Via
from pbx.sip.message import Request, Response, build_response
from pbx.sip.session_timer import SessionTimerConfig
from pbx.sip.timers import TimerConfig
from pbx.sip.transaction import TransactionLayer
from pbx.sip.uri import NameAddr, SipUri

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


@frozen
class Owner:
    """Who a client (or re-INVITE server) transaction belongs to."""

    kind: str
    """``invite``, ``cancel``, ``bye``, ``reinvite``, ``refresh``, ``request``,
    ``register`` (client transactions); ``uas-invite``, ``uas-reinvite`` (server)."""
    key: str
    """SipLeg id, request handle or registration id."""
    leg: str | None = None


@define
class UaCore:
    """The parts of the endpoint every usage shares."""

    config: EndpointConfig
    rng: random.Random
    transactions: TransactionLayer
    events: deque[EndpointEvent] = field(factory=deque)
    """Events for the application, in order."""
    owners: dict[str, Owner] = field(factory=dict)
    """Transaction id → its owner."""
    timers: list[tuple[float, int, str, str]] = field(factory=list)
    """UA-level deadlines: (when, sequence, kind, key), a heap."""
    log_limit: LogLimiter = field(factory=LogLimiter)
    """Lines a sender can trigger at will (failed digests, stray 2xx ...) are rate-limited."""
    _timer_seq: int = 0

    def arm(self, deadline: float, kind: str, key: str) -> None:
        """Wake up at ``deadline`` for ``kind`` (``2xx``, ``session``, ``reg``, ``expire``)."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (deadline, self._timer_seq, kind, key))

    def token(self) -> str:
        """64 random bits as hex: tags, Call-IDs, handles."""
        return f"{self.rng.getrandbits(64):016x}"

    def new_branch(self) -> str:
        """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
        return f"z9hG4bK{self.rng.getrandbits(64):016x}"

    def via(self, transport: str) -> Via:
        """Our Via for a new request over ``transport`` (with rport, RFC 3581)."""
        c = self.config
        return Via(
            transport, uri_host(c.host), c.port, (("branch", self.new_branch()), ("rport", None))
        )

    def contact_for(self, user: str | None, transport: str) -> NameAddr:
        """Our Contact for requests and responses over ``transport``."""
        c = self.config
        params: tuple[tuple[str, str | None], ...] = ()
        if transport != "UDP":
            params = (("transport", transport.lower()),)
        return NameAddr(SipUri("sip", user, None, uri_host(c.host), c.port, params))

    def common_fields(self) -> list[tuple[str, str]]:
        """Fields on every message we write."""
        return [("User-Agent", self.config.user_agent)]

    def supported(self) -> tuple[str, ...]:
        """The extensions we support (``timer`` only with session timers on)."""
        if self.config.session_timer is None:
            return tuple(t for t in SUPPORTED_EXTENSIONS if t != "timer")
        return SUPPORTED_EXTENSIONS

    def allow_fields(self) -> list[tuple[str, str]]:
        """Allow and Supported."""
        return [
            ("Allow", ", ".join(ALLOWED_METHODS)),
            ("Supported", ", ".join(self.supported())),
        ]

    def respond(
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
        """Build a response to ``request`` and send it in server transaction ``tx_id``."""
        fields = list(extra or [])
        if content_type is not None and body:
            fields.append(("Content-Type", content_type))
        fields.extend(self.common_fields())
        response = build_response(request, status, reason, to_tag=to_tag, extra=fields, body=body)
        self.transactions.send_response(tx_id, response, now)
        return response


def uri_host(host: str) -> str:
    """``host`` as written in a URI: IPv6 references in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def sdp_of(message: Request | Response) -> bytes | None:
    """The SDP body of ``message``, or None."""
    if message.body and message.content_type == "application/sdp":
        return message.body
    return None


def allows(message: Request | Response, method: str) -> bool:
    """Whether ``message``'s Allow lists ``method`` (absent: we do not assume it does)."""
    return any(t.upper() == method for t in message.header_tokens("allow"))


def reissued(
    core: UaCore,
    request: Request,
    fields: list[tuple[str, str]],
    *,
    remove: tuple[str, ...] = (),
) -> Request:
    """``request`` again as a new transaction: a new branch, CSeq + 1, the ``remove``
    fields gone and ``fields`` set."""
    headers = request.headers.copy()
    headers.remove("via")
    headers.prepend("Via", str(core.via(request.top_via.transport)))
    headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
    for name in remove:
        headers.remove(name)
    for name, value in fields:
        headers.set(name, value)
    return Request(request.method, request.uri, headers, request.body)


def authorized(
    core: UaCore, request: Request, resp: Response, credentials: tuple[str, str]
) -> Request | None:
    """``request`` again answering the 401/407 challenge in ``resp`` (§22.2), or None when
    it carries no challenge we can answer."""
    header = "www-authenticate" if resp.status == 401 else "proxy-authenticate"
    answer_header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
    challenges = []
    for value in resp.headers.get_all(header):
        try:
            challenges.append(auth.Challenge.parse(value))
        except auth.AuthError:
            continue
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
        cnonce=core.token(),
        nc=1,
    )
    return reissued(
        core,
        request,
        [(answer_header, str(creds))],
        remove=("authorization", "proxy-authorization"),
    )


def _pick_challenge(challenges: list[auth.Challenge]) -> auth.Challenge | None:
    """RFC 8760 §2.4: prefer SHA-256 over MD5 when both are offered."""
    by_alg = {(c.algorithm or "MD5").upper(): c for c in challenges}
    for alg in ("SHA-256", "MD5", "SHA-256-SESS", "MD5-SESS"):
        if alg in by_alg:
            return by_alg[alg]
    return None
