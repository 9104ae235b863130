"""Each strategy's choice order, through the distributor."""

from __future__ import annotations

from collections import Counter

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor
from pbx.acd.models import Agent, AgentConfig, Membership, QueueConfig, Requirement
from pbx.acd.strategies import LongestIdle, SkillsBased

from .helpers import agents, distributor, of, offers, take


def serve_order(d: Distributor, n: int, start: float, queue: str = "sales") -> list[str]:
    """Queue ``n`` calls one by one; each is answered and completed; the agents chosen."""
    chosen = []
    now = start
    for i in range(n):
        out = d.handle(ev.CallQueued(f"k{i}", queue), now)
        [(call, agent)] = offers(out)
        chosen.append(agent)
        take(d, call, agent, now + 1, talk=1)
        now += 10
    return chosen


def test_longest_idle_offers_the_agent_idle_longest() -> None:
    d = distributor([QueueConfig("sales", strategy="longest_idle")], agents(4), login=False)
    for t, a in enumerate(["a3", "a1", "a4", "a2"]):
        d.handle(ev.AgentLogin(a), float(t))
    assert serve_order(d, 6, 100.0) == ["a3", "a1", "a4", "a2", "a3", "a1"]


def test_least_calls_offers_the_agent_with_fewest_calls_today() -> None:
    d = distributor([QueueConfig("sales", strategy="least_calls")], agents(3))
    # a1 takes two calls and a2 one while a3 is paused.
    d.handle(ev.AgentPause("a3", "lunch"), 0.0)
    d.handle(ev.AgentPause("a2", "lunch"), 0.0)
    assert serve_order(d, 2, 1.0) == ["a1", "a1"]
    d.handle(ev.AgentUnpause("a2"), 50.0)
    d.handle(ev.AgentPause("a1", "lunch"), 50.0)
    assert serve_order(d, 1, 60.0) == ["a2"]
    d.handle(ev.AgentUnpause("a1"), 100.0)
    d.handle(ev.AgentUnpause("a3"), 100.0)
    assert [d.agent(a).calls_today for a in ("a1", "a2", "a3")] == [2, 1, 0]
    assert serve_order(d, 3, 200.0) == ["a3", "a2", "a3"]


def test_least_talk_offers_the_agent_with_least_talk_time() -> None:
    d = distributor([QueueConfig("sales", strategy="least_talk")], agents(2))
    first = d.handle(ev.CallQueued("c1", "sales"), 1.0)
    second = d.handle(ev.CallQueued("c2", "sales"), 1.0)
    assert offers(first + second) == [("c1", "a1"), ("c2", "a2")]
    take(d, "c1", "a1", 2.0, talk=300.0)
    take(d, "c2", "a2", 2.0, talk=30.0)
    # a2 talked less; a1 has been idle longer, but talk time decides.
    assert serve_order(d, 1, 400.0) == ["a2"]


def test_round_robin_resumes_after_the_last_agent_offered() -> None:
    d = distributor([QueueConfig("sales", strategy="round_robin")], agents(3))
    assert serve_order(d, 5, 1.0) == ["a1", "a2", "a3", "a1", "a2"]


def test_linear_always_offers_the_first_listed_ready_agent() -> None:
    d = distributor([QueueConfig("sales", strategy="linear")], agents(3), login=False)
    for a in ("a3", "a2", "a1"):
        d.handle(ev.AgentLogin(a), 0.0)
    assert serve_order(d, 3, 1.0) == ["a1", "a1", "a1"]


def test_weighted_random_follows_membership_weights() -> None:
    configs = [
        AgentConfig("a1", queues=(Membership("sales", weight=3.0),)),
        AgentConfig("a2", queues=(Membership("sales", weight=1.0),)),
    ]
    d = distributor([QueueConfig("sales", strategy="random")], configs, seed=7)
    counts = Counter(serve_order(d, 4000, 1.0))
    assert 0.70 < counts["a1"] / 4000 < 0.80


