"""Supervisor monitoring end to end: listen, whisper and barge from the supervisor's phone.

The caller says 440 Hz, the agent 660 Hz, the supervisor 880 Hz (louder, so that it
stands out in a mix). Who hears whom is measured as the share of each heard frame's
energy around a frequency (:func:`pbx.testing.audio.tone_share`), median over a second
of the call in each mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pbx.config import AppConfig, load_config
from pbx.testing import AgentCall, Harness, SimAgent, SimCall, SimPhone, Tone
from pbx.testing.audio import frames_of, tone_share
from pbx.testing.tuning import fast_queues

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440.0, 660.0, 880.0
SETTLE = 0.3
"""Seconds after a mode change before measuring (the jitter buffers refill)."""


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


def share(phone: SimPhone, freq: float, since: float) -> float:
    """Median share of ``freq`` in what ``phone`` heard from harness time ``since``."""
    frames = frames_of(np.asarray(phone.heard_timeline.since(since)))
    assert len(frames) >= 25, "less than half a second heard"
    return float(np.median(tone_share(frames, freq)))


def measure(h: Harness, seconds: float = 1.0) -> float:
    """Let the call run ``SETTLE`` + ``seconds``; return when the measured span began."""
    h.sleep(SETTLE)
    start = h.now()
    h.sleep(seconds)
    return start


def connected_call(h: Harness) -> tuple[SimCall, SimAgent]:
    agent = h.agent("2001", audio=Tone(AGENT_HZ), answer_after=0.1)
    h.login("2001")
    caller = h.call("200", caller_id="5550500", audio=Tone(CALLER_HZ))
    agent.wait_ringing()
    agent.wait_connected()
    caller.wait_answered()
    caller.assert_heard_tone(AGENT_HZ, min_seconds=0.3)
    return caller, agent


def supervise(h: Harness, code: str) -> tuple[SimAgent, AgentCall]:
    supervisor = h.agent("2099", audio=Tone(SUPERVISOR_HZ, level_dbov=-6.0))
    monitoring = supervisor.dial(code)
    monitoring.wait_answered()
    return supervisor, monitoring


def test_whisper_then_barge_then_listen(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller, agent = connected_call(h)
    supervisor, monitoring = supervise(h, "*62001")

    # Whisper: the agent hears the supervisor, the caller does not.
    t = measure(h)
    assert share(agent, SUPERVISOR_HZ, t) > 0.6
    assert share(caller, SUPERVISOR_HZ, t) < 0.05
    assert share(caller, AGENT_HZ, t) > 0.9
    assert share(supervisor, CALLER_HZ, t) > 0.2 and share(supervisor, AGENT_HZ, t) > 0.2

    # 6: barge — the caller hears the supervisor too.
    monitoring.send_dtmf("6")
    t = measure(h)
    assert share(caller, SUPERVISOR_HZ, t) > 0.6
    assert share(agent, SUPERVISOR_HZ, t) > 0.6

    # 4: listen — neither party hears the supervisor, who hears both of them.
    monitoring.send_dtmf("4")
    t = measure(h)
    assert share(caller, SUPERVISOR_HZ, t) < 0.05
    assert share(agent, SUPERVISOR_HZ, t) < 0.05
    assert share(supervisor, CALLER_HZ, t) > 0.2 and share(supervisor, AGENT_HZ, t) > 0.2
    assert share(agent, CALLER_HZ, t) > 0.9

    # The supervisor leaves; the call goes on.
    monitoring.hang_up()
    t = measure(h, 0.5)
    assert share(caller, AGENT_HZ, t) > 0.9 and not caller.ended and agent.state == "connected"
    caller.hang_up()
    agent.wait_ended()


def test_listen_from_the_start(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller, agent = connected_call(h)
    supervisor, monitoring = supervise(h, "*52001")
    t = measure(h)
    assert share(caller, SUPERVISOR_HZ, t) < 0.05
    assert share(agent, SUPERVISOR_HZ, t) < 0.05
    assert share(supervisor, CALLER_HZ, t) > 0.2 and share(supervisor, AGENT_HZ, t) > 0.2
    monitoring.hang_up()
    caller.hang_up()


@pytest.mark.parametrize("who", ["caller", "agent"])
def test_the_supervisor_is_hung_up_when_the_monitored_call_ends(
    pbx_harness: Harness, who: str
) -> None:
    h = pbx_harness
    caller, agent = connected_call(h)
    supervisor, monitoring = supervise(h, "*52001")
    t = measure(h, 0.5)
    assert share(supervisor, CALLER_HZ, t) > 0.2
    if who == "caller":
        caller.hang_up()
    else:
        agent.hang_up()
    monitoring.wait_ended()
    assert monitoring.ended_by == "pbx"
    (caller if who == "agent" else agent).wait_ended()


def test_a_non_supervisor_cannot_monitor(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller, agent = connected_call(h)
    other = h.agent("2002", audio=Tone(SUPERVISOR_HZ))
    attempt = other.dial("*52001")
    assert attempt.wait_failed() == 403
    t = measure(h, 0.5)
    assert share(caller, SUPERVISOR_HZ, t) < 0.05 and share(agent, SUPERVISOR_HZ, t) < 0.05
    caller.hang_up()


def test_monitoring_an_agent_without_a_call_is_refused(pbx_harness: Harness) -> None:
    h = pbx_harness
    h.agent("2001")
    h.login("2001")
    supervisor = h.agent("2099")
    assert supervisor.dial("*72001").wait_failed() == 480
