"""The dialer core with a fixed clock: dials, calling hours, DNC, retries, the abandon
rule, machines, agentless scripts, lines, commands and schedules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pbx.dialer import actions as act
from pbx.dialer import events as ev
from pbx.dialer.campaign import CallingHours, CampaignConfig, Mode, OnMachine, RetryRule, RetryRules
from pbx.dialer.compliance import ABANDON_REDIAL_HOLD
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import LeadState
from pbx.dialer.models import CampaignState
from pbx.errors import InvalidStateError, LocalProtocolError

from .helpers import (
    LONDON,
    MONDAY_NOON_UTC,
    MOSCOW,
    NY,
    campaign,
    dialer,
    dialled,
    leads,
    of,
    run_timers,
    start,
)

WORKING_HOURS = CallingHours(dt.time(9, 0), dt.time(20, 0), frozenset(range(5)))


def agentless(**kw: Any) -> CampaignConfig:
    return campaign("r", Mode.AGENTLESS, **kw)


def test_the_lead_is_stored_dialing_before_the_dial_goes_out() -> None:
    d = dialer(campaign("c", Mode.PROGRESSIVE, ring_timeout=25.0))
    out = start(d, "c", [NY], agents=1)
    changed = [i for i, a in enumerate(out) if isinstance(a, act.LeadChanged)]
    [dial_at] = [i for i, a in enumerate(out) if isinstance(a, act.Dial)]
    stored = out[changed[-1]]
    assert isinstance(stored, act.LeadChanged) and changed[-1] < dial_at
    assert stored.lead.state is LeadState.DIALING
    assert stored.lead.open_attempt is not None
    assert stored.lead.open_attempt.time == MONDAY_NOON_UTC
    assert out[dial_at] == act.Dial(
        attempt="c:+12125550123#1",
        lead="c:+12125550123",
        number=NY,
        trunk="sim",
        caller_id="5550100",
        ring_timeout=25.0,
        campaign="c",
        agent=None,
        amd=False,
    )


def test_calling_hours_are_each_leads_own() -> None:
    # Monday 12:00 UTC: 07:00 in New York (too early), 15:00 in Moscow.
    d = dialer(agentless(calling_hours=WORKING_HOURS))
    assert dialled(start(d, "r", [NY, MOSCOW])) == [MOSCOW]
    d.handle(ev.AttemptAnswered("r:+74951234567#1", "human"), 9.0)
    d.handle(ev.AttemptEnded("r:+74951234567#1", 40.0), 49.0)
    assert dialled(run_timers(d, 7199.0)) == []
    # 14:00 UTC is 09:00 in New York.
    out = run_timers(d, 7200.0)
    assert dialled(out) == [NY]
    [logged] = [p for p in of(act.PacingLogged, out) if p.placed]
    assert logged.time == MONDAY_NOON_UTC + 7200.0


def test_tz_column_wins_over_the_numbers_region() -> None:
    d = dialer(agentless(calling_hours=WORKING_HOURS))
    lead = leads("r", [NY], tz="Europe/Moscow")
    d.handle(ev.LeadsAdded(lead), 0.0)
    assert dialled(d.handle(ev.StartCampaign("r"), 0.0)) == [NY]


def test_a_dnc_number_is_never_dialled_even_when_listed_after_the_import() -> None:
    d = dialer(agentless(dnc_lists=("internal",)))
    d.handle(ev.LeadsAdded(leads("r", [NY, MOSCOW, LONDON])), 0.0)
    d.handle(ev.DncAdded("global", (NY,)), 1.0)
    d.handle(ev.DncAdded("internal", (MOSCOW,)), 2.0)
    out = d.handle(ev.StartCampaign("r"), 3.0)
    assert dialled(out) == [LONDON]
    for phone in (NY, MOSCOW):
        lead = d.lead(f"r:{phone}")
        assert lead is not None and lead.state is LeadState.DONE and lead.disposition == "dnc"
        assert lead.attempts == ()


def test_a_number_listed_while_it_rings_is_hung_up() -> None:
    d = dialer(agentless())
    start(d, "r", [NY])
    out = d.handle(ev.DncAdded("global", (NY,)), 5.0)
    assert out == [act.HangUp("r:+12125550123#1", "dnc")]
    d.handle(ev.AttemptFailed("r:+12125550123#1", 487), 6.0)
    lead = d.lead("r:+12125550123")
    assert lead is not None and lead.disposition == "dnc" and lead.state is LeadState.DONE


def test_busy_is_retried_after_its_delay_until_its_attempts_are_used() -> None:
    rules = RetryRules(busy=RetryRule(2, 600.0))
    d = dialer(agentless(retry=rules))
    start(d, "r", [NY])
    out = d.handle(ev.AttemptFailed("r:+12125550123#1", 486), 4.0)
    [changed] = of(act.LeadChanged, out)
    assert changed.lead.state is LeadState.PENDING
    assert changed.lead.next_attempt_at == MONDAY_NOON_UTC + 604.0
    assert changed.lead.attempts[0].outcome == "busy"
    assert changed.lead.attempts[0].sip_status == 486
    assert dialled(run_timers(d, 603.0)) == []
    assert dialled(run_timers(d, 604.0)) == [NY]
    out = d.handle(ev.AttemptFailed("r:+12125550123#2", 600), 610.0)
    [changed] = of(act.LeadChanged, out)
    assert (changed.lead.state, changed.lead.disposition) == (LeadState.DONE, "busy")
    assert len(changed.lead.attempts) == 2


@pytest.mark.parametrize(
    ("status", "outcome", "state", "disposition"),
    [
        (404, "invalid", LeadState.DONE, "invalid_number"),
        (487, "no_answer", LeadState.PENDING, None),
        (480, "no_answer", LeadState.PENDING, None),
        (503, "failed", LeadState.PENDING, None),
    ],
)
def test_sip_status_decides_the_outcome(
    status: int, outcome: str, state: LeadState, disposition: str | None
) -> None:
    d = dialer(agentless())
    start(d, "r", [NY])
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptFailed("r:+12125550123#1", status), 9.0))
    assert changed.lead.attempts[-1].outcome == outcome
    assert (changed.lead.state, changed.lead.disposition) == (state, disposition)


def answered_waiting(
    now: float = 10.0, greeting_end: float | None = 10.0
) -> tuple[Dialer, list[act.DialerAction]]:
    """A progressive campaign whose first call is answered by a person at ``now``."""
    d = dialer(campaign("c", Mode.PROGRESSIVE, retry=RetryRules(abandoned=RetryRule(3, 60.0))))
    start(d, "c", [NY], agents=1)
    d.handle(ev.AgentBusy("c", "a1"), 1.0)  # the agent took an inbound call meanwhile
    out = d.handle(ev.AttemptAnswered("c:+12125550123#1", "human", greeting_end), now)
    return d, out


def test_a_person_is_queued_with_the_leads_data() -> None:
    _, out = answered_waiting()
    [enqueue] = of(act.Enqueue, out)
    assert enqueue.attempt == "c:+12125550123#1"
    assert enqueue.queue == "sales"
    assert enqueue.data["lead"] == "c:+12125550123" and enqueue.data["phone"] == NY


def test_no_agent_two_seconds_after_the_greeting_is_an_abandon() -> None:
    d, _ = answered_waiting(now=10.5, greeting_end=10.0)
    assert of(act.PlayAbandonMessage, run_timers(d, 11.99)) == []
    out = run_timers(d, 12.0)
    assert of(act.PlayAbandonMessage, out) == [
        act.PlayAbandonMessage("c:+12125550123#1", "dialer-abandon")
    ]
    stats = d.snapshot("c", 12.0).abandon
    assert (stats.live_30d, stats.abandoned_30d, stats.rate_24h) == (1, 1, 1.0)
    # A late agent changes nothing.
    assert d.handle(ev.AgentConnected("c:+12125550123#1", "a1"), 12.5) == []
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptEnded("c:+12125550123#1", 8.0), 20.0))
    assert changed.lead.attempts[-1].outcome == "abandoned"
    # The retry rule says 60 s; the 72-hour rule holds the number longer.
    assert changed.lead.next_attempt_at == MONDAY_NOON_UTC + 80.0
    d.handle(ev.AgentAvailable("c", "a1"), 30.0)
    assert dialled(run_timers(d, 10.0 + ABANDON_REDIAL_HOLD - 1.0)) == []
    assert dialled(run_timers(d, 12.0 + ABANDON_REDIAL_HOLD)) == [NY]


def test_an_agent_within_the_two_seconds_is_a_connected_call() -> None:
    d, _ = answered_waiting(now=10.0)
    assert d.handle(ev.AgentConnected("c:+12125550123#1", "a1"), 11.9) == []
    assert of(act.PlayAbandonMessage, run_timers(d, 20.0)) == []
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptEnded("c:+12125550123#1", 95.0), 105.0))
    lead = changed.lead
    assert (lead.state, lead.disposition) == (LeadState.DONE, "answered")
    assert (lead.attempts[-1].agent, lead.attempts[-1].duration) == ("a1", 95.0)


def test_the_window_runs_from_the_greetings_end_when_it_comes_later() -> None:
    d, _ = answered_waiting(now=10.0, greeting_end=None)
    d.handle(ev.GreetingEnded("c:+12125550123#1"), 11.5)
    assert of(act.PlayAbandonMessage, run_timers(d, 13.4)) == []
    assert d.handle(ev.AgentConnected("c:+12125550123#1", "a1"), 13.4) == []
    assert of(act.PlayAbandonMessage, run_timers(d, 20.0)) == []


def test_a_person_hanging_up_before_an_agent_is_not_an_abandon() -> None:
    d, _ = answered_waiting(now=10.0)
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptEnded("c:+12125550123#1", 1.0), 11.0))
    assert changed.lead.attempts[-1].outcome == "hung_up"
    assert of(act.PlayAbandonMessage, run_timers(d, 20.0)) == []
    assert d.snapshot("c", 13.0).abandon.abandoned_30d == 0


def test_agentless_person_hears_the_script_and_confirms() -> None:
    d = dialer(agentless())
    d.handle(ev.LeadsAdded(leads("r", [NY], data={"amount": "120.50", "lang": "en"})), 0.0)
    d.handle(ev.StartCampaign("r"), 0.0)
    out = d.handle(ev.AttemptAnswered("r:+12125550123#1", "human", 8.0), 9.0)
    [script] = of(act.RunScript, out)
    assert script.script == "reminder"
    assert script.variables["amount"] == "120.50" and script.variables["phone"] == NY
    d.handle(ev.ConfirmationDigit("r:+12125550123#1", "1"), 30.0)
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptEnded("r:+12125550123#1", 25.0), 34.0))
    assert (changed.lead.state, changed.lead.disposition) == (LeadState.DONE, "confirmed")
    assert changed.lead.attempts[-1].digit == "1"


def test_a_message_is_left_on_a_machine_after_its_greeting() -> None:
    d = dialer(agentless(on_machine=OnMachine.LEAVE_MESSAGE, amd=True))
    start(d, "r", [NY])
    assert (
        of(act.LeaveMessage, d.handle(ev.AttemptAnswered("r:+12125550123#1", "machine"), 9.0)) == []
    )
    out = d.handle(ev.GreetingEnded("r:+12125550123#1"), 17.0)
    assert of(act.LeaveMessage, out) == [
        act.LeaveMessage("r:+12125550123#1", "reminder", {"phone": NY})
    ]
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptEnded("r:+12125550123#1", 30.0), 39.0))
    assert (changed.lead.disposition, changed.lead.attempts[-1].amd) == ("message_left", "machine")
    assert d.snapshot("r", 40.0).abandon.machines_24h == 1


def test_a_machine_is_hung_up_on_and_retried_by_its_rule() -> None:
    d = dialer(agentless(amd=True, retry=RetryRules(machine=RetryRule(2, 7200.0))))
    start(d, "r", [NY])
    out = d.handle(ev.AttemptAnswered("r:+12125550123#1", "machine"), 9.0)
    assert of(act.HangUp, out) == [act.HangUp("r:+12125550123#1", "machine")]
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptEnded("r:+12125550123#1", 1.0), 10.0))
    assert changed.lead.attempts[-1].outcome == "machine"
    assert changed.lead.next_attempt_at == MONDAY_NOON_UTC + 7210.0


def test_calls_never_exceed_max_lines() -> None:
    d = dialer(agentless(max_lines=2))
    assert len(dialled(start(d, "r", [NY, MOSCOW, LONDON, "+12125550124"]))) == 2
    assert dialled(run_timers(d, 5.0)) == []
    out = d.handle(ev.AttemptFailed("r:+12125550123#1", 486), 6.0)
    out += run_timers(d, 8.0)
    assert dialled(out) == [LONDON]
    assert d.snapshot("r", 8.0).lines_in_use == 2


def test_every_decision_is_logged_with_its_inputs() -> None:
    d = dialer(campaign("c", Mode.PREDICTIVE))
    out = start(d, "c", [NY, MOSCOW, LONDON], agents=2)
    [logged] = of(act.PacingLogged, out)
    assert logged.decision.pacer == "predictive"
    assert logged.placed == len(dialled(out)) >= 2
    assert logged.decision.inputs["ready"] == 2


def test_predictive_stops_dialling_when_the_agents_leave() -> None:
    d = dialer(campaign("c", Mode.PREDICTIVE))
    start(d, "c", [f"+1212555{i:04d}" for i in range(100, 200)], agents=3)
    for i in range(1, 4):
        d.handle(ev.AgentAway("c", f"a{i}"), 1.0)
    for attempt in list(d._calls):
        d.handle(ev.AttemptFailed(attempt, 487), 21.0)
    assert dialled(run_timers(d, 600.0)) == []


def test_pause_resume_stop_and_refused_commands() -> None:
    d = dialer(agentless())
    d.handle(ev.LeadsAdded(leads("r", [NY, MOSCOW])), 0.0)
    with pytest.raises(
        InvalidStateError, match="campaign 'r' is idle: it cannot take ResumeCampaign"
    ):
        d.handle(ev.ResumeCampaign("r"), 0.0)
    d.handle(ev.StartCampaign("r"), 0.0)
    assert of(act.CampaignStateChanged, d.handle(ev.PauseCampaign("r"), 1.0)) == [
        act.CampaignStateChanged("r", "paused", "command")
    ]
    d.handle(ev.AttemptFailed("r:+12125550123#1", 486), 2.0)
    d.handle(ev.AttemptFailed("r:+74951234567#1", 486), 2.0)
    assert dialled(run_timers(d, 5000.0)) == []
    assert d.state("r") is CampaignState.PAUSED
    assert sorted(dialled(d.handle(ev.ResumeCampaign("r"), 5000.0))) == [NY, MOSCOW]
    d.handle(ev.StopCampaign("r"), 5001.0)
    with pytest.raises(LocalProtocolError, match="unknown campaign 'nope'"):
        d.handle(ev.StartCampaign("nope"), 0.0)


def test_the_schedule_starts_and_stops_the_campaign() -> None:
    config = agentless(starts_at=MONDAY_NOON_UTC + 3600.0, stops_at=MONDAY_NOON_UTC + 7200.0)
    d = dialer(config)
    assert d.handle(ev.LeadsAdded(leads("r", [NY])), 0.0) == []
    assert d.get_timer() == 3600.0
    out = d.handle_timer(3600.0)
    assert of(act.CampaignStateChanged, out) == [
        act.CampaignStateChanged("r", "running", "schedule")
    ]
    assert dialled(out) == [NY]
    d.handle(ev.AttemptFailed("r:+12125550123#1", 486), 3610.0)
    out = run_timers(d, 7200.0)
    assert act.CampaignStateChanged("r", "stopped", "schedule") in out
    assert d.state("r") is CampaignState.STOPPED


def test_an_attempt_with_no_outcome_is_hung_up_after_the_ring_timeout() -> None:
    d = dialer(agentless(ring_timeout=20.0))
    start(d, "r", [NY])
    out = run_timers(d, 60.0)
    assert act.HangUp("r:+12125550123#1", "stuck") in out
    lead = d.lead("r:+12125550123")
    assert lead is not None and lead.attempts[-1].outcome == "failed"


def test_an_agents_disposition_and_callback() -> None:
    d, _ = answered_waiting(now=10.0)
    d.handle(ev.AgentConnected("c:+12125550123#1", "a1"), 11.0)
    d.handle(ev.AttemptEnded("c:+12125550123#1", 60.0), 71.0)
    later = MONDAY_NOON_UTC + 86400.0
    [changed] = of(
        act.LeadChanged,
        d.handle(ev.Disposition("c:+12125550123", "callback", "after 5pm", later), 75.0),
    )
    assert changed.lead.disposition == "callback"
    assert changed.lead.data["notes"] == "after 5pm"
    assert (changed.lead.state, changed.lead.next_attempt_at) == (LeadState.PENDING, later)


def test_unknown_events_and_late_attempt_events() -> None:
    d = dialer(agentless())
    assert d.handle(ev.AttemptAnswered("nope#1", "human"), 0.0) == []
    with pytest.raises(LocalProtocolError, match="does not handle"):
        d.handle("start", 0.0)  # type: ignore[arg-type]


def test_a_campaign_starting_with_many_free_lines_dials_them_in_rounds() -> None:
    d = dialer(agentless(max_lines=100))
    numbers = [f"+1212555{i:04d}" for i in range(60)]
    first = start(d, "r", numbers)
    assert len(dialled(first)) == 20  # one round: MAX_BURST calls at most
    deadline = d.get_timer()
    assert deadline is not None and deadline <= 0.05 + 1e-9
    rounds = [len(dialled(d.handle_timer(t))) for t in (0.05, 0.1, 0.15)]
    assert rounds == [20, 20, 0]
