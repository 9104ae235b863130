"""Calls the ACD did not distribute: agents busy on them are not offered queue calls."""

from __future__ import annotations

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.models import AgentState, QueueConfig

from .helpers import agents, distributor, logs, of, offers

SALES = QueueConfig("sales", ring_timeout=15)


def states(out: list[act.AcdAction]) -> list[tuple[str, str]]:
    return [(s.state.value, s.reason) for s in of(act.AgentStateChanged, out)]


def test_a_ready_agent_on_a_direct_call_is_offered_nothing_until_it_ends() -> None:
    d = distributor([SALES], agents(1))
    out = d.handle(ev.DirectCallStarted("a1", "x1"), 1.0)
    assert states(out) == [("on_call", "direct")]
    assert offers(d.handle(ev.CallQueued("c1", "sales"), 2.0)) == []
    out = d.handle(ev.DirectCallEnded("a1", "x1"), 30.0)
    assert states(out) == [("ready", ""), ("reserved", "")]
    assert offers(out) == [("c1", "a1")]
    assert d.agent("a1").idle_since == 30.0


def test_a_direct_call_answered_while_an_offer_rings_cancels_the_offer() -> None:
    d = distributor([SALES], agents(2))
    assert offers(d.handle(ev.CallQueued("c1", "sales"), 0.0)) == [("c1", "a1")]
    d.handle(ev.OfferRinging("c1", "a1"), 0.1)
    out = d.handle(ev.DirectCallStarted("a1", "x1"), 1.0)
    assert [(c.call, c.agent) for c in of(act.CancelOffer, out)] == [("c1", "a1")]
    assert offers(out) == [("c1", "a2")]  # the caller keeps their place
    assert d.agent("a1").state is AgentState.ON_CALL


def test_wrap_up_after_a_campaign_call_then_ready_or_the_pending_pause() -> None:
    d = distributor([SALES], agents(2))
    d.handle(ev.DirectCallStarted("a1", "x1"), 0.0)
    out = d.handle(ev.DirectCallEnded("a1", "x1", wrap_up=10), 60.0)
    assert states(out) == [("wrap_up", "")]
    assert d.get_timer() == 70.0
    assert "WRAPUPEND" not in logs(d.handle_timer(70.0))  # no queue's handle time
    assert d.agent("a1").state is AgentState.READY
    # A pause asked for during the call applies when it ends, without wrap-up.
    d.handle(ev.DirectCallStarted("a2", "x2"), 80.0)
    d.handle(ev.AgentPause("a2", "lunch"), 81.0)
    assert d.agent("a2").state is AgentState.ON_CALL
    out = d.handle(ev.DirectCallEnded("a2", "x2", wrap_up=10), 90.0)
    assert states(out) == [("not_ready", "lunch")]


def test_a_paused_agent_stays_paused_and_stale_ends_are_ignored() -> None:
    d = distributor([SALES], agents(1))
    d.handle(ev.AgentPause("a1", "lunch"), 0.0)
    assert d.handle(ev.DirectCallStarted("a1", "x1"), 1.0) == []
    assert d.handle(ev.DirectCallEnded("a1", "other"), 2.0) == []
    assert d.handle(ev.DirectCallEnded("a1", "x1"), 3.0) == []
    assert d.agent("a1").state is AgentState.NOT_READY
    assert d.agent("a1").direct is None
