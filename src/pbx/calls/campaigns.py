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
  for the campaigns of their queues.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from attrs import define, field

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
    MachineGreetingEnded,
    Purpose,
)
from pbx.calls.manager import CallManager
from pbx.dialer import actions as da
from pbx.dialer import events as de
from pbx.dialer.campaign import CampaignConfig
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import ImportReport, import_leads, lead_from_dict, lead_to_dict
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.store import Store

log = structlog.get_logger(__name__)

AMD_VERDICTS = {"human": "human", "machine": "machine", "not_sure": "unsure"}
BUSY_STATES = (AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD)


@define(slots=True)
class _Attempt:
    campaign: str
    call: str
    leg: str = ""
    amd: bool = False
    answered: float | None = None


@define
class CampaignService:
    """Runs the dialer over the call manager; feed it call events and ACD actions."""

    manager: CallManager
    dialer: Dialer
    campaigns: Mapping[str, CampaignConfig]
    store: Store
    wall: Callable[[float], float]
    agent_queues: Callable[[str], Sequence[str]] = field(default=lambda agent: ())
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
        config = self.campaigns[campaign]
        report = import_leads(
            text,
            campaign,
            default_region=config.default_region,
            dnc=self.dialer.dnc.view(config.dnc_lists),
            existing_numbers={lead.phone for lead in self.dialer.leads(campaign)},
        )
        if report.ok:
            for lead in report.leads:
                self.store.lead_save(lead_to_dict(lead))
            self.feed(de.LeadsAdded(report.leads), now)
        return report

    def command(self, campaign: str, verb: str, now: float) -> None:
        """``start``, ``pause``, ``resume`` or ``stop`` a campaign."""
        kinds: dict[str, de.DialerEvent] = {
            "start": de.StartCampaign(campaign),
            "pause": de.PauseCampaign(campaign),
            "resume": de.ResumeCampaign(campaign),
            "stop": de.StopCampaign(campaign),
        }
        self.feed(kinds[verb], now)

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

    def _do(self, a: da.DialerAction, now: float) -> None:
        if isinstance(a, da.LeadChanged):
            self.store.lead_save(lead_to_dict(a.lead))
        elif isinstance(a, da.Dial):
            self._dial(a, now)
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
            manager.play(leg.id, self._message(a.message), now, then_hangup=True)
        elif isinstance(a, da.HangUp):
            manager.hangup_call(call.id, now)

    def _message(self, name: str) -> list[PlayItem]:
        names = [n for n in (name, f"en/{name}") if self.manager.has_prompt(n)]
        return [PromptItem(names[0])] if names else [ToneItem(tone("beep"), 0.5)]

    # ============================================================ outcomes
    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """The outcome of a campaign's leg, its machine verdict, digits."""
        purpose = getattr(event, "purpose", None)
        if isinstance(purpose, Purpose) and purpose.kind == "campaign":
            attempt = purpose.ref
            if isinstance(event, LegAnswered):
                self._answered(attempt, event.leg, now)
            elif isinstance(event, LegFailed):
                self._attempts.pop(attempt, None)
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
