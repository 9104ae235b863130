"""The example contact center's IVR and queues against peers we did not write: SIPp
navigating the IVR with its bundled RFC 2833 pcaps, and a real baresip softphone as the
agent who answers a queue call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pbx.acd.events import AgentLogin
from pbx.app import Application
from pbx.testing.audio import frames_of, longest_tone
from tests.conftest import free_port
from tests.net.test_app_peers import pcap_dir, with_app
from tests.peers.baresip import Baresip
from tests.peers.sipp import SCENARIOS, run_sipp


@pytest.mark.peer
def test_sipp_presses_1_in_the_ivr_and_reaches_the_sales_queue(tmp_path: Path) -> None:
    work = pcap_dir(tmp_path)

    async def body(app: Application) -> tuple[int, str, list[dict[str, object]]]:
        rc, screen = await run_sipp(
            [
                "-sf",
                str(SCENARIOS / "uac_ivr_sales.xml"),
                "-s",
                "100",
                f"127.0.0.1:{app.port}",
                "-m",
                "1",
                "-timeout",
                "30",
            ],
            work,
        )
        await asyncio.sleep(0.3)
        return rc, screen, list(app.store.events())

    rc, screen, rows = with_app(tmp_path, body)
    assert rc == 0, screen
    events = [(r["event"], r["queue"]) for r in rows]
    assert ("ENTERQUEUE", "sales") in events, events
    assert ("ABANDON", "sales") in events  # SIPp hung up while waiting: nobody logged in
    (entered,) = [r for r in rows if r["event"] == "ENTERQUEUE"]
    assert entered["data"]["position"] == 1


@pytest.mark.peer
def test_baresip_agent_answers_a_sipp_call_to_the_sales_queue(tmp_path: Path) -> None:
    work = pcap_dir(tmp_path)
    tone = tmp_path / "agent.wav"
    t = np.arange(8000 * 30) / 8000
    soundfile.write(tone, (3000 * np.sin(2 * np.pi * 660 * t)).astype(np.int16), 8000)
    port = free_port()
    phone = Baresip(
        tmp_path / "baresip", user="2001", password="pw2001", registrar_port=port, audio=tone
    )

    async def body(app: Application) -> tuple[int, str, list[dict[str, object]]]:
        await phone.start()
        try:
            for _ in range(100):
                if app.location.lookup("2001", app.sip.now()):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("baresip did not register:\n" + phone.log())
            app.queues.feed(AgentLogin("2001"), app.sip.now())
            rc, screen = await run_sipp(
                ["-sn", "uac_pcap", "-s", "200", f"127.0.0.1:{app.port}", "-m", "1"]
                + ["-timeout", "30"],
                work,
            )
            await asyncio.sleep(0.5)
            return rc, screen, list(app.store.cdrs(did="200"))
        finally:
            await phone.stop()

    rc, screen, cdrs = with_app(tmp_path, body, port)
    assert rc == 0, screen + phone.log()
    (cdr,) = cdrs
    assert cdr["queue"] == "sales" and cdr["agent"] == "2001", cdr
    assert cdr["disposition"] == "answered"
    recording = Path(str(cdr["recording"]))
    assert recording.is_file()
    audio, rate = soundfile.read(recording, dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2
    # The agent's 660 Hz is on the right channel only; SIPp's recorded speech on the left.
    assert longest_tone(frames_of(audio[:, 1].copy()), 660)[0] >= 1.0
    assert longest_tone(frames_of(audio[:, 0].copy()), 660)[0] == 0.0
    assert float(np.sqrt(np.mean(audio[:, 0].astype(np.float64) ** 2))) > 100
    heard = phone.heard()
    assert float(np.sqrt(np.mean(heard.astype(np.float64) ** 2))) > 100
