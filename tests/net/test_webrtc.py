"""WebRTC media for browser legs: JsSIP in a headless Chromium, audio both ways.

The browser's microphone is a file (``--use-file-for-fake-audio-capture``): a tone the
test makes with sox. The page registers with JsSIP over ``ws://…/sip`` and places or
answers calls; a WebAudio analyser on the remote track tells the test which frequency
the browser hears. ICE runs on loopback: pbx's host candidate is the RTP port it bound,
and Chromium is allowed loopback candidates (``--allow-loopback-in-peer-connection``).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile

from pbx.acd.models import AgentState
from pbx.app import Application
from pbx.calls.events import DigitReceived
from pbx.config import AppConfig, load_config
from pbx.testing import Harness, Tone
from pbx.testing.audio import frames_of, tone_share
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE, with_api
from tests.conftest import need_peer
from tests.net.test_sip_ws import eventually, serve_page, ws_url
from tests.web.browser import artifact, chromium, require_browser

HOST = "127.0.0.1"

PHONE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>browser phone</title>
<script src="JSSIP_URL"></script></head>
<body><p id="state">starting</p><p id="call">idle</p><p id="heard">-</p>
<script>
  const params = new URLSearchParams(location.search);
  const user = params.get("user");
  if (params.get("debug")) JsSIP.debug.enable("JsSIP:RTCSession");
  const show = (id, what) => { const el = document.getElementById(id);
    el.textContent = what; el.dataset.state = what; };
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(params.get("ws"))],
    uri: "sip:" + user + "@127.0.0.1", password: params.get("password"),
    register: true, register_expires: 300, session_timers: false,
  });
  window.heard = [];
  let analyser = null;
  function listen(session) {
    const pc = session.connection;
    const attach = (stream) => {
      const ctx = new AudioContext({sampleRate: 48000});
      const source = ctx.createMediaStreamSource(stream);
      analyser = ctx.createAnalyser();
      analyser.fftSize = 8192;
      source.connect(analyser);
      const audio = new Audio(); audio.srcObject = stream; audio.muted = true; audio.play();
    };
    pc.addEventListener("track", (e) => attach(e.streams[0] || new MediaStream([e.track])));
  }
  window.peak = () => {
    if (!analyser) return null;
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return {hz: best * analyser.context.sampleRate / analyser.fftSize, db: bins[best]};
  };
  const options = {mediaConstraints: {audio: true, video: false},
                   pcConfig: {iceServers: []}};
  ua.on("registered", () => show("state", "registered"));
  ua.on("registrationFailed", (e) => show("state", "failed: " + e.cause));
  // ?codecs=opus: offer Opus (and its telephone-event) only, as some WebRTC stacks do.
  function opusOnly(sdp) {
    const lines = sdp.split("\r\n");
    const keep = new Set(lines.filter((l) => /^a=rtpmap:\d+ (opus|telephone-event)\/48000/i.test(l))
      .map((l) => l.split(":")[1].split(" ")[0]));
    return lines.filter((l) => {
      const m = l.match(/^a=(rtpmap|fmtp|rtcp-fb):(\d+)/);
      return !m || keep.has(m[2]);
    }).map((l) => l.startsWith("m=audio") ?
      l.split(" ").slice(0, 3).concat([...keep]).join(" ") : l).join("\r\n");
  }
  ua.on("newRTCSession", (e) => {
    const session = e.session;
    window.session = session;
    if (params.get("codecs") === "opus") {
      session.on("sdp", (x) => { if (x.originator === "local") x.sdp = opusOnly(x.sdp); });
    }
    session.on("progress", () => show("call", "ringing"));
    session.on("confirmed", () => show("call", "talking"));
    session.on("ended", (x) => show("call", "ended: " + x.cause));
    session.on("failed", (x) => show("call", "failed: " + x.cause));
    for (const what of ["peerconnection:setremotedescriptionfailed",
                        "peerconnection:createanswerfailed",
                        "peerconnection:setlocaldescriptionfailed"]) {
      session.on(what, (x) => console.log(what + ": " + x));
    }
    if (e.originator === "remote") {
      show("call", "incoming");
      session.on("peerconnection", () => listen(session));
      if (params.get("answer") === "auto") session.answer(options);
    } else {
      listen(session);
    }
  });
  window.dial = (number) => ua.call("sip:" + number + "@127.0.0.1", options);
  window.ua = ua;
  ua.start();
</script></body></html>
"""

FLAGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
)


