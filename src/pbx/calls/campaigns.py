"""Outbound campaigns over the call layer: the dialer's actions carried out on real calls.

:class:`pbx.dialer.Dialer` decides (sans-I/O, knows no calls); this module makes its
decisions happen and reports the outcomes back:

* ``Dial`` opens a call of ours and dials the lead's number over the campaign's trunk
  as a leg whose purpose is ``campaign`` (the attempt id); its ``LegFailed`` is
  ``AttemptFailed`` with the SIP status, its end ``AttemptEnded`` with the talk time;
* an answered leg runs answering-machine detection when the campaign asks for it
  (``AnsweringMachine`` → ``AttemptAnswered`` with the verdict, ``MachineGreetingEnded``
  → ``GreetingEnded``), else it is a person at once;
* ``Enqueue`` routes the answered call into its queue with the lead's data attached
  (the screen pop), and the ACD's ``ConnectCall`` for it is ``AgentConnected``;
  ``PlayAbandonMessage`` plays the short message and hangs up (no agent within 2 s of
  the greeting's end); ``RunScript`` routes the call to the campaign's IVR with the
  lead's variables; ``LeaveMessage`` plays the message to the machine and hangs up;
  ``HangUp`` hangs up; digits on an agentless call are ``ConfirmationDigit``;
* ``LeadChanged`` is written to the store before anything after it is done, so a
  restart resumes every campaign where it was (``CampaignService.restore``);
* agents' states from the ACD become ``AgentAvailable`` / ``AgentBusy`` / ``AgentAway``
  for the campaigns of their queues;
* preview: ``OfferPreview`` is kept as the agent's current offer (:meth:`preview`) and
  handed to the listeners (the desktop's lead card), until ``WithdrawPreview`` or the
  agent's decision (:meth:`decide_preview`, ``PreviewDecision``). A ``Dial`` with an
  agent rings the agent's phone first (purpose ``campaign-agent``, the lead's number
  and name shown); when the agent answers they hear ringback while the lead is dialled
  over the trunk, and ``ConnectToAgent`` bridges the two. The agent's phone not
  answering is ``AttemptFailed`` with status 0 (the lead was never dialled: it is
  retried under the campaign's ``failed`` rule); the lead not answering ends the
  agent's leg with a busy tone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from attrs import define, field, frozen

from pbx.acd import actions as acd
from pbx.acd.models import AgentState
from pbx.calls.dialplan import Target
from pbx.calls.events import (
    AnsweringMachine,
    CallEvent,
    DigitReceived,
    LegAnswered,
    LegEnded,
    LegFailed,
    LegRinging,
    MachineGreetingEnded,
    Purpose,
)
from pbx.calls.manager import CallManager
from pbx.calls.model import Call, Leg
from pbx.dialer import actions as da
from pbx.dialer import events as de
from pbx.dialer.campaign import CampaignConfig
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import ImportReport, import_leads, lead_from_dict, lead_to_dict
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.store import Store

log = structlog.get_logger(__name__)


@frozen
class PreviewConnected:
    """A preview call is up: ``agent`` talks with the lead (the desktop's call card)."""

    call: str
    agent: str
    campaign: str
    lead: str
    number: str
    data: Mapping[str, str]
    dispositions: tuple[str, ...]


DialerListener = Callable[["da.DialerAction | PreviewConnected", float], None]
SHOWN = (da.OfferPreview, da.WithdrawPreview)
"""Dialer actions the listeners are told of."""

AMD_VERDICTS = {"human": "human", "machine": "machine", "not_sure": "unsure"}
BUSY_STATES = (AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD)


@define(slots=True)
class _Attempt:
    campaign: str
    call: str
    leg: str = ""
    amd: bool = False
    answered: float | None = None
    dial: da.Dial | None = None
    """Preview: the dial to place once the agent's phone answered."""
    agent_leg: str = ""
    """Preview: the leg to the agent's phone."""


@define
class CampaignService:
    """Runs the dialer over the call manager; feed it call events and ACD actions."""

    manager: CallManager
    dialer: Dialer
    campaigns: Mapping[str, CampaignConfig]
    store: Store
    wall: Callable[[float], float]
    agent_queues: Callable[[str], Sequence[str]] = field(default=lambda agent: ())
    listeners: Sequence[DialerListener] = ()
    """Told of preview offers and their withdrawal (the agent desktop's lead card)."""
    _previews: dict[str, da.OfferPreview] = field(init=False, factory=dict)
    """Agent → the lead offered to them to dial or skip."""
    _phone_legs: dict[str, str] = field(init=False, factory=dict)
    """Agent → the leg of the ``*41`` call they placed: the lead is dialled from it."""
    _own_legs: dict[str, str] = field(init=False, factory=dict)
    """The leg of an agent's ``*41`` call → its attempt."""
    _attempts: dict[str, _Attempt] = field(init=False, factory=dict)
    """Attempt id → its call and leg."""
    _by_call: dict[str, str] = field(init=False, factory=dict)

    # ============================================================ commands
    def restore(self, now: float) -> None:
        """At start: apply the do-not-call changes made at run time over the configured
        lists, hand the dialer every stored lead, then restart what was running."""
        changes: dict[tuple[str, bool], list[str]] = {}
        for list_name, number, listed in self.store.dnc_changes():
            changes.setdefault((list_name, listed), []).append(number)
        for (list_name, listed), numbers in changes.items():
            kind = de.DncAdded if listed else de.DncRemoved
            self.feed(kind(list_name, tuple(numbers)), now)
        stored = [lead_from_dict(d) for d in self.store.leads()]
        known = [lead for lead in stored if lead.campaign in self.campaigns]
        if known:
            self.feed(de.LeadsAdded(known), now)
        for name, state in self.store.campaign_states().items():
            if name in self.campaigns and state == "running":
                self.feed(de.StartCampaign(name), now)

    def import_leads(self, campaign: str, text: str, now: float) -> ImportReport:
        """Import a CSV of leads into ``campaign``: all rows or none (the report says
        which row is wrong and why)."""
        report = self.check_leads(campaign, text, self.known_numbers(campaign))
        if report.ok:
            self.add_leads(report, now)
        return report

    def known_numbers(self, campaign: str) -> frozenset[str]:
        """The numbers ``campaign`` already has (an import refuses them again)."""
        return frozenset(lead.phone for lead in self.dialer.leads(campaign))

    def check_leads(self, campaign: str, text: str, known: frozenset[str]) -> ImportReport:
        """Parse and check a CSV of leads, changing nothing: safe to run off the event
        loop (the API does, for long lists), with ``known`` from :meth:`known_numbers`."""
        config = self.campaigns[campaign]
        return import_leads(
            text,
            campaign,
            default_region=config.default_region,
            dnc=self.dialer.dnc.view(config.dnc_lists),
            existing_numbers=known,
        )

    def add_leads(self, report: ImportReport, now: float) -> None:
        """Store the checked leads (one transaction), then hand them to the dialer."""
        self.store.leads_save([lead_to_dict(lead) for lead in report.leads])
        self.feed(de.LeadsAdded(report.leads), now)

    def command(self, campaign: str, verb: str, now: float) -> None:
        """``start``, ``pause``, ``resume`` or ``stop`` a campaign."""
        kinds: dict[str, de.DialerEvent] = {
            "start": de.StartCampaign(campaign),
            "pause": de.PauseCampaign(campaign),
            "resume": de.ResumeCampaign(campaign),
            "stop": de.StopCampaign(campaign),
        }
        self.feed(kinds[verb], now)

    def preview(self, agent: str) -> da.OfferPreview | None:
        """The lead offered to ``agent`` to dial or skip, if any."""
        return self._previews.get(agent)

    def decide_preview(self, agent: str, lead: str, dial: bool, now: float) -> None:
        """The agent dials (``dial``) or skips the lead offered to them; raises
        :class:`LookupError` when that lead is not offered to them (any more)."""
        offer = self._previews.get(agent)
        if offer is None or offer.lead != lead:
            raise LookupError(f"lead {lead!r} is not offered to agent {agent!r}")
        del self._previews[agent]
        self._tell(da.WithdrawPreview(agent, lead), now)
        self.feed(de.PreviewDecision(agent, lead, dial), now)

    def feature(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The ``app:preview`` target, dialled from an agent's phone: ``*41`` dials the
        lead offered to them from this very call (they hear ringback, then the lead),
        ``*42`` skips it (a beep, then the pbx hangs up); 404 when nothing is offered."""
        agent = call.caller.number if call.caller is not None else ""
        offer = self._previews.get(agent) if call.origin == "user" else None
        if offer is None:
            manager.hangup(leg.id, now, status=404)
            return
        dial = call.number.endswith("1")
        manager.answer(leg.id, now)
        if dial:
            self._phone_legs[agent] = leg.id
            call.agent = agent
        else:
            manager.play(leg.id, [ToneItem(tone("beep"))], now, then_hangup=True)
        self.decide_preview(agent, offer.lead, dial, now)
        self._phone_legs.pop(agent, None)
        if dial and leg.id not in self._own_legs and leg.id in manager.legs:
            manager.hangup(leg.id, now)  # the dialer refused the lead after all (DNC ...)

    def _tell(self, action: da.DialerAction | PreviewConnected, now: float) -> None:
        for listener in self.listeners:
            try:
                listener(action, now)
            except Exception:
                log.exception("dialer_listener_failed", action=type(action).__name__)

    def feed(self, event: de.DialerEvent, now: float) -> None:
        """Hand the dialer an event and carry out what it asks."""
        self._perform(self.dialer.handle(event, now), now)

    def get_timer(self) -> float | None:
        return self.dialer.get_timer()

    def handle_timer(self, now: float) -> None:
        self._perform(self.dialer.handle_timer(now), now)

    # ============================================================ actions
    def _perform(self, actions: list[da.DialerAction], now: float) -> None:
        for action in actions:
            try:
                self._do(action, now)
            except Exception:
                log.exception("dialer_action_failed", action=type(action).__name__)
            if isinstance(action, SHOWN):
                self._tell(action, now)

    def _do(self, a: da.DialerAction, now: float) -> None:
        if isinstance(a, da.LeadChanged):
            self.store.lead_save(lead_to_dict(a.lead))
        elif isinstance(a, da.Dial):
            if a.agent is None:
                self._dial(a, now)
            else:
                self._dial_agent(a, now)
        elif isinstance(a, da.OfferPreview):
            self._previews[a.agent] = a
        elif isinstance(a, da.WithdrawPreview):
            if (offer := self._previews.get(a.agent)) is not None and offer.lead == a.lead:
                del self._previews[a.agent]
        elif isinstance(a, da.ConnectToAgent):
            self._connect_agent(a, now)
        elif isinstance(a, da.CampaignStateChanged):
            self.store.campaign_state(a.campaign, a.state, self.wall(now))
            log.info("campaign_state", campaign=a.campaign, state=a.state, reason=a.reason)
        elif isinstance(a, da.PacingLogged):
            log.debug("campaign_pacing", campaign=a.campaign, placed=a.placed)
        else:
            self._on_call(a, now)

    def _dial(self, a: da.Dial, now: float) -> None:
        manager = self.manager
        lead = self.dialer.lead(a.lead)
        known = dict(lead.data) if lead is not None else {}
        data: dict[str, Any] = {**known, "campaign": a.campaign, "lead": a.lead}
        call = manager.originate(now, number=a.number, data=data)
        self._attempts[a.attempt] = _Attempt(a.campaign, call, amd=a.amd)
        self._by_call[call] = a.attempt
        leg = manager.dial(
            call,
            Target("trunk", a.trunk, number=a.number),
            now,
            purpose=Purpose("campaign", ref=a.attempt),
            from_number=a.caller_id,
            ring_timeout=a.ring_timeout,
        )
        self._attempts[a.attempt].leg = leg

    def _dial_agent(self, a: da.Dial, now: float) -> None:
        """Preview: ring the agent's phone first; the lead is dialled once it answers."""
        assert a.agent is not None
        manager = self.manager
        phone_leg = self._phone_legs.pop(a.agent, None)
        if phone_leg is not None and phone_leg in manager.legs:
            self._dial_from_phone(a, manager.leg(phone_leg), now)
            return
        if not manager.registered(a.agent, now):
            self.feed(de.AttemptFailed(a.attempt, 0, "agent has no registered phone"), now)
            return
        lead = self.dialer.lead(a.lead)
        known = dict(lead.data) if lead is not None else {}
        data: dict[str, Any] = {**known, "campaign": a.campaign, "lead": a.lead}
        call = manager.originate(now, number=a.number, data=data)
        manager.call(call).agent = a.agent
        self._attempts[a.attempt] = _Attempt(a.campaign, call, amd=a.amd, dial=a)
        self._by_call[call] = a.attempt
        leg = manager.dial(
            call,
            a.agent,
            now,
            purpose=Purpose("campaign-agent", ref=a.attempt, agent=a.agent),
            from_number=a.number,
            from_name=str(known.get("name", "")) or None,
            extra=[("X-Campaign", a.campaign), ("X-Lead", a.lead)],
        )
        self._attempts[a.attempt].agent_leg = leg

    def _dial_from_phone(self, a: da.Dial, leg: Leg, now: float) -> None:
        """``*41``: the agent's own call places the lead's; ringback until it answers."""
        assert a.agent is not None
        manager = self.manager
        call = manager.call(leg.call)
        lead = self.dialer.lead(a.lead)
        call.data.update({**(dict(lead.data) if lead is not None else {}), "lead": a.lead})
        call.data["campaign"] = a.campaign
        attempt = _Attempt(a.campaign, call.id, amd=a.amd, dial=a, agent_leg=leg.id)
        self._attempts[a.attempt] = attempt
        self._by_call[call.id] = a.attempt
        self._own_legs[leg.id] = a.attempt
        manager.play(leg.id, [ToneItem(tone("ringback"))], now, loop=True)
        attempt.leg = manager.dial(
            call.id,
            Target("trunk", a.trunk, number=a.number),
            now,
            purpose=Purpose("campaign", ref=a.attempt, agent=a.agent),
            from_number=a.caller_id,
            ring_timeout=a.ring_timeout,
        )

    def _agent_answered(self, attempt_id: str, leg: str, now: float) -> None:
        """The agent picked up: ringback for them while the lead is dialled."""
        manager = self.manager
        attempt = self._attempts.get(attempt_id)
        if attempt is None or attempt.dial is None:
            manager.hangup(leg, now)
            return
        a = attempt.dial
        manager.play(leg, [ToneItem(tone("ringback"))], now, loop=True)
        attempt.leg = manager.dial(
            attempt.call,
            Target("trunk", a.trunk, number=a.number),
            now,
            purpose=Purpose("campaign", ref=a.attempt),
            from_number=a.caller_id,
            ring_timeout=a.ring_timeout,
        )

    def _agent_leg_gone(self, attempt_id: str, failed: bool, now: float) -> None:
        """The agent's phone did not answer, or the agent hung up before the lead did."""
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            return
        if not attempt.leg:  # the lead was never dialled
            self._attempts.pop(attempt_id, None)
            self._by_call.pop(attempt.call, None)
            reason = "agent did not answer" if failed else "agent hung up"
            self.feed(de.AttemptFailed(attempt_id, 0, reason), now)
            self.manager.hangup_call(attempt.call, now)
        elif attempt.answered is None:
            self.manager.hangup(attempt.leg, now)  # ringing the lead: cancel it

    def _connect_agent(self, a: da.ConnectToAgent, now: float) -> None:
        """Preview: the lead answered; bridge them with the agent who dialled."""
        manager = self.manager
        attempt = self._attempts.get(a.attempt)
        if attempt is None:
            return
        agent_leg, lead_leg = manager.legs.get(attempt.agent_leg), manager.legs.get(attempt.leg)
        if agent_leg is None or lead_leg is None:
            manager.hangup_call(attempt.call, now)
            return
        manager.stop_playback(agent_leg.id)
        manager.bridge(agent_leg.id, lead_leg.id, now)
        agent_leg.peer, lead_leg.peer = lead_leg.id, agent_leg.id
        manager.call(attempt.call).data.update(a.data)
        config = self.campaigns.get(a.campaign)
        number = attempt.dial.number if attempt.dial is not None else ""
        card = PreviewConnected(
            attempt.call,
            a.agent,
            a.campaign,
            str(a.data.get("lead", "")),
            number,
            dict(a.data),
            config.dispositions if config is not None else (),
        )
        self._tell(card, now)

    def _on_call(self, a: da.DialerAction, now: float) -> None:
        attempt_id = getattr(a, "attempt", None)
        attempt = self._attempts.get(attempt_id or "")
        manager = self.manager
        if attempt is None or attempt.leg not in manager.legs:
            return
        call, leg = manager.call(attempt.call), manager.leg(attempt.leg)
        if isinstance(a, da.Enqueue):
            call.data.update(a.data)
            options = {"priority": a.priority, "lang": str(call.data.get("lang", "en"))}
            manager.route(call, leg, Target("queue", a.queue, options=options), now)
        elif isinstance(a, da.RunScript):
            call.data.update(a.variables)
            options = {"lang": str(call.data.get("lang", "en"))}
            manager.route(call, leg, Target("ivr", a.script, options=options), now)
        elif isinstance(a, (da.PlayAbandonMessage, da.LeaveMessage)):
            lang = str(call.data.get("lang") or "en")
            manager.play(leg.id, self._message(a.message, lang), now, then_hangup=True)
        elif isinstance(a, da.HangUp):
            manager.hangup_call(call.id, now)

    def _message(self, name: str, lang: str = "en") -> list[PlayItem]:
        """The prompt ``name`` in the lead's language, else as named, else in English."""
        wanted = (f"{lang}/{name}", name, f"en/{name}")
        names = [n for n in wanted if self.manager.has_prompt(n)]
        return [PromptItem(names[0])] if names else [ToneItem(tone("beep"), 0.5)]

    # ============================================================ outcomes
    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """The outcome of a campaign's leg, its machine verdict, digits."""
        purpose = getattr(event, "purpose", None)
        if isinstance(purpose, Purpose) and purpose.kind == "campaign-agent":
            if isinstance(event, LegAnswered):
                self._agent_answered(purpose.ref, event.leg, now)
            elif isinstance(event, LegFailed):
                self._agent_leg_gone(purpose.ref, True, now)
            elif isinstance(event, LegEnded):
                self._agent_leg_gone(purpose.ref, False, now)
            return
        if isinstance(event, LegEnded) and event.leg in self._own_legs:
            self._agent_leg_gone(self._own_legs.pop(event.leg), False, now)
            return
        if isinstance(purpose, Purpose) and purpose.kind == "campaign":
            attempt = purpose.ref
            if isinstance(event, LegAnswered):
                self._answered(attempt, event.leg, now)
            elif isinstance(event, LegRinging):
                self.feed(de.AttemptRinging(attempt), now)
            elif isinstance(event, LegFailed):
                gone = self._attempts.pop(attempt, None)
                if gone is not None and gone.agent_leg in self.manager.legs:
                    busy = [ToneItem(tone("busy"), 3.0)]
                    self.manager.play(gone.agent_leg, busy, now, then_hangup=True)
                self.feed(de.AttemptFailed(attempt, event.status, event.reason), now)
            elif isinstance(event, LegEnded):
                self._ended(attempt, now)
            return
        attempt_id = self._by_call.get(getattr(event, "call", ""))
        if attempt_id is None:
            return
        if isinstance(event, AnsweringMachine):
            verdict = AMD_VERDICTS.get(event.verdict, "unsure")
            greeting = now if verdict == "human" else None
            self.feed(de.AttemptAnswered(attempt_id, verdict, greeting), now)
        elif isinstance(event, MachineGreetingEnded):
            self.feed(de.GreetingEnded(attempt_id), now)
        elif isinstance(event, DigitReceived):
            self.feed(de.ConfirmationDigit(attempt_id, event.digit), now)

    def _answered(self, attempt_id: str, leg: str, now: float) -> None:
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            return
        attempt.answered = now
        if attempt.call in self.manager.calls:
            self.manager.mark_answered(self.manager.call(attempt.call), now)
        if attempt.amd:
            self.manager.detect_machine(leg)
        else:
            self.feed(de.AttemptAnswered(attempt_id, "none", now), now)

    def _ended(self, attempt_id: str, now: float) -> None:
        attempt = self._attempts.pop(attempt_id, None)
        if attempt is None:
            return
        self._by_call.pop(attempt.call, None)
        duration = now - attempt.answered if attempt.answered is not None else 0.0
        self.feed(de.AttemptEnded(attempt_id, duration), now)

    # ============================================================ agents
    def acd_action(self, action: acd.AcdAction, now: float) -> None:
        """ACD actions: an agent's state for the campaigns of their queues; a connection
        of a campaign's call to an agent."""
        if isinstance(action, acd.ConnectCall):
            attempt = self._by_call.get(action.call.split(":")[0])
            if attempt is not None:
                self.feed(de.AgentConnected(attempt, action.agent), now)
            return
        if not isinstance(action, acd.AgentStateChanged):
            return
        queues = set(self.agent_queues(action.agent))
        for name, config in self.campaigns.items():
            if action.agent not in config.agents and config.queue not in queues:
                continue
            if action.state is AgentState.READY:
                event: de.DialerEvent = de.AgentAvailable(name, action.agent)
            elif action.state in BUSY_STATES:
                event = de.AgentBusy(name, action.agent, now)
            else:
                event = de.AgentAway(name, action.agent)
            self.feed(event, now)
