"""Click-to-call: ring the agent's phone first, then dial the number for them.

:meth:`ClickToCall.start` opens a call of ours (``origin = api``) and rings the agent's
registered phone as a leg whose purpose is ``click-to-call``; when the agent answers,
the number is resolved through the dial plan as if the agent had dialled it (an
extension, or a trunk route that only authenticated users may take), and the agent's
leg is routed there like a caller's: the far end rings, and the two are bridged when it
answers. The call carries the data the integrator attached (a CRM ticket ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from attrs import define, field

from pbx.calls.events import CallEvent, LegAnswered, LegFailed, Purpose
from pbx.calls.identity import CallerIdentity
from pbx.calls.manager import CallError, CallManager
from pbx.media.prompts import ToneItem
from pbx.media.tones import tone

log = structlog.get_logger(__name__)


@define
class ClickToCall:
    """Calls placed for agents from a CRM or a desktop."""

    manager: CallManager
    _pending: dict[str, str] = field(init=False, factory=dict)
    """Call id → the number to dial once the agent answers."""

    def start(
        self, agent: str, number: str, now: float, *, data: Mapping[str, Any] | None = None
    ) -> str:
        """Ring ``agent``'s phone for a call to ``number``; the new call's id. Raises
        :class:`CallError` when the number has no route or the agent no phone."""
        manager = self.manager
        if manager.dialplan.resolve(origin="user", number=number, caller=agent) is None:
            raise CallError(f"no route for {number!r}")
        if not manager.registered(agent, now):
            raise CallError(f"agent {agent!r} has no registered phone")
        call_id = manager.originate(now, number=number, data=dict(data or {}))
        call = manager.call(call_id)
        call.caller = CallerIdentity(agent, "", "auth")
        call.agent = agent
        self._pending[call_id] = number
        manager.dial(
            call_id,
            agent,
            now,
            purpose=Purpose("click-to-call", ref=call_id, agent=agent),
            from_number=number,
            from_name=f"Call to {number}",
        )
        log.info("click_to_call", call=call_id, agent=agent, number=number)
        return call_id

    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """The agent answered (dial the number) or did not (the call ends)."""
        if not isinstance(event, (LegAnswered, LegFailed)):
            return
        purpose = event.purpose
        if purpose is None or purpose.kind != "click-to-call":
            return
        number = self._pending.pop(purpose.ref, None)
        manager = self.manager
        call = manager.calls.get(event.call)
        leg = manager.legs.get(event.leg)
        if number is None or call is None or leg is None or isinstance(event, LegFailed):
            return
        match = manager.dialplan.resolve(origin="user", number=number, caller=purpose.agent or "")
        if match is None:
            manager.hangup(leg.id, now)
            return
        # The agent's answered leg stands where a caller's would: the route dials on,
        # and the agent hears ringback until the far end answers.
        manager.play(leg.id, [ToneItem(tone("ringback"))], now, loop=True)
        manager.route(call, leg, match.target, now)
