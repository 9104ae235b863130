"""Our own registrations at a registrar or carrier trunk (RFC 3261 §10.2).

:class:`RegistrationClient` sends REGISTER, answers the digest challenge, follows a 423
(Min-Expires), refreshes before the binding expires (at the later of 30 s before and half
the granted time), retries a failed registration after 60 s, and reports each outcome
as :class:`~pbx.sip.events.RegistrationStatus`.
"""

from __future__ import annotations

from attrs import define, field

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.sip.dialog import uri_destination
from pbx.sip.events import RegistrationStatus
from pbx.sip.headers import Headers
from pbx.sip.message import Request, Response
from pbx.sip.transport import Destination
from pbx.sip.ua import Owner, UaCore, authorized
from pbx.sip.uri import NameAddr, SipUri, parse_uri


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


@define
class RegistrationClient:
    """Every registration of ours, by handle."""

    core: UaCore
    registrations: dict[str, OwnRegistration] = field(factory=dict)

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
        """Register ``user`` at ``registrar`` and keep it refreshed; returns a handle."""
        core = self.core
        uri = parse_uri(registrar) if isinstance(registrar, str) else registrar
        if not isinstance(uri, SipUri):
            raise LocalProtocolError("registrar must be a sip: URI")
        dest = destination or uri_destination(uri, core.config.transport)
        aor = NameAddr(SipUri("sip", user, None, domain or uri.host))
        reg = OwnRegistration(
            core.token(),
            uri,
            aor,
            core.contact_for(user, dest.transport),
            dest,
            credentials,
            expires,
            f"{core.token()}@{core.config.host}",
        )
        self.registrations[reg.id] = reg
        self._send(reg, now, expires)
        return reg.id

    def unregister(self, handle: str, now: float) -> None:
        """Remove our binding (Expires: 0) and stop refreshing."""
        reg = self.registrations.get(handle)
        if reg is None:
            raise InvalidStateError(f"unknown registration {handle!r}")
        reg.expires = 0
        reg.refresh_at = None
        self._send(reg, now, 0)

    def _send(
        self,
        reg: OwnRegistration,
        now: float,
        expires: int,
        authorization: tuple[str, str] | None = None,
    ) -> None:
        core = self.core
        reg.cseq += 1
        dest = reg.destination
        fields: list[tuple[str, str]] = [
            ("Via", str(core.via(dest.transport))),
            ("Max-Forwards", "70"),
            ("From", str(reg.aor.with_param("tag", core.token()))),
            ("To", str(reg.aor)),
            ("Call-ID", reg.call_id),
            ("CSeq", f"{reg.cseq} REGISTER"),
            ("Contact", str(reg.contact)),
            ("Expires", str(expires)),
            *core.allow_fields(),
            *core.common_fields(),
        ]
        if authorization is not None:
            fields.append(authorization)
        req = Request("REGISTER", reg.registrar.without_headers(), Headers(fields))
        reg.last_request = req
        tx = core.transactions.send_request(req, dest, now)
        core.owners[tx] = Owner("register", reg.id)

    def on_response(self, handle: str, resp: Response, now: float) -> None:
        """The response to one of our REGISTERs."""
        reg = self.registrations.get(handle)
        if reg is None or resp.status < 200:
            return
        if (
            resp.status in (401, 407)
            and reg.credentials
            and reg.auth_attempts < 2
            and reg.last_request
        ):
            retry = authorized(self.core, reg.last_request, resp, reg.credentials)
            if retry is not None:
                reg.auth_attempts += 1
                header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
                value = retry.headers.get(header) or ""
                self._send(reg, now, reg.expires, (header, value))
                return
        reg.auth_attempts = 0
        if resp.status == 423:
            min_expires = resp.headers.int_value("min-expires")
            if min_expires and min_expires > reg.expires:
                reg.expires = min_expires
                self._send(reg, now, reg.expires)
                return
        events = self.core.events
        if resp.success:
            granted = reg.expires
            for c in resp.contacts:
                if c.uri.equivalent(reg.contact.uri):
                    exp = c.param("expires")
                    if exp and exp.isdigit():
                        granted = int(exp)
            if granted == 0 or reg.expires == 0:
                reg.registered = False
                self.registrations.pop(reg.id, None)
                events.append(RegistrationStatus(reg.id, False, resp.status, 0))
                return
            reg.registered = True
            self._refresh_at(reg, now + max(granted - 30, granted / 2))
            events.append(RegistrationStatus(reg.id, True, resp.status, granted))
        else:
            reg.registered = False
            events.append(RegistrationStatus(reg.id, False, resp.status, 0))
            self._refresh_at(reg, now + 60.0)

    def timed_out(self, handle: str, now: float) -> None:
        """Our REGISTER got no answer: report it and try again in 30 s."""
        reg = self.registrations.get(handle)
        if reg is not None:
            reg.registered = False
            self.core.events.append(RegistrationStatus(reg.id, False, 408, 0))
            self._refresh_at(reg, now + 30.0)

    def _refresh_at(self, reg: OwnRegistration, at: float) -> None:
        reg.refresh_at = at
        self.core.arm(at, "reg", reg.id)

    def handle_timer(self, handle: str, now: float) -> None:
        """A refresh deadline of ``handle``."""
        reg = self.registrations.get(handle)
        if reg is None or reg.refresh_at is None or reg.refresh_at > now:
            return
        reg.refresh_at = None
        self._send(reg, now, reg.expires)
