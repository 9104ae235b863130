"""In-band DTMF through μ-law with noise, false alarms on speech and music, talk detection."""

from __future__ import annotations

import numpy as np
import pytest

from pbx.media.detect import DtmfDetector, TalkDetector, dtmf_powers, frame_dbov
from tests.media.signals import (
    detect_stream,
    dtmf_string,
    dtmf_tone,
    music_like,
    speech_like,
    through_ulaw,
)

ALL_DIGITS = "0123456789*#ABCD"


def test_goertzel_basis_peaks_at_the_tone_frequencies() -> None:
    frames = np.stack([dtmf_tone(d, 160) for d in "159D"])
    powers = dtmf_powers(frames)
    assert powers[:, :4].argmax(axis=1).tolist() == [0, 1, 2, 3]
    assert powers[:, 4:].argmax(axis=1).tolist() == [0, 1, 2, 3]


def test_every_digit_alone_is_detected_once() -> None:
    for digit in ALL_DIGITS:
        pcm = through_ulaw(np.concatenate([np.zeros(333), dtmf_tone(digit, 800), np.zeros(800)]))
        assert detect_stream(DtmfDetector(), pcm) == digit


@pytest.mark.parametrize("snr_db", [15, 20, 30])
def test_digit_strings_in_white_noise_through_ulaw(snr_db: float) -> None:
    rng = np.random.default_rng(int(snr_db))
    for _ in range(8):
        digits = "".join(rng.choice(list(ALL_DIGITS), 16))
        assert detect_stream(DtmfDetector(), dtmf_string(digits, rng, snr_db)) == digits


def test_q24_minimum_40ms_tone_and_40ms_pause() -> None:
    rng = np.random.default_rng(40)
    for _ in range(5):
        digits = "".join(rng.choice(list(ALL_DIGITS), 16))
        pcm = dtmf_string(digits, rng, 25, tone_ms=(40, 41), pause_ms=(40, 41))
        assert detect_stream(DtmfDetector(), pcm) == digits


def test_repeated_digit_needs_a_gap() -> None:
    rng = np.random.default_rng(3)
    assert detect_stream(DtmfDetector(), dtmf_string("5555", rng, 30)) == "5555"
    one_long = through_ulaw(dtmf_tone("5", 8000))  # one second: one digit
    assert detect_stream(DtmfDetector(), one_long) == "5"


def test_twist_limits() -> None:
    for twist_db, expected in [(-7.0, "8"), (3.5, "8"), (-10.0, ""), (6.0, "")]:
        pcm = through_ulaw(dtmf_tone("8", 1600, level_dbm0=-8, twist_db=twist_db))
        assert detect_stream(DtmfDetector(), pcm) == expected, twist_db


def test_too_quiet_is_ignored() -> None:
    pcm = through_ulaw(dtmf_tone("1", 1600, level_dbm0=-40))
    assert detect_stream(DtmfDetector(), pcm) == ""


def test_no_false_digits_in_60s_of_speech_like_noise() -> None:
    assert detect_stream(DtmfDetector(), speech_like(60, np.random.default_rng(7))) == ""


def test_no_false_digits_in_60s_of_music_like_chords() -> None:
    assert detect_stream(DtmfDetector(), music_like(60, np.random.default_rng(8))) == ""


def test_batched_rows_equal_single_channel_runs() -> None:
    rng = np.random.default_rng(11)
    streams = [dtmf_string("".join(rng.choice(list(ALL_DIGITS), 6)), rng, 20) for _ in range(5)]
    frames = min(len(s) for s in streams) // 160
    block = np.stack([s[: frames * 160].reshape(frames, 160) for s in streams], axis=1)
    det = DtmfDetector()
    rows = np.array([0, 2, 4], dtype=np.intp)  # only subscribed rows
    found: dict[int, str] = {0: "", 2: "", 4: ""}
    for f in range(frames):
        for row, digit in det.process(block[f], rows):
            found[row] += digit
    for row in rows:
        assert found[int(row)] == detect_stream(DtmfDetector(), streams[row][: frames * 160])
        assert found[int(row)]


def test_frame_dbov() -> None:
    full = np.full((1, 160), 32767, dtype=np.int16)
    assert frame_dbov(full)[0] == pytest.approx(0.0, abs=0.001)
    assert frame_dbov(np.zeros((1, 160), dtype=np.int16))[0] == -np.inf


def test_talk_detector_onset_and_hangover() -> None:
    det = TalkDetector(threshold_dbov=-40, onset=2, hangover=5)
    rows = np.array([0], dtype=np.intp)
    loud = np.full((1, 160), 3000, dtype=np.int16)
    quiet = np.zeros((1, 160), dtype=np.int16)
    log = []
    for i, frame in enumerate([quiet] * 2 + [loud] * 10 + [quiet] * 8):
        started, stopped = det.process(frame, rows, now=i * 0.02)
        log += [("start", i) for _ in started] + [("stop", i, round(d, 3)) for _, d in stopped]
    assert log == [("start", 3), ("stop", 16, 0.2)]


def test_alternate_ticks_find_exactly_what_every_tick_finds() -> None:
    rng = np.random.default_rng(12)
    streams = [
        dtmf_string("".join(rng.choice(list(ALL_DIGITS), 10)), rng, snr, tone_ms=ms, pause_ms=ms)
        for snr, ms in [(15, (40, 41)), (20, (40, 61)), (25, (60, 120)), (30, (40, 41))] * 2
    ]
    frames = min(len(s) for s in streams) // 160
    block = np.stack([s[: frames * 160].reshape(frames, 160) for s in streams], axis=1)
    subscribed = [np.arange(8), np.array([0, 1, 2, 3, 5, 6, 7]), np.arange(8)]
    found: dict[str, list[tuple[int, int, str]]] = {}
    for mode in ("every tick", "alternate, held", "alternate, previous block"):
        det = DtmfDetector(alternate=mode != "every tick")
        found[mode] = []
        for f in range(frames):
            rows = subscribed[0 if f < 150 else 1 if f < 154 else 2]  # the rows change twice
            if f == 154:
                det.reset([4])
            previous = block[f - 1] if mode.endswith("block") and f else None
            found[mode] += [(f, r, d) for r, d in det.process(block[f], rows, None, previous)]
    assert found["alternate, held"] == found["every tick"]
    assert found["alternate, previous block"] == found["every tick"]
    assert len(found["every tick"]) > 60
