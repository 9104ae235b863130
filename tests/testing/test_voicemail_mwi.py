"""Voicemail for an extension lights its phone's message-waiting lamp (RFC 3842)."""

from __future__ import annotations

from pathlib import Path

import pytest
from attrs import evolve

from pbx.calls.dialplan import parse_route
from pbx.config import AppConfig, load_config
from pbx.sip.events import IncomingRequest
from pbx.testing import Harness, Tone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"


@pytest.fixture
def pbx_config() -> AppConfig:
    config = load_config(EXAMPLE)
    route = parse_route({"number": "801", "target": "voicemail", "mailbox": "2001"}, "test")
    return evolve(config, dialplan=(route, *config.dialplan))


def test_message_left_for_2001_notifies_its_phone_and_can_be_retrieved(
    pbx_harness: Harness,
) -> None:
    agent = pbx_harness.agent("2001")
    caller = pbx_harness.call("801", caller_id="5550123", audio=Tone(440))
    caller.wait_answered()
    caller.assert_heard_prompt("en/voicemail-greeting", timeout=8)
    caller.talk(1.5)
    caller.send_dtmf("#")
    caller.wait_ended(timeout=3)
    pbx_harness.wait_for(
        lambda: any(isinstance(e, IncomingRequest) for e in agent.sip_events),
        timeout=3,
        what="a NOTIFY at the agent's phone",
    )
    [notify] = [e for e in agent.sip_events if isinstance(e, IncomingRequest)]
    request = notify.request
    assert request.method == "NOTIFY"
    assert request.headers.get("event") == "message-summary"
    assert request.content_type == "application/simple-message-summary"
    assert b"Messages-Waiting: yes" in request.body and b"Voice-Message: 1/0" in request.body
    voicemail = pbx_harness.app.voicemail
    [message] = voicemail.messages("2001")
    assert message["caller"] == "5550123" and 1.0 <= float(message["seconds"]) <= 2.5
    assert Path(str(message["path"])).exists()
    voicemail.mark_heard(int(message["id"]), pbx_harness.now())
    pbx_harness.wait_for(
        lambda: sum(isinstance(e, IncomingRequest) for e in agent.sip_events) == 2,
        timeout=3,
        what="a second NOTIFY",
    )
    last = [e for e in agent.sip_events if isinstance(e, IncomingRequest)][-1]
    assert b"Messages-Waiting: no" in last.request.body
    assert b"Voice-Message: 0/1" in last.request.body
