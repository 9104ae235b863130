"""Queue mechanics with a fixed clock: order, ring-no-answer, wrap-up, pauses, exits."""

from __future__ import annotations

import random

import pytest

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor
from pbx.acd.models import (
    AgentConfig,
    AgentState,
    CallState,
    Membership,
    PriorityRule,
    QueueConfig,
    Target,
)
from pbx.errors import ConfigError, LocalProtocolError

from .helpers import agents, distributor, logs, of, offers, take

SALES = QueueConfig("sales")
VOICEMAIL = Target("voicemail", "sales")


def paused(queue: QueueConfig, n: int = 1, **kw: object) -> Distributor:
    """A distributor whose agents are logged in but paused (callers wait)."""
    d = distributor([queue], agents(n, **kw))  # type: ignore[arg-type]
    for i in range(1, n + 1):
        d.handle(ev.AgentPause(f"a{i}", "lunch"), 0.0)
    return d


def test_higher_priority_first_and_fifo_within_priority() -> None:
    d = paused(SALES)
    for t, (call, priority) in enumerate([("c1", 0), ("c2", 5), ("c3", 0), ("c4", 5)]):
        d.handle(ev.CallQueued(call, "sales", priority=priority), float(t))
    assert [d.position(c) for c in ("c1", "c2", "c3", "c4")] == [3, 1, 4, 2]
    served = []
    out = d.handle(ev.AgentUnpause("a1"), 10.0)
    for t in range(4):
        [(call, agent)] = offers(out)
        served.append(call)
        out = take(d, call, agent, 11.0 + t * 10, talk=5)
    assert served == ["c2", "c4", "c1", "c3"]


def test_enterqueue_row_carries_the_position_the_caller_joined_at() -> None:
    d = paused(SALES)
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    out = d.handle(ev.CallQueued("c2", "sales", priority=3, caller="555"), 1.0)
    assert of(act.LogEvent, out) == [
        act.LogEvent(
            1.0, "ENTERQUEUE", "c2", "sales", "", {"caller": "555", "priority": 3, "position": 1}
        )
    ]
    assert of(act.PlayHold, out) == [act.PlayHold("c2", "default")]


def test_priority_change_while_waiting_moves_the_caller_ahead() -> None:
    d = paused(SALES)
    for t, call in enumerate(["c1", "c2", "c3"]):
        d.handle(ev.CallQueued(call, "sales"), float(t))
    d.handle(ev.PriorityChanged("c3", 10), 5.0)
    assert d.position("c3") == 1
    assert offers(d.handle(ev.AgentUnpause("a1"), 6.0)) == [("c3", "a1")]


def test_priority_rule_raises_vip_callers() -> None:
    rule = PriorityRule("caller", frozenset({"+15551234"}), 9)
    d = paused(QueueConfig("support", priority_rules=(rule,)), queues=("support",))
    d.handle(ev.CallQueued("c1", "support", caller="+15550000"), 0.0)
    d.handle(ev.CallQueued("vip", "support", caller="+15551234"), 1.0)
    assert d.queued("vip").priority == 9  # type: ignore[union-attr]
    assert d.position("vip") == 1


def test_caller_keeps_place_after_ring_no_answer() -> None:
    d = distributor([QueueConfig("sales", ring_timeout=15)], agents(2))
    d.handle(ev.AgentPause("a2", "lunch"), 0.0)
    assert offers(d.handle(ev.CallQueued("c1", "sales"), 1.0)) == [("c1", "a1")]
    d.handle(ev.CallQueued("c2", "sales"), 2.0)
    assert d.get_timer() == 16.0
    out = d.handle_timer(16.0)
    assert of(act.CancelOffer, out) == [act.CancelOffer("c1", "a1")]
    assert logs(out) == ["RINGNOANSWER", "PAUSE"]
    assert d.agent("a1").state is AgentState.NOT_READY
    assert d.agent("a1").reason == "RONA"
    assert d.position("c1") == 1 and d.position("c2") == 2
    assert offers(d.handle(ev.AgentUnpause("a2"), 20.0)) == [("c1", "a2")]
    assert d.queued("c1").tried == ["a1", "a2"]  # type: ignore[union-attr]


