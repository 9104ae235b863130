"""WebRTC legs through the whole application: audio latency browser → engine → SIP phone,
and concurrent browser calls per core with audio both ways, against plain RTP calls.

Theory of operation
-------------------
On 127.0.0.1, each process started in its own session and stopped by PID:

* **pbx**: the example call center (``examples/callcenter.toml`` moved to free ports:
  SIP, HTTP with SIP over WebSocket at ``ws://127.0.0.1:PORT/sip``, an RTP range; its
  store in a temp dir) with one route added: DID ``900`` forwarded over a trunk to a
  SIP phone this script runs (``dial = "900"``). It runs as ``pbx run`` does (uvloop,
  the same collector settings, warning logs) in this script's ``--serve`` mode, which
  adds, on SIGUSR1, one JSON line of counters (the process's CPU time and the loop's
  clock, ticks, late ticks and how late each tick started, every WebRTC session's
  packets in and out and send errors, every live channel's RTP stream counters) and,
  on SIGUSR2, starts or stops a cProfile of the loop's thread. One pbx serves the
  whole run; between steps every call and WebRTC session must be gone.
* **the browsers**: ``--client`` processes, one per step, each with N aiortc
  ``RTCPeerConnection`` s. Each browser opens its own WebSocket (subprotocol ``sip``,
  a ``.invalid`` Via and Contact host as JsSIP writes them), sends an INVITE with the
  aiortc offer as agent 2001–2010, answers the digest challenge, ACKs the 200, sends
  audio from a paced ``MediaStreamTrack`` (20 ms frames) and BYEs at the end. aiortc
  leaves out loopback host candidates; the client process has aioice gather on
  127.0.0.1 only (``aioice.ice.get_host_addresses`` replaced), so ICE runs on loopback
  to the host candidate of the RTP port pbx bound. "G.711" browsers offer what aiortc
  offers (Opus, PCMU, PCMA: pbx picks G.711); "Opus" browsers offer Opus only
  (``setCodecPreferences``), which pbx transcodes to and from the engine's PCMU. What
  a browser receives is counted per packet after SRTP (its RTP receiver's jitter
  buffer and decoder are bypassed in the client, to keep the clients' CPU for sending).
* **the baseline**: the same N calls placed the same way over WebSocket, but with a
  plain ``RTP/AVP`` PCMU offer, and PCMU sent from one UDP socket per call (50
  packets/s, paced by one task) — the same signalling, the same engine channels, plain
  RTP instead of ICE + DTLS-SRTP (+ Opus).

Capacity (``capacity``): N calls to the echo test (DID 600) per step, for the plain RTP
baseline, G.711 browsers and Opus browsers. After every call is up (and every browser
connected) and 2 s of warm-up, the client brackets a steady window with SIGUSR1 to pbx;
per step: pbx's CPU over the window (% of one core, ms per call-second, and the ratio
to the RTP baseline's), packets pbx received and sent against 50/s per call per
direction, the engine streams' sequence gaps and packets late for their frame, what
the browsers received back, ticks late, and the client's own CPU (when it is near a
full core, the browsers, not pbx, may be what limits the step). A step passes when
every call was up, no call missed a packet in either direction (2 packets of slack
per call for the window's edges), no packet was late for its frame or lost, no tick
started a whole tick (20 ms) late and no send failed. Then one profiled step (Opus
browsers, cProfile of the loop's thread over the window): the time by area (SRTP,
Opus and resampling, ICE/DTLS, the engine tick and RTP, SIP, asyncio and the rest)
and the cumulative time of the WebRTC entry points.

Latency (``latency``): one call at a time to 900, bridged by pbx to the script's SIP
phone (a minimal UAS answering with PCMU, sending silence, reading RTP on a UDP
socket). The caller's audio is silence with a 100 ms 1 kHz burst every second; the
time the first burst frame leaves the caller (the browser's track hands it to aiortc,
which encodes, protects and sends it; the plain caller's ``sendto``) and the time the
phone's socket reads the first loud PCMU packet give one latency. Several calls (the
phase of the engine's tick against the caller's clock differs per call), p50 / p99 /
max over all bursts, for a plain RTP caller (the baseline: what the engine's jitter
buffer and tick add), a G.711 browser and an Opus browser; the difference to the
baseline is what the WebRTC leg adds (ICE/DTLS/SRTP in pbx and the client, aiortc's
encoding in a thread pool, Opus decoding and resampling in pbx). pbx's WebRTC legs
have no jitter buffer of their own: SRTP-decrypted packets go straight to the
channel's engine stream, whose adaptive jitter buffer (1 frame to start) is the same
as a desk phone's.

"On one core": with two or more CPUs pbx is pinned to CPU 0 and the clients to the
others (``taskset``); ``--no-pin`` leaves scheduling to the kernel.

Run: ``.venv/bin/python benchmarks/bench_webrtc.py [--quick] [--only capacity|latency]
[--concurrent 5,10,20,40] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_app_calls import application_as_pbx_run, example_config  # noqa: E402
from bench_sip_load import (  # noqa: E402
    Process,
    cpu_seconds,
    exit_on_sigterm,
    free_port,
    running,
    spawn,
    uptime,
    wait_udp_bound,
)

PYTHON = sys.executable
HOST = "127.0.0.1"
PPS = 50
"""RTP packets per second per direction (20 ms frames)."""
SLACK = 2
"""Packets per call and direction a window's edges may cut off."""
KINDS = ("rtp", "g711", "opus")
LABELS = {"rtp": "plain RTP (PCMU)", "g711": "WebRTC G.711", "opus": "WebRTC Opus"}
BURST_FRAMES = 5
"""A latency burst: 5 frames (100 ms) of 1 kHz, every 50 frames (1 s)."""
ONSET_RMS = 1000.0
"""A PCMU packet whose samples' RMS is above this starts a burst at the phone."""


# ------------------------------------------------------------------ pbx
def write_config(work: Path, sip_port: int, http_port: int, uas_port: int, calls: int) -> Path:
    """The example configuration on free ports, with DID 900 → trunk ``phone``."""
    text = example_config(work, sip_port, 8 * calls + 200, top=60000, http_port=http_port)
    text += f"""
[trunks.phone]
host = "127.0.0.1"
port = {uas_port}

[[dialplan]]
number = "900"
from = "any"
target = "trunk"
trunk = "phone"
dial = "900"
"""
    path = work / "cc.toml"
    path.write_text(text)
    return path


