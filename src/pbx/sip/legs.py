"""INVITE legs: one per INVITE dialog, named by our local tag, and their transitions.

Theory of operation
-------------------
A leg is one side of a call as the endpoint sees it: the INVITE, the dialog it created,
and what the UA core does for it beyond the transaction layer (2xx retransmission,
the ACK, the session timer). Its state changes only through :func:`advance`, one table
in the style of :mod:`pbx.sip.transaction`: :data:`TRANSITIONS` keyed by
``(state, input)``. Inputs name what happened — ``send_1xx``/``send_2xx``/``send_final``
for an incoming INVITE we answer, ``recv_1xx``/``recv_2xx``/``recv_final`` for ours,
``ack`` (the ACK to our 2xx), ``no_ack`` (64·T1 passed without it), ``cancel``
(received or sent), ``send_bye``, ``ended`` (BYE received or answered, or the
transaction gone). An input the table has no entry for is a bug of the caller:
:class:`~pbx.errors.InvalidStateError` names the leg, the state and the input.

The helpers below build and send the requests within a leg's dialog (§12.2.1.1): BYE,
ACK, re-INVITE, UPDATE, and where they go.
"""

from __future__ import annotations

import enum

from attrs import define

from pbx.errors import InvalidStateError
from pbx.sip.dialog import Dialog, DialogState
from pbx.sip.message import Request, Response
from pbx.sip.session_timer import Negotiated, SessionTimer
from pbx.sip.transport import Destination
from pbx.sip.ua import Owner, UaCore


class SipLegState(enum.Enum):
    """Where one INVITE leg is."""

    CALLING = "calling"
    """UAC: INVITE sent, nothing back yet. UAS: INVITE received, nothing sent but 100."""
    EARLY = "early"
    """A provisional response was sent (UAS) or received (UAC)."""
    ANSWERED = "answered"
    """UAS: 2xx sent, waiting for the ACK."""
    CONFIRMED = "confirmed"
    ENDING = "ending"
    """BYE sent, waiting for its response."""
    ENDED = "ended"


S = SipLegState
_LIVE = (S.CALLING, S.EARLY, S.ANSWERED, S.CONFIRMED)

TRANSITIONS: dict[tuple[SipLegState, str], SipLegState] = {
    # UAS: answering an INVITE (§13.3)
    (S.CALLING, "send_1xx"): S.EARLY,
    (S.EARLY, "send_1xx"): S.EARLY,
    (S.CALLING, "send_2xx"): S.ANSWERED,
    (S.EARLY, "send_2xx"): S.ANSWERED,
    (S.CALLING, "send_final"): S.ENDED,
    (S.EARLY, "send_final"): S.ENDED,
    (S.ANSWERED, "ack"): S.CONFIRMED,
    (S.ANSWERED, "no_ack"): S.CONFIRMED,  # §13.3.1.4: confirmed, then ended with BYE
    # UAC: our INVITE (§13.2)
    (S.CALLING, "recv_1xx"): S.EARLY,
    (S.EARLY, "recv_1xx"): S.EARLY,
    (S.CALLING, "recv_2xx"): S.CONFIRMED,
    (S.EARLY, "recv_2xx"): S.CONFIRMED,
    (S.CALLING, "recv_final"): S.ENDED,
    (S.EARLY, "recv_final"): S.ENDED,
    # CANCEL (§9), received or sent and answered 487
    (S.CALLING, "cancel"): S.ENDED,
    (S.EARLY, "cancel"): S.ENDED,
    # BYE (§15)
    **{(state, "send_bye"): S.ENDING for state in _LIVE},
    **{(state, "ended"): S.ENDED for state in (*_LIVE, S.ENDING, S.ENDED)},
}