def tone_file(tmp_path: Path, hz: int) -> Path:
    """A 60 s sine at ``hz`` as the browser's microphone (48 kHz mono WAV)."""
    sox = need_peer("sox")
    path = tmp_path / f"tone-{hz}.wav"
    subprocess.run(
        [sox, "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", "60", "sine",
         str(hz), "vol", "0.5"],
        check=True,
        timeout=30,
    )  # fmt: skip
    return path


async def open_phone(
    app: Application,
    browser: Any,
    user: str,
    password: str,
    answer: str = "",
    expect: str = '[data-state="registered"]',
    codecs: str = "",
) -> tuple[Any, asyncio.Server]:
    """A page registered as ``user`` with JsSIP (or in the state ``expect`` selects);
    returns it and its page server."""
    jssip = f"http://{HOST}:{app.http_port}/static/vendor/jssip/jssip.min.js"
    server = await serve_page(PHONE.replace("JSSIP_URL", jssip))
    port = server.sockets[0].getsockname()[1]
    page = await browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"error: {e}"))
    page.console_lines = console
    url = (
        f"http://{HOST}:{port}/?ws={ws_url(app)}&user={user}&password={password}"
        f"&answer={answer}&codecs={codecs}"
    )
    await page.goto(url)
    await page.wait_for_selector(f"#state{expect}", timeout=10_000)
    return page, server


