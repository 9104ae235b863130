"""Preview: the lead goes to an agent first, who dials it or skips it."""

from __future__ import annotations

from typing import Any

from pbx.dialer import actions as act
from pbx.dialer import events as ev
from pbx.dialer.campaign import Mode
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import LeadState

from .helpers import MONDAY_NOON_UTC, MOSCOW, NY, campaign, dialer, leads, of, run_timers

FIRST = "p:+12125550123"
SECOND = "p:+74951234567"


def preview(**kw: Any) -> tuple[Dialer, list[act.DialerAction]]:
    d = dialer(campaign("p", Mode.PREVIEW, **kw))
    d.handle(ev.LeadsAdded(leads("p", [NY, MOSCOW], data={"name": "Ann"})), 0.0)
    d.handle(ev.StartCampaign("p"), 0.0)
    return d, d.handle(ev.AgentAvailable("p", "a1"), 1.0)


def test_a_ready_agent_is_offered_a_lead_and_nothing_is_dialled() -> None:
    d, out = preview()
    assert of(act.Dial, out) == []
    [offer] = of(act.OfferPreview, out)
    assert (offer.agent, offer.lead, offer.number, offer.data) == ("a1", FIRST, NY, {"name": "Ann"})
    lead = d.lead(FIRST)
    assert lead is not None and lead.state is LeadState.OFFERED
    assert of(act.OfferPreview, run_timers(d, 30.0)) == []  # one offer per agent


def test_dial_calls_from_the_agents_leg_and_connects_the_answer_to_them() -> None:
    d, _ = preview()
    out = d.handle(ev.PreviewDecision("a1", FIRST, dial=True), 5.0)
    [dial] = of(act.Dial, out)
    assert (dial.number, dial.agent) == (NY, "a1")
    out = d.handle(ev.AttemptAnswered(dial.attempt, "human", 12.0), 12.5)
    assert of(act.Enqueue, out) == []
    [connect] = of(act.ConnectToAgent, out)
    assert (connect.attempt, connect.agent) == (dial.attempt, "a1")
    assert of(act.PlayAbandonMessage, run_timers(d, 60.0)) == []
    d.handle(ev.AttemptEnded(dial.attempt, 50.0), 62.5)
    lead = d.lead(FIRST)
    assert lead is not None and lead.disposition == "answered" and lead.attempts[-1].agent == "a1"


def test_skip_puts_the_lead_back_for_later_and_offers_the_next() -> None:
    d, _ = preview(preview_skip_delay=900.0)
    out = d.handle(ev.PreviewDecision("a1", FIRST, dial=False), 5.0)
    out += run_timers(d, 6.0)
    assert [o.lead for o in of(act.OfferPreview, out)] == [SECOND]
    lead = d.lead(FIRST)
    assert lead is not None
    assert (lead.state, lead.next_attempt_at) == (LeadState.PENDING, MONDAY_NOON_UTC + 905.0)
    assert lead.attempts == ()


def test_an_undecided_offer_is_dialled_when_its_timeout_ends() -> None:
    d, _ = preview(preview_timeout=20.0)
    out = run_timers(d, 21.0)
    [dial] = of(act.Dial, out)
    assert (dial.lead, dial.agent) == (FIRST, "a1")


def test_an_agent_leaving_gives_the_offer_back() -> None:
    d, _ = preview()
    out = d.handle(ev.AgentAway("p", "a1"), 3.0)
    assert of(act.WithdrawPreview, out) == [act.WithdrawPreview("a1", FIRST)]
    out = d.handle(ev.AgentAvailable("p", "a2"), 4.0)
    assert [(o.agent, o.lead) for o in of(act.OfferPreview, out)] == [("a2", FIRST)]
    # A decision on the withdrawn offer comes too late and changes nothing.
    assert d.handle(ev.PreviewDecision("a1", FIRST, dial=True), 5.0) == []


def test_a_lead_put_on_dnc_during_the_offer_is_not_dialled() -> None:
    d, _ = preview()
    d.handle(ev.DncAdded("global", (NY,)), 2.0)
    out = d.handle(ev.PreviewDecision("a1", FIRST, dial=True), 5.0)
    assert of(act.Dial, out) == []
    assert act.WithdrawPreview("a1", FIRST) in out
    lead = d.lead(FIRST)
    assert lead is not None and lead.disposition == "dnc"
