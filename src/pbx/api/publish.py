"""What goes onto the API's event stream: call events and ACD actions, scoped.

Every call event is published with the queue and agent of its call (remembered until
the call ends, so its last events keep their scope); of the ACD's actions, the ones a
desktop or wallboard shows: offers (the screen pop — caller, DID, IVR path and choices,
lookups, attached data, and the CRM link built from ``[http] crm_url``), cancelled
offers, connections, overflows, callbacks placed, and agents' state changes; of the
dialer's, preview offers (``OfferPreview``: the lead's card) and their withdrawal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import define, field

from pbx.acd import actions as act
from pbx.api.hub import EventHub, Scope, to_json
from pbx.api.metrics import Metrics
from pbx.calls.campaigns import PreviewConnected
from pbx.calls.events import CallEnded, CallEvent
from pbx.calls.manager import CallManager
from pbx.dialer import actions as da

SHOWN_ACTIONS = (
    act.OfferToAgent,
    act.CancelOffer,
    act.ConnectCall,
    act.Overflow,
    act.PlaceCallback,
    act.AgentStateChanged,
)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def crm_link(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``{caller}``, ``{did}``, ``{call}`` and data keys filled in
    (unknown ones left empty)."""
    if not template:
        return ""
    from urllib.parse import quote

    return template.format_map(_Blank({k: quote(str(v), safe="") for k, v in values.items()}))


@define
class EventPublisher:
    """Turns call events and ACD actions into the hub's scoped, numbered events."""

    hub: EventHub
    metrics: Metrics | None
    calls: CallManager
    wall: Callable[[float], float]
    crm_url: str = ""
    dispositions: Mapping[str, tuple[str, ...]] = field(factory=dict)
    """Queue → its wrap-up codes, shown with the offer."""
    campaign_dispositions: Mapping[str, tuple[str, ...]] = field(factory=dict)
    """Campaign → its codes, shown instead with the offer of a campaign's call."""
    _scopes: dict[str, Scope] = field(init=False, factory=dict)

    def call_event(self, event: CallEvent, now: float) -> None:
        """One call event onto the stream."""
        call_id = event.call
        call = self.calls.calls.get(call_id)
        if call is not None:
            scope = Scope(queue=call.queue, agent=call.agent, call=call_id)
            self._scopes[call_id] = scope
        else:
            scope = self._scopes.get(call_id, Scope(call=call_id))
        if isinstance(event, CallEnded):
            self._scopes.pop(call_id, None)
        kind = type(event).__name__
        if self.metrics is not None:
            self.metrics.observe(kind, event)
        self.hub.publish(kind, to_json(event), scope, self.wall(now))

    def acd_action(self, action: act.AcdAction, now: float) -> None:
        """One ACD action onto the stream, when a screen shows it."""
        if not isinstance(action, SHOWN_ACTIONS):
            return
        kind = type(action).__name__
        body: dict[str, Any] = to_json(action)
        queue = getattr(action, "queue", None)
        agent = getattr(action, "agent", None)
        acd_call = getattr(action, "call", None)
        call_id = acd_call.split(":")[0] if isinstance(acd_call, str) else None
        if call_id is not None:
            body["call"] = call_id
            known = self._scopes.get(call_id)
            queue = queue or (known.queue if known else None)
        if isinstance(action, act.OfferToAgent):
            body.pop("devices", None)
            body.update(self._screen_pop(call_id, action))
        if self.metrics is not None:
            self.metrics.observe(kind, action)
        self.hub.publish(kind, body, Scope(queue=queue, agent=agent, call=call_id), self.wall(now))

    def dialer_action(self, action: da.DialerAction | PreviewConnected, now: float) -> None:
        """A preview offer (the lead's card on the agent's desktop), its withdrawal, and
        the preview call once the lead answered (the call's card)."""
        if not isinstance(action, (da.OfferPreview, da.WithdrawPreview, PreviewConnected)):
            return
        kind = type(action).__name__
        body: dict[str, Any] = to_json(action)
        campaign = getattr(action, "campaign", None)
        call = getattr(action, "call", None)
        scope = Scope(agent=action.agent, campaign=campaign, call=call)
        if self.metrics is not None:
            self.metrics.observe(kind, action)
        self.hub.publish(kind, body, scope, self.wall(now))

    def _screen_pop(self, call_id: str | None, offer: act.OfferToAgent) -> dict[str, Any]:
        call = self.calls.calls.get(call_id or "")
        data = dict(offer.data)
        # The agent's card shows whom the caller lets be shown (RFC 3323 privacy).
        caller = call.caller.presented if call is not None and call.caller else None
        values = {
            **data,
            "caller": caller.number if caller else "",
            "did": call.number if call else "",
            "call": call_id or "",
        }
        return {
            "caller": {"number": caller.number, "name": caller.name} if caller else None,
            "did": call.number if call else None,
            "ivr_path": to_json(data.get("ivr_path", [])),
            "crm_url": crm_link(self.crm_url, values),
            "dispositions": list(
                self.campaign_dispositions.get(str(data.get("campaign", "")), ())
                or self.dispositions.get(offer.queue, ())
            ),
        }
