"""The checks a UAS makes before it acts on a request (RFC 3261 §8.2.1–§8.2.3, §16.3).

:func:`refusal` is a pure function of the request: the response to send instead of
acting on it, or None. Merged requests (§8.2.2.2) need to remember other requests and
are checked by the endpoint after this.
"""

from __future__ import annotations

from attrs import frozen

from pbx.sip.message import Request
from pbx.sip.ua import ACCEPTED_BODIES, ALLOWED_METHODS, KNOWN_METHODS
from pbx.sip.uri import AbsoluteUri


@frozen
class Refusal:
    """A request we do not act on: the status to answer and its extra fields."""

    status: int
    fields: tuple[tuple[str, str], ...] = ()
    allow: bool = False
    """Whether the answer lists Allow and Supported (405, 501)."""


def refusal(req: Request, supported: tuple[str, ...], host: str) -> Refusal | None:
    """Why ``req`` must be refused before anything else looks at it, or None."""
    method = req.method
    if method not in KNOWN_METHODS:
        return Refusal(501, allow=True)  # §8.2.1
    if method not in ALLOWED_METHODS:
        return Refusal(405, allow=True)
    uri = req.uri
    if isinstance(uri, AbsoluteUri) and uri.scheme != "tel":
        return Refusal(416)  # §8.2.2.1
    max_forwards = req.max_forwards
    if max_forwards is not None and max_forwards == 0 and method not in ("OPTIONS", "CANCEL"):
        return Refusal(483)  # §16.3
    if method not in ("CANCEL", "ACK"):
        required = [t for t in req.header_tokens("require") if t.lower() not in supported]
        if required:
            return Refusal(420, (("Unsupported", ", ".join(required)),))  # §8.2.2.3
    if method in ("INVITE", "UPDATE") and not accepts_sdp(req):
        # §8.2.3 / RFC 4475 §3.3.11: our answer would carry SDP, which Accept excludes.
        return Refusal(406, (("Warning", f'399 {host} "SDP not accepted"'),))
    if req.body and method in ("INVITE", "UPDATE"):
        ctype = req.content_type
        if (
            ctype is not None
            and ctype not in ACCEPTED_BODIES
            and not ctype.startswith("multipart/")
        ):
            return Refusal(415, (("Accept", ", ".join(ACCEPTED_BODIES)),))  # §8.2.3
    return None


def accepts_sdp(req: Request) -> bool:
    """Whether ``req``'s Accept (absent: application/sdp, §20.1) allows an SDP body."""
    if "accept" not in req.headers:
        return True
    for item in req.header_tokens("accept"):
        media = item.split(";", 1)[0].strip().lower()
        if media in ("application/sdp", "application/*", "*/*"):
            return True
    return False
