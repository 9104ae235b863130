"""Restart recovery from stored leads: where it was, and never a lead dialled twice by accident."""

from __future__ import annotations

from typing import Any

from pbx.dialer import actions as act
from pbx.dialer import events as ev
from pbx.dialer.campaign import Mode
from pbx.dialer.compliance import ABANDON_REDIAL_HOLD
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import Attempt, Lead, LeadState

from .helpers import MONDAY_NOON_UTC, MOSCOW, NY, campaign, dialer, dialled, of, run_timers, start

LEAD = "r:+12125550123"
ATTEMPT = "r:+12125550123#1"


def stored(actions: list[act.DialerAction]) -> dict[str, Lead]:
    """What a store holding every LeadChanged would hold."""
    leads: dict[str, Lead] = {}
    for a in actions:
        if isinstance(a, act.LeadChanged):
            leads[a.lead.id] = a.lead
    return leads


def restarted(
    leads: dict[str, Lead], now: float = 100.0, **kw: Any
) -> tuple[Dialer, list[act.DialerAction]]:
    d = dialer(campaign("r", Mode.AGENTLESS), **kw)
    out = d.handle(ev.LeadsAdded(list(leads.values())), now)
    out += d.handle(ev.StartCampaign("r"), now)
    return d, out


def test_a_lead_found_dialing_is_held_in_doubt_not_redialled() -> None:
    before = dialer(campaign("r", Mode.AGENTLESS))
    saved = stored(start(before, "r", [NY]))
    assert saved[LEAD].state is LeadState.DIALING
    d, out = restarted(saved)
    assert dialled(out) == []
    lead = d.lead(LEAD)
    assert lead is not None and lead.state is LeadState.IN_DOUBT
    assert stored(out)[LEAD].state is LeadState.IN_DOUBT
    assert dialled(run_timers(d, 399.0)) == []
    out = run_timers(d, 400.0)  # the hold (300 s) is over: the attempt was interrupted
    lead = d.lead(LEAD)
    assert lead is not None
    assert lead.attempts[-1].outcome == "interrupted"
    assert lead.state is LeadState.PENDING
    assert lead.next_attempt_at == MONDAY_NOON_UTC + 400.0 + 72 * 3600
    assert dialled(run_timers(d, 400.0 + 3600.0)) == []


def test_the_shell_may_resolve_a_doubtful_attempt_from_its_records() -> None:
    before = dialer(campaign("r", Mode.AGENTLESS))
    d, _ = restarted(stored(start(before, "r", [NY])))
    [changed] = of(act.LeadChanged, d.handle(ev.AttemptFailed(ATTEMPT, 486), 101.0))
    assert changed.lead.attempts[-1].outcome == "busy"
    assert changed.lead.next_attempt_at == MONDAY_NOON_UTC + 101.0 + 600.0


def test_an_attempt_still_alive_in_the_call_layer_carries_on() -> None:
    before = dialer(campaign("r", Mode.AGENTLESS))
    d, _ = restarted(stored(start(before, "r", [NY])))
    out = d.handle(ev.AttemptAnswered(ATTEMPT, "human"), 102.0)
    assert of(act.RunScript, out)
    d.handle(ev.AttemptEnded(ATTEMPT, 30.0), 132.0)
    lead = d.lead(LEAD)
    assert lead is not None and lead.disposition == "delivered"


def test_repeated_restarts_never_add_an_attempt_by_themselves() -> None:
    before = dialer(campaign("r", Mode.AGENTLESS))
    saved = stored(start(before, "r", [NY, MOSCOW]))
    for restart in range(5):
        d, out = restarted(saved, now=10.0 * restart)
        saved.update(stored(out))
        assert dialled(out) == []
    assert all(len(lead.attempts) == 1 for lead in saved.values())


def test_pending_leads_resume_with_their_retry_time_and_abandon_history() -> None:
    hour_ago = MONDAY_NOON_UTC - 3600.0
    abandoned = Lead(
        id=LEAD,
        campaign="r",
        phone=NY,
        attempts=(Attempt(f"{LEAD}#1", hour_ago, "abandoned", amd="human"),),
        next_attempt_at=hour_ago + 60.0,
    )
    fresh = Lead(id="r:+74951234567", campaign="r", phone=MOSCOW)
    d, out = restarted({abandoned.id: abandoned, fresh.id: fresh}, now=0.0)
    assert dialled(out) == [MOSCOW]  # the abandoned number waits out its 72 hours
    stats = d.snapshot("r", 0.0).abandon
    assert (stats.live_30d, stats.abandoned_30d) == (1, 1)
    d.handle(ev.AttemptFailed("r:+74951234567#1", 404), 5.0)
    assert dialled(run_timers(d, ABANDON_REDIAL_HOLD - 3601.0)) == []
    assert dialled(run_timers(d, ABANDON_REDIAL_HOLD - 3600.0 + 1.0)) == [NY]


def test_done_leads_stay_done_and_offers_go_back_to_pending() -> None:
    done = Lead(id=LEAD, campaign="r", phone=NY, state=LeadState.DONE, disposition="confirmed")
    offered = Lead(id="r:+74951234567", campaign="r", phone=MOSCOW, state=LeadState.OFFERED)
    d, out = restarted({done.id: done, offered.id: offered}, now=0.0)
    assert dialled(out) == [MOSCOW]
    assert d.snapshot("r", 0.0).leads == {"done": 1, "dialing": 1}
