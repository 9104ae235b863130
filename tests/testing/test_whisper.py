"""The queue's name is whispered to the agent alone before the caller is connected."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.acd import events as ev
from pbx.config import AppConfig, load_config
from pbx.testing import Harness, Tone
from pbx.testing.tuning import with_queues

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"


@pytest.fixture
def pbx_config() -> AppConfig:
    return with_queues(load_config(EXAMPLE), sales={"whisper": True})


def test_agent_hears_the_queue_name_then_the_caller(pbx_harness: Harness) -> None:
    app = pbx_harness.app
    agent = pbx_harness.agent("2001", audio=Tone(660))
    app.queues.feed(ev.AgentLogin("2001"), pbx_harness.now())
    caller = pbx_harness.call("200", caller_id="5551234", audio=Tone(440))
    caller.wait_answered()
    agent.wait_connected()
    agent.assert_heard_prompt("en/queue-sales", timeout=5)
    whispered_at = pbx_harness.now()
    agent.assert_heard_tone(440, min_seconds=0.3, timeout=5, since=whispered_at)
    caller.assert_heard_tone(660, min_seconds=0.3)
    # The caller never heard the whisper.
    with pytest.raises(AssertionError):
        caller.assert_heard_prompt("en/queue-sales", timeout=0.2)
    caller.hang_up()