def serve(config_path: str, profile_out: str) -> None:
    """``pbx run`` plus counters on SIGUSR1 and a cProfile toggled by SIGUSR2."""
    import cProfile

    from pbx.net.media import TICK

    app = application_as_pbx_run(config_path)
    media = app.media
    service_tick = media._tick
    window: dict[str, list[float]] = {"durations": [], "lateness": []}

    def timed_tick() -> None:
        loop = media.loop
        late = loop.time() - (media._t0 + media._k * TICK)
        t = time.perf_counter()
        service_tick()
        if app.calls.calls:
            window["durations"].append(time.perf_counter() - t)
            window["lateness"].append(late)

    media._tick = timed_tick  # type: ignore[method-assign]
    from pbx.net.webrtc import Session

    arrivals: dict[int, list[float]] = {}
    """id(session) → [last arrival, longest gap since the last snapshot] (loop clock)."""
    rtp_in = Session.rtp_in

    def timed_rtp_in(session: Session, data: bytes) -> None:
        now = media.loop.time()
        seen = arrivals.get(id(session))
        if seen is None:
            arrivals[id(session)] = [now, 0.0]
        else:
            seen[1] = max(seen[1], now - seen[0])
            seen[0] = now
        rtp_in(session, data)

    Session.rtp_in = timed_rtp_in  # type: ignore[method-assign]

    def snapshot() -> None:
        durations = sorted(window["durations"]) or [0.0]
        lateness = window["lateness"]
        window["durations"], window["lateness"] = [], []
        webrtc = media._webrtc
        sessions = {}
        for ch, s in webrtc.sessions.items() if webrtc is not None else ():
            opus = s.opus
            sessions[str(ch)] = [
                s.packets_in,
                s.packets_out,
                s.send_errors,
                int(s.connected),
                opus.decode_errors + opus.encode_errors if opus is not None else 0,
                int(opus is not None),
                round(1000 * arrivals.get(id(s), [0.0, 0.0])[1], 1),
            ]
            if id(s) in arrivals:
                arrivals[id(s)][1] = 0.0
        streams = {}
        for ch in list(media._by_channel):
            stream: Any = media.engine._streams[ch]
            if stream is None:
                continue
            st = stream.stats()
            jitter = stream._jitter
            streams[str(ch)] = [
                st.packets_received,
                max(0, st.lost),
                st.late,
                st.packets_sent,
                int(getattr(jitter, "depth", -1)),
                int(getattr(jitter, "underruns", -1)),
            ]
        print(
            json.dumps(
                {
                    "snapshot": True,
                    "t": media.loop.time(),
                    "cpu": time.process_time(),
                    "calls": len(app.calls.calls),
                    "ticks": media.ticks,
                    "late_ticks": media.late_ticks,
                    "send_errors": media.send_errors,
                    "packets_in": media.packets_in,
                    "packets_out": media.packets_out,
                    "window_ticks": len(lateness),
                    "ticks_late_20ms": sum(1 for x in lateness if x >= TICK),
                    "tick_late_max_ms": 1000 * max(lateness, default=0.0),
                    "tick_p50_ms": 1000 * durations[len(durations) // 2],
                    "tick_p99_ms": 1000
                    * durations[min(len(durations) - 1, len(durations) * 99 // 100)],
                    "tick_max_ms": 1000 * durations[-1],
                    "sessions": sessions,
                    "streams": streams,
                }
            ),
            flush=True,
        )

    profiler: list[Any] = []

    def toggle_profile() -> None:
        """Start profiling the loop's thread, or stop and write the stats."""
        if profiler:
            p = profiler.pop()
            p.disable()
            p.dump_stats(profile_out)
            return
        profiler.append(cProfile.Profile())
        profiler[0].enable()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, snapshot)
        loop.add_signal_handler(signal.SIGUSR2, toggle_profile)
        await app.run()

    asyncio.run(main())


# ------------------------------------------------------------------ the client: SIP over WS
class SipWs:
    """One SIP phone on one WebSocket, written the way a browser's SIP library is."""

    def __init__(self, ws: Any, user: str) -> None:
        self.ws = ws
        self.user = user
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.contact = f"<sip:{user}@{self.host};transport=ws>"
        self.tag = secrets.token_hex(4)
        self.call_id = f"{secrets.token_hex(8)}@{self.host}"
        self.responses: asyncio.Queue[Any] = asyncio.Queue()
        self.ended_by_pbx = False
        self.to = ""
        self.target = ""
        self.cseq = 0
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url: str, user: str) -> SipWs:
        from websockets.asyncio.client import connect

        ws = await connect(url, subprotocols=["sip"], open_timeout=10.0)  # type: ignore[list-item]
        return cls(ws, user)

    async def close(self) -> None:
        self._reader.cancel()
        try:
            await asyncio.wait_for(self.ws.close(), 5.0)
        except Exception:
            pass

    async def _read(self) -> None:
        from pbx.sip.message import Response, parse_message

        try:
            async for data in self.ws:
                raw = data.encode() if isinstance(data, str) else data
                try:
                    message = parse_message(raw)
                except Exception:
                    continue
                if isinstance(message, Response):
                    self.responses.put_nowait(message)
                elif message.method != "ACK":
                    if message.method == "BYE":
                        self.ended_by_pbx = True
                    await self.reply(message, 200)
        except Exception:
            return

    def via(self) -> str:
        return f"SIP/2.0/WS {self.host};branch=z9hG4bK{secrets.token_hex(8)}"

    async def send(self, text: str) -> None:
        await self.ws.send(text.replace("\n", "\r\n"))

    async def reply(self, req: Any, status: int) -> None:
        h = req.headers
        vias = "".join(f"Via: {v}\n" for v in h.get_all("via"))
        await self.send(
            f"SIP/2.0 {status} OK\n{vias}From: {h.get('from')}\nTo: {h.get('to')}\n"
            f"Call-ID: {req.call_id}\nCSeq: {req.cseq.seq} {req.cseq.method}\n"
            "Content-Length: 0\n\n"
        )

    async def final(self, method: str, timeout: float) -> Any:
        """The next final response to a ``method`` request (provisional ones skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await asyncio.wait_for(
                self.responses.get(), max(0.05, deadline - loop.time())
            )
            if message.cseq.method == method and message.status >= 200:
                return message

    def authorization(self, resp: Any, method: str, uri: str) -> str:
        from pbx.sip.auth import Challenge, answer_challenge

        name = "www-authenticate" if resp.status == 401 else "proxy-authenticate"
        credentials = answer_challenge(
            Challenge.parse(resp.headers.get(name) or ""),
            username=self.user,
            password=f"pw{self.user}",
            method=method,
            uri=uri,
            cnonce=secrets.token_hex(4),
        )
        header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        return f"{header}: {credentials}\n"

    async def invite(self, number: str, sdp: str, timeout: float = 15.0) -> Any:
        """INVITE ``number`` with ``sdp``, answering one digest challenge; ACK the 200."""
        uri = f"sip:{number}@{HOST}"
        body = sdp.replace("\r\n", "\n")
        length = len(body.replace("\n", "\r\n").encode())
        authorization = ""
        resp = None
        for cseq in (1, 2):
            via = self.via()
            head = f"Via: {via}\nMax-Forwards: 70\nFrom: <sip:{self.user}@{HOST}>;tag={self.tag}\n"
            await self.send(
                f"INVITE {uri} SIP/2.0\n{head}To: <{uri}>\nCall-ID: {self.call_id}\n"
                f"CSeq: {cseq} INVITE\nContact: {self.contact}\n{authorization}"
                f"Content-Type: application/sdp\nContent-Length: {length}\n\n{body}"
            )
            resp = await self.final("INVITE", timeout)
            self.cseq = cseq
            if resp.status not in (401, 407):
                break
            await self.send(
                f"ACK {uri} SIP/2.0\n{head}To: {resp.headers.get('to')}\n"
                f"Call-ID: {self.call_id}\nCSeq: {cseq} ACK\nContent-Length: 0\n\n"
            )
            authorization = self.authorization(resp, "INVITE", uri)
        if resp is None or resp.status != 200:
            raise RuntimeError(f"INVITE {number}: {resp.status if resp else 'no response'}")
        self.to = resp.headers.get("to") or ""
        self.target = str(resp.contacts[0].uri) if resp.contacts else uri
        await self.send(
            f"ACK {self.target} SIP/2.0\nVia: {self.via()}\nMax-Forwards: 70\n"
            f"From: <sip:{self.user}@{HOST}>;tag={self.tag}\nTo: {self.to}\n"
            f"Call-ID: {self.call_id}\nCSeq: {self.cseq} ACK\nContent-Length: 0\n\n"
        )
        return resp

    async def bye(self) -> int:
        if self.ended_by_pbx:
            return 0
        self.cseq += 1
        await self.send(
            f"BYE {self.target} SIP/2.0\nVia: {self.via()}\nMax-Forwards: 70\n"
            f"From: <sip:{self.user}@{HOST}>;tag={self.tag}\nTo: {self.to}\n"
            f"Call-ID: {self.call_id}\nCSeq: {self.cseq} BYE\nContent-Length: 0\n\n"
        )
        try:
            return int((await self.final("BYE", 5.0)).status)
        except TimeoutError:
            return 0


def plain_offer(port: int) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def sdp_media(body: bytes) -> tuple[str, int, str]:
    """The connection address, audio port and first payload format's rtpmap of an SDP."""
    host, port, first, codec = HOST, 0, "", ""
    for line in body.decode().splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=audio "):
            parts = line.split()
            port, first = int(parts[1]), parts[3]
        elif line.startswith(f"a=rtpmap:{first} ") and first and not codec:
            codec = line.split(" ", 1)[1]
    return host, port, codec


# ------------------------------------------------------------------ the client: audio
def audio_cycle(rate: int, channels: int, bursts: bool) -> list[Any]:
    """One second of 20 ms frames (int16, packed): a 1 kHz burst in the first 5 frames
    and silence (``bursts``), or a steady two-tone signal with a slow envelope."""
    import numpy as np

    n = rate // PPS
    t = np.arange(PPS * n) / rate
    if bursts:
        signal_ = np.zeros_like(t)
        signal_[: BURST_FRAMES * n] = 0.3 * np.sin(2 * np.pi * 1000 * t[: BURST_FRAMES * n])
    else:
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
        signal_ = 0.15 * envelope * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 1230 * t))
    pcm = (32767 * signal_).astype(np.int16)
    frames = []
    for k in range(PPS):
        chunk = pcm[k * n : (k + 1) * n]
        if channels == 2:
            chunk = np.repeat(chunk, 2)
        frames.append(chunk.reshape(1, -1))
    return frames


