"""The conference room (850, PIN 4321) with a caller we did not write: SIPp sends the PIN
as RFC 2833 digits from its bundled pcaps, then its bundled speech; the room's recording
must hold that speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from pbx.app import Application
from pbx.calls.events import CallEvent, ConferenceChanged
from pbx.media.g711 import alaw_decode
from tests.net.test_app_peers import pcap_dir, with_app
from tests.peers.sipp import SCENARIOS, run_sipp
from tests.rtp.helpers import read_pcap_udp_payloads

SPEECH = Path("/usr/share/sip-tester/g711a.pcap")


def best_match(haystack: np.ndarray, needle: np.ndarray) -> float:
    """The highest normalised cross-correlation of ``needle`` anywhere in ``haystack``."""
    h = haystack.astype(np.float64)
    n = needle.astype(np.float64) - needle.mean()
    size = 1 << int(np.ceil(np.log2(len(h) + len(n))))
    corr = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(n, size)), size)[
        : len(h) - len(n) + 1
    ]
    window = np.ones(len(n))
    sums = np.convolve(h, window, "valid")
    squares = np.convolve(h * h, window, "valid")
    energy = np.sqrt(np.maximum(squares - sums * sums / len(n), 1e-9) * float(n @ n))
    return float(np.max(corr / energy))


@pytest.mark.peer
def test_a_sipp_caller_enters_the_pin_and_its_speech_is_in_the_room(tmp_path: Path) -> None:
    work = pcap_dir(tmp_path)
    events: list[CallEvent] = []

    async def body(app: Application) -> tuple[int, str]:
        app.on_call_event(lambda event, now: events.append(event))
        return await run_sipp(
            [
                "-sf",
                str(SCENARIOS / "uac_conference.xml"),
                "-s",
                "850",
                f"127.0.0.1:{app.port}",
                "-m",
                "1",
                "-timeout",
                "40",
            ],
            work,
        )

    rc, screen = with_app(tmp_path, body)
    assert rc == 0, screen
    changes = [(e.change, e.members) for e in events if isinstance(e, ConferenceChanged)]
    assert changes == [("joined", 1), ("left", 0)]  # the PIN from SIPp's RFC 2833 digits
    (recording,) = (tmp_path / "recordings" / "conference" / "main").glob("*.wav")
    audio, rate = soundfile.read(recording, dtype="int16")
    assert rate == 8000
    payloads = [d[12:] for _, d in read_pcap_udp_payloads(SPEECH) if d[1] & 0x7F == 8]
    speech = alaw_decode(np.frombuffer(b"".join(payloads), dtype=np.uint8))
    for start in (1.0, 2.5):  # two seconds of the speech, each found in the room's file
        piece = speech[int(start * 8000) : int((start + 0.5) * 8000)]
        assert best_match(np.asarray(audio), piece) > 0.9
