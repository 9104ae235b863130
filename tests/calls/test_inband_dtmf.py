"""In-band DTMF is switched on by itself for callers that cannot send RFC 4733.

A caller whose offer has no telephone-event (pbx.testing's ``dtmf_mode="inband"``
phone) chooses sales in the main IVR with tones; ``[calls] inband_dtmf = "never"``
turns that off, and a caller with telephone-event is never listened to for tones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from attrs import evolve

from pbx.calls.events import DigitReceived
from pbx.config import AppConfig, load_config
from pbx.testing import Harness
from pbx.testing.tuning import fast_queues

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"


@pytest.fixture
def pbx_config(request: pytest.FixtureRequest) -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    mode = getattr(request, "param", "auto")
    return evolve(config, inband_dtmf=mode)


def test_a_caller_without_telephone_event_picks_sales_with_tones(pbx_harness: Harness) -> None:
    h = pbx_harness
    agent = h.agent("2001", auto_answer=False)
    h.login("2001")
    caller = h.call("100", caller_id="5550941", dtmf_mode="inband")
    caller.wait_answered()
    [leg] = [leg for leg in h.app.calls.legs.values() if leg.call in h.app.calls.calls]
    assert leg.media is not None and leg.media.telephone_event is None
    assert leg.dtmf_inband
    welcome = caller.assert_heard_prompt("en/welcome", first_seconds=0.6)
    caller.assert_heard_prompt("en/menu", first_seconds=0.6, since=welcome)
    caller.send_dtmf("1")
    offer = agent.wait_ringing()
    assert offer.header("X-Queue") == "sales"
    digits = [e for e in h.call_events if isinstance(e, DigitReceived)]
    assert [(e.digit, e.source) for e in digits] == [("1", "inband")]
    caller.hang_up()


@pytest.mark.parametrize("pbx_config", ["never"], indirect=True)
def test_never_leaves_tones_unheard(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = h.call("600", caller_id="5550942", dtmf_mode="inband")
    caller.wait_answered()
    caller.send_dtmf("58")
    h.sleep(1.0)
    assert not [e for e in h.call_events if isinstance(e, DigitReceived)]
    assert not any(leg.dtmf_inband for leg in h.app.calls.legs.values())
    caller.hang_up()


def test_a_caller_with_telephone_event_is_not_listened_to_for_tones(
    pbx_harness: Harness,
) -> None:
    h = pbx_harness
    caller = h.call("600", caller_id="5550943")
    caller.wait_answered()
    [leg] = list(h.app.calls.legs.values())
    assert leg.media is not None and leg.media.telephone_event is not None
    assert not leg.dtmf_inband
    caller.send_dtmf("7")
    h.wait_for_event(DigitReceived, digit="7")
    assert [e.source for e in h.call_events if isinstance(e, DigitReceived)] == ["rfc4733"]
    caller.hang_up()