@define(slots=True)
class SipLeg:
    """One INVITE leg and its dialog."""

    id: str
    role: str
    """``uac`` (we sent the INVITE) or ``uas``."""
    call_id: str
    invite: Request
    peer: Destination
    """UAC: where requests go before a dialog exists; UAS: where the INVITE came from."""
    state: SipLegState = SipLegState.CALLING
    invite_tx: str | None = None
    dialog: Dialog | None = None
    credentials: tuple[str, str] | None = None
    auth_attempts: int = 0
    cancel_wanted: bool = False
    """UAC: CANCEL asked for before any provisional response (§9.1: wait for one)."""
    provisional_seen: bool = False
    ok_bytes: bytes = b""
    """UAS: our 2xx as sent, resent until the ACK (§13.3.1.4)."""
    ok_interval: float = 0.0
    ok_deadline: float | None = None
    ok_giveup: float = 0.0
    ack_bytes: bytes = b""
    """UAC: our ACK to the 2xx, resent when the 2xx is (§13.2.2.4)."""
    ack_destination: Destination | None = None
    reinvite_out: str | None = None
    """Our re-INVITE's transaction, while it runs (one offer/answer at a time, §14.1)."""
    reinvite_out_request: Request | None = None
    reinvite_in: str | None = None
    """The peer's re-INVITE's transaction, until we answer it."""
    local_sdp: bytes | None = None
    auth_user: str | None = None
    session: SessionTimer | None = None
    """The dialog's RFC 4028 session timer, once a 2xx set it up."""
    session_offer: Negotiated | None = None
    """UAS: what the 2xx to the INVITE will say about the session timer."""
    session_armed: float | None = None
    refresh_tx: str | None = None
    """Our session refresh in progress."""
    refresh_with_invite: bool = False
    """The peer does not take UPDATE: refresh with a re-INVITE of the same SDP."""
    session_retries: int = 0


def advance(leg: SipLeg, event: str) -> SipLegState:
    """Move ``leg`` on ``event`` by :data:`TRANSITIONS`; raise InvalidStateError (naming
    the leg, its state and the input) when the table has no such move."""
    new = TRANSITIONS.get((leg.state, event))
    if new is None:
        raise InvalidStateError(f"leg {leg.id}: {event} in state {leg.state.value}")
    leg.state = new
    if leg.dialog is not None:
        if new is S.CONFIRMED:
            leg.dialog.state = DialogState.CONFIRMED
        elif new is S.ENDED:
            leg.dialog.state = DialogState.TERMINATED
    if new in (S.CONFIRMED, S.ENDING, S.ENDED):
        leg.ok_deadline = None  # the ACK came, or no ACK matters any more
    return new


def end_leg(legs: dict[str, SipLeg], leg: SipLeg) -> None:
    """The leg is over: ended and forgotten."""
    advance(leg, "ended")
    legs.pop(leg.id, None)


def dialog_destination(leg: SipLeg) -> Destination:
    """Where a request within the leg's dialog goes (§12.2.1.1, with connection reuse and
    symmetric routing for phones behind NAT)."""
    assert leg.dialog is not None
    try:
        dest = leg.dialog.next_hop(leg.peer.transport)
    except InvalidStateError:
        return leg.peer
    if leg.role == "uas" and not leg.dialog.route_set and leg.peer.reliable:
        # Reuse the connection the call came in on (RFC 5923 style reuse).
        return leg.peer
    if leg.role == "uas" and not leg.dialog.route_set and dest.host != leg.peer.host:
        # A phone behind NAT puts its private address in Contact; requests go back to
        # the address its INVITE came from, as symmetric responses do (RFC 3581).
        return leg.peer
    return dest


def dialog_request(
    core: UaCore,
    leg: SipLeg,
    method: str,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    cseq: int | None = None,
) -> Request:
    """A request within the leg's dialog (§12.2.1.1); target refreshes carry Contact."""
    assert leg.dialog is not None
    dest = dialog_destination(leg)
    contact = (
        core.contact_for(None, dest.transport)
        if method in ("INVITE", "UPDATE", "REFER", "NOTIFY")
        else None
    )
    return leg.dialog.create_request(
        method,
        core.via(dest.transport),
        contact=contact,
        extra=[*(extra or []), *core.common_fields()],
        body=body,
        content_type=content_type,
        cseq=cseq,
    )


def send_ack(core: UaCore, leg: SipLeg, resp: Response) -> None:
    """ACK a 2xx: a request outside any transaction (§13.2.2.4), kept for resending."""
    assert leg.dialog is not None
    ack = dialog_request(core, leg, "ACK", cseq=resp.cseq.seq)
    dest = dialog_destination(leg)
    leg.ack_bytes = bytes(ack)
    leg.ack_destination = dest
    core.transactions.send_raw(leg.ack_bytes, dest)


def send_bye(core: UaCore, legs: dict[str, SipLeg], leg: SipLeg, now: float) -> None:
    """End the leg's session with BYE (§15.1.1); a leg without a dialog just ends."""
    if leg.dialog is None:
        end_leg(legs, leg)
        return
    bye = dialog_request(core, leg, "BYE")
    tx = core.transactions.send_request(bye, dialog_destination(leg), now)
    core.owners[tx] = Owner("bye", leg.id, leg.id)
    advance(leg, "send_bye")
