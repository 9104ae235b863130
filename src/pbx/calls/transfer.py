"""Transfers: REFER from phones (RFC 3515), blind and attended (Replaces, RFC 3891).

A phone in a bridged call sends REFER: it is accepted (202) and its progress reported
in ``message/sipfrag`` NOTIFYs. A blind transfer rings the target for the transferred
party — a registered extension or a SIP URI, with ringback meanwhile — as a leg whose
purpose is ``transfer``: when it answers, the party is bridged with it and the
transferor released; when it fails, the party goes back to the transferor. A number the
dial plan sends to a queue, an IVR or voicemail takes the party there at once, with
the call's attached data. An attended transfer (a ``Replaces`` in the Refer-To) joins
the party with the far end of the transferor's consultation call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from attrs import define

from pbx.calls.dialplan import Target
from pbx.calls.events import Purpose, TransferRequested
from pbx.calls.model import Leg
from pbx.errors import InvalidStateError
from pbx.media.prompts import ToneItem
from pbx.media.tones import tone
from pbx.sip import events as sip
from pbx.sip.errors import SipParseError
from pbx.sip.uri import NameAddr, SipUri

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager


MODULE_KINDS = ("queue", "ivr", "voicemail")
"""``KIND:NAME`` transfer targets that name a module directly (``queue:support``)."""


def module_target(to: str) -> Target | None:
    """``queue:support``, ``ivr:main`` or ``voicemail:2001`` as a target; else None."""
    kind, sep, name = to.partition(":")
    if sep and kind in MODULE_KINDS and name:
        return Target(kind, name)
    return None


@define
class Transfers:
    """The transfer usage of a call manager."""

    manager: CallManager

    def on_refer(self, leg: Leg, ev: sip.InDialogRequest, now: float) -> None:
        """A REFER in ``leg``'s dialog: accept it and transfer ``leg``'s peer."""
        endpoint = self.manager.endpoint
        refer_to = ev.request.headers.get("refer-to")
        if not refer_to:
            endpoint.respond(ev.transaction, 400, now, reason="Bad Request (no Refer-To)")
            return
        try:
            target = NameAddr.parse(refer_to)
        except SipParseError:
            endpoint.respond(ev.transaction, 400, now, reason="Bad Request (Refer-To)")
            return
        replaces = None
        uri = target.uri
        if isinstance(uri, SipUri) and uri.headers:
            for item in uri.headers.split("&"):
                name, _, value = item.partition("=")
                if name.lower() == "replaces":
                    replaces = unquote(value)
        endpoint.respond(ev.transaction, 202, now)
        leg.refer_tx = ev.transaction
        number = uri.user if isinstance(uri, SipUri) and uri.user else str(uri)
        self.manager.emit(TransferRequested(leg.call, leg.id, number, replaces))
        self.notify(leg, "100 Trying", now)
        self.transfer(leg.id, number, now, replaces=replaces)

    def notify(self, leg: Leg, status_line: str, now: float, final: bool = False) -> None:
        """RFC 3515 §2.4.4: progress of a REFER as message/sipfrag NOTIFYs."""
        endpoint = self.manager.endpoint
        if leg.id not in endpoint.legs:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        try:
            endpoint.request(
                leg.id,
                "NOTIFY",
                now,
                body=f"SIP/2.0 {status_line}\r\n".encode(),
                content_type="message/sipfrag;version=2.0",
                extra=[("Event", "refer"), ("Subscription-State", state)],
            )
        except InvalidStateError:
            pass

    def transfer(self, leg_id: str, number: str, now: float, *, replaces: str | None) -> None:
        """Transfer the party bridged with ``leg_id`` to ``number`` (blind), or join it
        with the leg of the dialog ``replaces`` names (attended)."""
        manager = self.manager
        transferor = manager.leg(leg_id)
        party = manager.legs.get(transferor.peer or "")
        if party is None:
            self.notify(transferor, "503 Service Unavailable", now, final=True)
            return
        call = manager.call(transferor.call)
        call.transferred = True
        if replaces is not None:
            self._attended(transferor, party, replaces, now)
            return
        manager.unbridge(transferor.id)
        target = module_target(number)
        if target is None and not manager.registered(number, now) and not number.startswith("sip:"):
            match = manager.dialplan.resolve(origin="user", number=number, caller="", trunk=None)
            target = match.target if match is not None else None
        if target is not None and target.kind not in ("extension", "trunk"):
            # A queue, an IVR, voicemail ...: the transferred party goes there, with the
            # call's attached data; the transferor is released at once.
            self.notify(transferor, "200 OK", now, final=True)
            transferor.end_cause = "transferred"
            manager.hangup(transferor.id, now)
            call.owner = target.kind
            manager.route(call, party, target, now)
            return
        if party.channel is not None:
            manager.play(party.id, [ToneItem(tone("ringback"))], now, loop=True)
        manager.dial(
            party.call, number, now, purpose=Purpose("transfer", ref=transferor.id, peer=party.id)
        )

    def answered(self, out: Leg, purpose: Purpose, now: float) -> None:
        """The transfer target answered: bridge the party with it, release the transferor."""
        manager = self.manager
        transferor = manager.legs.get(purpose.ref)
        if purpose.peer not in manager.legs:
            manager.hangup(out.id, now)
            return
        assert purpose.peer is not None
        manager.bridge(purpose.peer, out.id, now)
        if transferor is not None:
            self.notify(transferor, "200 OK", now, final=True)
            transferor.end_cause = "transferred"
            manager.hangup(transferor.id, now)

    def failed(self, purpose: Purpose, status: int, reason: str, now: float) -> None:
        """The transfer target failed: the party goes back to the transferor."""
        manager = self.manager
        transferor = manager.legs.get(purpose.ref)
        if transferor is None:
            return
        self.notify(transferor, f"{status} {reason}", now, final=True)
        if purpose.peer in manager.legs:
            assert purpose.peer is not None
            manager.bridge(purpose.peer, transferor.id, now)

    def _attended(self, transferor: Leg, party: Leg, replaces: str, now: float) -> None:
        manager = self.manager
        call_id, *params = replaces.split(";")
        tags = dict(p.split("=", 1) for p in params if "=" in p)
        # The dialog named is the transferor's consultation call, seen from its side; we
        # hold the other end of it: find our leg in that dialog and its bridged peer.
        consult = None
        for leg in manager.legs.values():
            d = manager.endpoint.legs.get(leg.id)
            if d is None or d.dialog is None or d.call_id != call_id:
                continue
            if d.dialog.local_tag in (tags.get("to-tag"), tags.get("from-tag")):
                consult = leg
                break
        target = manager.legs.get(consult.peer or "") if consult is not None else None
        if consult is None or target is None:
            self.notify(transferor, "481 Call/Transaction Does Not Exist", now, final=True)
            return
        manager.bridge(party.id, target.id, now)
        target_call = manager.calls.get(target.call)
        if target_call is not None and target.call != party.call:
            # The consultation leg joins the transferred call; attached data follows.
            target_call.legs.remove(target.id)
            target.call = party.call
            manager.calls[party.call].legs.append(target.id)
        self.notify(transferor, "200 OK", now, final=True)
        for leg in (transferor, consult):
            leg.end_cause = "transferred"
            manager.hangup(leg.id, now)
