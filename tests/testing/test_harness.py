"""The harness itself: start-up, waits and their errors, records, stalls, clean closing."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pbx.calls.events import CallEvent, CallStarted
from pbx.config import AppConfig, UserConfig, config_from_dict, load_config
from pbx.testing import Harness, SimulationError, Tone, WaitTimeout

EXAMPLE = Path(__file__).parents[2] / "examples" / "callcenter.toml"


def can_bind(port: int, kind: int = socket.SOCK_DGRAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_runs_on_a_free_port_with_records_under_tmp_path(tmp_path: Path) -> None:
    with Harness(str(EXAMPLE), tmp_path=tmp_path) as harness:
        config = harness.config
        assert harness.app.port == harness.app.sip.udp.local[1] != 5060
        assert config.sip.host == "127.0.0.1" and not config.sip.tcp
        assert Path(config.store_path) == tmp_path / "callcenter.db"
        assert Path(config.voicemail_dir) == tmp_path / "voicemail"
        assert 10000 <= config.rtp.port_min < config.rtp.port_max < 32000
        assert harness.phone_ports.start > config.rtp.port_max
        assert "test-tone" in harness.app.engine.prompts  # prompts beside the file
        assert harness.cdrs() == [] and harness.events() == []
    assert (tmp_path / "callcenter.db").is_file()


def test_close_releases_every_socket_and_the_loop(tmp_path: Path) -> None:
    harness = Harness(EXAMPLE, tmp_path=tmp_path)
    agent = harness.agent("2001", answer_after=0.0)
    caller = harness.call("2001", audio=Tone(440))
    caller.wait_answered()
    agent.wait_connected()
    ports = [harness.app.port, caller.sip_port, agent.sip_port]
    ports += [caller.rtp_port, caller.rtp_port + 1, agent.rtp_port, agent.rtp_port + 1]
    pbx_rtp = [leg.port for leg in harness.app.calls.legs.values()]
    assert len(pbx_rtp) == 2 and not any(can_bind(p) for p in ports + pbx_rtp)
    harness.close()
    assert all(can_bind(p) for p in ports + pbx_rtp)
    assert harness.loop.is_closed()
    assert caller.ended and agent.state == "idle"  # the pbx hung both up on closing
    assert harness.loop_errors == []
    harness.close()  # a second close does nothing
    with pytest.raises(SimulationError, match="the harness is closed"):
        harness.sleep(0.1)


def test_accepts_a_configuration_built_in_python(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "agents": {"3001": {"password": "secret"}},
            "dialplan": [
                {"number": "5", "target": "echo"},
                {"number": "3001", "target": "extension"},
            ],
        }
    )
    assert isinstance(config, AppConfig)
    with Harness(config, tmp_path=tmp_path) as harness:
        agent = harness.agent("3001")  # the password comes from the configuration
        caller = harness.call("3001")
        caller.wait_answered()
        assert agent.incoming is not None
        with pytest.raises(SimulationError, match="extension 3002 is not configured"):
            harness.agent("3002")


def test_wrong_password_is_reported(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        with pytest.raises(SimulationError, match=r"agent 2001 could not register: 40[13]"):
            harness.agent("2001", password="wrong")


def test_a_wait_that_times_out_says_what_happened_instead(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        harness.agent("2001", auto_answer=False)
        caller = harness.call("2001")
        with pytest.raises(WaitTimeout) as info:
            caller.wait_answered(timeout=0.3)
        assert str(info.value) == (
            "timed out after 0.3 s waiting for call to 2001 to be answered: "
            "it is ringing (180 received)"
        )
        with pytest.raises(WaitTimeout, match=r"hear 880 Hz for 0\.1 s: longest 880 Hz run 0\.00"):
            caller.assert_heard_tone(880, 0.1, timeout=0.1)
        missing = harness.call("999")
        with pytest.raises(SimulationError, match="was not answered: it failed with 404"):
            missing.wait_answered()


def test_unheard_prompt_reports_the_best_match(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        caller = harness.call("600", audio=Tone(440))
        caller.wait_answered()
        with pytest.raises(WaitTimeout, match=r"prompt test-tone \(0\.50 s\).*best match 0\.\d\d"):
            caller.assert_heard_prompt("test-tone", timeout=1.0, first_seconds=0.5)


def test_wait_for_audio_and_silence(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        caller = harness.call("600")
        caller.wait_answered()
        before = harness.now()
        caller.play(Tone(440, seconds=0.3))
        loud = caller.wait_for_audio(min_dbov=-30)
        quiet = caller.wait_for_silence(seconds=0.2)
        assert before < loud < quiet
        assert 0.2 <= quiet - loud <= 0.5  # the echo of a 0.3 s tone
        assert caller.heard_energy(since=quiet) < -60


def test_digits_the_pbx_sends_are_received(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        caller = harness.call("600")
        caller.wait_answered()
        assert caller.call_id is not None
        leg = harness.app.calls.legs_of(caller.call_id)[0]
        assert leg.channel is not None
        for digit in "42":
            harness.app.engine.send_dtmf(leg.channel, digit)
        harness.wait_for(lambda: len(caller.digits_received) == 2, what="two digits")
        assert caller.digits_received == ["4", "2"]


def test_a_busy_test_is_heard_as_silence_and_audio_goes_on(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        caller = harness.call("600", audio=Tone(440))
        caller.wait_answered()
        caller.assert_heard_tone(440, 0.2)
        frames = caller.heard_timeline.frames
        start = harness.now()
        time.sleep(0.5)  # the loop does not run: nothing is sent or received
        harness.sleep(0.02)
        elapsed = harness.now() - start
        added = caller.heard_timeline.frames - frames
        assert abs(added * 0.02 - elapsed) <= 0.06  # the timeline stays on the clock
        resumed = harness.now()
        caller.assert_heard_tone(440, 0.3, since=resumed)


def test_records_can_be_selected_and_awaited(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        app = harness.app

        def module(event: CallEvent, now: float) -> None:
            # What a queue module does: log the caller entering its queue.
            if isinstance(event, CallStarted):
                app.store.queue_log(app.wall(now), "ENTERQUEUE", call_id=event.call, queue="q1")

        app.on_call_event(module)
        first = harness.call("600", caller_id="111")
        second = harness.call("700", caller_id="222")
        first.wait_answered()
        second.wait_answered()
        first.hang_up()
        row = harness.wait_for_cdr(lambda r: r["caller"] == "111")
        assert row["did"] == "600" and row["disposition"] == "answered"
        second.hang_up()
        assert harness.wait_for_cdr(second)["did"] == "700"
        assert [r["caller"] for r in harness.cdrs(disposition="answered")] == ["111", "222"]
        assert [r["call_id"] for r in harness.events(queue="q1")] == [
            first.call_id,
            second.call_id,
        ]
        assert harness.events(event="CONNECT") == []
        with pytest.raises(WaitTimeout, match="the CDR of call nope: no such CDR row"):
            harness.wait_for_cdr("nope", timeout=0.1)


def test_unregistered_agent_is_no_longer_rung(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as harness:
        agent = harness.agent("2004")
        assert [b.aor for b in harness.app.location.lookup("2004", harness.now())] == ["2004"]
        agent.unregister()
        assert harness.app.location.lookup("2004", harness.now()) == []
        harness.call("2004").wait_failed(480)
        assert agent.offered == []


def test_second_call_to_a_busy_agent_phone_gets_486(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    assert config.user("2001") == UserConfig(
        "2001", "pw2001", "Agent 2001", {"sales": 5, "english": 5}, queues=("sales",)
    )
    with Harness(config, tmp_path=tmp_path) as harness:
        agent = harness.agent("2001", answer_after=0.0)
        first = harness.call("2001")
        first.wait_answered()
        second = harness.call("2001")
        second.wait_failed(486)
        assert agent.rejected == [486] and len(agent.offered) == 2
        assert first.answered


def test_a_failing_phone_fails_the_test_when_the_harness_closes(tmp_path: Path) -> None:
    harness = Harness(EXAMPLE, tmp_path=tmp_path)
    caller = harness.call("600")
    caller.wait_answered()

    def broken(now: float) -> None:
        raise RuntimeError("boom")

    caller.tick = broken  # type: ignore[method-assign]
    before = harness.ticks
    harness.sleep(0.1)
    assert harness.ticks >= before + 3  # the ticker went on
    with pytest.raises(AssertionError, match="errors on the harness loop during the test: boom"):
        harness.close()
    assert harness.loop.is_closed()
