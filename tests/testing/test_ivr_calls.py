"""The example's main IVR (DIDs 100 and 101) over the wire: every path of the menu.

Prompts are recognised by their fingerprints in what the caller heard; the order of the
balance read-back is the order in which the prompt fragments were heard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.acd.models import AgentState
from pbx.config import AppConfig, load_config
from pbx.ivr import loads_graph
from pbx.testing import Harness, Person, SimCall, SimCarrier, Tone
from pbx.testing.audio import match_prompt
from pbx.testing.tuning import fast_queues

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "callcenter.toml"
MAIN_IVR = ROOT / "examples" / "ivr" / "main.toml"


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


def reach_menu(h: Harness, caller_id: str = "5550600", did: str = "100") -> SimCall:
    """A caller on the IVR who heard the welcome and the beginning of the menu."""
    caller = h.call(did, caller_id=caller_id, audio=Tone(440, level_dbov=-30))
    caller.wait_answered()
    welcome = caller.assert_heard_prompt(
        f"{'ru' if did == '101' else 'en'}/welcome", first_seconds=0.6
    )
    caller.assert_heard_prompt(
        "en/menu" if did == "100" else "ru/menu", first_seconds=0.6, since=welcome
    )
    return caller


def heard_in_order(caller: SimCall, names: list[str], since: float) -> list[float]:
    """Where each prompt of ``names`` starts in what ``caller`` heard since ``since``
    (seconds from ``since``, received frames only); each must be found."""
    timeline = caller.heard_timeline
    heard, index = timeline.received_since(timeline.frame_at(since))
    starts = []
    for name in names:
        # The first 0.5 s: a late packet that shifts the rest of a prompt by a frame
        # does not hide it.
        score, offset = match_prompt(heard, caller.harness.prompt(name)[:4000])
        assert score >= 0.75, f"{name} not heard (best match {score:.2f})"
        starts.append(float(timeline.times[index[offset // 160]]) - since)
    return starts


def test_1_goes_to_the_sales_queue(pbx_harness: Harness) -> None:
    h = pbx_harness
    agent = h.agent("2001")
    h.login("2001")
    caller = reach_menu(h)
    caller.send_dtmf("1")
    caller.assert_heard_prompt("en/transfer-sales", first_seconds=0.6)
    offer = agent.wait_ringing(timeout=5.0)
    assert offer.caller_id == "5550600" and offer.header("X-Queue") == "sales"
    entered = h.wait_for_queue_event("ENTERQUEUE")
    assert entered["queue"] == "sales" and entered["call_id"] == caller.call_id
    caller.hang_up()
    assert caller.cdr()["data"]["ivr_path"][:3] == ["welcome", "menu", "sales"]


def test_typing_ahead_during_the_welcome_goes_straight_to_sales(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = h.call("100", caller_id="5550601")
    caller.wait_answered()
    welcome = caller.assert_heard_prompt("en/welcome", first_seconds=0.6)
    caller.send_dtmf("1")
    transfer = caller.assert_heard_prompt("en/transfer-sales", first_seconds=0.6, since=welcome)
    assert transfer - welcome < 2.5  # the welcome is 2.5 s long: it was cut short
    h.wait_for_queue_event("ENTERQUEUE", queue="sales")
    score, _ = match_prompt(
        caller.heard_timeline.received_since(caller.heard_timeline.frame_at(welcome))[0],
        h.prompt("en/menu")[:4000],
    )
    assert score < 0.5  # the menu was never played


def test_2_goes_to_the_support_queue(pbx_harness: Harness) -> None:
    h = pbx_harness
    sales, support = h.agent("2001"), h.agent("2006")
    h.login("2001", "2006")
    caller = reach_menu(h)
    caller.send_dtmf("2")
    caller.assert_heard_prompt("en/transfer-support", first_seconds=0.6)
    offer = support.wait_ringing(timeout=5.0)
    assert offer.header("X-Queue") == "support"
    assert sales.offered == []
    caller.hang_up()


def test_3_with_the_right_pin_reads_the_balance_back_in_order(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = reach_menu(h)
    caller.send_dtmf("3")
    asked = caller.assert_heard_prompt("en/enter-pin", first_seconds=0.6)
    caller.send_dtmf("1234")
    fragments = [
        "en/your-balance-is",
        "en/digits/40",
        "en/digits/2",
        "en/dollars",
        "en/digits/50",
        "en/cents",
    ]
    caller.assert_heard_prompt("en/cents", since=asked, timeout=8.0)
    starts = heard_in_order(caller, fragments, asked)
    assert starts == sorted(starts), dict(zip(fragments, starts, strict=True))
    assert starts[-1] - starts[0] < 5.0
    # Back to the menu afterwards; the PIN is not kept in the call's data.
    caller.assert_heard_prompt("en/menu", first_seconds=0.6, since=asked + starts[-1])
    caller.hang_up()
    assert "pin" not in caller.cdr()["data"]


def test_3_with_a_wrong_pin_is_told_so(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = reach_menu(h)
    caller.send_dtmf("3")
    asked = caller.assert_heard_prompt("en/enter-pin", first_seconds=0.6)
    caller.send_dtmf("0000")
    wrong = caller.assert_heard_prompt("en/wrong-pin", first_seconds=0.6, since=asked)
    score, _ = match_prompt(
        caller.heard_timeline.received_since(caller.heard_timeline.frame_at(asked))[0],
        h.prompt("en/your-balance-is"),
    )
    assert score < 0.5
    assert wrong > asked
    caller.hang_up()


def test_8_requests_a_callback_that_is_placed_and_queued(
    pbx_harness: Harness, pbx_carrier: SimCarrier
) -> None:
    h = pbx_harness
    support = h.agent("2006", answer_after=0.1, audio=Tone(660))
    h.login("2006")
    pbx_carrier.set_behaviour("5550608", Person(ring=0.3))
    caller = reach_menu(h, caller_id="5550608")
    caller.send_dtmf("8")
    caller.assert_heard_prompt("en/callback-requested", first_seconds=0.6)
    caller.wait_ended(timeout=6.0)
    assert caller.ended_by == "pbx"
    (row,) = h.callbacks()
    assert row["number"] == "5550608" and row["queue"] == "support"
    assert row["status"] in ("pending", "dialing")
    # The scheduler calls the customer's number back over the outbound trunk.
    back = pbx_carrier.wait_for_call("5550608", timeout=8.0)
    assert back.caller_id == "5550100"
    offer = support.wait_ringing(timeout=5.0)
    assert offer.header("X-Queue") == "support"
    support.wait_connected()
    assert back.answered_at is not None
    back.assert_heard_tone(660, min_seconds=0.3, since=back.answered_at)
    assert h.callbacks()[0]["status"] == "done"
    back.hang_up()


def leave_voicemail(h: Harness) -> SimCall:
    caller = reach_menu(h, caller_id="5550609")
    caller.send_dtmf("9")
    greeted = caller.assert_heard_prompt("en/voicemail-greeting", first_seconds=0.6)
    caller.assert_heard_tone(1000, min_seconds=0.2, since=greeted)
    caller.talk(1.5, Tone(440))
    caller.send_dtmf("#")
    caller.wait_ended()
    assert caller.ended_by == "pbx"
    return caller


def test_9_leaves_a_voicemail(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = leave_voicemail(h)
    (message,) = h.voicemails("100")
    assert message["caller"] == "5550609"
    assert Path(message["path"]).is_file()
    assert caller.cdr()["data"]["voicemail"] == message["path"]


def test_9_records_only_what_follows_the_beep(pbx_harness: Harness) -> None:
    h = pbx_harness
    leave_voicemail(h)
    (message,) = h.voicemails("100")
    assert 1.2 <= message["seconds"] <= 2.2


def test_0_rings_every_logged_in_agent_and_the_first_to_answer_takes_it(
    pbx_harness: Harness,
) -> None:
    h = pbx_harness
    slow = h.agent("2001", auto_answer=False)
    quick = h.agent("2006", answer_after=0.3, audio=Tone(660))
    absent = h.agent("2002")  # registered but not logged in: not an operator
    h.login("2001", "2006")
    caller = reach_menu(h, caller_id="5550610")
    caller.send_dtmf("0")
    first = slow.wait_ringing(timeout=5.0)
    second = quick.wait_ringing(timeout=5.0)
    assert abs(first.at - second.at) < 0.2
    quick.wait_connected()
    slow.wait_ended()  # the others stop ringing
    assert slow.last_end == "cancelled"
    caller.assert_heard_tone(660, min_seconds=0.3, since=quick.incoming.at if quick.incoming else 0)
    assert absent.offered == []
    caller.hang_up()
    assert caller.cdr()["agent"] == "2006"


def test_no_input_three_times_goes_to_support(pbx_harness: Harness) -> None:
    h = pbx_harness
    # A 1 s menu, no-input prompt and time-out instead of 13 s, 2 s and 5 s: the same
    # graph otherwise.
    text = MAIN_IVR.read_text(encoding="utf-8").replace("timeout = 5", "timeout = 1")
    h.app.ivr.graphs = {"main": loads_graph(text, source="main.toml", base_dir=MAIN_IVR.parent)}
    h.set_prompt("en/menu", h.prompt("en/menu")[:8000])
    h.set_prompt("en/no-input", h.prompt("en/no-input")[:8000])
    support = h.agent("2006")
    h.login("2006")
    caller = h.call("100", caller_id="5550611")
    caller.wait_answered()
    welcome = caller.assert_heard_prompt("en/welcome", first_seconds=0.6)
    transfer = caller.assert_heard_prompt("en/transfer-support", timeout=15.0, since=welcome)
    timeline = caller.heard_timeline
    heard, index = timeline.received_since(timeline.frame_at(welcome))
    menu = h.prompt("en/menu")[:4000]
    # The menu three times (with the no-input prompt between), then support. The
    # best match is any of the three (all score about 1.0): search both sides of it.
    starts: list[int] = []
    spans = [(0, len(heard))]
    while spans:
        lo, hi = spans.pop()
        score, offset = match_prompt(heard[lo:hi], menu)
        if score < 0.75:
            continue
        starts.append(lo + offset)
        spans += [(lo, lo + offset), (lo + offset + len(menu), hi)]
    menus = [float(timeline.times[index[at // 160]]) for at in sorted(starts)]
    assert len(menus) == 3, menus
    assert welcome < menus[0] < menus[1] < menus[2] < transfer
    offer = support.wait_ringing(timeout=5.0)
    assert offer.header("X-Queue") == "support"
    caller.hang_up()
    assert h.agent_state("2006").state in (AgentState.READY, AgentState.WRAP_UP)
