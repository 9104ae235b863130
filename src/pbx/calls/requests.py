"""Answers to the non-INVITE requests a call layer gets: out of a dialog, and DTMF in INFO."""

from __future__ import annotations

from pbx.sip import events as sip
from pbx.sip.endpoint import SipEndpoint


def answer_out_of_dialog(endpoint: SipEndpoint, ev: sip.IncomingRequest, now: float) -> None:
    """An out-of-dialog MESSAGE, NOTIFY, INFO or REFER: every one gets its answer."""
    req = ev.request
    if req.method == "MESSAGE":
        ctype = (req.content_type or "text/plain").lower()
        if ctype != "text/plain":
            # RFC 3428 §7: a body the UAS does not understand is a 415 with Accept.
            endpoint.respond(ev.transaction, 415, now, extra=[("Accept", "text/plain")])
        else:
            # Text is not routed to phones yet: tell the sender it was not delivered.
            endpoint.respond(
                ev.transaction,
                480,
                now,
                reason="Temporarily Unavailable (messages are not delivered)",
            )
    elif req.method in ("NOTIFY", "INFO"):
        # No subscription (RFC 6665 §4.1.3) and no INVITE dialog (RFC 6086 §4.2.2).
        endpoint.respond(ev.transaction, 481, now)
    else:
        endpoint.respond(ev.transaction, 403, now, reason="Forbidden (outside of a dialog)")


def dtmf_from_info(content_type: str | None, body: bytes) -> str | None:
    """A digit from SIP INFO: application/dtmf-relay (``Signal=5``) or application/dtmf."""
    if not body or content_type not in ("application/dtmf-relay", "application/dtmf"):
        return None
    text = body.decode("ascii", "replace")
    if content_type == "application/dtmf":
        digit = text.strip()
    else:
        digit = ""
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                digit = value.strip()
    if digit == "10":
        digit = "*"
    elif digit == "11":
        digit = "#"
    if len(digit) == 1 and digit in "0123456789*#ABCDabcd":
        return digit.upper()
    return None
