"""The example call center against peers we did not write: SIPp with its bundled G.711 and
RFC 2833 pcaps, baresip as an agent's softphone, and raw RTP capture."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import soundfile
from attrs import evolve

from pbx.app import Application
from pbx.calls.dialplan import NumberPattern, Route, Target, parse_route
from pbx.calls.events import CallEvent, DigitReceived
from pbx.calls.manager import Call, CallManager, Leg
from pbx.config import AppConfig, CallbacksConfig, RtpConfig, TrunkConfig, load_config
from pbx.media import g711
from pbx.sip.timers import TimerConfig
from pbx.store import Store
from tests.conftest import free_port, need_module
from tests.peers.baresip import Baresip
from tests.peers.sipp import SCENARIOS, run_sipp, wait_for_sip

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "callcenter.toml"
T = TypeVar("T")


def example_config(tmp_path: Path, port: int) -> AppConfig:
    config = load_config(EXAMPLE)
    rtp = free_port()
    return evolve(
        config,
        sip=evolve(config.sip, port=port),
        http=evolve(config.http, port=0),
        rtp=RtpConfig(rtp + 100, rtp + 400),
        store_path=str(tmp_path / "callcenter.db"),
        recordings_dir=str(tmp_path / "recordings"),
        voicemail_dir=str(tmp_path / "voicemail"),
    )


def pcap_dir(tmp_path: Path) -> Path:
    """A working directory with SIPp's bundled pcaps under pcap/, as its scenarios expect."""
    work = tmp_path / "sipp"
    (work / "pcap").mkdir(parents=True)
    for pcap in Path("/usr/share/sip-tester").glob("*.pcap"):
        (work / "pcap" / pcap.name).symlink_to(pcap)
    return work


def with_app(
    tmp_path: Path,
    body: Callable[[Application], Awaitable[T]],
    port: int | None = None,
    configure: Callable[[AppConfig], AppConfig] | None = None,
    timers: TimerConfig | None = None,
) -> T:
    """Run ``body`` against the example application (its config passed through
    ``configure`` first, when given; SIP timers from ``timers``)."""

    async def main() -> T:
        config = example_config(tmp_path, port or free_port())
        app = Application(configure(config) if configure is not None else config, timers=timers)
        await app.start()
        try:
            return await body(app)
        finally:
            await app.close()

    return asyncio.run(main())


@pytest.mark.peer
def test_sipp_pcap_audio_to_echo_comes_back_and_digit_is_detected(tmp_path: Path) -> None:
    work = pcap_dir(tmp_path)
    received: dict[int, list[bytes]] = {}
    sent: dict[int, list[bytes]] = {}
    events: list[CallEvent] = []

    def tap(direction: str, channel: int, data: bytes) -> None:
        if direction == "in":
            received.setdefault(channel, []).append(data[12:])
        elif direction == "out":
            sent.setdefault(channel, []).append(data[12:])

    async def body(app: Application) -> tuple[int, str]:
        app.media.tap = tap
        app.on_call_event(lambda event, now: events.append(event))
        return await run_sipp(
            ["-sn", "uac_pcap", "-s", "600", f"127.0.0.1:{app.port}", "-m", "1", "-timeout", "30"],
            work,
        )

    rc, screen = with_app(tmp_path, body)
    assert rc == 0, screen
    [channel] = received
    # The pcap is 4.7 s of PCMA in 30 ms packets (plus 4-byte telephone-events); the
    # engine re-frames to 20 ms and sends it back: the same bytes, in order.
    audio_in = b"".join(p for p in received[channel] if len(p) == 240)
    audio_out = b"".join(p for p in sent[channel] if len(p) == 160)
    assert len(audio_in) > 8000 * 4
    assert len(audio_out) >= len(audio_in) * 0.95
    for offset in (8000, 16000, 24000, 32000):
        assert audio_in[offset : offset + 1600] in audio_out
    digits = [e.digit for e in events if isinstance(e, DigitReceived)]
    assert digits == ["1"]


