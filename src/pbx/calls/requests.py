"""Requests a call's phones send besides the INVITE, and the answers they get.

Inside a call's dialog: a re-INVITE or UPDATE with an offer is answered from the leg's
media (a phone putting its party on hold — ``sendonly``, ``inactive`` or a zero address
— gives the peer music on hold, and taking it off stops it); one without an offer gets
ours (RFC 3264 §8), or, as an UPDATE, just 200 (a session refresh, RFC 4028); INFO with
``application/dtmf-relay`` or ``application/dtmf`` is a digit; REFER is a transfer
(:mod:`pbx.calls.transfer`); OPTIONS, NOTIFY and MESSAGE get 200, anything else 405.
Outside a dialog, NOTIFY, INFO and REFER each get the answer their RFC asks (MESSAGE
is routed by :mod:`pbx.calls.messaging`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import define

from pbx.calls.events import DigitReceived, HoldChanged
from pbx.calls.model import Leg
from pbx.sip import events as sip
from pbx.sip.endpoint import SipEndpoint
from pbx.sip.offer_answer import OfferAnswerError

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager


@define
class InDialogRequests:
    """The in-dialog request usage of a call manager."""

    manager: CallManager

    def handle(self, leg: Leg, ev: sip.InDialogRequest, now: float) -> None:
        """Answer a request inside ``leg``'s dialog."""
        manager = self.manager
        endpoint = manager.endpoint
        req = ev.request
        method = req.method
        if method in ("INVITE", "UPDATE"):
            self._reoffer(leg, ev, now)
        elif method == "INFO":
            digit = dtmf_from_info(req.content_type, req.body)
            endpoint.respond(ev.transaction, 200, now)
            if digit is not None:
                manager.emit(DigitReceived(leg.call, leg.id, digit, "info"))
        elif method == "REFER":
            manager.transfers.on_refer(leg, ev, now)
        elif method in ("OPTIONS", "NOTIFY", "MESSAGE"):
            endpoint.respond(ev.transaction, 200, now)
        else:
            endpoint.respond(ev.transaction, 405, now)

    def _reoffer(self, leg: Leg, ev: sip.InDialogRequest, now: float) -> None:
        manager = self.manager
        endpoint = manager.endpoint
        if ev.sdp is None and ev.request.method == "UPDATE":
            # An UPDATE without an offer (a session refresh, RFC 4028): 200, no body.
            endpoint.respond(ev.transaction, 200, now)
            return
        if ev.sdp is None:
            # An offerless re-INVITE: we offer our current media (RFC 3264 §8).
            sdp = manager.media.offer(leg)
            endpoint.respond(ev.transaction, 200, now, body=sdp, content_type="application/sdp")
            return
        try:
            sdp = manager.media.answer(leg, ev.sdp, hold=leg.on_hold_by_us)
        except OfferAnswerError as exc:
            endpoint.respond(ev.transaction, exc.status_hint, now)
            return
        endpoint.respond(ev.transaction, 200, now, body=sdp, content_type="application/sdp")
        media = leg.media
        held = media is not None and (media.remote_hold or not media.sends)
        if held != leg.held:
            call = manager.calls.get(leg.call)
            music = manager.music(call.music_class if call is not None else "")
            manager.bridges.remote_hold(leg, held, now, music)
            manager.emit(HoldChanged(leg.call, leg.id, held, "phone"))


def answer_out_of_dialog(endpoint: SipEndpoint, ev: sip.IncomingRequest, now: float) -> None:
    """An out-of-dialog NOTIFY, INFO or REFER: every one gets its answer (MESSAGE is
    routed by :mod:`pbx.calls.messaging`)."""
    req = ev.request
    if req.method in ("NOTIFY", "INFO"):
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
