"""Who is calling: caller identity from the INVITE (RFC 3261 From, RFC 3325
P-Asserted-Identity, draft Remote-Party-ID, RFC 5806 Diversion).

A carrier's P-Asserted-Identity is the most trustworthy source, then Remote-Party-ID,
then From. The number is the URI user part with visual separators removed; the name is
the display name.
"""

from __future__ import annotations

from attrs import frozen

from pbx.sip.errors import SipParseError
from pbx.sip.message import Request
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri

ANONYMOUS = "anonymous"
"""The user part presented for a caller who asked for privacy (RFC 3323 §4.1.1.3)."""


@frozen
class CallerIdentity:
    """The caller's number and name, and where they came from."""

    number: str
    name: str
    source: str
    """``p-asserted-identity``, ``remote-party-id`` or ``from``."""
    privacy: bool = False
    """True when the caller asked for privacy (Privacy: id, or RPID privacy=full)."""
    diverted_from: str | None = None
    """The number the call was forwarded from (first Diversion), if any."""

    @property
    def presented(self) -> CallerIdentity:
        """Who agents and phones are shown: ``anonymous`` when the caller asked for
        privacy (RFC 3323 §4.2 ``id``; the records keep the identity received)."""
        if not self.privacy:
            return self
        return CallerIdentity(ANONYMOUS, "Anonymous", self.source, True, self.diverted_from)

    @property
    def display(self) -> str:
        """``Name <number>`` or just the number."""
        return f"{self.name} <{self.number}>" if self.name else self.number


def _number(uri: SipUri | AbsoluteUri) -> str:
    user = uri.user_unescaped if isinstance(uri, SipUri) else uri.user
    if not user:
        return ""
    user = user.split(";", 1)[0]
    return "".join(ch for ch in user if ch not in " -.()")


def caller_identity(request: Request) -> CallerIdentity:
    """The identity of the caller of an INVITE."""
    privacy = "id" in (request.headers.get("privacy") or "").lower()
    diverted = None
    for value in request.headers.values("diversion"):
        try:
            diverted = _number(NameAddr.parse(value).uri)
        except SipParseError:
            continue
        break
    for header, source in (
        ("p-asserted-identity", "p-asserted-identity"),
        ("remote-party-id", "remote-party-id"),
    ):
        values = request.headers.values(header)
        if not values:
            continue
        try:
            addr = NameAddr.parse(values[0])
        except SipParseError:
            continue
        number = _number(addr.uri)
        if number:
            if source == "remote-party-id" and (addr.param("privacy") or "") == "full":
                privacy = True
            return CallerIdentity(number, addr.display or "", source, privacy, diverted)
    addr = request.from_
    return CallerIdentity(_number(addr.uri), addr.display or "", "from", privacy, diverted)


def dialled_number(request: Request) -> str:
    """The DID: the Request-URI user, else the To user (RFC 3261 §8.1.1.1)."""
    number = _number(request.uri)
    if not number:
        number = _number(request.to.uri)
    return number