def test_skills_based_prefers_the_best_proficiency_then_idle_time() -> None:
    configs = [
        AgentConfig("a1", skills={"support": 2}, queues=(Membership("support"),)),
        AgentConfig("a2", skills={"support": 9}, queues=(Membership("support"),)),
        AgentConfig("a3", skills={"support": 5}, queues=(Membership("support"),)),
        AgentConfig("a4", skills={"support": 5}, queues=(Membership("support"),)),
    ]
    q = QueueConfig("support", strategy="skills", skills={"support": 1})
    d = distributor([q], configs, login=False)
    for t, a in enumerate(["a1", "a2", "a4", "a3"]):
        d.handle(ev.AgentLogin(a), float(t))
    out = []
    for i in range(4):
        out += d.handle(ev.CallQueued(f"c{i}", "support"), 10.0)
    assert [a for _, a in offers(out)] == ["a2", "a4", "a3", "a1"]


def test_penalty_tiers_come_before_the_strategy() -> None:
    configs = [
        AgentConfig("a1", queues=(Membership("sales", penalty=1),)),
        AgentConfig("a2", queues=(Membership("sales", penalty=0),)),
    ]
    d = distributor([QueueConfig("sales", strategy="linear")], configs)
    assert offers(d.handle(ev.CallQueued("c1", "sales"), 1.0)) == [("c1", "a2")]


def test_ring_all_offers_everyone_and_cancels_the_others_on_answer() -> None:
    d = distributor([QueueConfig("sales", strategy="ring_all")], agents(3))
    out = d.handle(ev.CallQueued("c1", "sales"), 1.0)
    assert sorted(offers(out)) == [("c1", "a1"), ("c1", "a2"), ("c1", "a3")]
    out = d.handle(ev.OfferAccepted("c1", "a2"), 3.0)
    assert sorted(c.agent for c in of(act.CancelOffer, out)) == ["a1", "a3"]
    assert of(act.ConnectCall, out) == [act.ConnectCall("c1", "a2", False)]
    states = {a: d.agent(a).state.value for a in ("a1", "a2", "a3")}
    assert states == {"a1": "ready", "a2": "on_call", "a3": "ready"}


def test_ring_all_returns_the_caller_when_every_offer_fails() -> None:
    q = QueueConfig("sales", strategy="ring_all", rona="skip", skip_delay=5)
    d = distributor([q], agents(2))
    d.handle(ev.CallQueued("c1", "sales"), 1.0)
    out = d.handle(ev.OfferFailed("c1", "a1", "busy"), 2.0)
    assert [r.event for r in of(act.LogEvent, out)] == ["RINGNOANSWER"]
    assert d.queued("c1").state.value == "offered"  # type: ignore[union-attr]
    d.handle(ev.OfferFailed("c1", "a2", "rejected"), 2.0)
    assert d.queued("c1").state.value == "waiting"  # type: ignore[union-attr]
    # After the skip delay the first agent back is offered the caller; a2, back in the
    # same instant, waits for the next caller (a ring in progress is not widened).
    assert d.get_timer() == 7.0
    assert offers(d.handle_timer(7.0)) == [("c1", "a1")]
    assert d.agent("a2").state.value == "ready"


class MostSenior:
    """A user strategy in a few lines: the lowest employee number first."""

    def key(self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float) -> tuple:
        return (-int(agent.config.name), agent.idle_since)


def test_a_user_strategy_plugs_in_by_name() -> None:
    configs = [
        AgentConfig(f"a{i}", name=str(n), queues=(Membership("sales"),))
        for i, n in enumerate([10, 30, 20])
    ]
    d = Distributor(
        [QueueConfig("sales", strategy="senior")],
        configs,
        rng=__import__("random").Random(1),
        strategies={"senior": MostSenior()},
    )
    for c in configs:
        d.handle(ev.AgentLogin(c.id), 0.0)
    assert serve_order(d, 1, 1.0) == ["a1"]


def test_strategy_keys_directly() -> None:
    q = QueueConfig("support")
    a = Agent(AgentConfig("x", skills={"support": 4, "russian": 2}), order=3, idle_since=50.0)
    assert LongestIdle().key(a, q, (), 0.0) == (50.0, 3)
    assert SkillsBased().key(a, q, (("russian", 1), ("support", 1)), 0.0) == (-6, 50.0, 3)