def make_track(rate: int, channels: int, bursts: bool) -> Any:
    """A paced audio track: 20 ms frames on time; records when each burst leaves it."""
    import fractions

    from aiortc import MediaStreamTrack
    from av import AudioFrame

    cycle = audio_cycle(rate, channels, bursts)
    layout = "stereo" if channels == 2 else "mono"
    samples = rate // PPS

    class Track(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.k = 0
            self.t0: float | None = None
            self.burst_times: list[float] = []
            self.frames_in_window = 0
            self.counting = False
            self.last: float | None = None
            self.max_gap = 0.0
            """The longest time between two frames handed to aiortc (a stalled sender)."""

        async def recv(self) -> Any:
            now = time.monotonic()
            if self.t0 is None:
                self.t0 = now
            delay = self.t0 + self.k * 0.02 - now
            if delay > 0:
                await asyncio.sleep(delay)
                now = time.monotonic()
            frame = AudioFrame.from_ndarray(cycle[self.k % PPS], format="s16", layout=layout)
            frame.sample_rate = rate
            frame.pts = self.k * samples
            frame.time_base = fractions.Fraction(1, rate)
            if bursts and self.k % PPS == 0 and self.k >= PPS:
                self.burst_times.append(time.monotonic())
            if self.counting:
                self.frames_in_window += 1
            if self.last is not None:
                self.max_gap = max(self.max_gap, now - self.last)
            self.last = now
            self.k += 1
            return frame

    return Track()


class Counted:
    """What one browser receives: RTP packets after SRTP, per receiver."""

    received: dict[int, int] = {}
    counting = False


def patch_aiortc() -> None:
    """ICE on loopback only; received RTP counted, not jitter-buffered or decoded."""
    import aioice.ice
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST]  # type: ignore[assignment]

    async def counted(self: Any, packet: Any, arrival_time_ms: int) -> None:
        if Counted.counting:
            key = id(self)
            Counted.received[key] = Counted.received.get(key, 0) + 1

    RTCRtpReceiver._handle_rtp_packet = counted  # type: ignore[method-assign]


