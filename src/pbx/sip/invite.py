"""The INVITE usage (RFC 3261 §13–§15): calls in and out, on top of the transactions.

Theory of operation
-------------------
:class:`InviteUsage` keeps the endpoint's legs (:mod:`pbx.sip.legs`) and does for them
what the UA core must do beyond the transaction layer. As UAS it sends 100 Trying,
answers CANCEL with 200 and the INVITE with 487, resends our 2xx from T1 doubling to T2
until the ACK arrives and ends the call with BYE after 64·T1 without one (§13.3.1.4, on
every transport), answers BYE and in-dialog requests for unknown dialogs (481), checks
the remote CSeq (500), refuses a second offer while one is in progress (491, 500 with
Retry-After) and hands re-INVITEs, UPDATEs and the rest up as events. As UAC it sends
INVITE, answers a digest challenge or a 422 once more, ACKs each 2xx (again when it is
retransmitted, §13.2.2.4), cancels (after a provisional response, §9.1), sends BYE and
re-INVITE. Session timers ride along (:mod:`pbx.sip.session_refresh`).

Each leg's state changes only through :func:`pbx.sip.legs.advance`.
"""

from __future__ import annotations

import structlog
from attrs import define

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.loglimit import bounded
from pbx.sip.dialog import Dialog, uri_destination
from pbx.sip.errors import SipParseError
from pbx.sip.events import (
    CallAnswered,
    CallCancelled,
    CallConfirmed,
    CallFailed,
    CallProgress,
    DialogEnded,
    IncomingCall,
    InDialogRequest,
    ReinviteAnswered,
)
from pbx.sip.headers import Headers
from pbx.sip.legs import (
    SipLeg,
    SipLegState,
    advance,
    dialog_destination,
    dialog_request,
    end_leg,
    send_ack,
    send_bye,
)
from pbx.sip.message import Request, Response
from pbx.sip.session_refresh import SessionRefresh
from pbx.sip.session_timer import SessionTimer, uac_fields, uac_timer
from pbx.sip.transport import Destination
from pbx.sip.ua import IN_DIALOG_EVENTS, Owner, UaCore, allows, authorized, sdp_of, uri_host
from pbx.sip.uri import NameAddr, SipUri, parse_uri

log = structlog.get_logger(__name__)


