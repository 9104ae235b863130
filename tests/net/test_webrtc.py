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
import pytest

from pbx.app import Application
from tests.api.helpers import with_api
from tests.conftest import need_peer
from tests.net.test_sip_ws import eventually, serve_page, ws_url
from tests.web.browser import artifact, chromium, require_browser

HOST = "127.0.0.1"

PHONE = """<!doctype html>
<html><head><meta charset="utf-8"><title>browser phone</title>
<script src="JSSIP_URL"></script></head>
<body><p id="state">starting</p><p id="call">idle</p><p id="heard">-</p>
<script>
  const params = new URLSearchParams(location.search);
  const user = params.get("user");
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
  ua.on("newRTCSession", (e) => {
    const session = e.session;
    window.session = session;
    session.on("progress", () => show("call", "ringing"));
    session.on("confirmed", () => show("call", "talking"));
    session.on("ended", (x) => show("call", "ended: " + x.cause));
    session.on("failed", (x) => show("call", "failed: " + x.cause));
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
    app: Application, browser: Any, user: str, password: str, answer: str = ""
) -> tuple[Any, asyncio.Server]:
    """A page registered as ``user`` with JsSIP; returns it and its page server."""
    jssip = f"http://{HOST}:{app.http_port}/static/vendor/jssip/jssip.min.js"
    server = await serve_page(PHONE.replace("JSSIP_URL", jssip))
    port = server.sockets[0].getsockname()[1]
    page = await browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"error: {e}"))
    page.console_lines = console
    url = f"http://{HOST}:{port}/?ws={ws_url(app)}&user={user}&password={password}&answer={answer}"
    await page.goto(url)
    await page.wait_for_selector('#state[data-state="registered"]', timeout=10_000)
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
