"""SIP dialogs (RFC 3261 §12), sans-I/O.

A dialog is the peer-to-peer relationship an INVITE (or SUBSCRIBE/REFER) sets up: it is
identified by Call-ID, local tag and remote tag (§12), remembers the route set from
Record-Route (reversed on the UAC side, §12.1.2), the remote target from Contact, and the
local and remote CSeq numbers. :meth:`Dialog.create_request` builds an in-dialog request
by §12.2.1.1 (loose routing, or the strict-routing rewrite when the first route has no
``lr``); :meth:`Dialog.accept_remote_cseq` enforces §12.2.2 (lower CSeq → 500).
"""

from __future__ import annotations

import enum

from attrs import define, field

from pbx.errors import InvalidStateError
from pbx.sip.headers import Headers, Via
from pbx.sip.message import Request, Response
from pbx.sip.transport import Destination
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri


class DialogState(enum.Enum):
    """§12: early (after a 1xx with a tag), confirmed (after a 2xx), terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@define(slots=True)
class Dialog:
    """One dialog, as seen from our side."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    """Our From (UAC) or To (UAS) without the tag."""
    remote_uri: NameAddr
    remote_target: SipUri | AbsoluteUri
    """The peer's Contact URI; requests in the dialog go here (§12.2.1.1)."""
    route_set: list[NameAddr]
    local_seq: int
    remote_seq: int | None
    secure: bool = False
    state: DialogState = DialogState.EARLY
    role: str = "uac"
    """``uac`` when we sent the request that created it, else ``uas``."""
    _from_value: tuple[str, str] = field(default=("", ""), init=False, repr=False, eq=False)
    """(local tag, From value) written last: every request of the dialog repeats it."""
    _to_value: tuple[str, str] = field(default=("", ""), init=False, repr=False, eq=False)
    """(remote tag, To value) written last."""

    @property
    def id(self) -> tuple[str, str, str]:
        """(Call-ID, local tag, remote tag)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a UAC gets from a 1xx/2xx with a To tag (§12.1.2)."""
        contacts = response.contacts
        target = contacts[0].uri if contacts else request.uri
        tag = response.to_tag
        if not tag:
            raise InvalidStateError("response without To tag cannot create a dialog")
        return cls(
            call_id=request.call_id,
            local_tag=request.from_tag or "",
            remote_tag=tag,
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(response.to),
            remote_target=target,
            route_set=list(reversed(response.record_route)),
            local_seq=request.cseq.seq,
            remote_seq=None,
            secure=isinstance(request.uri, SipUri) and request.uri.secure,
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            role="uac",
        )

    @classmethod
    def from_uas(cls, request: Request, local_tag: str) -> Dialog:
        """The dialog a UAS creates when it answers with a tag (§12.1.1)."""
        contacts = request.contacts
        target = contacts[0].uri if contacts else request.from_.uri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=target,
            route_set=list(request.record_route),
            local_seq=0,
            remote_seq=request.cseq.seq,
            secure=isinstance(request.uri, SipUri) and request.uri.secure,
            state=DialogState.EARLY,
            role="uas",
        )

    def update_from_response(self, response: Response) -> None:
        """A 2xx confirms the dialog; a target refresh updates the remote target (§12.2.1.2)."""
        contacts = response.contacts
        if contacts:
            self.remote_target = contacts[0].uri
        if response.status >= 200 and self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
            if self.role == "uac":
                # §12.1.2: the route set is recomputed from the 2xx.
                self.route_set = list(reversed(response.record_route))

    def accept_remote_cseq(self, request: Request) -> bool:
        """§12.2.2: False when the request's CSeq is lower than the last one (answer 500)."""
        seq = request.cseq.seq
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        contact: NameAddr | None = None,
        extra: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> Request:
        """Build a request inside this dialog (§12.2.1.1).

        ``cseq`` is given for ACK and CANCEL, which reuse the INVITE's number; any other
        method takes the next local sequence number.
        """
        if self.state is DialogState.TERMINATED:
            raise InvalidStateError(f"dialog {self.call_id} is terminated")
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri = self.remote_target
        routes = list(self.route_set)
        if routes and not _is_loose(routes[0]):
            # Strict routing: the first route becomes the Request-URI, the remote target
            # is appended as the last route.
            first = routes.pop(0).uri
            routes.append(NameAddr(uri))
            uri = first
        if isinstance(uri, SipUri):
            uri = uri.without_headers()
        fields: list[tuple[str, str]] = [("Via", str(via))]
        for route in routes:
            fields.append(("Route", str(route)))
        fields.append(("Max-Forwards", "70"))
        tag, from_value = self._from_value
        if tag != self.local_tag or not from_value:
            from_value = str(self.local_uri.with_param("tag", self.local_tag))
            self._from_value = (self.local_tag, from_value)
        tag, to_value = self._to_value
        if tag != self.remote_tag or not to_value:
            to_value = str(self.remote_uri.with_param("tag", self.remote_tag))
            self._to_value = (self.remote_tag, to_value)
        fields.append(("From", from_value))
        fields.append(("To", to_value))
        fields.append(("Call-ID", self.call_id))
        fields.append(("CSeq", f"{cseq} {method}"))
        if contact is not None:
            fields.append(("Contact", str(contact)))
        if extra:
            fields.extend(extra)
        if content_type is not None and body:
            fields.append(("Content-Type", content_type))
        return Request(method, uri, Headers(fields), body)

    def next_hop(self, transport: str = "UDP") -> Destination:
        """Where in-dialog requests go: the first route, else the remote target (§8.1.2)."""
        target = self.route_set[0].uri if self.route_set else self.remote_target
        return uri_destination(target, transport)


def _is_loose(route: NameAddr) -> bool:
    return isinstance(route.uri, SipUri) and route.uri.param("lr") is not None


def _without_tag(addr: NameAddr) -> NameAddr:
    if not addr.params:
        return addr
    params = tuple((k, v) for k, v in addr.params if k.lower() != "tag")
    return NameAddr(addr.uri, addr.display_name, params, addr.bracketed)


def uri_destination(uri: SipUri | AbsoluteUri, transport: str = "UDP") -> Destination:
    """The next hop for a URI: its maddr or host, port, and transport parameter.

    Host names are passed on as they are; the network shell resolves them (RFC 3263 NAPTR
    and SRV lookups are not done here).
    """
    if not isinstance(uri, SipUri):
        raise InvalidStateError(f"cannot route to a {uri.scheme}: URI")
    t = uri.transport
    proto = (t.upper() if t else ("TLS" if uri.secure else transport)).upper()
    host = uri.param("maddr") or uri.host_bare
    if host.startswith("["):
        host = host[1:-1]
    port = uri.port if uri.port is not None else (5061 if proto == "TLS" else 5060)
    return Destination(proto, host, port)
