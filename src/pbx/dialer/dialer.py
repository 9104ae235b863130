"""The dialer: campaigns, leads and call outcomes in, dials and call handling out.

Theory of operation
-------------------
:class:`Dialer` is sans-I/O like the ACD: :meth:`Dialer.handle` takes one event
(:mod:`pbx.dialer.events`) and ``now`` (monotonic seconds) and returns the actions
(:mod:`pbx.dialer.actions`) to perform, in order; :meth:`Dialer.get_timer` names the
next deadline and :meth:`Dialer.handle_timer` acts on every deadline due. Wall-clock
time (calling hours, retry times, the abandon windows, schedules) comes from the
``wall`` function given to the constructor, which maps ``now`` to epoch seconds.
Nothing here reads a clock, opens a file or imports the call layer.

A campaign moves along :data:`CAMPAIGN_TRANSITIONS` (idle → running ⇄ paused → stopped);
``starts_at`` and ``stops_at`` move it by themselves. While it runs, the dialer asks its
pacer (:mod:`pbx.dialer.pacing`) how many calls to place at most every
``pace_interval`` seconds, sooner when an agent becomes free, and takes that many leads
from its :class:`~pbx.dialer.pool.LeadPool` (do-not-call, the number's other calls, the
72-hour rule and calling hours are checked there, at dial time), within
``max_lines``.

Each attempt goes through phases::

    dialing → ringing → waiting (a person; Enqueue) → connected (an agent took it)
                                                   ↘ abandoned (2 s after the greeting)
                      → script (agentless: RunScript)
                      → machine → message (LeaveMessage at the greeting's end)
                      → closing (we hung up)
                      ↘ failed (SIP status)                   … → ended

The abandon rule (US 47 CFR 64.1200(a)(7)): when a person answers and is handed to the
queue, the dialer arms a deadline two seconds after the end of their greeting (the
``greeting_end`` given with the answer, a later ``GreetingEnded``, or the answer itself
when neither came); if no ``AgentConnected`` arrived by then, the call is abandoned:
:class:`~pbx.dialer.actions.PlayAbandonMessage`, counted in the campaign's windows
(:mod:`pbx.dialer.compliance`), and the number is held 72 hours.

Durability: every change of a lead goes out as a ``LeadChanged`` before any action that
depends on it, the ``Dial`` included. A lead handed back by ``LeadsAdded`` after a
restart in the ``dialing`` state is put ``in_doubt``: it is not dialled until the shell
reports the attempt's fate (``AttemptFailed`` or ``AttemptEnded``, e.g. from its CDRs)
or ``in_doubt_hold`` seconds pass, after which the attempt counts as ``interrupted``
and the lead follows that retry rule. Offers pending at the restart go back to pending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from attrs import evolve

from pbx.dialer import actions as act
from pbx.dialer import events as ev
from pbx.dialer.campaign import CampaignConfig, Mode, OnMachine
from pbx.dialer.compliance import ABANDON_WINDOW, AbandonLedger, DncRegistry, lead_history
from pbx.dialer.leads import Attempt, Lead, LeadState
from pbx.dialer.measures import AnswerTimes, HandleTimes
from pbx.dialer.models import (
    CAMPAIGN_TRANSITIONS,
    UNANSWERED,
    AgentSlot,
    Call,
    CampaignState,
    CampaignView,
    Phase,
    Run,
    Timers,
)
from pbx.dialer.outcomes import Outcome, outcome_for_status, settle
from pbx.dialer.pacing import Pacer, default_pacer
from pbx.dialer.pool import LeadPool
from pbx.errors import ConfigError, InvalidStateError, LocalProtocolError

log = structlog.get_logger(__name__)

Actions = list[act.DialerAction]

DIAL_GRACE = 30.0
"""Seconds past the ring timeout after which an attempt with no outcome is hung up."""
URGENT_GAP = 0.05
"""Seconds between decisions at least, when an agent becomes free."""
MAX_BURST = 20
"""Calls placed (or previews offered) in one round at most: a campaign that starts with
hundreds of free lines dials them over rounds ``URGENT_GAP`` apart, so that no single
step of the loop holds up the media tick of the calls already up."""


class Dialer:
    """Outbound campaigns over leads, sans-I/O (see the module docstring)."""

    def __init__(
        self,
        campaigns: Iterable[CampaignConfig],
        *,
        wall: Callable[[float], float],
        dnc: DncRegistry | None = None,
        pacers: Mapping[str, Pacer] | None = None,
        pace_interval: float = 1.0,
        in_doubt_hold: float = 300.0,
    ) -> None:
        """``pacers`` overrides the default pacer of the campaigns it names."""
        self._wall = wall
        self.dnc = dnc if dnc is not None else DncRegistry()
        self._pace_interval = pace_interval
        self._in_doubt_hold = in_doubt_hold
        self._campaigns: dict[str, Run] = {}
        for config in campaigns:
            if config.name in self._campaigns:
                raise ConfigError(f"campaign {config.name!r} is configured twice")
            pacer = (pacers or {}).get(config.name) or default_pacer(config.mode)
            self._campaigns[config.name] = Run(
                config=config,
                pacer=pacer,
                pool=LeadPool(config, self.dnc),
                ledger=AbandonLedger(config.amd_false_positive_rate),
                answers=AnswerTimes(config.expected_answer_rate),
                handle_times=HandleTimes(config.expected_handle_time),
                log=log.bind(campaign=config.name),
            )
        self._leads: dict[str, Lead] = {}
        self._calls: dict[str, Call] = {}
        self._live_numbers: dict[str, str] = {}
        self._abandoned_at: dict[str, float] = {}
        self._timers = Timers()
        self._now: float | None = None
        self._handlers: dict[type, Callable[[Any, float, Actions], None]] = {
            ev.StartCampaign: self._on_command,
            ev.PauseCampaign: self._on_command,
            ev.ResumeCampaign: self._on_command,
            ev.StopCampaign: self._on_command,
            ev.LeadsAdded: self._on_leads_added,
            ev.DncAdded: self._on_dnc_added,
            ev.DncRemoved: self._on_dnc_removed,
            ev.AgentAvailable: self._on_agent_available,
            ev.AgentBusy: self._on_agent_busy,
            ev.AgentAway: self._on_agent_away,
            ev.AttemptRinging: self._on_ringing,
            ev.AttemptAnswered: self._on_answered,
            ev.GreetingEnded: self._on_greeting_ended,
            ev.AgentConnected: self._on_agent_connected,
            ev.AttemptFailed: self._on_failed,
            ev.AttemptEnded: self._on_ended,
            ev.ConfirmationDigit: self._on_digit,
            ev.PreviewDecision: self._on_preview_decision,
            ev.Disposition: self._on_disposition,
        }

    # ------------------------------------------------------------------ public API

    def handle(self, event: ev.DialerEvent, now: float) -> list[act.DialerAction]:
        """Apply one event at ``now``; return the actions to perform, in order."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise LocalProtocolError(f"the dialer does not handle {type(event).__name__}")
        self._now = now
        out: Actions = []
        self._check_schedules(now, out)
        handler(event, now, out)
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline, or ``None``; call :meth:`handle_timer` at or after it."""
        best = self._timers.next()
        for t in self._schedule_deadlines():
            if best is None or t < best:
                best = t
        return best

    def handle_timer(self, now: float) -> list[act.DialerAction]:
        """Act on every deadline at or before ``now``."""
        self._now = now
        out: Actions = []
        self._check_schedules(now, out)
        for scope, ref, kind in self._timers.due(now):
            if scope == "campaign":
                self._pace(self._campaigns[ref], now, out)
            elif scope == "call":
                self._call_timer(self._calls[ref], kind, now, out)
            else:
                self._lead_timer(ref, kind, now, out)
        return out

    def lead(self, lead: str) -> Lead | None:
        """A lead as the dialer holds it now, or ``None``."""
        return self._leads.get(lead)

    def leads(self, campaign: str) -> list[Lead]:
        """Every lead of ``campaign``, in no particular order."""
        self._campaign(campaign)
        return [lead for lead in self._leads.values() if lead.campaign == campaign]

    def state(self, campaign: str) -> CampaignState:
        """The campaign's state."""
        return self._campaign(campaign).state

    def snapshot(self, campaign: str, now: float) -> CampaignView:
        """The campaign's counters at ``now``."""
        c = self._campaign(campaign)
        agents: dict[str, int] = {}
        for a in c.agents.values():
            agents[a.status] = agents.get(a.status, 0) + 1
        return CampaignView(
            name=c.name,
            mode=c.config.mode.value,
            state=c.state.value,
            leads={s.value: n for s, n in c.lead_states.items() if n},
            lines_in_use=c.lines,
            agents=agents,
            abandon=c.ledger.stats(self._wall(now)),
            answer_rate=c.answers.snapshot().rate,
            handle_time=c.handle_times.snapshot().mean,
        )

    # ------------------------------------------------------------------ campaigns

    def _on_command(self, e: Any, now: float, out: Actions) -> None:
        c = self._campaign(e.campaign)
        target = CAMPAIGN_TRANSITIONS.get((c.state, type(e)))
        if target is None:
            raise InvalidStateError(
                f"campaign {c.name!r} is {c.state.value}: it cannot take {type(e).__name__}"
            )
        self._set_state(c, target, "command", now, out)

    def _set_state(
        self, c: Run, state: CampaignState, reason: str, now: float, out: Actions
    ) -> None:
        if state is c.state:
            return
        c.state = state
        out.append(act.CampaignStateChanged(c.name, state.value, reason))
        c.log.info("campaign_state", state=state.value, reason=reason)
        if state is CampaignState.RUNNING:
            self._pace(c, now, out, urgent=True)
        else:
            self._timers.cancel("campaign", c.name, "pace")
            for agent in c.agents.values():
                self._withdraw_offer(c, agent, now, out)

    def _check_schedules(self, now: float, out: Actions) -> None:
        wall: float | None = None
        for c in self._campaigns.values():
            if c.config.starts_at is None and c.config.stops_at is None:
                continue
            wall = self._wall(now) if wall is None else wall
            target = c.scheduled_state(wall)
            if target is not None:
                self._set_state(c, target, "schedule", now, out)

    def _schedule_deadlines(self) -> Iterable[float]:
        if self._now is None:
            return
        for c in self._campaigns.values():
            wall = c.next_schedule()
            if wall is not None:
                yield self._mono(wall, self._now)

    def _mono(self, wall: float, now: float) -> float:
        """The monotonic time at which the wall clock shows ``wall``."""
        return now + (wall - self._wall(now))

    # ------------------------------------------------------------------ leads, DNC

    def _on_leads_added(self, e: ev.LeadsAdded, now: float, out: Actions) -> None:
        history: dict[str, list[tuple[float, str]]] = {}
        for lead in e.leads:
            c = self._campaign(lead.campaign)
            if lead.id in self._leads:
                c.log.debug("dialer_duplicate_lead", lead=lead.id)
                continue
            events, abandoned = lead_history(lead)
            history.setdefault(c.name, []).extend(events)
            if abandoned is not None:
                held = self._abandoned_at.get(lead.phone, abandoned)
                self._abandoned_at[lead.phone] = max(held, abandoned)
            if lead.state is LeadState.DIALING or lead.state is LeadState.IN_DOUBT:
                self._put_in_doubt(c, lead, now, out)
            elif lead.state is LeadState.OFFERED:
                self._set_lead(c, evolve(lead, state=LeadState.PENDING), out, new=True)
            else:
                self._set_lead(c, lead, out, new=True, announce=False)
        for name, events in history.items():
            if events:
                self._campaigns[name].ledger.extend(events)
        for name in {lead.campaign for lead in e.leads}:
            self._pace(self._campaigns[name], now, out, urgent=True)

    def _put_in_doubt(self, c: Run, lead: Lead, now: float, out: Actions) -> None:
        attempt = lead.open_attempt
        if attempt is None:  # marked dialing with no open attempt: nothing was sent
            self._set_lead(c, evolve(lead, state=LeadState.PENDING), out, new=True)
            return
        c.log.warning("dialer_attempt_in_doubt", lead=lead.id, attempt=attempt.id)
        self._set_lead(c, evolve(lead, state=LeadState.IN_DOUBT), out, new=True)
        call = Call(attempt.id, lead.id, c, now, Phase.IN_DOUBT)
        self._calls[attempt.id] = call
        self._live_numbers[lead.phone] = attempt.id  # nobody else dials it meanwhile
        self._timers.arm("call", attempt.id, "doubt", now + self._in_doubt_hold)

    def _on_dnc_added(self, e: ev.DncAdded, now: float, out: Actions) -> None:
        self.dnc.add(e.list_name, e.numbers)
        for number in e.numbers:
            attempt = self._live_numbers.get(number)
            call = self._calls.get(attempt) if attempt else None
            if call is None or call.phase not in UNANSWERED:
                continue
            if self.dnc.listed(number, call.campaign.config.dnc_lists) is None:
                continue
            call.final = "dnc"
            call.outcome = Outcome.FAILED
            call.phase = Phase.CLOSING
            out.append(act.HangUp(call.attempt, "dnc"))

    def _on_dnc_removed(self, e: ev.DncRemoved, now: float, out: Actions) -> None:
        self.dnc.remove(e.list_name, e.numbers)

    # ------------------------------------------------------------------ agents

    def _agent(self, c: Run, agent: str) -> AgentSlot:
        a = c.agents.get(agent)
        if a is None:
            a = c.agents[agent] = AgentSlot(agent)
        return a

    def _on_agent_available(self, e: ev.AgentAvailable, now: float, out: Actions) -> None:
        c = self._campaign(e.campaign)
        a = self._agent(c, e.agent)
        if a.status == "available":
            return
        if a.status == "busy":
            c.handle_times.record(max(0.0, now - a.since))
        a.status = "available"
        a.since = now
        self._pace(c, now, out, urgent=True)

    def _on_agent_busy(self, e: ev.AgentBusy, now: float, out: Actions) -> None:
        c = self._campaign(e.campaign)
        a = self._agent(c, e.agent)
        since = now if e.since is None else e.since
        if a.status == "busy" and a.since == since:
            return
        a.status = "busy"
        a.since = since
        self._withdraw_offer(c, a, now, out)

    def _on_agent_away(self, e: ev.AgentAway, now: float, out: Actions) -> None:
        c = self._campaign(e.campaign)
        a = self._agent(c, e.agent)
        a.status = "away"
        a.since = now
        self._withdraw_offer(c, a, now, out)

    # ------------------------------------------------------------------ pacing

    def _pace(self, c: Run, now: float, out: Actions, urgent: bool = False) -> None:
        """Ask the pacer and place calls, at most every ``pace_interval`` seconds."""
        if c.state is not CampaignState.RUNNING:
            return
        gap = URGENT_GAP if urgent or c.burst else self._pace_interval
        if now < c.last_pace + gap:
            self._arm_pace(c, c.last_pace + gap)
            return
        wall = self._wall(now)
        free = c.config.max_lines - c.lines
        due = c.pool.next_due()
        if due is None:
            return
        if due > wall:
            self._arm_pace(c, max(now + self._pace_interval, self._mono(due, now)))
            return
        c.last_pace = now
        self._arm_pace(c, now + self._pace_interval)
        if free <= 0:
            return
        state = c.pacing_state(now, wall)
        decision = c.pacer.decide(state, now)
        wanted = max(0, min(decision.calls, free))
        n = min(wanted, MAX_BURST)
        if c.config.mode is Mode.PREVIEW:
            placed = self._offer_previews(c, n, now, wall, out)
        else:
            placed = self._dial_leads(c, n, now, wall, out)
        c.burst = wanted > n and placed == n  # more to place, and leads to place them
        if c.burst:
            self._arm_pace(c, now + URGENT_GAP)
        out.append(act.PacingLogged(c.name, wall, decision, placed))

    def _arm_pace(self, c: Run, deadline: float) -> None:
        current = self._timers.get("campaign", c.name, "pace")
        if current is None or deadline < current:
            self._timers.arm("campaign", c.name, "pace", deadline)

    def _take(
        self, c: Run, n: int, wall: float, out: Actions, reserved: bool = False
    ) -> list[Lead]:
        taken, done = c.pool.take(
            n,
            wall,
            self._leads,
            live_numbers=self._live_numbers,
            abandoned_at=self._abandoned_at,
            agent_reserved=reserved or c.config.mode is Mode.PREVIEW,
        )
        for lead, disposition in done:
            c.log.info("dialer_lead_refused", lead=lead.id, reason=disposition)
            self._set_lead(c, evolve(lead, state=LeadState.DONE, disposition=disposition), out)
        return taken

    def _dial_leads(self, c: Run, n: int, now: float, wall: float, out: Actions) -> int:
        leads = self._take(c, n, wall, out) if n else []
        for lead in leads:
            self._dial(c, lead, now, wall, out)
        return len(leads)

    def _dial(
        self,
        c: Run,
        lead: Lead,
        now: float,
        wall: float,
        out: Actions,
        agent: AgentSlot | None = None,
    ) -> None:
        config = c.config
        attempt = Attempt(id=f"{lead.id}#{len(lead.attempts) + 1}", time=wall)
        lead = evolve(
            lead,
            state=LeadState.DIALING,
            attempts=(*lead.attempts, attempt),
            next_attempt_at=None,
        )
        self._set_lead(c, lead, out)
        call = Call(attempt.id, lead.id, c, now, Phase.DIALING)
        if agent is not None:
            call.agent = agent.id
            agent.reserved = attempt.id
        self._calls[attempt.id] = call
        c.calls[attempt.id] = call
        self._live_numbers[lead.phone] = attempt.id
        self._timers.arm("call", attempt.id, "stuck", now + config.ring_timeout + DIAL_GRACE)
        out.append(
            act.Dial(
                attempt=attempt.id,
                lead=lead.id,
                number=lead.phone,
                trunk=config.trunk,
                caller_id=config.caller_id,
                ring_timeout=config.ring_timeout,
                campaign=c.name,
                agent=call.agent,
                amd=config.amd,
            )
        )

    # ------------------------------------------------------------------ preview

    def _offer_previews(self, c: Run, n: int, now: float, wall: float, out: Actions) -> int:
        free = [
            a
            for a in c.agents.values()
            if a.status == "available" and a.offer is None and a.reserved is None
        ]
        free.sort(key=lambda a: a.since)
        free = free[:n]
        leads = self._take(c, len(free), wall, out) if free else []
        config = c.config
        for agent, lead in zip(free, leads, strict=False):
            agent.offer = lead.id
            self._set_lead(c, evolve(lead, state=LeadState.OFFERED), out)
            if config.preview_timeout is not None:
                self._timers.arm("lead", lead.id, "preview", now + config.preview_timeout)
            out.append(
                act.OfferPreview(
                    agent=agent.id,
                    lead=lead.id,
                    campaign=c.name,
                    number=lead.phone,
                    data=lead.data,
                    timeout=config.preview_timeout,
                )
            )
        return len(leads)

    def _on_preview_decision(self, e: ev.PreviewDecision, now: float, out: Actions) -> None:
        lead = self._leads.get(e.lead)
        if lead is None:
            raise LocalProtocolError(f"unknown lead {e.lead!r}")
        c = self._campaigns[lead.campaign]
        agent = c.agents.get(e.agent)
        if agent is None or agent.offer != e.lead:
            c.log.info("dialer_stale_preview", lead=e.lead, agent=e.agent)
            return
        self._decide_preview(c, agent, lead, e.dial, now, out)

    def _decide_preview(
        self, c: Run, agent: AgentSlot, lead: Lead, dial: bool, now: float, out: Actions
    ) -> None:
        agent.offer = None
        self._timers.cancel("lead", lead.id, "preview")
        wall = self._wall(now)
        if not dial:
            due = wall + c.config.preview_skip_delay
            self._set_lead(c, evolve(lead, state=LeadState.PENDING, next_attempt_at=due), out)
            self._pace(c, now, out, urgent=True)
            return
        # The dial-time checks again: the offer may have waited a while.
        verdict = c.pool.check(lead, wall, self._live_numbers, self._abandoned_at, True)
        if verdict is None:
            self._dial(c, lead, now, wall, out, agent=agent)
            return
        out.append(act.WithdrawPreview(agent.id, lead.id))
        if isinstance(verdict, str):
            self._set_lead(c, evolve(lead, state=LeadState.DONE, disposition=verdict), out)
        else:
            self._set_lead(c, evolve(lead, state=LeadState.PENDING, next_attempt_at=verdict), out)
        self._pace(c, now, out, urgent=True)

    def _withdraw_offer(self, c: Run, agent: AgentSlot, now: float, out: Actions) -> None:
        if agent.offer is None:
            return
        lead = self._leads[agent.offer]
        agent.offer = None
        self._timers.cancel("lead", lead.id, "preview")
        out.append(act.WithdrawPreview(agent.id, lead.id))
        self._set_lead(c, evolve(lead, state=LeadState.PENDING), out)

    def _lead_timer(self, lead_id: str, kind: str, now: float, out: Actions) -> None:
        lead = self._leads[lead_id]
        c = self._campaigns[lead.campaign]
        for agent in c.agents.values():
            if agent.offer == lead_id:
                c.log.info("dialer_preview_timeout", lead=lead_id, agent=agent.id)
                self._decide_preview(c, agent, lead, True, now, out)
                return

    # ------------------------------------------------------------------ attempts

    def _call(self, attempt: str, phases: frozenset[Phase] | None = None) -> Call | None:
        """The tracked attempt, if it is in one of ``phases``; late events are ignored."""
        call = self._calls.get(attempt)
        if call is None or (phases is not None and call.phase not in phases):
            log.debug("dialer_late_event", attempt=attempt)
            return None
        return call

    def _on_ringing(self, e: ev.AttemptRinging, now: float, out: Actions) -> None:
        call = self._call(e.attempt, UNANSWERED)
        if call is not None:
            self._revive(call, now)
            call.phase = Phase.RINGING

    def _revive(self, call: Call, now: float) -> bool:
        """An attempt held in doubt after a restart turns out to be alive: it is one of
        the campaign's calls again (its timings are unknown, so it is not measured)."""
        if call.phase is not Phase.IN_DOUBT:
            return False
        c = call.campaign
        self._timers.cancel("call", call.attempt, "doubt")
        stuck = now + c.config.ring_timeout + DIAL_GRACE
        self._timers.arm("call", call.attempt, "stuck", stuck)
        c.calls[call.attempt] = call
        return True

    def _on_answered(self, e: ev.AttemptAnswered, now: float, out: Actions) -> None:
        call = self._call(e.attempt, UNANSWERED)
        if call is None:
            return
        measured = not self._revive(call, now)
        c = call.campaign
        config = c.config
        wall = self._wall(now)
        call.answered = now
        call.amd = e.amd
        self._timers.cancel("call", call.attempt, "stuck")
        if e.greeting_end is not None:
            call.greeting_end = e.greeting_end
        if e.amd == "machine":
            if measured:
                c.answers.record(now - call.dialled, False)
            c.ledger.record(wall, "machine")
            if config.on_machine is OnMachine.LEAVE_MESSAGE:
                call.phase = Phase.MACHINE
                if e.greeting_end is not None:
                    self._leave_message(call, out)
            else:
                call.phase = Phase.CLOSING
                call.outcome = Outcome.MACHINE
                out.append(act.HangUp(call.attempt, "machine"))
            self._pace(c, now, out)
            return
        greeting_end = call.greeting_end if call.greeting_end is not None else now
        if measured:
            c.answers.record(max(0.0, greeting_end - call.dialled), True)
        c.ledger.record(wall, "live")
        lead = self._leads[call.lead]
        data = {**lead.data, "lead": lead.id, "campaign": c.name, "phone": lead.phone}
        if config.mode is Mode.AGENTLESS:
            assert config.script is not None
            call.phase = Phase.SCRIPT
            out.append(act.RunScript(call.attempt, config.script, c.name, data))
        elif call.agent is not None:
            call.phase = Phase.CONNECTED
            call.outcome = Outcome.ANSWERED
            out.append(act.ConnectToAgent(call.attempt, call.agent, c.name, data, config.wrap_up))
        else:
            assert config.queue is not None
            call.phase = Phase.WAITING
            out.append(
                act.Enqueue(
                    call.attempt, config.queue, config.priority, c.name, data, config.wrap_up
                )
            )
            self._timers.arm("call", call.attempt, "abandon", greeting_end + ABANDON_WINDOW)
        self._pace(c, now, out)

    def _leave_message(self, call: Call, out: Actions) -> None:
        config = call.campaign.config
        message = config.machine_message or config.script
        assert message is not None
        lead = self._leads[call.lead]
        call.phase = Phase.MESSAGE
        call.outcome = Outcome.MESSAGE_LEFT
        out.append(act.LeaveMessage(call.attempt, message, {**lead.data, "phone": lead.phone}))

    def _on_greeting_ended(self, e: ev.GreetingEnded, now: float, out: Actions) -> None:
        call = self._call(e.attempt)
        if call is None:
            return
        if call.phase is Phase.MACHINE:
            self._leave_message(call, out)
        elif call.phase in UNANSWERED:
            call.greeting_end = now
        elif call.phase is Phase.WAITING and (call.greeting_end is None or call.greeting_end < now):
            # The abandon window runs from the greeting's end: it may only move later.
            call.greeting_end = now
            self._timers.arm("call", call.attempt, "abandon", now + ABANDON_WINDOW)

    def _on_agent_connected(self, e: ev.AgentConnected, now: float, out: Actions) -> None:
        call = self._call(e.attempt)
        if call is None:
            return
        if call.phase is Phase.WAITING:
            self._timers.cancel("call", call.attempt, "abandon")
            call.phase = Phase.CONNECTED
            call.outcome = Outcome.ANSWERED
            call.agent = e.agent
        elif call.phase is Phase.ABANDONED:
            call.campaign.log.warning(
                "dialer_agent_after_abandon",
                attempt=call.attempt,
                agent=e.agent,
            )
        else:
            call.agent = e.agent  # an agentless call sent to an operator, a preview bridge

    def _on_failed(self, e: ev.AttemptFailed, now: float, out: Actions) -> None:
        call = self._call(e.attempt)
        if call is None:
            return
        if call.phase in UNANSWERED:
            if call.phase is not Phase.IN_DOUBT:
                call.campaign.answers.record(now - call.dialled, False)
            self._close(call, outcome_for_status(e.sip_status), now, out, sip_status=e.sip_status)
        else:
            self._close(call, self._end_outcome(call), now, out, sip_status=e.sip_status)

    def _on_ended(self, e: ev.AttemptEnded, now: float, out: Actions) -> None:
        call = self._call(e.attempt)
        if call is not None:
            duration = e.duration if call.answered is not None else None
            self._close(call, self._end_outcome(call), now, out, duration=duration)

    def _end_outcome(self, call: Call) -> Outcome:
        """The outcome of an attempt that ended in its current phase."""
        phase = call.phase
        if phase is Phase.IN_DOUBT:
            return Outcome.INTERRUPTED
        if phase in UNANSWERED:
            return Outcome.FAILED
        if phase is Phase.WAITING:
            return Outcome.HUNG_UP
        if phase is Phase.SCRIPT:
            return Outcome.DELIVERED
        if phase is Phase.MACHINE:
            return Outcome.MACHINE
        assert call.outcome is not None, phase
        return call.outcome

    def _on_digit(self, e: ev.ConfirmationDigit, now: float, out: Actions) -> None:
        call = self._call(e.attempt)
        if call is not None:
            call.digit = e.digit

    def _on_disposition(self, e: ev.Disposition, now: float, out: Actions) -> None:
        lead = self._leads.get(e.lead)
        if lead is None:
            raise LocalProtocolError(f"unknown lead {e.lead!r}")
        c = self._campaigns[lead.campaign]
        open_attempt = lead.open_attempt
        call = self._calls.get(open_attempt.id) if open_attempt is not None else None
        if call is not None:  # the call is still up: applied when it ends
            call.final, call.notes, call.callback_at = e.code, e.notes, e.callback_at
            return
        data = {**lead.data, "notes": e.notes} if e.notes else lead.data
        if e.callback_at is not None:
            lead = evolve(
                lead,
                data=data,
                state=LeadState.PENDING,
                next_attempt_at=e.callback_at,
                disposition=e.code,
            )
        else:
            lead = evolve(lead, data=data, state=LeadState.DONE, disposition=e.code)
        self._set_lead(c, lead, out)
        if lead.state is LeadState.PENDING:
            self._pace(c, now, out)

    def _call_timer(self, call: Call, kind: str, now: float, out: Actions) -> None:
        c = call.campaign
        if kind == "abandon" and call.phase is Phase.WAITING:
            lead = self._leads[call.lead]
            wall = self._wall(now)
            call.phase = Phase.ABANDONED
            call.outcome = Outcome.ABANDONED
            c.ledger.record(wall, "abandoned")
            self._abandoned_at[lead.phone] = wall
            c.log.info("dialer_abandoned", lead=lead.id, attempt=call.attempt)
            out.append(act.PlayAbandonMessage(call.attempt, c.config.abandon_message))
        elif kind == "stuck" and call.phase in UNANSWERED:
            c.log.warning("dialer_attempt_stuck", attempt=call.attempt)
            out.append(act.HangUp(call.attempt, "stuck"))
            self._close(call, Outcome.FAILED, now, out)
        elif kind == "doubt" and call.phase is Phase.IN_DOUBT:
            self._close(call, Outcome.INTERRUPTED, now, out)

    def _close(
        self,
        call: Call,
        outcome: Outcome,
        now: float,
        out: Actions,
        *,
        sip_status: int | None = None,
        duration: float | None = None,
    ) -> None:
        """The attempt is over: record it on the lead and apply the retry rules."""
        c = call.campaign
        lead = settle(
            self._leads[call.lead],
            c.config,
            outcome,
            self._wall(now),
            sip_status=sip_status,
            amd=call.amd,
            agent=call.agent,
            duration=duration,
            digit=call.digit,
            final=call.final,
            callback_at=call.callback_at,
            notes=call.notes,
        )
        self._forget(call)
        for agent in c.agents.values():
            if agent.reserved == call.attempt:
                agent.reserved = None
        self._set_lead(c, lead, out)
        self._pace(c, now, out)

    def _forget(self, call: Call) -> None:
        self._timers.cancel("call", call.attempt, "stuck", "abandon", "doubt")
        self._calls.pop(call.attempt, None)
        call.campaign.calls.pop(call.attempt, None)
        phone = self._leads[call.lead].phone
        if self._live_numbers.get(phone) == call.attempt:
            del self._live_numbers[phone]

    # ------------------------------------------------------------------ helpers

    def _set_lead(
        self, c: Run, lead: Lead, out: Actions, *, new: bool = False, announce: bool = True
    ) -> None:
        """Hold ``lead`` as it now is, keep the pool and counters in step, tell the shell."""
        before = None if new else self._leads.get(lead.id)
        if before is not None:
            c.lead_states[before.state] -= 1
        c.lead_states[lead.state] = c.lead_states.get(lead.state, 0) + 1
        self._leads[lead.id] = lead
        if lead.state is LeadState.PENDING:
            c.pool.push(lead, lead.next_attempt_at or 0.0)
        else:
            c.pool.discard(lead.id)
        if announce:
            out.append(act.LeadChanged(lead))

    def _campaign(self, name: str) -> Run:
        c = self._campaigns.get(name)
        if c is None:
            raise LocalProtocolError(f"unknown campaign {name!r}")
        return c
