"""Attended transfer from the agent's desktop: consult the target, then hand the
customer over (or come back to them).

Theory of operation
-------------------
:meth:`Consultations.start` takes the agent out of the bridge with the customer, puts the
customer on hold (re-INVITE sendonly, music on hold) and dials the target for the agent
(an extension, a number through the dial plan, a SIP URI) as a leg whose purpose is
``consult``; the agent hears ringback, then the target once it answers. Then either:

* :meth:`complete` — the customer comes off hold and is bridged with the target; the
  agent's leg is released (``transferred``) and a ``TransferRequested`` tells the queues
  the agent is free of the call (the ACD's ``CallTransferred``);
* :meth:`cancel` — the target's leg ends and the agent is back with the customer.

The other sides' moves: the target not answering, or hanging up during the
consultation, brings the agent back to the customer; the customer hanging up leaves the
agent and an answered target talking (a ringing target is cancelled and the agent's leg
ends); the agent hanging up completes the transfer once the target has answered (the
customer stays on hold while it rings, and is released if it never answers).
"""

from __future__ import annotations

import structlog
from attrs import define, field

from pbx.calls.events import CallEvent, LegAnswered, LegEnded, LegFailed, Purpose, TransferRequested
from pbx.calls.manager import CallError, CallManager
from pbx.calls.targets import DialTo
from pbx.media.prompts import ToneItem
from pbx.media.tones import tone

log = structlog.get_logger(__name__)


@define(slots=True)
class _Consult:
    call: str
    customer: str
    agent: str
    target: str = ""
    to: str = ""
    answered: bool = False
    completing: bool = False
    """The agent hung up while the target rang: hand the customer over on its answer."""


@define
class Consultations:
    """Attended transfers placed through the API; feed every call event here."""

    manager: CallManager
    _by_call: dict[str, _Consult] = field(init=False, factory=dict)

    def active(self, call_id: str) -> bool:
        """Is a consultation going on in ``call_id``?"""
        return call_id in self._by_call

    def start(
        self,
        call_id: str,
        customer: str,
        to: DialTo,
        label: str,
        now: float,
        *,
        agent: str | None = None,
    ) -> str:
        """Consult ``to`` for the agent bridged with ``customer``; the target's leg id.
        ``agent``: the agent whose phone ``to`` rings, if it is one (busy once answered)."""
        manager = self.manager
        if call_id in self._by_call:
            raise CallError(f"call {call_id!r} is already consulting")
        party = manager.leg(customer)
        own = manager.legs.get(party.peer or "")
        if own is None:
            raise CallError(f"call {call_id!r} is not bridged: no agent to consult for")
        c = _Consult(call_id, party.id, own.id, to=label)
        self._by_call[call_id] = c
        manager.unbridge(own.id)
        manager.hold(party.id, now, True)
        manager.play(own.id, [ToneItem(tone("ringback"))], now, loop=True)
        c.target = manager.dial(
            call_id, to, now, purpose=Purpose("consult", ref=call_id, agent=agent)
        )
        log.info("consult_started", call=call_id, to=label)
        return c.target

    def complete(self, call_id: str, now: float) -> None:
        """Hand the customer over to the answered target; the agent's leg is released."""
        c = self._consult(call_id)
        if not c.answered:
            raise CallError(f"the consultation of call {call_id!r} has not been answered")
        self._hand_over(c, now)
        self._release_agent(c, now)

    def cancel(self, call_id: str, now: float) -> None:
        """End the consultation: the target's leg goes, the agent is back with the customer."""
        c = self._consult(call_id)
        del self._by_call[call_id]
        if c.agent in self.manager.legs:
            self.manager.unbridge(c.agent)
        if c.target in self.manager.legs:
            self.manager.hangup(c.target, now)
        self._back_to_customer(c, now)

    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """The target's outcome; any party of a consultation hanging up."""
        purpose = getattr(event, "purpose", None)
        if isinstance(purpose, Purpose) and purpose.kind == "consult":
            c = self._by_call.get(purpose.ref)
            if c is None or getattr(event, "leg", None) != c.target:
                if isinstance(event, LegAnswered):
                    self.manager.hangup(event.leg, now)  # cancelled meanwhile
                return
            if isinstance(event, LegAnswered):
                self._target_answered(c, now)
            elif isinstance(event, (LegFailed, LegEnded)):
                self._target_gone(c, now)
            return
        if not isinstance(event, LegEnded):
            return
        c = self._by_call.get(event.call)
        if c is None:
            return
        if event.leg == c.customer:
            self._customer_gone(c, now)
        elif event.leg == c.agent:
            self._agent_gone(c, now)

    # ------------------------------------------------------------------ the moves
    def _consult(self, call_id: str) -> _Consult:
        c = self._by_call.get(call_id)
        if c is None:
            raise CallError(f"call {call_id!r} has no consultation")
        return c

    def _target_answered(self, c: _Consult, now: float) -> None:
        manager = self.manager
        c.answered = True
        if c.completing:
            self._hand_over(c, now)
            return
        if c.agent in manager.legs:
            manager.stop_playback(c.agent)
            manager.bridge(c.agent, c.target, now)
            # Not peers: either hanging up must not take the other (nor the customer).
            manager.leg(c.agent).peer = manager.leg(c.target).peer = None

    def _target_gone(self, c: _Consult, now: float) -> None:
        del self._by_call[c.call]
        if c.completing:
            if c.customer in self.manager.legs:
                self.manager.hangup(c.customer, now)
            return
        self._back_to_customer(c, now)

    def _customer_gone(self, c: _Consult, now: float) -> None:
        manager = self.manager
        del self._by_call[c.call]
        agent, target = manager.legs.get(c.agent), manager.legs.get(c.target)
        if c.answered and agent is not None and target is not None:
            agent.peer, target.peer = target.id, agent.id  # they talk on, and end together
            return
        for leg in (c.target, c.agent):
            if leg in manager.legs:
                manager.hangup(leg, now)

    def _agent_gone(self, c: _Consult, now: float) -> None:
        if c.answered:
            self._hand_over(c, now)
        else:
            c.completing = True  # the customer waits on hold for the target's answer

    def _hand_over(self, c: _Consult, now: float) -> None:
        manager = self.manager
        self._by_call.pop(c.call, None)
        customer, target = manager.legs.get(c.customer), manager.legs.get(c.target)
        if customer is None or target is None:
            return
        if c.agent in manager.legs:
            manager.unbridge(c.agent)
        manager.hold(customer.id, now, False)
        manager.bridge(customer.id, target.id, now)
        customer.peer, target.peer = target.id, customer.id
        manager.call(c.call).transferred = True
        manager.emit(TransferRequested(c.call, c.agent, c.to, None))
        log.info("consult_completed", call=c.call, to=c.to)

    def _release_agent(self, c: _Consult, now: float) -> None:
        agent = self.manager.legs.get(c.agent)
        if agent is not None:
            agent.end_cause = "transferred"
            self.manager.hangup(agent.id, now)

    def _back_to_customer(self, c: _Consult, now: float) -> None:
        manager = self.manager
        customer, agent = manager.legs.get(c.customer), manager.legs.get(c.agent)
        if customer is None or agent is None:
            return
        manager.unbridge(agent.id)
        manager.stop_playback(agent.id)
        manager.hold(customer.id, now, False)
        manager.bridge(customer.id, agent.id, now)
        customer.peer, agent.peer = agent.id, customer.id
        log.info("consult_cancelled", call=c.call)
