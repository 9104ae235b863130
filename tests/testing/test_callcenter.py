"""The example call center (/work/shared/EXAMPLE.md) driven over SIP and RTP on loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from pbx.calls.events import CallEvent, CallStarted, DigitReceived
from pbx.sip.events import InDialogRequest
from pbx.testing import Harness, Tone
from pbx.testing.audio import frames_of, longest_tone


def test_echo_sends_back_the_callers_tone(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("600", audio=Tone(440))
    caller.wait_answered()
    start = caller.assert_heard_tone(440, min_seconds=0.4)
    assert start >= caller.answered_at
    caller.hang_up()
    cdr = caller.cdr()
    assert cdr["disposition"] == "answered"
    assert cdr["did"] == "600" and cdr["caller"] == "5551234"
    assert cdr["hangup_side"] == "caller"
    assert cdr["talk_seconds"] >= 0.4


def test_echo_sends_back_silence_as_silence(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("600")
    caller.wait_answered()
    pbx_harness.sleep(0.3)
    assert caller.heard_energy(since=caller.answered_at) < -60
    caller.hang_up()


def test_test_tone_plays_a_kilohertz_tone_then_the_pbx_hangs_up(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("700")
    caller.wait_answered()
    caller.assert_heard_tone(1000, min_seconds=2.0)
    caller.wait_ended(timeout=3.0)
    assert caller.ended_by == "pbx"
    seconds, _ = longest_tone(frames_of(caller.heard), 1000)
    assert 2.8 <= seconds <= 3.1  # the prompt is 3 s
    cdr = caller.cdr()
    assert cdr["disposition"] == "answered" and cdr["hangup_side"] == "pbx"


def test_voicemail_records_the_message_until_hash(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("800", caller_id="5550100")
    caller.wait_answered()
    greeted = caller.assert_heard_prompt("en/voicemail-greeting")
    beep = caller.assert_heard_tone(1000, min_seconds=0.2, since=greeted)
    assert beep > greeted
    caller.talk(2.0, Tone(440))
    caller.send_dtmf("#")
    caller.wait_ended()
    assert caller.ended_by == "pbx"
    cdr = caller.cdr()
    messages = pbx_harness.voicemails("800")
    assert len(messages) == 1
    message = messages[0]
    assert message["caller"] == "5550100"
    assert 1.8 <= message["seconds"] <= 2.6
    assert cdr["data"]["voicemail"] == message["path"]
    path = Path(message["path"])
    assert path.is_file() and path.is_relative_to(pbx_harness.tmp_path)
    audio, rate = sf.read(path, dtype="int16")
    assert rate == 8000
    seconds, _ = longest_tone(frames_of(np.asarray(audio)), 440)
    assert 1.8 <= seconds <= 2.2


def test_agent_answers_and_audio_flows_both_ways(pbx_harness: Harness) -> None:
    agent = pbx_harness.agent("2001", audio=Tone(660))
    caller = pbx_harness.call("2001", caller_id="5551234", name="Customer", audio=Tone(440))
    incoming = agent.wait_ringing()
    assert incoming.caller_id == "5551234" and incoming.caller_name == "Customer"
    caller.wait_ringing()
    caller.wait_answered()
    agent.wait_connected()
    agent.assert_heard_tone(440, min_seconds=0.4)
    caller.assert_heard_tone(660, min_seconds=0.4)
    assert longest_tone(frames_of(caller.heard), 440)[0] == 0.0  # no echo of ourselves
    caller.hang_up()
    agent.wait_ended()
    cdr = caller.cdr()
    assert cdr["disposition"] == "answered"
    assert cdr["ring_seconds"] >= 0.4  # the phone answered after 0.5 s


def test_busy_agent_gives_the_caller_486(pbx_harness: Harness) -> None:
    agent = pbx_harness.agent("2002", reject_with=486)
    caller = pbx_harness.call("2002")
    assert caller.wait_failed(486) == 486
    assert agent.rejected == [486]
    assert caller.cdr()["disposition"] == "busy"


def test_unknown_did_is_refused_with_404_and_its_cdr_row_says_so(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("999", caller_id="5550999")
    caller.wait_failed(404)
    [row] = pbx_harness.cdrs()
    assert (row["did"], row["caller"], row["direction"]) == ("999", "5550999", "inbound")
    assert (row["disposition"], row["hangup_cause"]) == ("refused", "404 Not Found")
    assert row["end_time"] is not None and row["talk_seconds"] == 0.0


def test_unregistered_extension_gives_480(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("2005")
    caller.wait_failed(480)


def test_caller_abandons_while_the_agent_rings(pbx_harness: Harness) -> None:
    agent = pbx_harness.agent("2003", auto_answer=False)
    caller = pbx_harness.call("2003")
    agent.wait_ringing()
    caller.wait_ringing()
    caller.abandon_after(0.3)
    caller.wait_ended()
    assert caller.status == 487
    agent.wait_ended()
    assert agent.last_end == "cancelled"
    cdr = caller.cdr()
    assert cdr["disposition"] == "abandoned"
    assert cdr["hangup_side"] == "caller"
    assert cdr["ring_seconds"] >= 0.3


def test_blind_transfer_carries_the_attached_data(pbx_harness: Harness) -> None:
    app = pbx_harness.app

    def attach(event: CallEvent, now: float) -> None:
        if isinstance(event, CallStarted):
            app.calls.call(event.call).data["ticket"] = "T-42"

    app.on_call_event(attach)
    first = pbx_harness.agent("2001", answer_after=0.0, audio=Tone(660))
    second = pbx_harness.agent("2002", answer_after=0.0, audio=Tone(880))
    caller = pbx_harness.call("2001", audio=Tone(440))
    caller.wait_answered()
    first.wait_connected()
    caller.assert_heard_tone(660, min_seconds=0.2)
    assert first.transfer(to="2002") == 202
    second.wait_connected()
    first.wait_ended()
    moved = pbx_harness.now()
    caller.assert_heard_tone(880, min_seconds=0.3, since=moved)
    second.assert_heard_tone(440, min_seconds=0.3)
    assert second.incoming is not None and second.incoming.caller_id == "5551234"
    assert app.calls.call(caller.call_id or "").data["ticket"] == "T-42"
    caller.hang_up()
    second.wait_ended()
    cdr = caller.cdr()
    assert cdr["disposition"] == "transferred"
    assert cdr["data"] == {"ticket": "T-42"}


def test_rfc4733_digits_reach_the_application(pbx_harness: Harness) -> None:
    digits: list[tuple[str, str]] = []
    pbx_harness.app.on_call_event(
        lambda event, now: (
            digits.append((event.digit, event.source)) if isinstance(event, DigitReceived) else None
        )
    )
    caller = pbx_harness.call("600")
    caller.wait_answered()
    caller.send_dtmf("1234#")
    pbx_harness.wait_for_event(DigitReceived, digit="#")
    assert digits == [(d, "rfc4733") for d in "1234#"]
    caller.hang_up()


def test_sip_info_digits_reach_the_application(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("600", dtmf_mode="info")
    caller.wait_answered()
    caller.send_dtmf("*9")
    event = pbx_harness.wait_for_event(DigitReceived, digit="9")
    assert event.source == "info"
    got = [(e.digit, e.source) for e in pbx_harness.call_events if isinstance(e, DigitReceived)]
    assert got == [("*", "info"), ("9", "info")]


def test_inband_digits_reach_an_application_that_listens_for_them(pbx_harness: Harness) -> None:
    app = pbx_harness.app

    def listen(event: CallEvent, now: float) -> None:
        if isinstance(event, CallStarted):
            app.calls.detect_inband_dtmf(event.leg)

    app.on_call_event(listen)
    caller = pbx_harness.call("600", dtmf_mode="inband")
    caller.wait_answered()
    caller.send_dtmf("58")
    pbx_harness.wait_for_event(DigitReceived, digit="8")
    got = [(e.digit, e.source) for e in pbx_harness.call_events if isinstance(e, DigitReceived)]
    assert got == [("5", "inband"), ("8", "inband")]


def test_caller_on_hold_hears_music_then_the_line_again(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("600", audio=Tone(440))
    caller.wait_answered()
    assert caller.call_id is not None
    leg = pbx_harness.app.calls.legs_of(caller.call_id)[0]
    pbx_harness.app.calls.hold(leg.id, pbx_harness.now())
    pbx_harness.app.sip.flush()
    held = pbx_harness.now()
    caller.assert_heard_prompt("moh", first_seconds=1.0, since=held)
    assert caller.media is not None and caller.media.direction == "recvonly"
    pbx_harness.app.calls.hold(leg.id, pbx_harness.now(), on=False)
    pbx_harness.app.sip.flush()
    caller.assert_heard_tone(440, min_seconds=0.3, since=pbx_harness.now())
    assert caller.media.direction == "sendrecv"


def test_failed_blind_transfer_returns_the_caller_to_the_agent(pbx_harness: Harness) -> None:
    agent = pbx_harness.agent("2001", answer_after=0.0, audio=Tone(660))
    caller = pbx_harness.call("2001", audio=Tone(440))
    caller.wait_answered()
    agent.wait_connected()
    assert agent.transfer(to="2005") == 202  # accepted, but 2005 is not registered
    pbx_harness.wait_for(
        lambda: any(
            b"480" in e.request.body for e in agent.sip_events if isinstance(e, InDialogRequest)
        ),
        what="a NOTIFY with the transfer's failure",
    )
    caller.assert_heard_tone(660, min_seconds=0.3, since=pbx_harness.now())
    assert agent.state == "connected" and caller.answered