class Browser:
    """One aiortc peer connection calling ``number`` over its own SIP WebSocket."""

    def __init__(self, user: str, opus: bool, bursts: bool) -> None:
        self.user = user
        self.opus = opus
        self.bursts = bursts
        self.pc: Any = None
        self.sip: SipWs | None = None
        self.track: Any = None
        self.receiver: Any = None
        self.codec = ""

    async def call(self, url: str, number: str) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
        from aiortc import RTCSessionDescription as Description

        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = make_track(48000 if self.opus else 8000, 2 if self.opus else 1, self.bursts)
        transceiver = pc.addTransceiver(self.track, direction="sendrecv")
        if self.opus:
            codecs = RTCRtpSender.getCapabilities("audio").codecs
            transceiver.setCodecPreferences(
                [c for c in codecs if c.mimeType.lower() == "audio/opus"]
            )
        self.receiver = transceiver.receiver
        await pc.setLocalDescription(await pc.createOffer())
        self.sip = await SipWs.open(url, self.user)
        resp = await self.sip.invite(number, pc.localDescription.sdp)
        self.codec = sdp_media(resp.body)[2]
        await pc.setRemoteDescription(Description(sdp=resp.body.decode(), type="answer"))

    async def connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pc.connectionState == "connected":
                return True
            if self.pc.connectionState in ("failed", "closed"):
                return False
            await asyncio.sleep(0.05)
        return False

    def received(self) -> int:
        return Counted.received.get(id(self.receiver), 0)

    async def hang_up(self) -> None:
        await bye_and_close(self.sip)
        if self.pc is not None:
            try:
                await asyncio.wait_for(self.pc.close(), 5.0)
            except Exception:
                pass


async def bye_and_close(sip: SipWs | None) -> None:
    """End the call (a BYE, whatever comes back) and close its WebSocket."""
    if sip is None:
        return
    try:
        await sip.bye()
    except Exception:
        pass
    await sip.close()


class PlainPhone:
    """A plain RTP caller over its own SIP WebSocket: PCMU from one UDP socket."""

    def __init__(self, user: str) -> None:
        import socket

        self.user = user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.remote: tuple[str, int] | None = None
        self.sip: SipWs | None = None
        self.seq = secrets.randbelow(1 << 16)
        self.ssrc = secrets.randbits(32)
        self.ts = secrets.randbits(32)
        self.got = 0
        self.codec = ""

    async def call(self, url: str, number: str) -> None:
        self.sip = await SipWs.open(url, self.user)
        resp = await self.sip.invite(number, plain_offer(self.sock.getsockname()[1]))
        host, port, self.codec = sdp_media(resp.body)
        self.remote = (host, port)

    def send(self, payload: bytes) -> None:
        import struct

        if self.remote is None:
            return
        header = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc)
        self.seq += 1
        self.ts += 160
        try:
            self.sock.sendto(header + payload, self.remote)
        except OSError:
            pass

    def drain(self) -> None:
        for _ in range(64):
            try:
                self.sock.recv(2048)
            except OSError:
                return
            if Counted.counting:
                self.got += 1

    async def hang_up(self) -> None:
        await bye_and_close(self.sip)
        asyncio.get_running_loop().remove_reader(self.sock)
        self.sock.close()


def pcmu_cycle(bursts: bool) -> list[bytes]:
    from pbx.media.g711 import ulaw_encode

    return [ulaw_encode(f.reshape(-1)).tobytes() for f in audio_cycle(8000, 1, bursts)]


async def pace_plain(phones: list[PlainPhone], stop: asyncio.Event, bursts: bool) -> list[float]:
    """Send every phone's next frame every 20 ms on time; the times bursts were sent."""
    cycle = pcmu_cycle(bursts)
    t0 = time.monotonic()
    k = 0
    burst_times: list[float] = []
    while not stop.is_set():
        payload = cycle[k % PPS]
        for phone in phones:
            phone.send(payload)
        if bursts and k % PPS == 0 and k >= PPS:
            burst_times.append(time.monotonic())
        k += 1
        delay = t0 + k * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return burst_times


# ------------------------------------------------------------------ the client: the phone
class Phone(asyncio.DatagramProtocol):
    """A minimal SIP UAS on UDP: answers INVITEs with PCMU, sends silence, and stamps
    the first loud packet of every burst it hears."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.onsets: list[float] = []
        self.quiet = 100
        self.rtp: Any = None
        self.rtp_port = 0
        self.remote: tuple[str, int] | None = None
        self.packets = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        from pbx.sip.message import Request, parse_message

        try:
            message = parse_message(data)
        except Exception:
            return
        if not isinstance(message, Request) or message.method == "ACK":
            return
        h = message.headers
        to = h.get("to") or ""
        if ";tag=" not in to:
            to += ";tag=phone"
        body = ""
        if message.method == "INVITE":
            host, port, _ = sdp_media(message.body)
            self.remote = (host, port)
            body = plain_offer(self.rtp_port)
        vias = "".join(f"Via: {v}\r\n" for v in h.get_all("via"))
        extra = "Content-Type: application/sdp\r\n" if body else ""
        text = (
            f"SIP/2.0 200 OK\r\n{vias}From: {h.get('from')}\r\nTo: {to}\r\n"
            f"Call-ID: {message.call_id}\r\nCSeq: {message.cseq.seq} {message.cseq.method}\r\n"
            f"Contact: <sip:phone@{HOST}:{self.transport.get_extra_info('sockname')[1]}>\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n{body}"
        )
        self.transport.sendto(text.encode(), addr)

    def rtp_received(self, data: bytes) -> None:
        import numpy as np

        from pbx.media.g711 import ulaw_decode

        now = time.monotonic()
        self.packets += 1
        if len(data) < 172 or data[1] & 0x7F != 0:
            return
        pcm = ulaw_decode(np.frombuffer(data[-160:], dtype=np.uint8)).astype(np.float64)
        loud = float(np.sqrt((pcm * pcm).mean())) > ONSET_RMS
        if loud and self.quiet >= 10:
            self.onsets.append(now)
        self.quiet = 0 if loud else self.quiet + 1


class _RtpSink(asyncio.DatagramProtocol):
    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.phone.rtp_received(data)


async def phone_silence(phone: Phone, stop: asyncio.Event) -> None:
    """RTP silence to pbx every 20 ms, so the phone's leg is not a silent one."""
    import struct

    seq, ts, k, t0 = 0, 0, 0, time.monotonic()
    while not stop.is_set():
        if phone.remote is not None and phone.rtp is not None:
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, 0x0FACE)
            phone.rtp.sendto(header + b"\xff" * 160, phone.remote)
            seq += 1
            ts += 160
        k += 1
        await asyncio.sleep(max(0.0, t0 + k * 0.02 - time.monotonic()))


