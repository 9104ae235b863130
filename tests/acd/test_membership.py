"""Run-time membership and skills: who serves what changes while agents work."""

from __future__ import annotations

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.models import AgentState, QueueConfig

from .helpers import agents, distributor, logs, of, offers

SALES, SUPPORT = QueueConfig("sales"), QueueConfig("support", skills={"support": 3})


def test_joining_a_queue_logs_the_agent_in_to_it_and_takes_its_waiting_caller() -> None:
    d = distributor([SALES, SUPPORT], agents(1, queues=("sales",), skills={"support": 5}))
    assert offers(d.handle(ev.CallQueued("c1", "support"), 0.0)) == []
    out = d.handle(ev.MembershipChanged("a1", "support", penalty=1), 5.0)
    assert "ADDMEMBER" in logs(out)
    assert offers(out) == [("c1", "a1")]
    assert d.agent("a1").queues == ("sales", "support")
    [_, support] = d.snapshot(5.0).queues
    assert support.agents == {"reserved": 1}


def test_leaving_a_queue_cancels_its_offer_and_the_caller_waits_again() -> None:
    d = distributor([SALES], agents(2))
    assert offers(d.handle(ev.CallQueued("c1", "sales"), 0.0)) == [("c1", "a1")]
    out = d.handle(ev.MembershipChanged("a1", "sales", member=False), 1.0)
    assert [(c.call, c.agent) for c in of(act.CancelOffer, out)] == [("c1", "a1")]
    assert offers(out) == [("c1", "a2")]
    assert "REMOVEMEMBER" in logs(out)
    assert d.agent("a1").queues == () and d.agent("a1").state is AgentState.READY
    # Not a member any more: a new caller is not offered to them.
    assert offers(d.handle(ev.CallQueued("c2", "sales"), 2.0)) == []


def test_the_last_member_leaving_sends_callers_away_when_the_queue_says_so() -> None:
    queue = QueueConfig("sales", leave_when_empty="no_members")
    d = distributor([queue], agents(1))
    d.handle(ev.AgentPause("a1", "lunch"), 0.0)
    d.handle(ev.CallQueued("c1", "sales"), 1.0)
    out = d.handle(ev.MembershipChanged("a1", "sales", member=False), 2.0)
    assert "EXITEMPTY" in logs(out)


def test_new_skills_apply_to_the_next_match() -> None:
    d = distributor([SUPPORT], agents(1, queues=("support",), skills={"support": 1}))
    assert offers(d.handle(ev.CallQueued("c1", "support"), 0.0)) == []
    out = d.handle(ev.SkillsChanged("a1", {"support": 4, "russian": 0}), 3.0)
    assert offers(out) == [("c1", "a1")]
    assert dict(d.agent("a1").config.skills) == {"support": 4}
    # Lowered again: the next caller needing support ≥ 3 is not theirs.
    d.handle(ev.OfferAccepted("c1", "a1"), 4.0)
    d.handle(ev.CallCompleted("c1", "a1", "caller"), 10.0)
    d.handle(ev.SkillsChanged("a1", {"support": 2}), 11.0)
    assert offers(d.handle(ev.CallQueued("c2", "support"), 12.0)) == []
