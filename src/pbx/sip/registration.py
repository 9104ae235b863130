"""Registrar and location service (RFC 3261 §10), sans-I/O.

The :class:`Registrar` processes REGISTER requests that already passed authentication
(the endpoint challenges first) and answers with the status and fields of §10.3: it adds,
refreshes and removes bindings per Contact (``expires`` parameter, else the Expires field,
else the default), removes all of them for ``Contact: *`` with ``Expires: 0``, rejects an
interval shorter than ``min_expires`` with 423 and Min-Expires, rejects a lower CSeq for
the same Call-ID (a reordered REGISTER) with 500, and answers with every current binding
and its remaining time. Bindings expire lazily: :meth:`LocationService.lookup` and
:meth:`Registrar.expire` drop the stale ones.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from attrs import define, frozen

from pbx.sip.errors import SipParseError
from pbx.sip.message import Request
from pbx.sip.transport import Destination
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri

log = structlog.get_logger(__name__)


@define(slots=True)
class Binding:
    """One contact address registered for an address-of-record."""

    aor: str
    """The address-of-record's user part (``2001``)."""
    contact: NameAddr
    expires_at: float
    q: float
    call_id: str
    cseq: int
    source: Destination
    """Where the REGISTER came from (the address to reach a phone behind NAT)."""
    registered_at: float
    features: tuple[str, ...] = ()
    """The Contact's feature tags (RFC 3840 §9, e.g. ``+sip.ice`` from a browser)."""

    def remaining(self, now: float) -> int:
        """Seconds left, rounded up, at least 0."""
        return max(0, int(self.expires_at - now + 0.999))


@frozen
class RegistrationChanged:
    """The bindings of an address-of-record changed (a device came or went)."""

    aor: str
    bindings: tuple[Binding, ...]
    """Every binding left after the change."""


@frozen
class RegisterOutcome:
    """What to answer to a REGISTER: status, extra fields, and what changed."""

    status: int
    fields: list[tuple[str, str]]
    changed: RegistrationChanged | None = None