def pair_latencies(sent: list[float], heard: list[float]) -> list[float]:
    """For each burst heard, the time since the latest burst sent (within 0.5 s)."""
    out = []
    for t in heard:
        before = [s for s in sent if s <= t]
        if before and t - before[-1] < 0.5:
            out.append(t - before[-1])
    return out


def signal_pbx(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


async def client_capacity(opts: dict[str, Any]) -> dict[str, Any]:
    """N calls to 600 of one kind; a steady window bracketed by SIGUSR1 to pbx."""
    kind, n, url, pid = opts["kind"], opts["n"], opts["url"], opts["pbx_pid"]
    loop = asyncio.get_running_loop()
    users = [f"{2001 + i % 10}" for i in range(n)]
    failed: list[str] = []
    parties: list[Any] = []
    stop = asyncio.Event()
    pacer = None
    try:
        if kind == "rtp":
            phones = [PlainPhone(u) for u in users]
            parties = phones
            for phone in phones:
                loop.add_reader(phone.sock, phone.drain)
        else:
            parties = [Browser(u, kind == "opus", False) for u in users]
        sem = asyncio.Semaphore(5)

        async def place(party: Any) -> None:
            async with sem:
                try:
                    await asyncio.wait_for(party.call(url, "600"), 20.0)
                except Exception as exc:
                    failed.append(f"{type(exc).__name__}: {exc}"[:120])

        t_setup = time.monotonic()
        await asyncio.gather(*(place(p) for p in parties))
        if kind == "rtp":
            pacer = asyncio.ensure_future(pace_plain(parties, stop, False))
            up = [p.remote is not None for p in parties]
        else:
            up = list(await asyncio.gather(*(p.connected(15.0) for p in parties)))
        setup_s = time.monotonic() - t_setup
        await asyncio.sleep(opts["warmup"])
        # The window.
        Counted.counting = True
        for p in parties:
            if kind != "rtp":
                p.track.counting = True
        cpu0, t0 = time.process_time(), time.monotonic()
        signal_pbx(pid, signal.SIGUSR1)
        if opts["profile"]:
            signal_pbx(pid, signal.SIGUSR2)
        await asyncio.sleep(opts["window"])
        if opts["profile"]:
            signal_pbx(pid, signal.SIGUSR2)
        signal_pbx(pid, signal.SIGUSR1)
        cpu1, t1 = time.process_time(), time.monotonic()
        Counted.counting = False
        window = t1 - t0
        if kind == "rtp":
            received = [p.got for p in parties]
            sent = [round(PPS * window)] * len(parties)
        else:
            received = [p.received() for p in parties]
            sent = [p.track.frames_in_window for p in parties]
        codecs = sorted({p.codec for p in parties if p.codec})
        ended = sum(1 for p in parties if p.sip is not None and p.sip.ended_by_pbx)
    finally:
        stop.set()
        if pacer is not None:
            await asyncio.wait_for(pacer, 5.0)
        await asyncio.gather(*(p.hang_up() for p in parties), return_exceptions=True)
    expected = PPS * window
    return {
        "kind": kind,
        "n": n,
        "up": sum(up),
        "failed": failed[:3],
        "ended_by_pbx": ended,
        "setup_s": setup_s,
        "window_s": window,
        "client_cpu": (cpu1 - cpu0) / window,
        "sent": sent,
        "echo_received": received,
        "echo_short": sum(max(0, round(expected) - r - SLACK) for r in received),
        "codecs": codecs,
    }


async def client_latency(opts: dict[str, Any]) -> dict[str, Any]:
    """Calls to 900 one at a time; each burst's time from the caller to the phone."""
    kind, url = opts["kind"], opts["url"]
    loop = asyncio.get_running_loop()
    phone = Phone()
    sip, _ = await loop.create_datagram_endpoint(lambda: phone, local_addr=(HOST, opts["uas_port"]))
    rtp, _ = await loop.create_datagram_endpoint(lambda: _RtpSink(phone), local_addr=(HOST, 0))
    phone.rtp = rtp
    phone.rtp_port = rtp.get_extra_info("sockname")[1]
    latencies: list[float] = []
    per_call: list[dict[str, Any]] = []
    codecs: set[str] = set()
    errors: list[str] = []
    try:
        for i in range(opts["calls"]):
            stop = asyncio.Event()
            silence = asyncio.ensure_future(phone_silence(phone, stop))
            pacer = None
            party: Any = (
                PlainPhone(f"{2001 + i % 10}")
                if kind == "rtp"
                else Browser(f"{2001 + i % 10}", kind == "opus", True)
            )
            phone.onsets, phone.quiet = [], 100
            try:
                await asyncio.wait_for(party.call(url, "900"), 20.0)
                codecs.add(party.codec)
                if kind == "rtp":
                    loop.add_reader(party.sock, party.drain)
                    pacer = asyncio.ensure_future(pace_plain([party], stop, True))
                elif not await party.connected(15.0):
                    raise RuntimeError("the browser did not connect")
                signal_pbx(opts["pbx_pid"], signal.SIGUSR1)
                await asyncio.sleep(opts["seconds"] + 0.5)
                signal_pbx(opts["pbx_pid"], signal.SIGUSR1)
                stop.set()
                sent = await asyncio.wait_for(pacer, 5.0) if pacer else party.track.burst_times
                got = pair_latencies(sent, phone.onsets)
                latencies += got
                per_call.append(
                    {
                        "sent": len(sent),
                        "heard": len(got),
                        "latencies_ms": [round(1000 * x, 1) for x in got],
                        "client_max_gap_ms": round(1000 * party.track.max_gap, 1)
                        if kind != "rtp"
                        else None,
                    }
                )
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:160])
            finally:
                stop.set()
                await asyncio.gather(silence, return_exceptions=True)
                await party.hang_up()
                phone.remote = None
            await asyncio.sleep(0.3)
    finally:
        sip.close()
        rtp.close()
    return {
        "kind": kind,
        "latencies_ms": [1000 * x for x in latencies],
        "per_call": per_call,
        "codecs": sorted(codecs),
        "errors": errors[:3],
    }


