"""The example contact center's queues end to end: agents' phones, callers, the ACD.

Every test drives the pbx of ``examples/callcenter.toml`` over SIP and RTP on loopback
with :mod:`pbx.testing`, with the queue timers shortened (:func:`fast_queues`) so that
ring-no-answer, wrap-up, announcements, callbacks and overflow happen in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from attrs import evolve

from pbx.acd.models import AgentState
from pbx.acd.models import Target as QueueTarget
from pbx.config import AppConfig, CallbacksConfig, load_config
from pbx.errors import ConfigError
from pbx.testing import Harness, Person, Tone
from pbx.testing.audio import frames_of, longest_tone
from pbx.testing.tuning import fast_queues, with_queues

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


# ---------------------------------------------------------------------- feature codes


def test_feature_codes_log_in_pause_unpause_and_log_out(pbx_harness: Harness) -> None:
    h = pbx_harness
    phone = h.agent("2001")
    assert h.agent_state("2001").state is AgentState.LOGGED_OUT

    login = phone.dial("*1")
    login.wait_answered()
    phone.assert_heard_tone(1000, min_seconds=0.1, since=login.answered_at)
    login.wait_ended()
    assert login.ended_by == "pbx"
    assert h.agent_state("2001").state is AgentState.READY
    assert [r["agent"] for r in h.events(event="AGENTLOGIN")] == ["2001"]

    pause = phone.dial("*3")
    pause.wait_ended()
    assert pause.status == 200
    view = h.agent_state("2001")
    assert view.state is AgentState.NOT_READY and view.reason == "pause"
    (row,) = h.events(event="PAUSE", agent="2001")
    assert row["data"]["reason"] == "pause"

    phone.dial("*4").wait_ended()
    assert h.agent_state("2001").state is AgentState.READY
    assert len(h.events(event="UNPAUSE", agent="2001")) == 1

    phone.dial("*2").wait_ended()
    assert h.agent_state("2001").state is AgentState.LOGGED_OUT
    assert len(h.events(event="AGENTLOGOFF", agent="2001")) == 1


def test_feature_code_from_a_non_agent_or_the_trunk_is_refused(pbx_harness: Harness) -> None:
    h = pbx_harness
    supervisor = h.agent("2099")
    status = supervisor.dial("*1").wait_failed()
    assert status in (403, 404)
    trunk = h.call("*1", caller_id="5550100")
    assert trunk.wait_failed() >= 400
    assert h.events(event="AGENTLOGIN") == []
    assert h.agent_state("2001").state is AgentState.LOGGED_OUT


def test_an_agent_phone_calls_another_extension(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = h.agent("2001", audio=Tone(440))
    callee = h.agent("2002", audio=Tone(660), answer_after=0.1)
    call = caller.dial("2002")
    incoming = callee.wait_ringing()
    assert incoming.caller_id == "2001"
    call.wait_answered()
    caller.assert_heard_tone(660, min_seconds=0.4, since=call.answered_at)
    callee.assert_heard_tone(440, min_seconds=0.4, since=call.answered_at)
    call.hang_up()
    callee.wait_ended()
    cdr = call.cdr()
    assert cdr["disposition"] == "answered" and cdr["caller"] == "2001"


# ---------------------------------------------------------------------- sales (DID 200)


def test_longest_idle_agent_gets_the_first_call(pbx_harness: Harness) -> None:
    h = pbx_harness
    first, second = h.agent("2002"), h.agent("2001")
    h.login("2002")
    h.sleep(0.3)
    h.login("2001")
    caller = h.call("200", caller_id="5550200", audio=Tone(440))
    incoming = first.wait_ringing()
    assert incoming.caller_id == "5550200"
    assert incoming.header("X-Queue") == "sales"
    first.wait_connected()
    caller.wait_answered()
    assert second.offered == []
    connect = h.wait_for_queue_event("CONNECT")
    assert connect["agent"] == "2002" and connect["queue"] == "sales"
    assert h.agent_state("2002").state is AgentState.ON_CALL
    assert h.agent_state("2001").state is AgentState.READY
    caller.hang_up()


def test_ring_no_answer_moves_the_call_to_the_next_agent(pbx_harness: Harness) -> None:
    h = pbx_harness
    sleepy = h.agent("2001", auto_answer=False)
    awake = h.agent("2002", audio=Tone(660))
    h.login("2001")
    h.sleep(0.3)
    h.login("2002")
    caller = h.call("200", caller_id="5550201", audio=Tone(440))
    rang = sleepy.wait_ringing()
    offer = awake.wait_ringing(timeout=4.0)
    assert offer.caller_id == "5550201"
    assert offer.at - rang.at == pytest.approx(2.0, abs=0.6)  # ring_timeout = 2
    assert sleepy.state == "idle" and sleepy.last_end == "cancelled"
    (rona,) = h.events(event="RINGNOANSWER")
    assert rona["agent"] == "2001" and rona["call_id"] == caller.call_id
    view = h.agent_state("2001")
    assert view.state is AgentState.NOT_READY and view.reason == "RONA"
    (pause,) = h.events(event="PAUSE", agent="2001")
    assert pause["data"]["reason"] == "RONA"
    caller.wait_answered()
    awake.wait_connected()
    caller.assert_heard_tone(660, min_seconds=0.3, since=awake.incoming.at if awake.incoming else 0)
    assert len(sleepy.offered) == 1
    caller.hang_up()


def test_caller_keeps_place_after_ring_no_answer(pbx_harness: Harness) -> None:
    h = pbx_harness
    sleepy = h.agent("2001", auto_answer=False)
    later = h.agent("2002")
    h.login("2001", "2002")
    later.dial("*3").wait_ended()  # 2002 is paused: nobody else takes the callers
    first = h.call("200", caller_id="5550203")
    sleepy.wait_ringing()
    second = h.call("200", caller_id="5550204")
    second.wait_answered()
    h.wait_for_queue_event("RINGNOANSWER", timeout=4.0)
    assert h.agent_state("2001").state is AgentState.NOT_READY
    # The first caller is still first: the next free agent is offered them, not the second.
    later.dial("*4").wait_ended()
    offer = later.wait_ringing()
    assert offer.caller_id == "5550203"
    first.wait_answered()
    later.wait_connected()
    assert not second.ended and second.answered
    second.hang_up()
    first.hang_up()


def test_wrap_up_holds_the_next_offer_until_it_ends(pbx_config: AppConfig, tmp_path: Path) -> None:
    config = fast_queues(load_config(EXAMPLE), sales={"wrap_up": 2})
    with Harness(config, tmp_path=tmp_path) as h:
        agent = h.agent("2001", answer_after=0.1)
        h.login("2001")
        first = h.call("200", caller_id="5550211")
        agent.wait_ringing()
        first.wait_answered()
        agent.wait_connected()
        h.sleep(0.3)
        first.hang_up()
        agent.wait_ended()
        ended = h.now()
        assert h.agent_state("2001").state is AgentState.WRAP_UP
        second = h.call("200", caller_id="5550212")
        offer = agent.wait_ringing(timeout=4.0)
        assert offer.caller_id == "5550212"
        assert offer.at - ended >= 1.8  # wrap_up = 2
        assert offer.at - ended < 3.0
        second.wait_answered()
        second.hang_up()


def test_caller_abandons_while_waiting(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = h.call("200", caller_id="5550220")
    caller.wait_answered()  # answered by the queue: music on hold
    assert caller.heard_energy(since=caller.answered_at) < 0  # something heard below
    h.sleep(1.5)
    caller.hang_up()
    row = h.wait_for_queue_event("ABANDON")
    assert row["queue"] == "sales" and row["call_id"] == caller.call_id
    assert row["data"]["position"] == 1
    assert row["data"]["wait"] == pytest.approx(1.5, abs=0.6)
    cdr = caller.cdr()
    assert cdr["disposition"] == "abandoned"
    assert cdr["queue"] == "sales"


def test_caller_hanging_up_while_an_agent_rings_stops_the_ringing(pbx_harness: Harness) -> None:
    h = pbx_harness
    agent = h.agent("2001", auto_answer=False)
    h.login("2001")
    caller = h.call("200", caller_id="5550221")
    agent.wait_ringing()
    caller.hang_up()
    agent.wait_ended()
    assert agent.last_end == "cancelled"
    assert caller.cdr()["disposition"] == "abandoned"
    h.wait_for_queue_event("ABANDON")
    h.wait_agent_state("2001", AgentState.READY)
    assert h.events(event="CONNECT") == []


def test_position_and_wait_are_announced_every_period(tmp_path: Path) -> None:
    config = fast_queues(load_config(EXAMPLE), sales={"announce_period": 3})
    with Harness(config, tmp_path=tmp_path) as h:
        caller = h.call("200", caller_id="5550230")
        caller.wait_answered()
        answered = caller.answered_at or 0.0
        first = caller.assert_heard_prompt("en/queue-position", first_seconds=0.6, timeout=6.0)
        assert first - answered == pytest.approx(3.0, abs=0.6)
        wait = caller.assert_heard_prompt("en/queue-wait", first_seconds=0.6, since=first)
        assert wait > first
        # The announcement (position, wait time: over 4 s) outlasts the 3 s period: the
        # next one starts at the first period after its end, never cutting it off.
        again = caller.assert_heard_prompt(
            "en/queue-position", first_seconds=0.6, since=wait, timeout=6.0
        )
        assert again - first == pytest.approx(6.0, abs=0.5)
        caller.hang_up()


def test_callback_keeps_the_place_and_calls_the_customer_back_over_the_trunk(
    tmp_path: Path,
) -> None:
    config = fast_queues(load_config(EXAMPLE), sales={"callback_after": 1})
    with Harness(config, tmp_path=tmp_path, carrier="sim") as h:
        agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
        h.carrier.set_behaviour("5550240", Person(ring=0.3))
        customer = h.call("200", caller_id="5550240", audio=Tone(440))
        customer.wait_answered()
        offered = customer.assert_heard_prompt("en/callback-offer", first_seconds=0.6, timeout=5)
        customer.send_dtmf("1")
        customer.assert_heard_prompt("en/callback-confirm", first_seconds=0.6, since=offered)
        customer.wait_ended(timeout=8.0)
        assert customer.ended_by == "pbx"
        requested = h.wait_for_queue_event("CALLBACKREQUESTED")
        assert requested["queue"] == "sales"
        assert h.events(event="ABANDON") == []
        # An agent becomes ready: their phone rings first, then the customer's number
        # over the outbound trunk, with the callbacks' caller ID.
        h.login("2001")
        incoming = agent.wait_ringing()
        assert incoming.header("X-Callback") == "5550240"
        agent.wait_connected()
        callback = h.carrier.wait_for_call("5550240", timeout=5)
        assert callback.caller_id == "5550100"
        callback.wait_answered(timeout=5)
        assert callback.answered_at is not None
        callback.assert_heard_tone(660, min_seconds=0.4, since=callback.answered_at)
        done = h.wait_for_queue_event("CALLBACKDONE")
        assert done["agent"] == "2001" and done["queue"] == "sales"
        callback.hang_up()
        agent.wait_ended()
        assert customer.callbacks == []  # not at the SIP contact it called from


def test_without_a_callbacks_trunk_the_customer_is_called_at_their_contact(
    tmp_path: Path,
) -> None:
    config = fast_queues(load_config(EXAMPLE), sales={"callback_after": 1})
    config = evolve(config, callbacks=CallbacksConfig())
    with Harness(config, tmp_path=tmp_path) as h:
        agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
        customer = h.call("200", caller_id="5550240", audio=Tone(440))
        customer.wait_answered()
        offered = customer.assert_heard_prompt("en/callback-offer", first_seconds=0.6, timeout=5)
        customer.send_dtmf("1")
        customer.assert_heard_prompt("en/callback-confirm", first_seconds=0.6, since=offered)
        customer.wait_ended(timeout=8.0)
        h.wait_for_queue_event("CALLBACKREQUESTED")
        h.login("2001")
        incoming = agent.wait_ringing()
        agent.wait_connected()
        callback = customer.wait_called_back()
        assert callback.at > incoming.at
        customer.assert_heard_tone(660, min_seconds=0.4, since=customer.answered_at)
        agent.assert_heard_tone(440, min_seconds=0.4, since=customer.answered_at)
        done = h.wait_for_queue_event("CALLBACKDONE")
        assert done["agent"] == "2001" and done["queue"] == "sales"
        customer.hang_up()
        agent.wait_ended()


def test_overflow_after_max_wait_to_support(tmp_path: Path) -> None:
    config = fast_queues(load_config(EXAMPLE), sales={"max_wait": 1.5})
    with Harness(config, tmp_path=tmp_path) as h:
        support = h.agent("2006", audio=Tone(660), answer_after=0.1)
        h.login("2006")
        caller = h.call("200", caller_id="5550250", audio=Tone(440))
        caller.wait_answered()
        incoming = support.wait_ringing(timeout=4.0)
        assert incoming.header("X-Queue") == "support"
        timeout_row = h.wait_for_queue_event("EXITWITHTIMEOUT")
        assert timeout_row["queue"] == "sales"
        assert timeout_row["data"]["wait"] == pytest.approx(1.5, abs=0.5)
        entered = [(r["queue"], r["id"]) for r in h.events(event="ENTERQUEUE")]
        assert [q for q, _ in entered] == ["sales", "support"]
        assert entered[1][1] > timeout_row["id"]
        support.wait_connected()
        caller.assert_heard_tone(660, min_seconds=0.3, since=incoming.at)
        connect = h.wait_for_queue_event("CONNECT")
        assert connect["agent"] == "2006" and connect["queue"] == "support"
        caller.hang_up()


# ---------------------------------------------------------------------- support (DID 300)


def test_support_calls_go_only_to_agents_with_the_support_skill(pbx_harness: Harness) -> None:
    h = pbx_harness
    sales = h.agent("2001")
    support = h.agent("2006")
    h.login("2001")
    caller = h.call("300", caller_id="5550300")
    caller.wait_answered()
    h.sleep(1.0)
    assert sales.offered == [] and support.offered == []
    h.login("2006")
    offer = support.wait_ringing()
    assert offer.caller_id == "5550300" and offer.header("X-Queue") == "support"
    caller.hang_up()
    assert sales.offered == []
    assert h.agent_state("2001").state is AgentState.READY


def test_vip_caller_jumps_ahead_of_a_caller_who_waited_longer(pbx_harness: Harness) -> None:
    h = pbx_harness
    support = h.agent("2006", answer_after=0.1)
    regular = h.call("300", caller_id="5551111")
    regular.wait_answered()
    h.sleep(0.5)
    vip = h.call("300", caller_id="5550001")
    vip.wait_answered()
    entered = {r["call_id"]: r for r in h.events(event="ENTERQUEUE")}
    assert entered[vip.call_id]["data"]["position"] == 1
    h.login("2006")
    first = support.wait_ringing()
    assert first.caller_id == "5550001"
    support.wait_connected()
    connect = h.wait_for_queue_event("CONNECT")
    assert connect["call_id"] == vip.call_id
    assert not regular.ended
    regular.hang_up()
    vip.hang_up()


def test_russian_ivr_callers_reach_only_russian_speaking_agents(pbx_harness: Harness) -> None:
    h = pbx_harness
    english = h.agent("2006")
    russian = h.agent("2009", answer_after=0.1)
    h.login("2006")
    h.sleep(0.3)
    h.login("2009")  # 2006 has been idle longer, but speaks no Russian
    caller = h.call("101", caller_id="5550310")
    caller.wait_answered()
    caller.assert_heard_prompt("ru/welcome", first_seconds=0.6)
    caller.send_dtmf("2")
    caller.assert_heard_prompt("ru/transfer-support", first_seconds=0.6)
    offer = russian.wait_ringing(timeout=6.0)
    assert offer.caller_id == "5550310" and offer.header("X-Queue") == "support"
    russian.wait_connected()
    assert english.offered == []
    entered = h.wait_for_queue_event("ENTERQUEUE", queue="support")
    assert entered["call_id"] == caller.call_id
    caller.hang_up()
    assert caller.cdr()["agent"] == "2009"


# ---------------------------------------------------------------------- recording


def test_every_queue_call_is_recorded_in_stereo_caller_left_agent_right(
    pbx_harness: Harness,
) -> None:
    h = pbx_harness
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    h.login("2001")
    caller = h.call("200", caller_id="5550400", audio=Tone(440))
    agent.wait_ringing()
    agent.wait_connected()
    caller.wait_answered()
    agent.assert_heard_tone(440, min_seconds=1.0)
    caller.assert_heard_tone(660, min_seconds=1.0)
    caller.hang_up()
    agent.wait_ended()
    cdr = caller.cdr()
    assert cdr["queue"] == "sales" and cdr["agent"] == "2001"
    assert cdr["disposition"] == "answered"
    path = Path(cdr["recording"])
    assert path.is_file() and path.is_relative_to(h.tmp_path)
    h.wait_for(lambda: path.stat().st_size > 44, what="the recording to be written")
    samples, rate = sf.read(path, dtype="int16")
    assert rate == 8000 and samples.ndim == 2 and samples.shape[1] == 2
    left, right = frames_of(samples[:, 0].copy()), frames_of(samples[:, 1].copy())
    assert longest_tone(left, 440)[0] >= 1.0
    assert longest_tone(right, 660)[0] >= 1.0
    assert longest_tone(left, 660)[0] == 0.0
    assert longest_tone(right, 440)[0] == 0.0


# ---------------------------------------------------------------------- tuning


def test_fast_queues_shortens_only_the_timers_a_queue_has() -> None:
    config = fast_queues(load_config(EXAMPLE), support={"wrap_up": 3})
    assert config.queues["sales"].ring_timeout == 2
    assert config.queues["sales"].callback_after == 600
    assert config.queues["support"].wrap_up == 3
    assert config.queues["support"].callback_after is None
    (vip,) = config.queues["support"].priority_rules
    assert vip.values == {"5550001", "5550002"}


def test_overriding_an_unknown_queue_or_key_names_it() -> None:
    with pytest.raises(ConfigError, match="queues.billing: no such queue"):
        with_queues(load_config(EXAMPLE), billing={"wrap_up": 1})
    with pytest.raises(ConfigError, match=r"queues\.sales\.wrapup: unknown key"):
        with_queues(load_config(EXAMPLE), sales={"wrapup": 1})


def test_an_override_is_checked_when_the_application_is_built(tmp_path: Path) -> None:
    config = with_queues(load_config(EXAMPLE), sales={"overflow": QueueTarget("queue", "nope")})
    with pytest.raises(ConfigError, match=r"queues\.sales\.overflow: unknown queue 'nope'"):
        Harness(config, tmp_path=tmp_path)


def test_an_offered_agent_is_ringing_while_the_phone_rings(tmp_path: Path) -> None:
    with Harness(fast_queues(load_config(EXAMPLE)), tmp_path=tmp_path) as h:
        agent = h.agent("2001", auto_answer=False)
        h.login("2001")
        caller = h.call("200", caller_id="5550260")
        caller.wait_answered()
        agent.wait_ringing()
        h.wait_agent_state("2001", AgentState.RINGING)  # 180 from the phone: ringing
        agent.answer()
        h.wait_agent_state("2001", AgentState.ON_CALL)
        caller.hang_up()


def test_the_agent_pauses_and_resumes_the_recording_with_star_0(tmp_path: Path) -> None:
    with Harness(fast_queues(load_config(EXAMPLE)), tmp_path=tmp_path) as h:
        agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
        h.login("2001")
        caller = h.call("200", caller_id="5550270", audio=Tone(440))
        caller.wait_answered()
        agent.wait_connected()
        [call] = [c for c in h.app.calls.calls.values() if c.recording_key is not None]
        assert not call.recording_paused
        agent.send_dtmf("*0")
        h.wait_for(lambda: call.recording_paused, 3.0, "the recording paused")
        agent.send_dtmf("*0")
        h.wait_for(lambda: not call.recording_paused, 3.0, "the recording resumed")
        caller.send_dtmf("*0")  # the customer's keys do not touch the recording
        h.sleep(1.0)
        assert not call.recording_paused
        caller.hang_up()