@define
class InviteUsage:
    """Every INVITE leg of one endpoint, by our local tag."""

    core: UaCore
    legs: dict[str, SipLeg]
    sessions: SessionRefresh

    def leg(self, leg_id: str) -> SipLeg:
        """The leg ``leg_id``; raises :class:`InvalidStateError` when unknown."""
        leg = self.legs.get(leg_id)
        if leg is None:
            raise InvalidStateError(f"unknown leg {leg_id!r}")
        return leg

    # ================================================================ requests in
    def on_invite(
        self,
        req: Request,
        source: Destination,
        tx: str,
        now: float,
        auth_user: str | None,
        trunk: str | None = None,
    ) -> None:
        """A new INVITE (authenticated when policy asked): a leg, and IncomingCall."""
        core = self.core
        offer = self.sessions.negotiate(req, tx, now)
        if offer is False:
            return
        core.respond(tx, req, 100, now)
        leg_id = core.token()
        leg = SipLeg(leg_id, "uas", req.call_id, req, source, invite_tx=tx)
        leg.session_offer = offer
        leg.refresh_with_invite = not allows(req, "UPDATE")
        leg.auth_user = auth_user
        leg.dialog = Dialog.from_uas(req, leg_id)
        self.legs[leg_id] = leg
        core.owners[tx] = Owner("uas-invite", leg_id, leg_id)
        log.info("sip_incoming_call", call_id=req.call_id, leg=leg_id, peer=str(source))
        core.events.append(
            IncomingCall(leg_id, req.call_id, req, source, sdp_of(req), auth_user, trunk)
        )

    def on_cancel(self, req: Request, tx: str, now: float) -> None:
        """CANCEL (§9.2): 200 for the CANCEL, 487 for the INVITE if still unanswered."""
        core = self.core
        invite_tx = core.transactions.find_invite_server(req)
        if invite_tx is None:
            core.respond(tx, req, 481, now)
            return
        owner = core.owners.get(invite_tx.id)
        leg = self.legs.get(owner.key) if owner is not None else None
        core.respond(tx, req, 200, now, to_tag=leg.id if leg is not None else None)
        if leg is not None and leg.state in (SipLegState.CALLING, SipLegState.EARLY):
            core.respond(invite_tx.id, leg.invite, 487, now, to_tag=leg.id)
            self._forget(leg, "cancel")
            core.events.append(CallCancelled(leg.id))

    def on_in_dialog(self, req: Request, tx: str, now: float) -> None:
        """A request with a To tag (§12.2.2)."""
        core = self.core
        leg = self.legs.get(req.to_tag or "")
        if leg is None or leg.dialog is None or leg.call_id != req.call_id:
            core.respond(tx, req, 481, now)  # §12.2.2
            return
        dialog = leg.dialog
        if not dialog.accept_remote_cseq(req):
            core.respond(tx, req, 500, now, reason="Server Internal Error (CSeq out of order)")
            return
        method = req.method
        if req.contacts and method in ("INVITE", "UPDATE"):
            dialog.remote_target = req.contacts[0].uri  # target refresh, §12.2.2
        if method == "BYE":
            self._on_bye(leg, req, tx, now)
            return
        if method in ("INVITE", "UPDATE") and not self.sessions.offered_in_dialog(
            leg, req, tx, now
        ):
            return
        if method == "INVITE":
            if leg.reinvite_out is not None:
                core.respond(tx, req, 491, now)  # §14.2 glare
                return
            if leg.reinvite_in is not None or leg.state is not SipLegState.CONFIRMED:
                retry = str(core.rng.randint(0, 10))
                core.respond(tx, req, 500, now, extra=[("Retry-After", retry)])
                return
            leg.reinvite_in = tx
            core.owners[tx] = Owner("uas-reinvite", leg.id, leg.id)
        if method in IN_DIALOG_EVENTS:
            core.events.append(InDialogRequest(leg.id, req, tx, sdp_of(req)))
        else:
            core.respond(tx, req, 405, now, extra=core.allow_fields())

    def _on_bye(self, leg: SipLeg, req: Request, tx: str, now: float) -> None:
        core = self.core
        core.respond(tx, req, 200, now)
        was = leg.state
        end_leg(self.legs, leg)
        if (
            was in (SipLegState.CALLING, SipLegState.EARLY, SipLegState.ANSWERED)
            and leg.role == "uas"
        ):
            # §15.1.2: a BYE before our final response ends the INVITE with 487.
            t = core.transactions.get(leg.invite_tx or "")
            if t is not None and t.last_response is not None and t.last_response.status < 200:
                core.respond(t.id, leg.invite, 487, now, to_tag=leg.id)
        # RFC 3326: the Reason header says why (Q.850 cause, SIP status), when sent.
        why = req.headers.get("reason")
        core.events.append(DialogEnded(leg.id, "remote", f"bye; {why}" if why else "bye"))

    def on_ack(self, req: Request) -> None:
        """An ACK outside any transaction: to our 2xx (initial or re-INVITE)."""
        leg = self.legs.get(req.to_tag or "")
        if leg is None or leg.call_id != req.call_id:
            return
        if leg.state is SipLegState.ANSWERED and req.cseq.seq == leg.invite.cseq.seq:
            advance(leg, "ack")
            self.core.events.append(CallConfirmed(leg.id, sdp_of(req)))
        elif leg.reinvite_in is None and leg.ok_deadline is not None:
            leg.ok_deadline = None  # ACK to a re-INVITE 2xx

    # ================================================================ UAS API
    def _unanswered(self, leg_id: str, what: str) -> tuple[SipLeg, str]:
        """The incoming leg ``leg_id``, still unanswered, and its INVITE transaction."""
        leg = self.leg(leg_id)
        if (
            leg.role != "uas"
            or leg.state not in (SipLegState.CALLING, SipLegState.EARLY)
            or not leg.invite_tx
        ):
            raise InvalidStateError(f"leg {leg_id} {what} in state {leg.state.value}")
        return leg, leg.invite_tx

    def ring(self, leg_id: str, now: float, *, sdp: bytes | None = None, status: int = 180) -> None:
        """Send 180 Ringing, or 183 Session Progress with early-media SDP."""
        leg, tx = self._unanswered(leg_id, "cannot ring")
        core = self.core
        if sdp is not None and status == 180:
            status = 183
        core.respond(
            tx,
            leg.invite,
            status,
            now,
            to_tag=leg.id,
            extra=[("Contact", str(core.contact_for(None, leg.peer.transport)))],
            body=sdp or b"",
            content_type="application/sdp" if sdp else None,
        )
        advance(leg, "send_1xx")
        if sdp is not None:
            leg.local_sdp = sdp

    def answer(
        self, leg_id: str, sdp: bytes | None, now: float, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """Send 200 OK (with our SDP answer or offer) and retransmit it until the ACK."""
        leg, tx = self._unanswered(leg_id, "cannot be answered")
        core = self.core
        fields = [
            ("Contact", str(core.contact_for(None, leg.peer.transport))),
            *core.allow_fields(),
        ]
        offer = leg.session_offer
        if offer is not None:
            fields.extend(offer.fields)
            self.sessions.start(leg, SessionTimer(offer.interval, offer.refresher == "uas", now))
        if extra:
            fields.extend(extra)
        response = core.respond(
            tx,
            leg.invite,
            200,
            now,
            to_tag=leg.id,
            extra=fields,
            body=sdp or b"",
            content_type="application/sdp" if sdp else None,
        )
        advance(leg, "send_2xx")
        leg.local_sdp = sdp
        self._start_2xx_retransmit(leg, response, tx, now)

    def _start_2xx_retransmit(
        self, leg: SipLeg, response: Response, sent_in: str, now: float
    ) -> None:
        core = self.core
        tx = core.transactions.get(leg.reinvite_in or leg.invite_tx or "")
        # The server transaction that sent this 2xx has serialized it: resend those bytes.
        sent = core.transactions.get(sent_in)
        leg.ok_bytes = sent.last_response_bytes if sent is not None else b""
        if not leg.ok_bytes:
            leg.ok_bytes = bytes(response)
        t1 = core.config.timers.t1
        leg.ok_interval = t1
        leg.ok_giveup = now + 64 * t1
        dest = tx.destination if tx is not None else leg.peer
        leg.ack_destination = dest
        # Over TCP the transport carries the 2xx reliably: nothing to resend, but the
        # wait for the ACK still ends after 64·T1 (§13.3.1.4 applies to every transport).
        leg.ok_deadline = leg.ok_giveup if dest.reliable else now + leg.ok_interval
        core.arm(leg.ok_deadline, "2xx", leg.id)

    def retransmit_due(self, leg_id: str, deadline: float) -> bool:
        """Whether ``deadline`` is still the 2xx deadline armed for ``leg_id``."""
        leg = self.legs.get(leg_id)
        return leg is not None and leg.ok_deadline == deadline

    def retransmit_2xx(self, leg_id: str, now: float) -> None:
        """Resend our 2xx (T1 doubling to T2), or give up after 64·T1 with BYE."""
        leg = self.legs.get(leg_id)
        if leg is None or leg.ok_deadline is None or leg.ok_deadline > now:
            return
        core = self.core
        if now >= leg.ok_giveup:
            leg.ok_deadline = None
            if leg.state is SipLegState.ANSWERED:
                # §13.3.1.4: no ACK within 64·T1 — confirm and end the session with BYE.
                log.info("sip_no_ack", call_id=leg.call_id, leg=leg.id)
                advance(leg, "no_ack")
                send_bye(core, self.legs, leg, now)
                core.events.append(DialogEnded(leg.id, "local", "no ACK"))
            return
        assert leg.ack_destination is not None
        core.transactions.send_raw(leg.ok_bytes, leg.ack_destination)
        leg.ok_interval = min(leg.ok_interval * 2, core.config.timers.t2)
        leg.ok_deadline = now + leg.ok_interval
        core.arm(leg.ok_deadline, "2xx", leg.id)

    def reject(
        self,
        leg_id: str,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Answer an incoming INVITE with a final non-2xx response (486, 480, 603 ...)."""
        leg, tx = self._unanswered(leg_id, "cannot be rejected")
        if status < 300:
            raise LocalProtocolError("reject needs a status of 300 or more")
        self.core.respond(tx, leg.invite, status, now, reason=reason, to_tag=leg.id, extra=extra)
        self._forget(leg, "send_final")

    def respond(
        self,
        transaction: str,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Answer a request handed up as InDialogRequest or IncomingRequest."""
        core = self.core
        tx = core.transactions.get(transaction)
        if tx is None:
            raise InvalidStateError(f"no server transaction {transaction}")
        req = tx.request
        if req is None:
            raise InvalidStateError(
                f"transaction {transaction} in state {tx.state.value} was already answered"
            )
        owner = core.owners.get(transaction)
        leg = (
            self.legs.get(owner.key) if owner is not None and owner.kind == "uas-reinvite" else None
        )
        fields = list(extra or [])
        if leg is not None and status < 300:
            fields.append(("Contact", str(core.contact_for(None, leg.peer.transport))))
        # A 2xx to the peer's re-INVITE or UPDATE refreshes the session (RFC 4028 §9).
        fields.extend(self.sessions.answer_fields(transaction, status, now))
        response = core.respond(
            transaction,
            req,
            status,
            now,
            reason=reason,
            to_tag=None if req.to_tag else core.token(),
            extra=fields,
            body=body,
            content_type=content_type,
        )
        if leg is not None and status >= 200:
            leg.reinvite_in = None
            if status < 300:
                leg.local_sdp = body or leg.local_sdp
                self._start_2xx_retransmit(leg, response, transaction, now)

    # ================================================================ UAC API
    def invite(
        self,
        target: str | SipUri,
        now: float,
        *,
        from_user: str,
        from_display: str | None = None,
        from_host: str | None = None,
        sdp: bytes | None = None,
        destination: Destination | None = None,
        extra: list[tuple[str, str]] | None = None,
        credentials: tuple[str, str] | None = None,
        call_id: str | None = None,
        to: NameAddr | None = None,
    ) -> str:
        """Place a call: send an INVITE and return the new leg's id.

        ``destination`` overrides where it goes (an outbound proxy, a registered phone's
        source address); by default the target URI's host and port.
        """
        core = self.core
        config = core.config
        uri = parse_uri(target) if isinstance(target, str) else target
        dest = destination or uri_destination(uri, config.transport)
        leg_id = core.token()
        cid = call_id or f"{core.token()}@{config.host}"
        host = from_host or uri_host(config.host)
        from_addr = NameAddr.of(SipUri("sip", from_user, None, host), from_display, tag=leg_id)
        fields: list[tuple[str, str]] = [
            ("Via", str(core.via(dest.transport))),
            ("Max-Forwards", "70"),
            ("From", str(from_addr)),
            ("To", str(to or NameAddr(uri))),
            ("Call-ID", cid),
            ("CSeq", "1 INVITE"),
            ("Contact", str(core.contact_for(from_user, dest.transport))),
            *core.allow_fields(),
            *core.common_fields(),
        ]
        if config.session_timer is not None:
            fields.extend(uac_fields(config.session_timer))
        if extra:
            fields.extend(extra)
        if sdp:
            fields.append(("Content-Type", "application/sdp"))
        request = Request("INVITE", uri, Headers(fields), sdp or b"")
        leg = SipLeg(leg_id, "uac", cid, request, dest, credentials=credentials, local_sdp=sdp)
        self.legs[leg_id] = leg
        self._send_invite(leg, request, now)
        log.info("sip_outgoing_call", call_id=cid, leg=leg_id, target=str(uri))
        return leg_id

    def _send_invite(self, leg: SipLeg, request: Request, now: float) -> None:
        leg.invite = request
        tx = self.core.transactions.send_request(request, leg.peer, now)
        leg.invite_tx = tx
        self.core.owners[tx] = Owner("invite", leg.id, leg.id)

    def cancel(self, leg_id: str, now: float) -> None:
        """Give up on our INVITE (§9.1): CANCEL once a provisional response has arrived."""
        leg = self.leg(leg_id)
        if leg.role != "uac" or leg.state not in (SipLegState.CALLING, SipLegState.EARLY):
            raise InvalidStateError(f"leg {leg_id} cannot be cancelled in state {leg.state.value}")
        if not leg.provisional_seen:
            leg.cancel_wanted = True
            return
        self._send_cancel(leg, now)

    def _send_cancel(self, leg: SipLeg, now: float) -> None:
        core = self.core
        inv = leg.invite
        fields: list[tuple[str, str]] = [("Via", str(inv.top_via))]
        fields.extend(("Route", v) for v in inv.headers.get_all("route"))
        fields += [
            ("Max-Forwards", "70"),
            ("From", inv.headers.get("from") or ""),
            ("To", inv.headers.get("to") or ""),
            ("Call-ID", inv.call_id),
            ("CSeq", f"{inv.cseq.seq} CANCEL"),
            *core.common_fields(),
        ]
        cancel = Request("CANCEL", inv.uri, Headers(fields))
        tx = core.transactions.send_request(cancel, leg.peer, now)
        core.owners[tx] = Owner("cancel", leg.id, leg.id)
        leg.cancel_wanted = False

    def bye(self, leg_id: str, now: float) -> None:
        """End a confirmed call with BYE (§15)."""
        leg = self.leg(leg_id)
        if leg.state not in (SipLegState.CONFIRMED, SipLegState.ANSWERED):
            raise InvalidStateError(f"leg {leg_id} cannot send BYE in state {leg.state.value}")
        send_bye(self.core, self.legs, leg, now)

    def hangup(self, leg_id: str, now: float, status: int = 480) -> None:
        """End the leg whatever its state: CANCEL, reject with ``status``, or BYE."""
        leg = self.legs.get(leg_id)
        if leg is None or leg.state in (SipLegState.ENDING, SipLegState.ENDED):
            return
        if leg.state in (SipLegState.CONFIRMED, SipLegState.ANSWERED):
            send_bye(self.core, self.legs, leg, now)
        elif leg.role == "uac":
            self.cancel(leg_id, now)
        else:
            self.reject(leg_id, status, now)

    def reinvite(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Send a re-INVITE with a new offer (hold, resume, media change) (§14.1)."""
        leg = self.leg(leg_id)
        if leg.state is not SipLegState.CONFIRMED or leg.dialog is None:
            raise InvalidStateError(f"leg {leg_id} cannot re-INVITE in state {leg.state.value}")
        if leg.reinvite_out is not None or leg.reinvite_in is not None:
            raise InvalidStateError(f"leg {leg_id} has an offer/answer in progress")
        core = self.core
        req = dialog_request(
            core,
            leg,
            "INVITE",
            body=sdp,
            content_type="application/sdp",
            extra=[*core.allow_fields(), *self.sessions.request_fields(leg)],
        )
        tx = core.transactions.send_request(req, dialog_destination(leg), now)
        leg.reinvite_out = tx
        leg.reinvite_out_request = req
        leg.local_sdp = sdp
        core.owners[tx] = Owner("reinvite", leg.id, leg.id)

    # ================================================================ responses
    def on_invite_response(self, leg: SipLeg, resp: Response, now: float) -> None:
        """A response to our INVITE."""
        status = resp.status
        if status < 200:
            self._on_provisional(leg, resp, now)
        elif status < 300:
            self._on_2xx(leg, resp, now)
        else:
            self._on_failure(leg, resp, now)

    def _on_provisional(self, leg: SipLeg, resp: Response, now: float) -> None:
        leg.provisional_seen = True
        if resp.status == 100:
            if leg.cancel_wanted:
                self._send_cancel(leg, now)
            return
        if resp.to_tag and leg.dialog is None:
            leg.dialog = Dialog.from_uac(leg.invite, resp)
        if leg.state in (SipLegState.CALLING, SipLegState.EARLY):
            advance(leg, "recv_1xx")
        if leg.cancel_wanted:
            self._send_cancel(leg, now)
        self.core.events.append(CallProgress(leg.id, resp.status, resp.reason, sdp_of(resp)))

    def _on_2xx(self, leg: SipLeg, resp: Response, now: float) -> None:
        core = self.core
        if leg.state in (SipLegState.CONFIRMED, SipLegState.ENDING):
            if leg.ack_bytes and leg.ack_destination is not None:
                core.transactions.send_raw(leg.ack_bytes, leg.ack_destination)  # §13.2.2.4
            return
        if leg.dialog is None or leg.dialog.remote_tag != resp.to_tag:
            leg.dialog = Dialog.from_uac(leg.invite, resp)
        else:
            leg.dialog.update_from_response(resp)
        send_ack(core, leg, resp)
        cancelled = leg.cancel_wanted
        advance(leg, "recv_2xx")
        if core.config.session_timer is not None:
            leg.refresh_with_invite = not allows(resp, "UPDATE")
            timer = uac_timer(resp, now)
            if timer is not None:
                self.sessions.start(leg, timer)
        core.events.append(CallAnswered(leg.id, sdp_of(resp), resp))
        if cancelled:
            send_bye(core, self.legs, leg, now)

    def _on_failure(self, leg: SipLeg, resp: Response, now: float) -> None:
        status = resp.status
        if status == 422 and leg.session_retries < 2:
            retry = self.sessions.with_larger_interval(leg.invite, resp)
            if retry is not None:
                leg.session_retries += 1
                self._send_invite(leg, retry, now)
                return
        if status in (401, 407) and leg.credentials is not None and leg.auth_attempts < 2:
            retry = authorized(self.core, leg.invite, resp, leg.credentials)
            if retry is not None:
                leg.auth_attempts += 1
                self._send_invite(leg, retry, now)
                return
        self._forget(leg, "recv_final")
        self.core.events.append(CallFailed(leg.id, status, resp.reason, resp))

    def on_reinvite_response(self, leg: SipLeg, resp: Response, tx: str, now: float) -> None:
        """A response to our re-INVITE."""
        if resp.status < 200:
            return
        core = self.core
        if resp.status < 300:
            assert leg.dialog is not None
            leg.dialog.update_from_response(resp)
            if leg.reinvite_out == tx:
                send_ack(core, leg, resp)
            elif leg.ack_bytes and leg.ack_destination is not None:
                core.transactions.send_raw(leg.ack_bytes, leg.ack_destination)
                return
            self.sessions.refreshed(leg, resp, now)
        leg.reinvite_out = None
        leg.reinvite_out_request = None
        core.events.append(ReinviteAnswered(leg.id, resp.status, sdp_of(resp)))
        if resp.status in (408, 481):
            send_bye(core, self.legs, leg, now)  # §14.1: the dialog is gone

    def on_bye_response(self, leg: SipLeg, resp: Response) -> None:
        """The response to our BYE: the leg is over."""
        if resp.status >= 200:
            end_leg(self.legs, leg)
            self.core.events.append(DialogEnded(leg.id, "local", "bye"))

    def on_stray_response(self, resp: Response) -> None:
        """A response no transaction claims: a retransmitted 2xx gets our ACK again."""
        try:
            if resp.cseq.method != "INVITE" or not resp.success:
                return
        except SipParseError:
            return
        leg = self.legs.get(resp.from_tag or "")
        if leg is not None and leg.ack_bytes and leg.ack_destination is not None:
            self.core.transactions.send_raw(leg.ack_bytes, leg.ack_destination)

    def on_stray_2xx(self, resp: Response, now: float) -> None:
        """A 2xx to an INVITE whose leg is gone."""
        self.core.log_limit.log(log.info, "sip_stray_2xx", now, call_id=bounded(resp.call_id))

    def timed_out(self, kind: str, leg: SipLeg, now: float) -> None:
        """A client transaction of ``leg`` got no final response."""
        core = self.core
        if kind == "invite" and leg.state in (SipLegState.CALLING, SipLegState.EARLY):
            self._forget(leg, "recv_final")
            core.events.append(CallFailed(leg.id, 408, "Request Timeout", None))
        elif kind == "bye":
            end_leg(self.legs, leg)
            core.events.append(DialogEnded(leg.id, "local", "bye timeout"))
        elif kind == "reinvite":
            leg.reinvite_out = None
            core.events.append(ReinviteAnswered(leg.id, 408, None))
            send_bye(core, self.legs, leg, now)
        elif kind == "refresh":
            self.sessions.timed_out(leg, now)

    def flow_lost(self, flow: Destination, now: float) -> None:
        """The connection ``flow`` closed (a browser's WebSocket): every leg over it is
        gone, since nothing can reach the phone any more (RFC 5626 §5, RFC 7118 §5)."""
        for leg in [leg for leg in self.legs.values() if leg.peer == flow]:
            if leg.state in (SipLegState.CALLING, SipLegState.EARLY) and leg.role == "uac":
                self._forget(leg, "recv_final")
                self.core.events.append(CallFailed(leg.id, 480, "Connection Lost", None))
            elif leg.state in (SipLegState.CALLING, SipLegState.EARLY) and leg.role == "uas":
                end_leg(self.legs, leg)
                self.core.events.append(CallCancelled(leg.id))
            else:
                end_leg(self.legs, leg)
                self.core.events.append(DialogEnded(leg.id, "remote", "connection lost"))

    def _forget(self, leg: SipLeg, event: str) -> None:
        advance(leg, event)
        self.legs.pop(leg.id, None)
