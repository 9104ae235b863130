"""The audio sources and checks of pbx.testing, without a network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.media.detect import DtmfDetector
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.prompts import read_prompt
from pbx.testing.audio import (
    FRAME,
    AudioCursor,
    Silence,
    Tone,
    dbov,
    dtmf_samples,
    frames_of,
    longest_tone,
    match_prompt,
    tone_share,
)

PROMPTS = Path(__file__).parents[2] / "examples" / "prompts"


def through_ulaw(pcm: np.ndarray) -> np.ndarray:
    return ulaw_decode(ulaw_encode(np.asarray(pcm, dtype=np.int16)))


def test_tone_level_and_phase_continue_across_frames() -> None:
    cursor = AudioCursor(Tone(440, level_dbov=-15.0))
    joined = np.concatenate([cursor.next_frame() for _ in range(50)])
    assert joined.dtype == np.int16 and len(joined) == 50 * FRAME
    assert dbov(joined) == pytest.approx(-15.0, abs=0.05)
    assert np.array_equal(joined, Tone(440, level_dbov=-15.0).samples(0, 50 * FRAME))


def test_limited_audio_goes_silent_after_its_end() -> None:
    cursor = AudioCursor(Tone(1000, seconds=0.05))
    frames = [cursor.next_frame() for _ in range(4)]
    assert [bool(f.any()) for f in frames] == [True, True, True, False]
    assert not frames[2][80:].any()  # 0.05 s = 400 samples: half of the third frame
    assert cursor.finished
    quiet = AudioCursor(Silence(0.02))
    assert not quiet.next_frame().any() and quiet.finished
    assert not AudioCursor(None).next_frame().any()


def test_samples_and_sound_files_play_once(tmp_path: Path) -> None:
    samples = np.arange(300, dtype=np.int16)
    cursor = AudioCursor(samples)
    assert np.array_equal(cursor.next_frame(), samples[:160])
    second = cursor.next_frame()
    assert np.array_equal(second[:140], samples[160:]) and not second[140:].any()
    wav = AudioCursor(PROMPTS / "test-tone.wav")
    first = np.concatenate([wav.next_frame() for _ in range(10)])
    assert np.array_equal(first, read_prompt(PROMPTS / "test-tone.wav")[: 10 * FRAME])


def test_tone_share_tells_the_test_frequencies_apart() -> None:
    frames = frames_of(np.concatenate([Tone(f).samples(0, 8 * FRAME) for f in (440, 660, 1000)]))
    at_440, at_660 = tone_share(frames, 440), tone_share(frames, 660)
    assert (at_440[:8] > 0.99).all() and (at_440[8:] < 0.01).all()
    assert (at_660[8:16] > 0.99).all() and (at_660[:8] < 0.01).all()
    assert (tone_share(frames_of(through_ulaw(Tone(440).samples(0, 1600))), 440) > 0.95).all()


def test_longest_tone_bridges_one_lost_frame_but_not_two() -> None:
    tone = Tone(440).samples(0, 20 * FRAME)
    one_gap = tone.copy()
    one_gap[5 * FRAME : 6 * FRAME] = 0
    assert longest_tone(frames_of(one_gap), 440) == (20 * 0.02, 0)
    two_gap = tone.copy()
    two_gap[5 * FRAME : 7 * FRAME] = 0
    seconds, start = longest_tone(frames_of(two_gap), 440)
    assert seconds == pytest.approx(13 * 0.02) and start == 7
    assert longest_tone(frames_of(tone // 1000), 440)[0] == 0.0  # too quiet (−75 dBov)


@settings(max_examples=25, deadline=None)
@given(offset=st.integers(0, 4000), gain=st.floats(0.1, 1.0))
def test_prompt_fingerprint_found_at_any_offset_and_gain_through_ulaw(
    offset: int, gain: float
) -> None:
    prompt = read_prompt(PROMPTS / "en" / "voicemail-greeting.wav")[:8000]
    heard = np.zeros(offset + len(prompt) + 1000, dtype=np.int16)
    heard[offset : offset + len(prompt)] = np.rint(prompt * gain).astype(np.int16)
    score, found = match_prompt(through_ulaw(heard), prompt)
    assert score > 0.95
    assert found == offset


def test_prompt_fingerprint_rejects_other_audio() -> None:
    greeting = read_prompt(PROMPTS / "en" / "voicemail-greeting.wav")[:8000]
    moh = read_prompt(PROMPTS / "moh.wav")
    assert match_prompt(moh, greeting)[0] < 0.5
    noise = np.random.default_rng(1).normal(0, 3000, 20000).astype(np.int16)
    assert match_prompt(noise, greeting)[0] < 0.2
    assert match_prompt(np.zeros(20000, dtype=np.int16), greeting) == (0.0, 0)
    assert match_prompt(greeting[:100], greeting) == (0.0, -1)


def test_inband_dtmf_bursts_are_detected_by_the_pbx_detector() -> None:
    digits = "159#*0D"
    signal = through_ulaw(np.concatenate([dtmf_samples(d) for d in digits]))
    detector = DtmfDetector()
    detector.reset([0])
    heard = []
    for frame in frames_of(signal):
        heard.extend(digit for _, digit in detector.process(frame[None, :], np.array([0])))
    assert "".join(heard) == digits
    with pytest.raises(ValueError, match="no DTMF tone for 'x'"):
        dtmf_samples("x")
