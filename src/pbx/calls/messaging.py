"""Text messages (SIP MESSAGE, RFC 3428) between phones and over trunks.

An out-of-dialog MESSAGE is admitted like a call: from an extension that passed the
digest challenge (origin ``user``) or from a trusted trunk (``trunk``), anything else is
403. Its request-URI's user part is looked up in the dial plan with that origin:

* an ``extension`` target is delivered to every registered device of the extension
  (a MESSAGE from the pbx, ``From`` the sender's number, the body as it came); the
  sender gets 200 as soon as one device takes it, or the last device's failure when
  none does, and 480 when the extension has no device registered;
* a ``trunk`` target (an SMS over a SIP trunk; only what an authenticated user may
  dial) is sent to the number at the trunk's host, ``From`` the trunk's caller ID or
  the sender's number, and the carrier's final answer goes back to the sender;
* no route is 404; any other target (a queue, an IVR) is 480: chats are not queued.

Bodies other than ``text/plain`` are 415 with ``Accept: text/plain`` (§7); a request
that got no answer from the device or trunk in time (its transaction timed out) is 408.
Every message is logged with sender, recipient, outcome and size (never its text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from attrs import define, field

from pbx.calls.identity import caller_identity, dialled_number
from pbx.calls.targets import trunk_route
from pbx.sip import events as sip
from pbx.sip.errors import SipParseError
from pbx.sip.uri import SipUri

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager

log = structlog.get_logger(__name__)

TEXT = "text/plain"


@define(slots=True)
class _Pending:
    """A MESSAGE waiting for the devices (or the trunk) it was passed to."""

    transaction: str
    sender: str
    to: str
    outstanding: int
    last_status: int = 480
    last_reason: str = ""
    answered: bool = False


@define
class TextMessages:
    """Routes and relays out-of-dialog MESSAGE requests for a call manager."""

    manager: CallManager
    _pending: dict[str, _Pending] = field(init=False, factory=dict)
    """Handle of a MESSAGE we sent → the sender's request it relays."""

    def owns(self, handle: str) -> bool:
        """True when ``handle`` is a MESSAGE sent here (its answer is ours to act on)."""
        return handle in self._pending

    def on_message(self, ev: sip.IncomingRequest, now: float) -> None:
        """A MESSAGE from outside any dialog."""
        endpoint = self.manager.endpoint
        req = ev.request
        ctype = (req.content_type or TEXT).split(";")[0].strip().lower()
        if ctype != TEXT:
            endpoint.respond(ev.transaction, 415, now, extra=[("Accept", TEXT)])
            return
        try:
            identity = caller_identity(req)
            number = dialled_number(req)
        except SipParseError as exc:
            endpoint.respond(ev.transaction, 400, now, reason=f"Bad Request ({exc.reason})")
            return
        if ev.auth_user is not None:
            origin, sender = "user", ev.auth_user
        elif ev.trunk is not None:
            origin, sender = "trunk", identity.number
        else:
            endpoint.respond(ev.transaction, 403, now)
            return
        match = self.manager.dialplan.resolve(
            origin=origin, number=number, caller=sender, trunk=ev.trunk
        )
        if match is None:
            self._done(ev.transaction, sender, number, 404, "Not Found", now)
            return
        target = match.target
        if target.kind == "extension":
            self._to_extension(ev, sender, target.name or number, now)
        elif target.kind == "trunk":
            self._to_trunk(ev, sender, target.name, target.number or match.number, now)
        else:
            self._done(
                ev.transaction,
                sender,
                number,
                480,
                f"Temporarily Unavailable (no text service at a {target.kind})",
                now,
            )

    def _to_extension(
        self, ev: sip.IncomingRequest, sender: str, extension: str, now: float
    ) -> None:
        manager = self.manager
        location = manager.location
        bindings = location.lookup(extension, now) if location is not None else []
        devices = [b for b in bindings if isinstance(b.contact.uri, SipUri)]
        if not devices:
            self._done(ev.transaction, sender, extension, 480, "Not Registered", now)
            return
        pending = _Pending(ev.transaction, sender, extension, len(devices))
        for binding in devices:
            assert isinstance(binding.contact.uri, SipUri)
            handle = manager.endpoint.request(
                None,
                "MESSAGE",
                now,
                body=ev.request.body,
                content_type=TEXT,
                target=binding.contact.uri,
                from_user=sender,
                destination=binding.source,
            )
            self._pending[handle] = pending

    def _to_trunk(
        self, ev: sip.IncomingRequest, sender: str, trunk_name: str, number: str, now: float
    ) -> None:
        manager = self.manager
        trunk = manager.trunks.get(trunk_name)
        if trunk is None:
            self._done(ev.transaction, sender, number, 503, "Unknown Trunk", now)
            return
        route = trunk_route(trunk, number)
        handle = manager.endpoint.request(
            None,
            "MESSAGE",
            now,
            body=ev.request.body,
            content_type=TEXT,
            target=route.uri,
            from_user=route.from_number or sender,
            destination=route.destination,
        )
        self._pending[handle] = _Pending(ev.transaction, sender, number, 1)

    def on_answer(self, ev: sip.RequestAnswered | sip.RequestFailed, now: float) -> None:
        """The final answer (or the time-out) of a MESSAGE we passed on."""
        pending = self._pending.pop(ev.handle, None)
        if pending is None or pending.answered:
            return
        pending.outstanding -= 1
        if isinstance(ev, sip.RequestAnswered):
            status, reason = ev.response.status, ev.response.reason
        else:
            status, reason = 408, "Request Timeout"
        if status < 300:
            pending.answered = True
            self._done(pending.transaction, pending.sender, pending.to, 200, "OK", now)
            return
        pending.last_status, pending.last_reason = status, reason
        if pending.outstanding <= 0:
            # Auth challenges of the far end are not answered: out-of-dialog requests
            # carry no credentials, so a 401/407 is a failure like any other.
            failure = status if 400 <= status < 700 else 480
            self._done(pending.transaction, pending.sender, pending.to, failure, reason, now)

    def _done(
        self, transaction: str, sender: str, to: str, status: int, reason: str, now: float
    ) -> None:
        self.manager.endpoint.respond(transaction, status, now, reason=reason or None)
        log.info("text_message", sender=sender, to=to, status=status)