class LocationService:
    """Bindings per address-of-record."""

    def __init__(self) -> None:
        self._bindings: dict[str, list[Binding]] = {}

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, highest q first then most recent."""
        bindings = [b for b in self._bindings.get(aor, ()) if b.expires_at > now]
        if len(bindings) != len(self._bindings.get(aor, ())):
            if bindings:
                self._bindings[aor] = bindings
            else:
                self._bindings.pop(aor, None)
        return sorted(bindings, key=lambda b: (-b.q, -b.registered_at))

    def count(self, now: float) -> int:
        """Bindings not yet expired, over every address of record."""
        return sum(1 for bs in self._bindings.values() for b in bs if b.expires_at > now)

    def set(self, aor: str, bindings: list[Binding]) -> None:
        """Replace the bindings of ``aor``."""
        if bindings:
            self._bindings[aor] = bindings
        else:
            self._bindings.pop(aor, None)

    def all(self) -> dict[str, list[Binding]]:
        """Every address-of-record with its (possibly stale) bindings."""
        return dict(self._bindings)

    def find_by_source(self, source: Destination, now: float) -> Binding | None:
        """The live binding whose REGISTER came from ``source`` (host and port), if any."""
        for bindings in self._bindings.values():
            for b in bindings:
                if b.expires_at > now and (b.source.host, b.source.port) == (
                    source.host,
                    source.port,
                ):
                    return b
        return None


@define
class Registrar:
    """Processes authenticated REGISTER requests for a set of users (§10.3)."""

    location: LocationService
    is_user: Callable[[str], bool]
    """True for an address-of-record this registrar serves (else 404)."""
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 7200

    def process(self, request: Request, source: Destination, now: float) -> RegisterOutcome:
        """Apply a REGISTER (§10.3 steps 4–8) and say what to answer."""
        to_uri = request.to.uri
        aor = _aor_user(to_uri)
        if aor is None or not self.is_user(aor):
            return RegisterOutcome(404, [])
        current = self.location.lookup(aor, now)
        header_expires = request.expires
        if request.contact_star:
            # §10.3 step 6: "*" only with Expires: 0 and no other Contact.
            if header_expires != 0 or len(request.headers.values("contact")) != 1:
                return RegisterOutcome(400, [])
            for b in current:
                if b.call_id == request.call_id and request.cseq.seq <= b.cseq:
                    return RegisterOutcome(500, [])
            self.location.set(aor, [])
            log.info("sip_unregistered", aor=aor, all=True)
            return RegisterOutcome(200, [], RegistrationChanged(aor, ()))
        contacts = request.contacts
        updated = list(current)
        for contact in contacts:
            expires = _contact_expires(contact, header_expires, self.default_expires)
            if 0 < expires < self.min_expires:
                return RegisterOutcome(423, [("Min-Expires", str(self.min_expires))])
            expires = min(expires, self.max_expires)
            existing = next((b for b in updated if contact.uri.equivalent(b.contact.uri)), None)
            if existing is not None:
                if existing.call_id == request.call_id and request.cseq.seq <= existing.cseq:
                    return RegisterOutcome(500, [])
                updated.remove(existing)
            if expires == 0:
                continue
            q = _q_value(contact)
            updated.append(
                Binding(
                    aor,
                    NameAddr(contact.uri),
                    now + expires,
                    q,
                    request.call_id,
                    request.cseq.seq,
                    source,
                    now,
                    tuple(name.lower() for name, _ in contact.params if name.startswith("+")),
                )
            )
        self.location.set(aor, updated)
        fields = [
            ("Contact", f"{NameAddr(b.contact.uri)};expires={b.remaining(now)}") for b in updated
        ]
        changed = None
        if contacts:
            changed = RegistrationChanged(aor, tuple(updated))
            log.info("sip_registered", aor=aor, bindings=len(updated))
        return RegisterOutcome(200, fields, changed)

    def expire(self, now: float) -> list[RegistrationChanged]:
        """Drop expired bindings; one change per address-of-record that lost some."""
        out = []
        for aor, bindings in self.location.all().items():
            live = [b for b in bindings if b.expires_at > now]
            if len(live) != len(bindings):
                self.location.set(aor, live)
                out.append(RegistrationChanged(aor, tuple(live)))
        return out

    def forget_flow(self, flow: Destination) -> list[RegistrationChanged]:
        """Drop the bindings registered over the connection ``flow`` (it closed); one
        change per address-of-record that lost some."""
        if flow.connection is None:
            return []
        out = []
        for aor, bindings in self.location.all().items():
            left = [b for b in bindings if b.source != flow]
            if len(left) != len(bindings):
                self.location.set(aor, left)
                log.info("sip_unregistered", aor=aor, flow=str(flow), bindings=len(left))
                out.append(RegistrationChanged(aor, tuple(left)))
        return out

    def next_expiry(self) -> float | None:
        """The earliest time a binding expires, or None."""
        times = [b.expires_at for bs in self.location.all().values() for b in bs]
        return min(times) if times else None


def _aor_user(uri: SipUri | AbsoluteUri) -> str | None:
    if isinstance(uri, SipUri):
        return uri.user_unescaped
    return uri.user


def _contact_expires(contact: NameAddr, header: int | None, default: int) -> int:
    value = contact.param("expires")
    if value is not None:
        if not value.isdigit():
            raise SipParseError(f"invalid Contact expires {value!r}")
        return int(value)
    return header if header is not None else default


def _q_value(contact: NameAddr) -> float:
    value = contact.param("q")
    if value is None:
        return 1.0
    try:
        q = float(value)
    except ValueError:
        raise SipParseError(f"invalid Contact q {value!r}") from None
    if not 0.0 <= q <= 1.0:
        raise SipParseError(f"invalid Contact q {value!r}")
    return q
