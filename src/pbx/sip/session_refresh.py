"""Session timers at work (RFC 4028 §7–§10): negotiating, refreshing, ending.

:mod:`pbx.sip.session_timer` says what the headers mean; :class:`SessionRefresh` does
what they ask for on the endpoint's legs: it answers an INVITE or UPDATE whose interval
is too short with 422, restarts a leg's timer on every 2xx that refreshes the session,
sends our refresh at half the interval when we are the refresher (an UPDATE without a
body, or a re-INVITE with the same SDP when the peer does not take UPDATE), and ends
the call with BYE when the refreshes stop or a refresh fails with 408 or 481.
"""

from __future__ import annotations

from typing import Literal

import structlog
from attrs import define

from pbx.sip.errors import SipParseError
from pbx.sip.events import DialogEnded
from pbx.sip.legs import SipLeg, SipLegState, dialog_destination, dialog_request, send_ack, send_bye
from pbx.sip.message import Request, Response
from pbx.sip.session_timer import (
    Negotiated,
    SessionTimer,
    TooSmall,
    min_se,
    uac_fields,
    uac_timer,
    uas_negotiate,
)
from pbx.sip.ua import Owner, UaCore, reissued

log = structlog.get_logger(__name__)


@define
class SessionRefresh:
    """The session timers of every leg of one endpoint."""

    core: UaCore
    legs: dict[str, SipLeg]
    answers: dict[str, tuple[str, Negotiated]]
    """In-dialog INVITE/UPDATE transaction → (leg, what its 2xx says about the timer)."""

    def negotiate(self, req: Request, tx: str, now: float) -> Negotiated | None | Literal[False]:
        """RFC 4028 for an INVITE or UPDATE we answer: what our 2xx will say, None with
        timers off, or False when the request was answered here (422 below our Min-SE,
        400 for a malformed Session-Expires or Min-SE)."""
        config = self.core.config.session_timer
        if config is None:
            return None
        try:
            got = uas_negotiate(req, config)
        except SipParseError as exc:
            self.core.respond(tx, req, 400, now, reason=f"Bad Request ({exc.reason})")
            return False
        if isinstance(got, TooSmall):
            to_tag = None if req.to_tag else self.core.token()
            self.core.respond(tx, req, 422, now, to_tag=to_tag, extra=[("Min-SE", str(got.min_se))])
            return False
        return got

    def offered_in_dialog(self, leg: SipLeg, req: Request, tx: str, now: float) -> bool:
        """A re-INVITE or UPDATE from the peer: False when it was answered here (422)."""
        offer = self.negotiate(req, tx, now)
        if offer is False:
            return False
        if offer is not None:
            self.answers[tx] = (leg.id, offer)
        return True

    def answer_fields(self, tx: str, status: int, now: float) -> list[tuple[str, str]]:
        """Fields for our final response in ``tx``; a 2xx to the peer's re-INVITE or
        UPDATE refreshes the session and restarts the timer (§9)."""
        if status < 200:
            return []
        refreshed = self.answers.pop(tx, None)
        if refreshed is None or status >= 300:
            return []
        leg_id, offer = refreshed
        leg = self.legs.get(leg_id)
        if leg is None:
            return []
        self.start(leg, SessionTimer(offer.interval, offer.refresher == "uas", now))
        return list(offer.fields)

    def start(self, leg: SipLeg, timer: SessionTimer) -> None:
        """Run ``timer`` for ``leg`` from now on."""
        leg.session = timer
        self._arm(leg, timer.deadline)

    def _arm(self, leg: SipLeg, at: float) -> None:
        leg.session_armed = at
        self.core.arm(at, "session", leg.id)

    def request_fields(self, leg: SipLeg) -> list[tuple[str, str]]:
        """Session-Expires for a re-INVITE or UPDATE we send in a dialog with a timer."""
        config = self.core.config.session_timer
        if config is None or leg.session is None:
            return []
        # Sending it, we are the UAC of the transaction; we offer to go on refreshing
        # when we did, and leave the choice to the peer otherwise.
        fields = uac_fields(config, leg.session.interval)
        if leg.session.local_refreshes:
            fields[0] = ("Session-Expires", f"{leg.session.interval};refresher=uac")
        return fields

    def refreshed(self, leg: SipLeg, resp: Response, now: float) -> None:
        """A 2xx to our re-INVITE or UPDATE restarts the timer on its terms (§7.2)."""
        if self.core.config.session_timer is None:
            return
        timer = uac_timer(resp, now)
        if timer is None and leg.session is not None:
            # The peer gave no Session-Expires: we keep refreshing ourselves rather than
            # end a call over a missing header (refreshing costs nothing).
            timer = SessionTimer(leg.session.interval, True, now)
        if timer is not None:
            self.start(leg, timer)

    def armed(self, leg_id: str, deadline: float) -> bool:
        """Whether ``deadline`` is still the one armed for ``leg_id``."""
        leg = self.legs.get(leg_id)
        return leg is not None and leg.session_armed == deadline

    def handle_timer(self, leg_id: str, now: float) -> None:
        """A session deadline of ``leg_id``: refresh, or end the session."""
        leg = self.legs.get(leg_id)
        if leg is None or leg.session_armed is None or leg.session_armed > now:
            return  # ended, or a later deadline replaced this one
        leg.session_armed = None
        timer = leg.session
        if timer is None or leg.state not in (SipLegState.ANSWERED, SipLegState.CONFIRMED):
            return
        if now >= timer.expires_at:
            self.end(leg, "session expired", now)
            return
        if not timer.local_refreshes or now < timer.refresh_at:
            self._arm(leg, timer.deadline)
            return
        if leg.state is SipLegState.CONFIRMED and leg.refresh_tx is None:
            self._send(leg, now)
            if leg.refresh_tx is None:
                # An offer/answer of the call's own is in progress: try again shortly.
                self._arm(leg, min(now + 1.0, timer.expires_at))
                return
        self._arm(leg, timer.expires_at)

    def _send(self, leg: SipLeg, now: float) -> None:
        """Refresh the session: UPDATE without a body, or a re-INVITE with the same SDP
        (an unchanged version, so no media change, RFC 3264 §8) when UPDATE is not taken."""
        core = self.core
        extra = [*core.allow_fields(), *self.request_fields(leg)]
        if leg.refresh_with_invite:
            if leg.reinvite_out is not None or leg.reinvite_in is not None:
                return  # that re-INVITE will refresh the session
            req = dialog_request(
                core,
                leg,
                "INVITE",
                body=leg.local_sdp or b"",
                content_type="application/sdp" if leg.local_sdp else None,
                extra=extra,
            )
        else:
            req = dialog_request(core, leg, "UPDATE", extra=extra)
        tx = core.transactions.send_request(req, dialog_destination(leg), now)
        core.owners[tx] = Owner("refresh", leg.id, leg.id)
        leg.refresh_tx = tx
        if req.method == "INVITE":
            leg.reinvite_out = tx
            leg.reinvite_out_request = req
        log.debug("sip_session_refresh", call_id=leg.call_id, leg=leg.id, method=req.method)

    def on_response(self, leg: SipLeg, resp: Response, tx: str, now: float) -> None:
        """The response to our refresh."""
        if leg.refresh_tx != tx or resp.status < 200:
            return
        status = resp.status
        is_invite = leg.reinvite_out == tx
        if is_invite and status < 300:
            assert leg.dialog is not None
            leg.dialog.update_from_response(resp)
            send_ack(self.core, leg, resp)
        if is_invite:
            leg.reinvite_out = None
            leg.reinvite_out_request = None
        leg.refresh_tx = None
        if status < 300:
            self.refreshed(leg, resp, now)
        elif status in (408, 481):
            self.end(leg, f"session refresh failed ({status})", now)  # §10
        elif status in (405, 501) and not is_invite:
            leg.refresh_with_invite = True  # the peer does not take UPDATE
            self._send(leg, now)
        elif status == 422 and leg.session is not None:
            floor = _min_se(resp)
            if floor is not None and floor > leg.session.interval:
                leg.session.interval = floor
                self._send(leg, now)
        elif status == 491 and leg.session is not None:
            # §14.1 glare: try again after a random 2.1–4 s.
            retry = now + self.core.rng.uniform(2.1, 4.0)
            self._arm(leg, min(retry, leg.session.expires_at))
        # Any other failure: the session runs to its end and is then ended (§10).

    def timed_out(self, leg: SipLeg, now: float) -> None:
        """Our refresh got no answer at all: the session is over (§10)."""
        self.end(leg, "session refresh timed out", now)

    def end(self, leg: SipLeg, reason: str, now: float) -> None:
        """The session timer ran out (or its refresh failed): BYE, and tell the call layer."""
        log.info("sip_session_expired", call_id=leg.call_id, leg=leg.id, reason=reason)
        leg.session = None
        leg.session_armed = None
        send_bye(self.core, self.legs, leg, now)
        self.core.events.append(DialogEnded(leg.id, "local", reason))

    def with_larger_interval(self, request: Request, resp: Response) -> Request | None:
        """Our INVITE again after a 422, asking for at least its Min-SE (§7.4)."""
        config = self.core.config.session_timer
        floor = _min_se(resp)
        if config is None or floor is None or floor > 86400:
            return None
        return reissued(
            self.core,
            request,
            [("Session-Expires", str(max(floor, config.expires))), ("Min-SE", str(floor))],
        )


def _min_se(resp: Response) -> int | None:
    """The Min-SE of a 422, or None when absent or unreadable (never raised)."""
    try:
        return min_se(resp)
    except SipParseError:
        return None