async def heard(page: Any, hz: float, seconds: float = 8.0) -> dict[str, float]:
    """Wait until the page's analyser peaks near ``hz``; the last peak either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last: dict[str, float] = {}
    while loop.time() < deadline:
        found = await page.evaluate("window.peak()")
        if found:
            last = found
            if abs(found["hz"] - hz) < 15 and found["db"] > -70:
                return last
        await asyncio.sleep(0.25)
    return last


def run(tmp_path: Path, body: Callable[[Application, httpx.AsyncClient], Awaitable[Any]]) -> Any:
    return with_api(tmp_path, body)


def test_a_browser_calls_the_echo_test_and_hears_its_own_tone(tmp_path: Path) -> None:
    binary = require_browser()
    tone = tone_file(tmp_path, 440)

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        flags = (*FLAGS, f"--use-file-for-fake-audio-capture={tone}")
        async with chromium(binary, flags) as browser:
            page, server = await open_phone(app, browser, "2001", "pw2001")
            try:
                await page.evaluate("window.dial('600')")
                try:
                    await page.wait_for_selector('#call[data-state="talking"]', timeout=10_000)
                except Exception:
                    pytest.fail(f"no call: {await page.text_content('#call')} "
                                f"{page.console_lines[-20:]}")  # fmt: skip
                [call] = app.calls.calls.values()
                leg = app.calls.legs[call.legs[0]]
                assert leg.webrtc is not None and leg.media is not None
                assert leg.media.codec in ("PCMU", "PCMA")
                peak = await heard(page, 440)
                await page.screenshot(path=str(artifact("webrtc-echo.png")))
                assert abs(peak.get("hz", 0) - 440) < 15, (peak, page.console_lines[-20:])
                session = app.media.webrtc_session(leg.channel)  # type: ignore[arg-type]
                assert session is not None
                before_in, before_out = session.packets_in, session.packets_out
                await asyncio.sleep(2.0)
                # 20 ms packets both ways, without gaps: about 100 in 2 s.
                assert session.packets_in - before_in >= 90
                assert session.packets_out - before_out >= 90
                assert session.send_errors == 0
                await page.evaluate("window.session.terminate()")
                assert await eventually(lambda: not app.calls.calls, 5.0)
            finally:
                await page.close()
                server.close()
                await server.wait_closed()

    run(tmp_path, body)


def test_a_browser_offering_only_opus_is_transcoded_and_its_digits_arrive(
    tmp_path: Path,
) -> None:
    binary = require_browser()
    tone = tone_file(tmp_path, 440)

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        digits: list[str] = []

        async def watch() -> None:
            async for event in app.events():
                if isinstance(event, DigitReceived):
                    digits.append(event.digit)

        watcher = asyncio.ensure_future(watch())
        flags = (*FLAGS, f"--use-file-for-fake-audio-capture={tone}")
        async with chromium(binary, flags) as browser:
            page, server = await open_phone(app, browser, "2001", "pw2001", codecs="opus")
            try:
                await page.evaluate("window.dial('600')")
                try:
                    await page.wait_for_selector('#call[data-state="talking"]', timeout=10_000)
                except Exception:
                    pytest.fail(f"no call: {await page.text_content('#call')} "
                                f"{page.console_lines[-20:]}")  # fmt: skip
                [call] = app.calls.calls.values()
                leg = app.calls.legs[call.legs[0]]
                assert leg.media is not None and leg.media.codec == "PCMU"  # the engine's view
                session = app.media.webrtc_session(leg.channel)  # type: ignore[arg-type]
                assert session is not None and session.opus is not None
                peak = await heard(page, 440)
                assert abs(peak.get("hz", 0) - 440) < 15, (peak, page.console_lines[-20:])
                before_in, before_out = session.packets_in, session.packets_out
                await asyncio.sleep(2.0)
                assert session.packets_in - before_in >= 90
                assert session.packets_out - before_out >= 90
                assert session.opus.decode_errors == 0 and session.opus.encode_errors == 0
                # RFC 4733 digits at Opus's 48 kHz clock reach the call as digits.
                await page.evaluate(
                    "window.session.sendDTMF('59', {transportType: 'RFC2833', duration: 160})"
                )
                assert await eventually(lambda: digits[-2:] == ["5", "9"], 5.0), digits
                await page.evaluate("window.session.terminate()")
                assert await eventually(lambda: not app.calls.calls, 5.0)
            finally:
                watcher.cancel()
                await page.close()
                server.close()
                await server.wait_closed()

    run(tmp_path, body)


# ------------------------------------------------------------------ a browser agent
@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


def dominant_hz(samples: Any, rate: int) -> float:
    """The strongest frequency of ``samples`` (a Hann-windowed FFT)."""
    x = np.asarray(samples, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum[1:]) + 1) * rate / len(x)


def test_a_caller_in_queue_200_talks_to_an_agent_in_the_browser(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    """The offer rings the page, the page answers; each side hears the other's tone, the
    stereo recording holds both; hold and hang-up from the page."""
    binary = require_browser()
    h = pbx_harness
    tone = tone_file(tmp_path, 440)  # the agent's microphone
    flags = (*FLAGS, f"--use-file-for-fake-audio-capture={tone}")
    browser_cm = chromium(binary, flags)
    browser = h.run(browser_cm.__aenter__())
    try:
        page, server = h.run(open_phone(h.app, browser, "2001", "pw2001", answer="auto"))
        [binding] = h.app.location.lookup("2001", h.app.sip.now())
        assert binding.source.transport == "WS"
        h.login("2001")
        caller = h.call("200", caller_id="5550701", audio=Tone(1000, level_dbov=-20))
        caller.wait_answered()
        try:
            h.run(page.wait_for_selector('#call[data-state="talking"]', timeout=10_000))
        except Exception:
            state = h.run(page.text_content("#call"))
            pytest.fail(f"the page did not answer: {state} {page.console_lines[-20:]}")
        # The pbx offered WebRTC to the browser (its Contact has +sip.ice).
        agent_leg = next(leg for leg in h.app.calls.legs.values() if leg.webrtc is not None)
        assert agent_leg.webrtc_started and not agent_leg.webrtc_dtls_client
        caller.assert_heard_tone(440, min_seconds=1.0)
        peak = h.run(heard(page, 1000))
        assert abs(peak.get("hz", 0) - 1000) < 15, (peak, page.console_lines[-20:])
        h.wait_agent_state("2001", AgentState.ON_CALL)

        # Hold from the page: JsSIP re-INVITEs sendonly; the ACD sees the agent hold.
        h.run(page.evaluate("window.session.hold()"))
        h.wait_agent_state("2001", AgentState.ON_HOLD)
        h.run(page.evaluate("window.session.unhold()"))
        h.wait_agent_state("2001", AgentState.ON_CALL)
        caller.assert_heard_tone(440, min_seconds=0.5)

        h.run(page.evaluate("window.session.terminate()"))
        caller.wait_ended()
        record = h.wait_for_cdr(caller)
        assert (record["queue"], record["agent"], record["disposition"]) == (
            "sales",
            "2001",
            "answered",
        )
        path = Path(record["recording"])
        if not path.is_absolute():
            path = Path(h.app.config.recordings_dir) / path
        h.wait_for(path.exists, 5.0, "recording written")
        audio, rate = soundfile.read(str(path), dtype="int16")
        assert audio.ndim == 2 and audio.shape[1] == 2  # stereo: caller left, agent right
        middle = audio[len(audio) // 4 : len(audio) // 4 + rate]
        assert abs(dominant_hz(middle[:, 0], rate) - 1000) < 20
        assert abs(dominant_hz(middle[:, 1], rate) - 440) < 20
        h.run(page.close())
        server.close()
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_the_browser_agent_transfers_blind_and_a_closed_tab_ends_its_call(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    """A REFER from the page sends the caller on to agent 2002's phone; a second caller
    talking to the browser is cut when the tab closes: its call ends at once with a
    CDR row, and the registration is gone."""
    binary = require_browser()
    h = pbx_harness
    tone = tone_file(tmp_path, 440)
    flags = (*FLAGS, f"--use-file-for-fake-audio-capture={tone}")
    browser_cm = chromium(binary, flags)
    browser = h.run(browser_cm.__aenter__())
    try:
        page, server = h.run(open_phone(h.app, browser, "2001", "pw2001", answer="auto"))
        h.login("2001")
        colleague = h.agent("2002", auto_answer=False, audio=Tone(700, level_dbov=-20))
        caller = h.call("200", caller_id="5550702", audio=Tone(1000, level_dbov=-20))
        caller.wait_answered()
        h.run(page.wait_for_selector('#call[data-state="talking"]', timeout=10_000))
        caller.assert_heard_tone(440, min_seconds=0.5)
        h.run(page.evaluate("window.session.refer('sip:2002@127.0.0.1')"))
        colleague.wait_ringing()
        colleague.answer()
        caller.assert_heard_tone(700, min_seconds=0.5)
        h.run(page.wait_for_selector('#call[data-state^="ended"]', timeout=10_000))
        caller.hang_up()
        record = h.wait_for_cdr(caller)
        assert record["disposition"] == "transferred", record

        # Another caller; the agent closes the tab in the middle of the call.
        h.wait_agent_state("2001", AgentState.READY, timeout=10.0)
        second = h.call("200", caller_id="5550703", audio=Tone(1000, level_dbov=-20))
        second.wait_answered()
        h.run(page.wait_for_selector('#call[data-state="talking"]', timeout=10_000))
        second.assert_heard_tone(440, min_seconds=0.5)
        h.run(page.close())
        second.wait_ended(timeout=5.0)
        row = h.wait_for_cdr(second)
        assert row["agent"] == "2001" and row["disposition"] == "answered"
        h.wait_for(lambda: not h.app.location.lookup("2001", h.app.sip.now()), 5.0, "unbound")
        assert not any(leg.webrtc is not None for leg in h.app.calls.legs.values())
        server.close()
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_jssip_with_a_wrong_password_is_refused(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    browser_cm = chromium(binary)
    browser = h.run(browser_cm.__aenter__())
    try:
        page, server = h.run(
            open_phone(h.app, browser, "2001", "wrong", expect='[data-state^="failed"]')
        )
        assert h.run(page.text_content("#state")) == "failed: Authentication Error"
        assert not h.app.location.lookup("2001", h.app.sip.now())
        server.close()
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_a_supervisor_whispers_to_a_browser_agent_and_hears_both_sides(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    """The browser is the independent phone here: whisper (*6) from 2099 reaches the
    browser agent, not the caller; the supervisor hears the caller and the agent."""
    binary = require_browser()
    h = pbx_harness
    tone = tone_file(tmp_path, 440)  # the agent's microphone
    browser_cm = chromium(binary, (*FLAGS, f"--use-file-for-fake-audio-capture={tone}"))
    browser = h.run(browser_cm.__aenter__())
    try:
        page, server = h.run(open_phone(h.app, browser, "2001", "pw2001", answer="auto"))
        h.login("2001")
        caller = h.call("200", caller_id="5550704", audio=Tone(1000, level_dbov=-20))
        caller.wait_answered()
        h.run(page.wait_for_selector('#call[data-state="talking"]', timeout=10_000))
        caller.assert_heard_tone(440, min_seconds=0.5)
        supervisor = h.agent("2099", audio=Tone(700, level_dbov=-6.0))
        monitoring = supervisor.dial("*62001")
        monitoring.wait_answered()
        h.sleep(0.5)
        start = h.now()
        h.sleep(1.0)

        def share(phone: Any, hz: float) -> float:
            frames = frames_of(np.asarray(phone.heard_timeline.since(start)))
            return float(np.median(tone_share(frames, hz)))

        # The supervisor hears both: the caller and the browser agent.
        shares = {hz: share(supervisor, hz) for hz in (1000.0, 440.0)}
        assert shares[1000.0] > 0.1 and shares[440.0] > 0.1, shares
        # The browser hears the supervisor's whisper (the loudest tone in its ear).
        peak = h.run(heard(page, 700))
        assert abs(peak.get("hz", 0) - 700) < 15, (peak, page.console_lines[-20:])
        # The caller does not.
        assert share(caller, 700.0) < 0.05 and share(caller, 440.0) > 0.8
        monitoring.hang_up()
        caller.hang_up()
        h.wait_for(lambda: not h.app.calls.calls, 5.0, "the calls to end")
        h.run(page.close())
        server.close()
    finally:
        h.run(browser_cm.__aexit__(None, None, None))