def test_ring_no_answer_reported_by_the_call_layer_goes_to_the_next_agent() -> None:
    d = distributor([SALES], agents(2))
    d.handle(ev.CallQueued("c1", "sales"), 1.0)
    out = d.handle(ev.OfferFailed("c1", "a1", "no_answer"), 5.0)
    assert offers(out) == [("c1", "a2")]
    assert out[0] == act.LogEvent(
        5.0, "RINGNOANSWER", "c1", "sales", "a1", {"ring": 4.0, "reason": "no_answer"}
    )


def test_rona_skip_policy_leaves_the_agent_ready_but_passed_over() -> None:
    q = QueueConfig("sales", rona="skip", skip_delay=10, ring_timeout=15)
    d = distributor([q], agents(1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    out = d.handle_timer(15.0)
    assert d.agent("a1").state is AgentState.READY
    assert offers(out) == []
    assert d.get_timer() == 25.0
    assert offers(d.handle_timer(25.0)) == [("c1", "a1")]


@pytest.mark.parametrize("reason", ["busy", "rejected", "unavailable"])
def test_busy_or_rejected_agent_is_skipped_for_the_delay(reason: str) -> None:
    d = distributor([QueueConfig("sales", skip_delay=30)], agents(2))
    d.handle(ev.AgentPause("a2", "lunch"), 0.0)
    d.handle(ev.CallQueued("c1", "sales"), 1.0)
    out = d.handle(ev.OfferFailed("c1", "a1", reason), 2.0)
    assert offers(out) == []
    assert d.agent("a1").state is AgentState.READY
    assert d.handle(ev.CallQueued("c2", "sales"), 3.0)[-1] == act.PlayHold("c2", "default")
    assert d.get_timer() == 32.0
    assert offers(d.handle_timer(31.9)) == []
    assert offers(d.handle_timer(32.0)) == [("c1", "a1")]


def test_timed_wrap_up_then_ready_takes_the_next_caller() -> None:
    d = distributor([QueueConfig("sales", wrap_up=5)], agents(1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.OfferAccepted("c1", "a1"), 2.0)
    d.handle(ev.CallQueued("c2", "sales"), 3.0)
    out = d.handle(ev.CallCompleted("c1", "a1", "agent"), 62.0)
    assert d.agent("a1").state is AgentState.WRAP_UP
    assert logs(out) == ["COMPLETEAGENT"]
    assert of(act.LogEvent, out)[0].data == {"wait": 2.0, "talk": 60.0, "position": 1}
    assert d.get_timer() == 67.0
    assert offers(d.handle_timer(67.0)) == [("c2", "a1")]
    assert d.aht("sales") == 180.0  # default until enough calls


def test_manual_wrap_up_lasts_until_the_agent_says_ready() -> None:
    d = distributor([QueueConfig("sales", wrap_up=0)], agents(1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    take(d, "c1", "a1", 1.0, talk=10)
    d.handle(ev.CallQueued("c2", "sales"), 12.0)
    assert d.get_timer() is None
    assert d.agent("a1").state is AgentState.WRAP_UP
    assert d.handle(ev.AgentUnpause("a1"), 13.0) == []
    assert offers(d.handle(ev.AgentReady("a1"), 40.0)) == [("c2", "a1")]


def test_pause_and_unpause_with_reasons_are_logged_per_queue() -> None:
    configs = agents(1, queues=("sales", "support"))
    d = distributor([SALES, QueueConfig("support")], configs)
    out = d.handle(ev.AgentPause("a1", "training"), 5.0)
    assert of(act.LogEvent, out) == [
        act.LogEvent(5.0, "PAUSE", "", "sales", "a1", {"reason": "training"}),
        act.LogEvent(5.0, "PAUSE", "", "support", "a1", {"reason": "training"}),
    ]
    assert of(act.AgentStateChanged, out) == [
        act.AgentStateChanged("a1", AgentState.NOT_READY, "training")
    ]
    out = d.handle(ev.AgentPause("a1", "lunch"), 6.0)
    assert d.agent("a1").reason == "lunch"
    out = d.handle(ev.AgentUnpause("a1"), 7.0)
    assert logs(out) == ["UNPAUSE", "UNPAUSE"]
    assert d.agent("a1").state is AgentState.READY


def test_pause_during_a_call_applies_when_it_ends() -> None:
    d = distributor([QueueConfig("sales", wrap_up=5)], agents(1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.OfferAccepted("c1", "a1"), 1.0)
    assert d.handle(ev.AgentPause("a1", "lunch"), 2.0) == []
    d.handle(ev.CallQueued("c2", "sales"), 3.0)
    out = d.handle(ev.CallCompleted("c1", "a1", "caller"), 10.0)
    assert logs(out) == ["COMPLETECALLER", "WRAPUPEND", "PAUSE"]
    assert d.agent("a1").state is AgentState.NOT_READY and offers(out) == []


def test_pause_while_ringing_cancels_the_offer_without_losing_the_caller() -> None:
    d = distributor([SALES], agents(2))
    d.handle(ev.AgentPause("a2", "x"), 0.0)
    d.handle(ev.CallQueued("c1", "sales"), 1.0)
    d.handle(ev.OfferRinging("c1", "a1"), 1.1)
    assert d.agent("a1").state is AgentState.RINGING
    out = d.handle(ev.AgentPause("a1", "break"), 2.0)
    assert of(act.CancelOffer, out) == [act.CancelOffer("c1", "a1")]
    assert d.queued("c1").state is CallState.WAITING  # type: ignore[union-attr]
    assert offers(d.handle(ev.AgentUnpause("a2"), 3.0)) == [("c1", "a2")]


def test_device_unavailable_logs_the_agent_out_after_the_grace() -> None:
    d = Distributor([SALES], agents(1), rng=random.Random(1), device_grace=60)
    d.handle(ev.AgentLogin("a1"), 0.0)
    out = d.handle(ev.DeviceUnavailable("a1"), 10.0)
    assert d.agent("a1").state is AgentState.NOT_READY and d.agent("a1").reason == "device"
    assert logs(out) == ["PAUSE"]
    assert d.get_timer() == 70.0
    out = d.handle_timer(70.0)
    assert logs(out) == ["AGENTLOGOFF"]
    assert d.agent("a1").state is AgentState.LOGGED_OUT


def test_device_back_within_the_grace_restores_ready() -> None:
    d = distributor([SALES], agents(1))
    d.handle(ev.DeviceUnavailable("a1"), 10.0)
    d.handle(ev.CallQueued("c1", "sales"), 11.0)
    out = d.handle(ev.DeviceAvailable("a1"), 20.0)
    assert logs(out) == ["UNPAUSE", "OFFER"]
    assert d.get_timer() == 35.0  # the ring timeout, not the grace
    assert d.handle_timer(70.0) and d.agent("a1").state is AgentState.NOT_READY
    assert d.agent("a1").reason == "RONA"


def test_max_wait_overflows_to_the_target() -> None:
    q = QueueConfig("sales", max_wait=120, overflow=VOICEMAIL)
    d = paused(q)
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    assert d.get_timer() == 120.0
    out = d.handle_timer(120.0)
    assert out == [
        act.LogEvent(
            120.0,
            "EXITWITHTIMEOUT",
            "c1",
            "sales",
            "",
            {"position": 1, "original_position": 1, "wait": 120.0},
        ),
        act.Overflow("c1", VOICEMAIL, "timeout"),
    ]
    assert d.queued("c1") is None


def test_max_wait_while_ringing_cancels_the_offer() -> None:
    d = distributor([QueueConfig("sales", max_wait=10, ring_timeout=15)], agents(1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    out = d.handle_timer(10.0)
    assert of(act.CancelOffer, out) == [act.CancelOffer("c1", "a1")]
    assert of(act.RejectCall, out) == [act.RejectCall("c1", "timeout")]
    assert d.agent("a1").state is AgentState.READY


def test_max_length_rejects_or_overflows() -> None:
    d = paused(QueueConfig("sales", max_length=1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    out = d.handle(ev.CallQueued("c2", "sales"), 1.0)
    assert logs(out) == ["FULL"] and of(act.RejectCall, out) == [act.RejectCall("c2", "full")]
    d = paused(QueueConfig("sales", max_length=1, overflow=VOICEMAIL))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    out = d.handle(ev.CallQueued("c2", "sales"), 1.0)
    assert of(act.Overflow, out) == [act.Overflow("c2", VOICEMAIL, "full")]


def test_join_empty_refuses_callers_when_nobody_is_logged_in() -> None:
    q = QueueConfig("sales", join_empty="no_members")
    d = distributor([q], agents(1), login=False)
    out = d.handle(ev.CallQueued("c1", "sales"), 0.0)
    assert logs(out) == ["JOINEMPTY"] and of(act.RejectCall, out) == [act.RejectCall("c1", "empty")]
    d.handle(ev.AgentLogin("a1"), 1.0)
    d.handle(ev.AgentPause("a1", "lunch"), 1.0)
    assert logs(d.handle(ev.CallQueued("c2", "sales"), 2.0)) == ["ENTERQUEUE"]
    q2 = QueueConfig("sales", join_empty="no_staffed")
    d2 = paused(q2)
    assert logs(d2.handle(ev.CallQueued("c3", "sales"), 2.0)) == ["JOINEMPTY"]


def test_leave_when_empty_sends_waiting_callers_away() -> None:
    q = QueueConfig("sales", leave_when_empty="no_staffed", overflow=VOICEMAIL)
    d = distributor([q], agents(2))
    d.handle(ev.AgentPause("a2", "lunch"), 0.0)
    d.handle(ev.CallQueued("c1", "sales"), 1.0)
    d.handle(ev.OfferAccepted("c1", "a1"), 2.0)
    d.handle(ev.CallQueued("c2", "sales"), 3.0)
    d.handle(ev.CallQueued("c3", "sales"), 4.0)
    assert d.handle(ev.AgentLogout("a1"), 5.0) == []  # logs out after the call
    out = d.handle(ev.CallCompleted("c1", "a1", "caller"), 9.0)
    assert logs(out) == ["COMPLETECALLER", "WRAPUPEND", "AGENTLOGOFF", "EXITEMPTY", "EXITEMPTY"]
    assert of(act.Overflow, out) == [
        act.Overflow("c2", VOICEMAIL, "empty"),
        act.Overflow("c3", VOICEMAIL, "empty"),
    ]


def test_exit_key_overflows_the_caller() -> None:
    d = paused(QueueConfig("sales", exit_keys={"9": VOICEMAIL}))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    assert d.handle(ev.KeyPressed("c1", "5"), 1.0) == []
    out = d.handle(ev.KeyPressed("c1", "9"), 2.0)
    assert logs(out) == ["EXITWITHKEY"]
    assert of(act.Overflow, out) == [act.Overflow("c1", VOICEMAIL, "key")]


def test_callback_keeps_the_place_and_reserves_the_agent_first() -> None:
    d = paused(QueueConfig("sales", callback_after=300, announce_period=60))
    d.handle(ev.CallQueued("c1", "sales", caller="+15550001"), 0.0)
    d.handle(ev.CallQueued("c2", "sales", caller="+15550002"), 10.0)
    out = d.handle_timer(300.0)
    assert of(act.OfferCallback, out) == [act.OfferCallback("c1")]
    assert d.handle(ev.KeyPressed("c2", "1"), 301.0) == []  # c2 was not offered yet
    out = d.handle(ev.KeyPressed("c1", "1"), 302.0)
    assert of(act.LogEvent, out) == [
        act.LogEvent(
            302.0, "CALLBACKREQUESTED", "c1", "sales", "", {"number": "+15550001", "position": 1}
        )
    ]
    assert d.queued("c1").state is CallState.CALLBACK_PENDING  # type: ignore[union-attr]
    assert d.position("c1") == 1
    # No more announcements for the caller who hung up; c2 still hears them.
    assert [a.call for a in of(act.Announce, d.handle_timer(360.0))] == ["c2"]
    out = d.handle(ev.AgentUnpause("a1"), 400.0)
    assert of(act.PlaceCallback, out) == [act.PlaceCallback("c1", "a1", "+15550001", {})]
    assert d.agent("a1").state is AgentState.RESERVED
    out = d.handle(ev.CallbackCompleted("c1", "a1"), 420.0)
    assert logs(out) == ["CALLBACKDONE", "CONNECT"]
    assert of(act.ConnectCall, out) == []  # the application bridged the callback itself
    assert d.agent("a1").state is AgentState.ON_CALL
    out = d.handle(ev.CallCompleted("c1", "a1", "agent"), 500.0)
    assert offers(out) == [("c2", "a1")]


def test_failed_callback_frees_the_agent() -> None:
    d = distributor([SALES], agents(1))
    d.handle(ev.AgentPause("a1", "x"), 0.0)
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.CallbackRequested("c1", "+1555"), 1.0)
    d.handle(ev.AgentUnpause("a1"), 2.0)
    out = d.handle(ev.CallbackFailed("c1", "a1", "no_answer"), 40.0)
    assert logs(out) == ["CALLBACKFAILED"]
    assert d.queued("c1") is None and d.agent("a1").state is AgentState.READY


def test_abandon_while_offered_cancels_the_offer() -> None:
    d = distributor([SALES], agents(1))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.CallQueued("c2", "sales"), 1.0)
    out = d.handle(ev.CallAbandoned("c1"), 4.0)
    assert of(act.CancelOffer, out) == [act.CancelOffer("c1", "a1")]
    assert of(act.LogEvent, out)[0] == act.LogEvent(
        4.0, "ABANDON", "c1", "sales", "", {"position": 1, "original_position": 1, "wait": 4.0}
    )
    assert offers(out) == [("c2", "a1")]
    assert d.handle(ev.OfferAccepted("c1", "a1"), 5.0) == []  # stale answer ignored


def test_abandon_while_waiting_reports_position_and_wait() -> None:
    d = paused(SALES)
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.CallQueued("c2", "sales"), 3.0)
    out = d.handle(ev.CallAbandoned("c2"), 10.0)
    assert out == [
        act.LogEvent(
            10.0, "ABANDON", "c2", "sales", "", {"position": 2, "original_position": 2, "wait": 7.0}
        )
    ]
    assert d.snapshot(10.0).queues[0].abandoned == 1


def test_skills_relaxation_over_time() -> None:
    q = QueueConfig(
        "support",
        skills={"support": 5},
        relax=((30.0, {"support": 1}), (60.0, {})),
    )
    configs = [
        AgentConfig("novice", skills={"support": 2}, queues=(Membership("support"),)),
        AgentConfig("other", skills={"sales": 5}, queues=(Membership("support"),)),
    ]
    d = distributor([q], configs)
    d.handle(ev.CallQueued("c1", "support"), 0.0)
    assert d.handle(ev.CallQueued("c2", "support"), 1.0)[-1] == act.PlayHold("c2", "default")
    assert d.get_timer() == 30.0
    assert offers(d.handle_timer(30.0)) == [("c1", "novice")]
    d.handle(ev.OfferAccepted("c1", "novice"), 30.0)
    assert d.queued("c2").skills == (("support", 5),)  # type: ignore[union-attr]
    assert offers(d.handle_timer(31.0)) == []  # c2 relaxed to support 1, novice is busy
    assert offers(d.handle_timer(61.0)) == [("c2", "other")]


def test_call_specific_skills_add_to_the_queue_requirement() -> None:
    q = QueueConfig("support", skills={"support": 1})
    configs = [
        AgentConfig("en", skills={"support": 5}, queues=(Membership("support"),)),
        AgentConfig("ru", skills={"support": 5, "russian": 5}, queues=(Membership("support"),)),
    ]
    d = distributor([q], configs)
    out = d.handle(ev.CallQueued("c1", "support", skills={"russian": 1}), 1.0)
    assert offers(out) == [("c1", "ru")]
    out = d.handle(ev.CallQueued("c2", "support", skills={"russian": 1}), 2.0)
    assert offers(out) == []
    assert offers(d.handle(ev.CallQueued("c3", "support"), 3.0)) == [("c3", "en")]


def test_agent_in_several_queues_gets_the_globally_best_caller() -> None:
    configs = agents(1, queues=("sales", "support"))
    d = distributor([SALES, QueueConfig("support")], configs)
    d.handle(ev.AgentPause("a1", "x"), 0.0)
    d.handle(ev.CallQueued("s1", "sales"), 5.0)
    d.handle(ev.CallQueued("t1", "support"), 1.0)
    d.handle(ev.CallQueued("t2", "support", priority=2), 9.0)
    served = []
    out = d.handle(ev.AgentUnpause("a1"), 10.0)
    for t in range(3):
        [(call, agent)] = offers(out)
        served.append(call)
        out = take(d, call, agent, 11.0 + 10 * t, talk=1)
    assert served == ["t2", "t1", "s1"]


def test_queue_weight_wins_across_queues() -> None:
    configs = agents(1, queues=("sales", "vip"))
    d = distributor([SALES, QueueConfig("vip", weight=10)], configs)
    d.handle(ev.AgentPause("a1", "x"), 0.0)
    d.handle(ev.CallQueued("s1", "sales", priority=5), 1.0)
    d.handle(ev.CallQueued("v1", "vip"), 2.0)
    assert offers(d.handle(ev.AgentUnpause("a1"), 3.0)) == [("v1", "a1")]


def test_announcements_give_position_and_ewt() -> None:
    d = paused(QueueConfig("sales", announce_period=30, default_aht=120), n=2)
    d.handle(ev.AgentUnpause("a1"), 0.0)
    d.handle(ev.AgentUnpause("a2"), 0.0)
    for t, call in enumerate(["c1", "c2", "c3", "c4", "c5"]):
        d.handle(ev.CallQueued(call, "sales"), float(t) / 10)
    d.handle(ev.OfferAccepted("c1", "a1"), 1.0)
    d.handle(ev.OfferAccepted("c2", "a2"), 1.0)
    out = d.handle_timer(30.5)
    # c1 and c2 are talking; c3..c5 hear positions 1..3 with 2 staffed agents.
    assert out == [
        act.Announce("c3", 1, 60.0),
        act.PlayHold("c3", "default"),
        act.Announce("c4", 2, 120.0),
        act.PlayHold("c4", "default"),
        act.Announce("c5", 3, 180.0),
        act.PlayHold("c5", "default"),
    ]
    assert d.ewt("c5") == 180.0
    assert d.get_timer() == pytest.approx(60.2)


def test_whisper_and_record_flags_reach_the_actions() -> None:
    d = distributor([QueueConfig("sales", whisper=True, record=True)], agents(1))
    out = d.handle(ev.CallQueued("c1", "sales", data={"account": "42"}), 0.0)
    [offer] = of(act.OfferToAgent, out)
    assert offer == act.OfferToAgent(
        "c1", "a1", "sales", ("2001",), 15.0, "sales", {"account": "42"}
    )
    assert of(act.ConnectCall, d.handle(ev.OfferAccepted("c1", "a1"), 1.0)) == [
        act.ConnectCall("c1", "a1", True)
    ]


def test_log_rows_of_a_whole_call_and_agent_day() -> None:
    d = distributor([SALES], agents(1), login=False)
    rows = logs(d.handle(ev.AgentLogin("a1"), 0.0))
    rows += logs(d.handle(ev.CallQueued("c1", "sales"), 1.0))
    rows += logs(d.handle(ev.OfferAccepted("c1", "a1"), 3.0))
    rows += logs(d.handle(ev.CallHeld("c1", "a1"), 4.0))
    assert d.agent("a1").state is AgentState.ON_HOLD
    rows += logs(d.handle(ev.CallResumed("c1", "a1"), 5.0))
    rows += logs(d.handle(ev.CallTransferred("c1", "a1", "2005"), 30.0))
    rows += logs(d.handle(ev.AgentPause("a1", "lunch"), 31.0))
    rows += logs(d.handle(ev.AgentUnpause("a1"), 32.0))
    rows += logs(d.handle(ev.AgentLogout("a1"), 33.0))
    assert rows == [
        "AGENTLOGIN",
        "ENTERQUEUE",
        "OFFER",
        "CONNECT",
        "HOLD",
        "UNHOLD",
        "TRANSFER",
        "WRAPUPEND",
        "PAUSE",
        "UNPAUSE",
        "AGENTLOGOFF",
    ]


def test_snapshot_reports_service_level_asa_and_agents_by_state() -> None:
    d = distributor([QueueConfig("sales", service_level_threshold=20)], agents(2))
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.CallQueued("c2", "sales"), 0.0)
    d.handle(ev.OfferAccepted("c1", "a1"), 10.0)
    d.handle(ev.OfferAccepted("c2", "a2"), 30.0)
    d.handle(ev.CallQueued("c3", "sales"), 31.0)
    d.handle(ev.CallAbandoned("c3"), 35.0)
    d.handle(ev.CallQueued("c4", "sales"), 36.0)
    view = d.snapshot(40.0)
    [q] = view.queues
    assert (q.waiting, q.longest_wait, q.answered, q.abandoned, q.offered) == (1, 4.0, 2, 1, 3)
    assert q.service_level == pytest.approx(1 / 3)
    assert q.asa == 20.0
    assert q.agents == {"on_call": 2}
    assert [(a.id, a.state, a.call, a.since) for a in view.agents] == [
        ("a1", AgentState.ON_CALL, "c1", 10.0),
        ("a2", AgentState.ON_CALL, "c2", 30.0),
    ]


def test_rolling_aht_after_enough_calls() -> None:
    q = QueueConfig("sales", aht_min_samples=2, wrap_up=10)
    d = distributor([q], agents(1))
    for i, talk in enumerate([50.0, 70.0]):
        t = 1000.0 * i
        d.handle(ev.CallQueued(f"c{i}", "sales"), t)
        take(d, f"c{i}", "a1", t, talk=talk)
        d.handle_timer(t + talk + 10)
    assert d.aht("sales") == 70.0


def test_configuration_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="queue 'sales': strategy 'fifo' is unknown"):
        Distributor([QueueConfig("sales", strategy="fifo")], [], rng=random.Random())
    with pytest.raises(ConfigError, match="agent 'a1': skills: skill 'x' level 11"):
        Distributor([SALES], [AgentConfig("a1", skills={"x": 11})], rng=random.Random())
    with pytest.raises(ConfigError, match="relax steps must be at increasing"):
        Distributor([QueueConfig("s", relax=((30, {}), (10, {})))], [], rng=random.Random())
    with pytest.raises(ConfigError, match="unknown queue 'nope'"):
        Distributor([SALES], [AgentConfig("a1", queues=(Membership("nope"),))], rng=random.Random())


def test_misuse_raises_local_protocol_errors() -> None:
    d = distributor([SALES], agents(1))
    with pytest.raises(LocalProtocolError, match="unknown agent 'zz'"):
        d.handle(ev.AgentLogin("zz"), 0.0)
    with pytest.raises(LocalProtocolError, match="unknown queue 'nope'"):
        d.handle(ev.CallQueued("c1", "nope"), 0.0)


def test_the_recent_service_level_counts_the_last_30_minutes_only() -> None:
    d = distributor([QueueConfig("sales", service_level_threshold=20)], agents(1))
    d.handle(ev.AgentPause("a1", "lunch"), 0.0)
    d.handle(ev.CallQueued("c1", "sales"), 0.0)
    d.handle(ev.CallAbandoned("c1"), 60.0)  # left at 60 s: outside the threshold
    d.handle(ev.AgentUnpause("a1"), 1000.0)
    d.handle(ev.CallQueued("c2", "sales"), 1000.0)
    d.handle(ev.OfferAccepted("c2", "a1"), 1005.0)  # in 5 s
    [q] = d.snapshot(1100.0).queues
    assert (q.service_level, q.service_level_recent, q.offered_recent) == (0.5, 0.5, 2)
    [q] = d.snapshot(1900.0).queues  # the abandon is more than 30 minutes old
    assert (q.service_level, q.service_level_recent, q.offered_recent) == (0.5, 1.0, 1)
    [q] = d.snapshot(3000.0).queues
    assert (q.service_level_recent, q.offered_recent) == (1.0, 0)
