"""Admitting a new inbound call: who is calling, from where, and where it goes.

An INVITE the endpoint accepted is classified by its origin — ``user`` when it passed
digest authentication (the caller is the authenticated extension), ``trunk`` when the
endpoint's trust policy named the trusted peer it came from, refused with 403 otherwise
— and matched against the dial plan on that origin, the dialled number and the caller
(404 when nothing matches). Malformed identity fields are a 400.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from attrs import frozen

from pbx.calls.dialplan import Dialplan
from pbx.calls.identity import CallerIdentity, caller_identity, dialled_number
from pbx.calls.model import Call
from pbx.sip import events as sip
from pbx.sip.errors import SipParseError

log = structlog.get_logger(__name__)


@frozen
class Refused:
    """A new call turned away before it had a leg: the final response to send."""

    status: int
    reason: str | None = None
    call: Call | None = None
    """The call as it would have been, when it came from a trunk or a user we know (its
    CDR row says it was refused); None for a request nobody vouches for."""


def admit(
    ev: sip.IncomingCall, dialplan: Dialplan, new_id: Callable[[], str], now: float
) -> Call | Refused:
    """The call ``ev`` opens (routed, not yet running), or why it is refused."""
    req = ev.request
    try:
        identity = caller_identity(req)
        number = dialled_number(req)
    except SipParseError as exc:
        return Refused(400, f"Bad Request ({exc.reason})")
    if ev.auth_user is not None:
        origin, trunk = "user", None
    elif ev.trunk is not None:
        origin, trunk = "trunk", ev.trunk
    else:
        return Refused(403)
    match = dialplan.resolve(origin=origin, number=number, caller=identity.number, trunk=trunk)
    if match is None:
        log.info("call_no_route", number=number, origin=origin)
        direction = "inbound" if origin == "trunk" else "internal"
        unrouted = Call(
            new_id(), origin, direction, now, number=number, trunk=trunk, caller=identity
        )
        return Refused(404, call=unrouted)
    call = Call(
        new_id(),
        origin,
        "inbound" if origin == "trunk" else "internal",
        now,
        number=number,
        trunk=trunk,
        caller=identity,
        target=match.target,
        owner=match.target.kind,
    )
    if origin == "user":
        call.caller = CallerIdentity(ev.auth_user or identity.number, identity.name, "auth")
    if req.contacts:
        call.contact = str(req.contacts[0].uri)
    return call
