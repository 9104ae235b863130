"""The agent's desktop as the agent's only phone, in a real Chromium.

A home agent opens /agent, ticks "This browser is my phone" and logs in: the page
registers the agent's extension with JsSIP over ``ws://…/sip`` using the digest key of
``/api/me/phone``. A caller in queue 200 rings the page; the agent answers in the page,
each side hears the other (the agent's microphone is a 440 Hz file, the caller a
1000 Hz tone), the card's hold acts on the call, the keypad's ``*0`` (RFC 4733 from the
browser) pauses the recording, and hanging up in the page ends it. Logging out of the
page unregisters; closing the tab logs the agent out after the device grace period.
"""

from __future__ import annotations

from typing import Any

import pytest
from attrs import evolve

from pbx.acd.models import AgentState
from pbx.config import AppConfig, load_config
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE
from tests.net.test_webrtc import FLAGS, tone_file
from tests.web.browser import artifact, chromium, log_in, require_browser

GRACE = 2.0

# The strongest frequency the page's <audio> element plays (a WebAudio analyser on the
# call's remote stream), or null before the call has audio.
PEAK = """() => {
  const audio = document.querySelector("#phone-audio");
  if (!audio.srcObject) return null;
  if (!window.probe || window.probe.stream !== audio.srcObject) {
    const ctx = new AudioContext({sampleRate: 48000});
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(audio.srcObject).connect(analyser);
    window.probe = {stream: audio.srcObject, analyser};
  }
  const analyser = window.probe.analyser;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return {hz: best * analyser.context.sampleRate / analyser.fftSize, db: bins[best]};
}"""


@pytest.fixture
def pbx_config() -> AppConfig:
    return evolve(fast_queues(load_config(EXAMPLE)), device_grace=GRACE)


def page_hears(h: Harness, page: Any, hz: float, seconds: float = 8.0) -> dict[str, float]:
    """Wait until the page plays a tone near ``hz``; the last peak seen either way."""
    last: dict[str, float] = {}
    for _ in range(round(seconds / 0.25)):
        found = h.run(page.evaluate(PEAK))
        if found:
            last = found
            if abs(found["hz"] - hz) < 15 and found["db"] > -70:
                return last
        h.sleep(0.25)
    pytest.fail(f"the page never played {hz} Hz: last peak {last}")