@pytest.mark.peer
def test_sipp_rfc2833_digits_reach_the_application_in_order(tmp_path: Path) -> None:
    work = pcap_dir(tmp_path)
    digits: list[tuple[str, str]] = []

    def collect(manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        manager.answer(leg.id, now)

    async def body(app: Application) -> tuple[int, str]:
        app.calls.dialplan.routes.insert(0, Route(Target("app", "digits"), NumberPattern("555")))
        app.route("app:digits", collect)
        app.on_call_event(
            lambda e, now: (
                digits.append((e.digit, e.source)) if isinstance(e, DigitReceived) else None
            )
        )
        return await run_sipp(
            [
                "-sf",
                str(SCENARIOS / "uac_dtmf.xml"),
                "-s",
                "555",
                f"127.0.0.1:{app.port}",
                "-m",
                "1",
                "-timeout",
                "30",
            ],
            work,
        )

    rc, screen = with_app(tmp_path, body)
    assert rc == 0, screen
    assert digits == [("4", "rfc4733"), ("2", "rfc4733"), ("7", "rfc4733"), ("#", "rfc4733")]


@pytest.mark.peer
def test_prompt_played_by_pbx_reaches_the_peer_bit_exact(tmp_path: Path) -> None:
    capture = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    capture.bind(("127.0.0.1", 0))
    capture.setblocking(False)
    rtp_port = capture.getsockname()[1]
    packets: list[bytes] = []

    async def body(app: Application) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        loop.add_reader(capture, lambda: packets.append(capture.recv(2048)))
        try:
            return await run_sipp(
                [
                    "-sf",
                    str(SCENARIOS / "uac_listen.xml"),
                    "-s",
                    "700",
                    f"127.0.0.1:{app.port}",
                    "-key",
                    "rtpport",
                    str(rtp_port),
                    "-m",
                    "1",
                    "-timeout",
                    "30",
                ],
                tmp_path,
            )
        finally:
            loop.remove_reader(capture)

    rc, screen = with_app(tmp_path, body)
    capture.close()
    assert rc == 0, screen
    tone, rate = soundfile.read(ROOT / "examples" / "prompts" / "test-tone.wav", dtype="int16")
    assert rate == 8000
    expected = g711.ulaw_decode(g711.ulaw_encode(tone))
    packets.sort(key=lambda p: int.from_bytes(p[2:4], "big"))
    assert all(p[1] & 0x7F == 0 for p in packets)  # PCMU
    heard = g711.ulaw_decode(np.frombuffer(b"".join(p[12:] for p in packets), dtype=np.uint8))
    assert len(heard) >= len(tone)
    # Find the tone's start (after any leading silence) and compare sample for sample.
    start = int(np.argmax(np.abs(heard) > 0)) - int(np.argmax(np.abs(expected) > 0))
    assert start >= 0
    assert np.array_equal(heard[start : start + len(expected)], expected)


@pytest.mark.peer
def test_baresip_agent_registers_and_answers_a_call_bridged_from_sipp(tmp_path: Path) -> None:
    work = pcap_dir(tmp_path)
    tone = tmp_path / "agent.wav"
    t = np.arange(8000 * 30) / 8000
    soundfile.write(tone, (3000 * np.sin(2 * np.pi * 660 * t)).astype(np.int16), 8000)
    port = free_port()
    phone = Baresip(
        tmp_path / "baresip", user="2001", password="pw2001", registrar_port=port, audio=tone
    )

    async def body(app: Application) -> tuple[int, str, list[str]]:
        await phone.start()
        try:
            for _ in range(100):
                if app.location.lookup("2001", app.sip.now()):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("baresip did not register:\n" + phone.log())
            rc, screen = await run_sipp(
                [
                    "-sn",
                    "uac_pcap",
                    "-s",
                    "2001",
                    f"127.0.0.1:{app.port}",
                    "-m",
                    "1",
                    "-timeout",
                    "30",
                ],
                work,
            )
            await asyncio.sleep(0.3)
            cdr = [row["disposition"] for row in app.store.cdrs(did="2001")]
            return rc, screen, cdr
        finally:
            await phone.stop()

    rc, screen, cdr = with_app(tmp_path, body, port)
    assert rc == 0, screen + phone.log()
    assert cdr == ["answered"]
    heard = phone.heard()
    # The SIPp caller's recorded speech reached the agent through our bridge.
    assert len(heard) > 8000 * 3
    assert float(np.sqrt(np.mean(heard.astype(np.float64) ** 2))) > 100


def in_progress(db: Path) -> bool:
    """Read-only look (opening a Store would run its crash recovery)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            rows = conn.execute("SELECT 1 FROM cdr WHERE disposition='in_progress'").fetchall()
        except sqlite3.Error:
            return False
    return bool(rows)


def start_pbx_process(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """``python -m pbx run`` on the example configuration, moved to ``port``."""
    config = tmp_path / "cc.toml"
    text = EXAMPLE.read_text().replace('listen = "127.0.0.1:5060"', f'listen = "127.0.0.1:{port}"')
    text = text.replace('listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:0"')
    text = text.replace('dir = "prompts"', f'dir = "{ROOT / "examples" / "prompts"}"')
    text = text.replace('file = "ivr/', f'file = "{ROOT / "examples" / "ivr"}/')
    rtp = free_port()
    text = text.replace('ports = "20000-29999"', f'ports = "{rtp + 100}-{rtp + 300}"')
    config.write_text(text)
    return subprocess.Popen(
        [sys.executable, "-m", "pbx", "run", str(config)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.peer
def test_sigterm_hangs_up_calls_with_bye_and_completes_their_cdr(tmp_path: Path) -> None:
    port = free_port()
    proc = start_pbx_process(tmp_path, port)
    try:

        async def call() -> tuple[int, str]:
            await wait_for_sip(port)
            sipp = asyncio.ensure_future(
                run_sipp(
                    [
                        "-sf",
                        str(SCENARIOS / "uac_listen.xml"),
                        "-s",
                        "600",
                        f"127.0.0.1:{port}",
                        "-key",
                        "rtpport",
                        str(free_port()),
                        "-m",
                        "1",
                        "-timeout",
                        "20",
                    ],
                    tmp_path,
                    timeout=20,
                )
            )
            db = tmp_path / "callcenter.db"
            for _ in range(100):
                await asyncio.sleep(0.05)
                if db.exists() and in_progress(db):
                    break
            proc.send_signal(signal.SIGTERM)
            return await sipp

        rc, screen = asyncio.run(call())
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert rc == 0, screen  # SIPp got the BYE it waits for and answered it
    store = Store(tmp_path / "callcenter.db")
    assert store.interrupted == 0
    [row] = store.cdrs(did="600")
    assert row["disposition"] == "answered" and row["hangup_side"] == "pbx"
    assert row["end_time"] is not None


@pytest.mark.peer
def test_killing_the_pbx_mid_call_leaves_a_cdr_row_saying_so(tmp_path: Path) -> None:
    port = free_port()
    proc = start_pbx_process(tmp_path, port)
    try:
        work = pcap_dir(tmp_path)

        async def call() -> None:
            await wait_for_sip(port)
            sipp = asyncio.ensure_future(
                run_sipp(
                    [
                        "-sn",
                        "uac_pcap",
                        "-s",
                        "600",
                        f"127.0.0.1:{port}",
                        "-m",
                        "1",
                        "-timeout",
                        "20",
                    ],
                    work,
                    timeout=20,
                )
            )
            db = tmp_path / "callcenter.db"
            for _ in range(100):
                await asyncio.sleep(0.05)
                if db.exists() and in_progress(db):
                    break
            os.killpg(proc.pid, signal.SIGKILL)
            sipp.cancel()
            try:
                await sipp
            except (asyncio.CancelledError, AssertionError):
                pass

        asyncio.run(call())
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.05)
    store = Store(tmp_path / "callcenter.db")
    assert store.interrupted == 1
    [row] = store.cdrs(did="600")
    assert row["disposition"] == "interrupted" and row["end_time"] is not None


@pytest.mark.peer
def test_caller_from_outside_the_trusted_network_cannot_dial_out(tmp_path: Path) -> None:
    """Toll fraud: an unknown address is challenged and never reaches the trunk."""
    port = free_port()
    carrier = free_port()

    async def body(app: Application) -> tuple[int, str, int]:
        return (
            *await run_sipp(
                [
                    "-sn",
                    "uac",
                    "-s",
                    "95551234",
                    "-i",
                    "127.0.0.2",
                    f"127.0.0.1:{port}",
                    "-m",
                    "1",
                    "-timeout",
                    "10",
                    "-recv_timeout",
                    "3000",
                ],
                tmp_path,
            ),
            carrier,
        )

    def config_with_trunk(tmp: Path, p: int) -> AppConfig:
        base = example_config(tmp, p)
        dialplan = (
            *base.dialplan,
            parse_route(
                {
                    "number": "re:^9(\\d{3,})$",
                    "from": "user",
                    "target": "trunk",
                    "trunk": "carrier",
                },
                "test",
            ),
        )
        return evolve(
            base,
            sip=evolve(base.sip, trusted_networks=("127.0.0.1/32",)),
            trunks=(TrunkConfig("carrier", "127.0.0.1", carrier),),
            dialplan=dialplan,
            campaigns={},
            callbacks=CallbacksConfig(),
        )

    async def main() -> tuple[int, str, int, list[dict[str, object]]]:
        app = Application(config_with_trunk(tmp_path, port))
        await app.start()
        try:
            rc, screen, _ = await body(app)
            return rc, screen, len(app.calls.calls), app.store.cdrs()
        finally:
            await app.close()

    rc, screen, live, rows = asyncio.run(main())
    # SIPp's stock uac cannot answer the 401 challenge: the call fails, nothing is placed.
    assert rc != 0
    assert "401" in screen
    assert live == 0 and rows == []


@pytest.mark.peer
def test_pyvoip_registers_and_calls_the_echo_test(tmp_path: Path) -> None:
    """pyVoIP (a library UA we did not write) registers with digest auth, places a call
    to 600 and hears its own tone come back."""
    voip: Any = need_module("pyVoIP.VoIP")
    port = free_port()
    rtp_low = free_port()

    def phone_call() -> tuple[str, bytes]:
        phone = voip.VoIPPhone(
            "127.0.0.1",
            port,
            "2003",
            "pw2003",
            myIP="127.0.0.1",
            sipPort=free_port(),
            rtpPortLow=rtp_low + 10,
            rtpPortHigh=rtp_low + 50,
        )
        phone.start()
        try:
            call = phone.call("600")
            for _ in range(100):
                if call.state == voip.CallState.ANSWERED:
                    break
                time.sleep(0.05)
            state = str(call.state)
            # pyVoIP speaks 8-bit unsigned linear audio at 8 kHz.
            t = np.arange(8000 * 2) / 8000
            tone = (128 + 60 * np.sin(2 * np.pi * 440 * t)).astype(np.uint8).tobytes()
            heard = b""
            for i in range(0, len(tone), 160):
                call.write_audio(tone[i : i + 160])
                time.sleep(0.02)
                heard += call.read_audio(160, blocking=True)
            call.hangup()
            return state, heard
        finally:
            phone.stop()

    async def body(app: Application) -> tuple[str, bytes, list[dict[str, object]]]:
        state, heard = await asyncio.to_thread(phone_call)
        await asyncio.sleep(0.3)
        return state, heard, app.store.cdrs(did="600")

    state, heard, rows = with_app(tmp_path, body, port)
    assert state == "CallState.ANSWERED"
    audio = np.frombuffer(heard, dtype=np.uint8).astype(np.int16) - 128
    # The second half of what came back is our 440 Hz tone, echoed.
    tail = audio[len(audio) // 2 :].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(tail))
    assert abs(np.argmax(spectrum[1:]) + 1 - 440 * len(tail) / 8000) < 3
    [row] = rows
    assert row["disposition"] == "answered" and row["caller"] == "2003"


@pytest.mark.peer
def test_event_stream_delivers_call_events_to_a_subscriber(tmp_path: Path) -> None:
    """``async for event in app.events()`` sees a SIPp call start and end."""
    from pbx.calls.events import CallEnded, CallStarted

    async def body(app: Application) -> tuple[int, str, list[object]]:
        seen: list[object] = []

        async def subscriber() -> None:
            async for event in app.events():
                seen.append(event)

        task = asyncio.ensure_future(subscriber())
        await asyncio.sleep(0)
        rc, screen = await run_sipp(
            ["-sn", "uac", "-s", "600", f"127.0.0.1:{app.port}", "-m", "1", "-timeout", "10"],
            tmp_path,
        )
        await asyncio.sleep(0.2)
        task.cancel()
        return rc, screen, seen

    rc, screen, seen = with_app(tmp_path, body)
    assert rc == 0, screen
    started = [e for e in seen if isinstance(e, CallStarted)]
    ended = [e for e in seen if isinstance(e, CallEnded)]
    assert len(started) == 1 and started[0].number == "600"
    assert len(ended) == 1 and ended[0].call == started[0].call


@pytest.mark.peer
def test_embedding_example_answers_its_own_route(tmp_path: Path) -> None:
    """``examples/embed.py`` runs: its DID 500 answers and hears the digits pressed."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "embed.py"),
            "--sip",
            f"127.0.0.1:{port}",
            "--http",
            "127.0.0.1:0",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        async def call() -> tuple[int, str]:
            await wait_for_sip(port)
            return await run_sipp(
                ["-sn", "uac", "-s", "500", f"127.0.0.1:{port}", "-m", "1", "-timeout", "10"],
                tmp_path,
            )

        rc, screen = asyncio.run(call())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    assert rc == 0, screen
    rows = Store(tmp_path / "callcenter.db").cdrs(did="500")
    assert [r["disposition"] for r in rows] == ["answered"]


def test_a_clean_stop_logs_the_agents_off_with_reason_shutdown(tmp_path: Path) -> None:
    from pbx.acd import events as acd

    async def body(app: Application) -> None:
        app.queues.feed(acd.AgentLogin("2001"), app.sip.now())
        app.sip.flush()

    with_app(tmp_path, body)
    rows = Store(tmp_path / "callcenter.db").query(
        "SELECT event, agent, queue, data FROM queue_log WHERE agent='2001' ORDER BY id"
    )
    logins = [r for r in rows if r["event"] == "AGENTLOGIN"]
    logoffs = [r for r in rows if r["event"] == "AGENTLOGOFF"]
    assert logins and len(logoffs) == len(logins)
    assert {r["queue"] for r in logoffs} == {r["queue"] for r in logins}
    assert all(r["data"] == {"reason": "shutdown"} for r in logoffs)
    # The next start finds nothing left open (no "interrupted" sessions).
    assert Store(tmp_path / "callcenter.db").sessions_closed == 0


@pytest.mark.peer
def test_the_cdr_names_why_the_call_ended_from_the_bye_reason_header(tmp_path: Path) -> None:
    async def body(app: Application) -> tuple[int, str, list[dict[str, Any]]]:
        rc, screen = await run_sipp(
            [
                "-sf",
                str(SCENARIOS / "uac_bye_reason.xml"),
                f"127.0.0.1:{app.port}",
                "-s",
                "600",
                "-m",
                "1",
                "-timeout",
                "15",
            ],
            tmp_path,
        )
        for _ in range(50):
            rows = [r for r in app.store.cdrs() if r["end_time"] is not None]
            if rows:
                break
            await asyncio.sleep(0.05)
        return rc, screen, app.store.cdrs()

    rc, screen, rows = with_app(tmp_path, body)
    assert rc == 0, screen
    [row] = rows
    assert row["hangup_side"] == "caller"
    assert row["hangup_cause"] == 'bye; Q.850;cause=16;text="Normal call clearing"'