def client(opts_json: str) -> None:
    """A client process: the steps' browsers or plain callers; one JSON line out."""
    opts = json.loads(opts_json)
    patch_aiortc()
    run = client_capacity if opts["mode"] == "capacity" else client_latency
    result = asyncio.run(run(opts))
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ the steps
def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """``argv`` run on ``cpus`` (taskset execs it: the PID stays the command's)."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *argv] if cpus and taskset else argv


def snapshots(pbx: Process) -> list[dict[str, Any]]:
    out = []
    for line in pbx.stdout().splitlines():
        if line.startswith('{"snapshot"'):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def run_client(
    opts: dict[str, Any], work: Path, name: str, cpus: str | None, timeout: float
) -> dict[str, Any]:
    """Run one client process to its end (stopped by PID at ``timeout``); its JSON."""
    procs: list[Process] = []
    with running(procs):
        proc = spawn(name, pinned([PYTHON, __file__, "--client", json.dumps(opts)], cpus), work)
        procs.append(proc)
        try:
            proc.popen.wait(timeout=timeout)
        except Exception:
            pass
    lines = [ln for ln in proc.stdout().splitlines() if ln.startswith("{")]
    if not lines:
        tail = proc.stderr_lines()[-5:]
        raise RuntimeError(f"{name} gave no result: {tail}")
    return dict(json.loads(lines[-1]))


def wait_idle(pbx: Process, timeout: float = 15.0) -> dict[str, Any]:
    """Ask pbx for counters until no call and no WebRTC session is left."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        before = len(snapshots(pbx))
        signal_pbx(pbx.pid, signal.SIGUSR1)
        for _ in range(40):
            time.sleep(0.05)
            got = snapshots(pbx)
            if len(got) > before:
                last = got[-1]
                break
        if last and last["calls"] == 0 and not last["sessions"]:
            return last
        time.sleep(0.5)
    return last


def capacity_step(
    pbx: Process, url: str, kind: str, n: int, cfg: dict[str, Any], work: Path, profile: bool
) -> dict[str, Any]:
    """N calls of ``kind`` to 600: pbx's counters over the client's window."""
    idle = wait_idle(pbx)
    before = len(snapshots(pbx))
    opts = {
        "mode": "capacity",
        "kind": kind,
        "n": n,
        "url": url,
        "pbx_pid": pbx.pid,
        "warmup": cfg["warmup"],
        "window": cfg["window"],
        "profile": profile,
    }
    load = os.getloadavg()[0]
    name = f"client_{kind}_{n}{'_profile' if profile else ''}"
    result = run_client(opts, work, name, cfg["client_cpus"], 60 + 2 * n + cfg["window"])
    time.sleep(0.3)
    snaps = snapshots(pbx)[before:]
    if len(snaps) < 2:
        raise RuntimeError(f"pbx gave {len(snaps)} window snapshots in step {kind} {n}")
    a, b = snaps[0], snaps[1]
    dt = b["t"] - a["t"]
    expected = round(PPS * dt)
    calls_in = calls_out = short_in = short_out = lost = late = errors = 0
    opus_errors = connected = 0
    common = [ch for ch in b["streams"] if ch in a["streams"]]
    for ch in common:
        ra, rb = a["streams"][ch], b["streams"][ch]
        lost += rb[1] - ra[1]
        late += rb[2] - ra[2]
    if kind == "rtp":
        for ch in common:
            ra, rb = a["streams"][ch], b["streams"][ch]
            got_in, got_out = rb[0] - ra[0], rb[3] - ra[3]
            calls_in += got_in
            calls_out += got_out
            short_in += max(0, expected - got_in - SLACK)
            short_out += max(0, expected - got_out - SLACK)
    else:
        for ch, sb in b["sessions"].items():
            sa = a["sessions"].get(ch)
            if sa is None:
                continue
            got_in, got_out = sb[0] - sa[0], sb[1] - sa[1]
            calls_in += got_in
            calls_out += got_out
            short_in += max(0, expected - got_in - SLACK)
            short_out += max(0, expected - got_out - SLACK)
            errors += sb[2] - sa[2]
            opus_errors += sb[4] - sa[4]
            connected += sb[3]
    cpu = (b["cpu"] - a["cpu"]) / dt
    return {
        **result,
        "pbx_window_s": dt,
        "pbx_cpu": cpu,
        "cpu_ms_per_call_s": 1000 * cpu / n,
        "channels": len(common),
        "connected": connected if kind != "rtp" else len(common),
        "expected_per_call": expected,
        "pbx_in": calls_in,
        "pbx_out": calls_out,
        "short_in": short_in,
        "short_out": short_out,
        "stream_lost": lost,
        "stream_late": late,
        "send_errors": errors + b["send_errors"] - a["send_errors"],
        "opus_errors": opus_errors,
        "late_ticks": b["late_ticks"] - a["late_ticks"],
        "ticks_late_20ms": b["ticks_late_20ms"],
        "tick_late_max_ms": b["tick_late_max_ms"],
        "tick_p50_ms": b["tick_p50_ms"],
        "tick_p99_ms": b["tick_p99_ms"],
        "tick_max_ms": b["tick_max_ms"],
        "leftover_before": {"calls": idle.get("calls"), "sessions": len(idle.get("sessions", {}))},
        "load": load,
    }


def step_passed(r: dict[str, Any]) -> bool:
    return (
        r["up"] == r["n"]
        and r["channels"] == r["n"]
        and r["connected"] == r["n"]
        and not r["failed"]
        and r["ended_by_pbx"] == 0
        and r["short_in"] == 0
        and r["short_out"] == 0
        and r["echo_short"] == 0
        and r["stream_lost"] == 0
        and r["stream_late"] == 0
        and r["send_errors"] == 0
        and r["late_ticks"] == 0
        and r["ticks_late_20ms"] == 0
    )