def test_a_home_agent_takes_a_queue_call_with_only_the_browser(
    pbx_harness: Harness, tmp_path: Any
) -> None:
    binary = require_browser()
    h = pbx_harness
    tone = tone_file(tmp_path, 440)
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary, (*FLAGS, f"--use-file-for-fake-audio-capture={tone}"))
    browser = h.run(browser_cm.__aenter__())
    try:
        console: list[str] = []

        async def new_page() -> Any:
            page = await browser.new_page()
            page.on("console", lambda m: console.append(m.text))
            page.on("pageerror", lambda e: console.append(f"error: {e}"))
            return page

        page: Any = h.run(new_page())

        # Log in with the phone ticked (?phone=on ticks it and remembers it).
        h.run(log_in(page, f"{base}/agent?phone=on", "2001", "pw2001"))
        try:
            h.run(page.wait_for_selector('#phone-state[data-state="registered"]', timeout=10_000))
        except Exception:
            pytest.fail(f"no registration: {h.run(page.inner_text('#phone-state'))} {console}")
        assert h.run(page.is_checked("#phone-on"))
        [binding] = h.app.location.lookup("2001", h.app.sip.now())
        assert binding.source.transport == "WS" and "+sip.ice" in binding.features
        h.run(page.click("#queue-login"))
        h.run(page.wait_for_selector('#state[data-state="ready"]'))

        # A caller in queue 200: the page rings and pops the card; the agent answers.
        caller = h.call("200", caller_id="5550801", audio=Tone(1000, level_dbov=-20))
        caller.wait_answered()
        h.run(page.wait_for_selector('#phone-call[data-state="incoming"]', timeout=10_000))
        h.run(page.wait_for_selector('#card[data-phase="offered"]', timeout=5_000))
        assert h.run(page.inner_text("#card-caller")) == "5550801"
        assert h.run(page.is_visible("#phone-answer"))
        h.wait_agent_state("2001", AgentState.RINGING)
        h.run(page.click("#phone-answer"))
        h.run(page.wait_for_selector('#phone-call[data-state="talking"]', timeout=10_000))
        h.run(page.wait_for_selector('#card[data-phase="connected"]', timeout=5_000))
        h.wait_agent_state("2001", AgentState.ON_CALL)
        caller.assert_heard_tone(440, min_seconds=1.0)
        page_hears(h, page, 1000)
        h.run(page.screenshot(path=str(artifact("desktop-phone-talking.png"))))

        # The card's hold (through the API) holds the browser's call like a desk phone's.
        h.run(page.click("#hold"))
        h.wait_agent_state("2001", AgentState.ON_HOLD)
        h.run(page.click("#hold"))
        h.wait_agent_state("2001", AgentState.ON_CALL)
        caller.assert_heard_tone(440, min_seconds=0.5)

        # *0 on the page's keypad: RFC 4733 events from the browser pause the recording.
        [call] = [c for c in h.app.calls.calls.values() if c.queue == "sales"]
        assert not call.recording_paused
        h.run(page.click('#phone-keys button[data-key="*"]'))
        h.run(page.click('#phone-keys button[data-key="0"]'))
        h.wait_for(lambda: call.recording_paused, 5.0, "the recording to pause on *0")

        # Mute: the caller stops hearing the agent's tone.
        h.run(page.click("#phone-mute"))
        assert h.run(page.inner_text("#phone-mute")) == "Unmute"
        h.sleep(1.0)
        assert caller.heard_energy(last=0.5) < -45, caller.heard_energy(last=0.5)
        h.run(page.click("#phone-mute"))
        caller.assert_heard_tone(440, min_seconds=0.5)

        # Hang up in the page.
        h.run(page.click("#phone-end"))
        caller.wait_ended()
        record = h.wait_for_cdr(caller)
        assert (record["queue"], record["agent"], record["disposition"]) == (
            "sales",
            "2001",
            "answered",
        )
        h.run(
            page.wait_for_selector(
                '#phone-call[data-state="idle"]', state="attached", timeout=5_000
            )
        )

        # Log out of the page: the browser unregisters.
        h.run(page.click("#logout"))
        h.wait_for(lambda: not h.app.location.lookup("2001", h.app.sip.now()), 5.0, "unregistered")
        assert h.run(page.get_attribute("#phone-state", "data-state")) == "off"
        assert not [line for line in console if line.startswith("error")], console
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_closing_the_tab_logs_the_agent_out_after_the_grace_period(
    pbx_harness: Harness,
) -> None:
    binary = require_browser()
    h = pbx_harness
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary, FLAGS)
    browser = h.run(browser_cm.__aenter__())
    try:
        page: Any = h.run(browser.new_page())
        h.run(log_in(page, f"{base}/agent?phone=on&auto_answer=on", "2002", "pw2002"))
        h.run(page.wait_for_selector('#phone-state[data-state="registered"]', timeout=10_000))
        h.run(page.click("#queue-login"))
        h.wait_agent_state("2002", AgentState.READY)

        # A reload is not a logout: the page registers again within the grace period.
        h.run(page.reload())
        h.run(page.wait_for_selector('#phone-state[data-state="registered"]', timeout=10_000))
        h.sleep(GRACE + 0.5)
        assert h.agent_state("2002").state is AgentState.READY

        # Closed for good: not offered at once, logged out once the grace period is over.
        h.run(page.close())
        h.wait_for(lambda: h.agent_state("2002").state is AgentState.NOT_READY, 3.0, "not ready")
        assert h.agent_state("2002").reason == "device"
        h.wait_agent_state("2002", AgentState.LOGGED_OUT, timeout=GRACE + 3.0)
    finally:
        h.run(browser_cm.__aexit__(None, None, None))
