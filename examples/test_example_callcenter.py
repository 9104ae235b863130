"""Testing call flows with pbx.testing — copy this file to start testing your own.

The ``pbx_harness`` fixture (from the ``pbx`` pytest plugin installed with pbx) starts
the call center of ``examples/callcenter.toml`` for each test: in-process, on a free
port of 127.0.0.1, with its database, recordings and voicemail under the test's
``tmp_path``. ``pbx_harness.call(did)`` is a customer calling in over the carrier trunk
and ``pbx_harness.agent(extension)`` an agent's softphone; both speak real SIP and RTP
to the pbx. Every ``wait_*``/``assert_*`` gives up after a few seconds with a message
saying what happened instead.

To test your own configuration, run ``pytest --pbx-config mycallcenter.toml``, set
``pbx_config = mycallcenter.toml`` in your pytest ini options, or override the
``pbx_config`` fixture in your ``conftest.py``.
"""

from __future__ import annotations

from pbx.calls.events import DigitReceived
from pbx.testing import Harness, Tone


def test_echo_line_sends_back_what_the_caller_says(pbx_harness: Harness) -> None:
    caller = pbx_harness.call("600", audio=Tone(440))
    caller.wait_answered()
    caller.assert_heard_tone(440, min_seconds=0.5)
    caller.hang_up()
    assert caller.cdr()["disposition"] == "answered"


def test_customer_and_agent_hear_each_other(pbx_harness: Harness) -> None:
    agent = pbx_harness.agent("2001", audio=Tone(660))  # registers, answers after 0.5 s
    caller = pbx_harness.call("2001", caller_id="5551234", name="Customer", audio=Tone(440))
    assert agent.wait_ringing().caller_id == "5551234"
    caller.wait_answered()
    agent.assert_heard_tone(440, min_seconds=0.3)
    caller.assert_heard_tone(660, min_seconds=0.3)
    caller.hang_up()
    cdr = caller.cdr()
    assert cdr["disposition"] == "answered"
    assert cdr["ring_seconds"] >= 0.5


def test_busy_agent_gives_the_customer_busy(pbx_harness: Harness) -> None:
    pbx_harness.agent("2002", reject_with=486)
    caller = pbx_harness.call("2002")
    caller.wait_failed(486)
    assert caller.cdr()["disposition"] == "busy"


def test_keys_pressed_by_the_caller_reach_the_application(pbx_harness: Harness) -> None:
    pressed: list[str] = []
    pbx_harness.app.on_call_event(
        lambda event, now: pressed.append(event.digit) if isinstance(event, DigitReceived) else None
    )
    caller = pbx_harness.call("600")
    caller.wait_answered()
    caller.send_dtmf("42#")  # RFC 4733; dtmf_mode="inband" or "info" for the others
    pbx_harness.wait_for_event(DigitReceived, digit="#")
    assert pressed == ["4", "2", "#"]