def latency_run(
    pbx: Process, url: str, kind: str, cfg: dict[str, Any], work: Path
) -> dict[str, Any]:
    wait_idle(pbx)
    opts = {
        "mode": "latency",
        "kind": kind,
        "url": url,
        "uas_port": cfg["uas_port"],
        "pbx_pid": pbx.pid,
        "calls": cfg["latency_calls"],
        "seconds": cfg["latency_seconds"],
    }
    timeout = 30 + cfg["latency_calls"] * (cfg["latency_seconds"] + 20)
    before = len(snapshots(pbx))
    result = run_client(opts, work, f"latency_{kind}", cfg["client_cpus"], timeout)
    time.sleep(0.3)
    snaps = snapshots(pbx)[before:]
    # Per call (a snapshot after it connected, one before it ended): what pbx saw.
    for call, (a, b) in zip(
        result["per_call"], zip(snaps[::2], snaps[1::2], strict=False), strict=False
    ):
        gaps = [v[6] for v in b["sessions"].values()]
        late = sum(v[2] for v in b["streams"].values()) - sum(v[2] for v in a["streams"].values())
        call["pbx_max_arrival_gap_ms"] = max(gaps, default=None)
        call["engine_late"] = late
        call["jitter_depth_frames"] = [v[4] for v in b["streams"].values()]
        call["underruns"] = sum(v[5] for v in b["streams"].values()) - sum(
            v[5] for v in a["streams"].values()
        )
        call["ticks_late_20ms"] = b["ticks_late_20ms"]
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------ the profile
AREAS = (
    ("SRTP (pylibsrtp)", ("pylibsrtp", "srtp_")),
    (
        "Opus + resampling (PyAV, pbx.media.opus)",
        ("/av/", "'av.", " av.", "pbx/media/opus", "g711"),
    ),
    ("ICE / DTLS (aioice, aiortc, OpenSSL)", ("aioice", "aiortc", "OpenSSL", "cryptography")),
    ("pbx WebRTC shell (pbx.net.webrtc, with its uvloop sendto calls)", ("pbx/net/webrtc",)),
    (
        "engine tick + RTP (pbx.media, pbx.rtp, pbx.net.media)",
        ("pbx/media/", "pbx/rtp/", "pbx/net/media"),
    ),
    (
        "SIP, calls, WebSocket (pbx.sip, pbx.calls, pbx.net, websockets)",
        ("pbx/", "websockets", "uvicorn"),
    ),
)
ENTRY_POINTS = (
    ("Session.rtp_in (browser → engine, incl. Opus decode)", "pbx/net/webrtc.py", "rtp_in"),
    ("Session.send (engine → browser, incl. Opus encode, SRTP)", "pbx/net/webrtc.py", "send"),
    ("OpusTranscoder.to_engine", "pbx/media/opus.py", "to_engine"),
    ("OpusTranscoder.to_browser", "pbx/media/opus.py", "to_browser"),
    ("MediaService._tick_work (the tick, incl. WebRTC sends)", "pbx/net/media.py", "_tick_work"),
    ("engine tick (MediaEngine.tick)", "pbx/media/engine.py", "tick"),
    ("pylibsrtp Session.protect", "pylibsrtp", "protect"),
    ("pylibsrtp Session.unprotect", "pylibsrtp", "unprotect"),
    ("aiortc RTCDtlsTransport (receive loop)", "aiortc/rtcdtlstransport.py", "_recv_next"),
)


def profile_areas(path: Path) -> dict[str, Any]:
    """Own time by area, and the cumulative time of the WebRTC path's entry points."""
    import pstats

    stats: Any = pstats.Stats(str(path)).stats
    total = sum(v[2] for v in stats.values()) or 1.0
    areas: dict[str, float] = {name: 0.0 for name, _ in AREAS}
    areas["asyncio, uvloop and the rest"] = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.items():
        text = f"{filename} {func}"
        for name, needles in AREAS:
            if any(n in text for n in needles):
                areas[name] += tt
                break
        else:
            areas["asyncio, uvloop and the rest"] += tt
    entries = {}
    for label, file_part, func in ENTRY_POINTS:
        entries[label] = sum(
            v[3] for (f, _l, fn), v in stats.items() if file_part in f and fn == func
        )
    return {
        "total_s": total,
        "areas": {k: v / total for k, v in areas.items()},
        "entries": {k: v / total for k, v in entries.items()},
    }


# ------------------------------------------------------------------ output
CAP_HEADER = (
    "| calls | kind | pass | up / connected | pbx CPU (% of a core) | CPU ms per call-second"
    " | vs plain RTP | pbx in / out per call (expected) | calls short in / out"
    " | lost / late (engine) | browsers got back (short) | late ticks (stalls / ≥ 20 ms, max)"
    " | tick + sends p50 / p99 | client CPU | load |\n"
    "|---:|---|---|---|---:|---:|---:|---|---|---|---|---|---|---:|---:|"
)


def describe(r: dict[str, Any], base: dict[str, Any] | None) -> str:
    n = r["n"]
    ratio = (
        f"{r['cpu_ms_per_call_s'] / base['cpu_ms_per_call_s']:.1f}×"
        if base and base["cpu_ms_per_call_s"] > 0 and r["kind"] != "rtp"
        else "—"
    )
    got = sum(r["echo_received"])
    return (
        f"| {n} | {LABELS[r['kind']]} ({', '.join(r['codecs']) or '?'}) |"
        f" {'ok' if step_passed(r) else 'NO'} | {r['up']}/{n} / {r['connected']}/{n}"
        f" | {100 * r['pbx_cpu']:.1f}% | {r['cpu_ms_per_call_s']:.2f} | {ratio}"
        f" | {r['pbx_in'] / max(1, r['channels']):.0f} / {r['pbx_out'] / max(1, r['channels']):.0f}"
        f" ({r['expected_per_call']}) | {r['short_in']} / {r['short_out']}"
        f" | {r['stream_lost']} / {r['stream_late']} | {got / max(1, n):.0f} per call"
        f" ({r['echo_short']}) | {r['late_ticks']} / {r['ticks_late_20ms']},"
        f" {r['tick_late_max_ms']:.1f} ms | {r['tick_p50_ms']:.2f} / {r['tick_p99_ms']:.2f} ms"
        f" | {100 * r['client_cpu']:.0f}% | {r['load']:.2f} |"
        + (f" failures: {r['failed']}" if r["failed"] else "")
    )


def describe_latency(r: dict[str, Any], base: dict[str, Any] | None) -> str:
    values = r["latencies_ms"]
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    added = (
        f"{p50 - percentile(base['latencies_ms'], 0.5):+.1f} ms"
        if base and base["latencies_ms"] and r["kind"] != "rtp"
        else "—"
    )
    sent = sum(c["sent"] for c in r["per_call"])
    return (
        f"| {LABELS[r['kind']]} ({', '.join(r['codecs']) or '?'}) | {len(r['per_call'])}"
        f" | {len(values)}/{sent} | {p50:.1f} | {p99:.1f} | {max(values, default=float('nan')):.1f}"
        f" | {min(values, default=float('nan')):.1f} | {added} |"
        + (f" errors: {r['errors']}" if r["errors"] else "")
    )


LAT_HEADER = (
    "| caller | calls | bursts heard / sent | p50 ms | p99 ms | max ms | min ms"
    " | p50 vs plain RTP |\n|---|---:|---|---:|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps, 5 and 10 calls")
    parser.add_argument("--concurrent", help="comma-separated call counts (5,10,20,40)")
    parser.add_argument(
        "--window", type=float, help="seconds of steady state per step (15, quick 6)"
    )
    parser.add_argument("--only", choices=("capacity", "latency"), help="one part only")
    parser.add_argument(
        "--profile-calls", type=int, help="Opus calls in the profiled step (20, quick 5)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin pbx and clients to CPUs")
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.profile_out or "profile.pstats")
        return
    if args.client:
        client(args.client)
        return
    exit_on_sigterm()
    quick = args.quick
    counts = [int(c) for c in (args.concurrent or ("5,10" if quick else "5,10,20,40")).split(",")][
        :8
    ]
    cores = os.cpu_count() or 1
    pin = not args.no_pin and cores > 1
    cfg: dict[str, Any] = {
        "warmup": 2.0,
        "window": args.window or (6.0 if quick else 15.0),
        "client_cpus": f"1-{cores - 1}" if pin else None,
        "uas_port": free_port(),
        "latency_calls": 2 if quick else 5,
        "latency_seconds": 6 if quick else 41,
    }
    profile_calls = args.profile_calls or (5 if quick else 20)
    root = Path(tempfile.mkdtemp(prefix="bench_webrtc_"))
    work = root / "run"
    work.mkdir()
    t0 = time.monotonic()
    print(
        f"start: {uptime()}  ({cores} cores); {cfg['window']:g} s windows;"
        f" pbx on {'CPU 0' if pin else 'any CPU'}, clients on {cfg['client_cpus'] or 'any CPU'}",
        flush=True,
    )
    results: dict[str, Any] = {"capacity": [], "latency": [], "profile": None}
    procs: list[Process] = []
    try:
        with running(procs):
            sip_port, http_port = free_port(), free_port()
            config = write_config(work, sip_port, http_port, cfg["uas_port"], max(counts))
            argv = [
                PYTHON,
                __file__,
                "--serve",
                str(config),
                "--profile-out",
                str(work / "profile.pstats"),
            ]
            pbx = spawn("pbx", pinned(argv, "0" if pin else None), work)
            procs.append(pbx)
            wait_udp_bound(sip_port, pbx, timeout=30.0)
            time.sleep(0.5)
            url = f"ws://{HOST}:{http_port}/sip"
            cpu_start = cpu_seconds(pbx.pid)
            if args.only in (None, "latency"):
                print("\nlatency browser → engine → SIP phone:", flush=True)
                print(LAT_HEADER)
                base = None
                for kind in KINDS:
                    r = latency_run(pbx, url, kind, cfg, work)
                    results["latency"].append(r)
                    base = base or (r if kind == "rtp" else None)
                    print(describe_latency(r, base), flush=True)
            if args.only in (None, "capacity"):
                print("\nconcurrent calls to the echo test (600):", flush=True)
                print(CAP_HEADER)
                stop_kinds: set[str] = set()
                for n in counts:
                    base = None
                    for kind in KINDS:
                        if kind in stop_kinds:
                            continue
                        r = capacity_step(pbx, url, kind, n, cfg, work, False)
                        results["capacity"].append(r)
                        base = base or (r if kind == "rtp" else None)
                        print(describe(r, base), flush=True)
                        if r["up"] < 0.9 * n:
                            stop_kinds.add(kind)
                print(
                    f"\nprofiled step: {profile_calls} Opus browsers,"
                    " cProfile of pbx's loop thread:"
                )
                r = capacity_step(pbx, url, "opus", profile_calls, cfg, work, True)
                r["profile"] = profile_areas(work / "profile.pstats")
                results["profile"] = r
                print(CAP_HEADER)
                print(describe(r, None) + " (profiled)")
                for name, share in r["profile"]["areas"].items():
                    print(f"  {100 * share:5.1f}%  {name}")
                print("  cumulative, share of the profiled loop time:")
                for name, share in r["profile"]["entries"].items():
                    print(f"  {100 * share:5.1f}%  {name}")
            results["pbx_cpu_total_s"] = cpu_seconds(pbx.pid) - cpu_start
        errors = [ln for ln in pbx.stderr_lines() if "Traceback" in ln or "error" in ln.lower()]
        results["pbx_errors"] = errors[:5]
        print(f"\nend: {uptime()}; {time.monotonic() - t0:.0f} s")
        if errors:
            print(f"pbx stderr: {errors[:5]}")
        summarize(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
        else:
            print(
                json.dumps(
                    {k: v for k, v in results.items() if k != "latency"}
                    | {
                        "latency": [
                            {
                                **{k: v for k, v in r.items() if k != "latencies_ms"},
                                "p50_ms": percentile(r["latencies_ms"], 0.5),
                                "p99_ms": percentile(r["latencies_ms"], 0.99),
                            }
                            for r in results["latency"]
                        ]
                    }
                )
            )
    finally:
        if args.keep:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def summarize(results: dict[str, Any]) -> None:
    """The targets: latency p50/p99 < 60 ms, ≥ 20 browser calls per core."""
    for r in results["latency"]:
        if r["kind"] != "rtp" and r["latencies_ms"]:
            p99 = percentile(r["latencies_ms"], 0.99)
            verdict = "met" if p99 < 60 else "NOT met"
            print(f"latency target (< 60 ms), {LABELS[r['kind']]}: p99 {p99:.1f} ms, {verdict}")
    for kind in ("g711", "opus"):
        rows = [r for r in results["capacity"] if r["kind"] == kind]
        good = [r for r in rows if step_passed(r)]
        if not rows:
            continue
        if good:
            best = max(good, key=lambda r: r["n"])
            per_core = best["n"] / best["pbx_cpu"] if best["pbx_cpu"] > 0 else float("inf")
            print(
                f"{LABELS[kind]}: highest passing step {best['n']} calls at"
                f" {100 * best['pbx_cpu']:.0f}% of a core ({best['cpu_ms_per_call_s']:.1f} ms CPU"
                f" per call-second: about {per_core:.0f} calls per core at that cost;"
                f" target ≥ 20)"
            )
        else:
            print(f"{LABELS[kind]}: no step passed")


if __name__ == "__main__":
    main()
