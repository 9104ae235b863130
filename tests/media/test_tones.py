"""Call-progress tones: frequency by FFT peak, cadence by on/off runs, phase continuity."""

from __future__ import annotations

import numpy as np
import pytest

from pbx.errors import ConfigError
from pbx.media.tones import ToneSource, dbm0_to_amplitude, render_tone, silence, tone


def _peaks(x: np.ndarray, count: int) -> list[float]:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    found: list[float] = []
    for i in np.argsort(spec)[::-1]:
        if all(abs(freqs[i] - f) > 20 for f in found):
            found.append(float(freqs[i]))
        if len(found) == count:
            break
    return sorted(found)


def _on_off_runs_ms(x: np.ndarray) -> list[tuple[bool, int]]:
    frames = x[: len(x) // 40 * 40].reshape(-1, 40)  # 5 ms blocks
    on = np.abs(frames).max(axis=1) > 0
    runs: list[tuple[bool, int]] = []
    for v in on:
        if runs and runs[-1][0] == v:
            runs[-1] = (bool(v), runs[-1][1] + 5)
        else:
            runs.append((bool(v), 5))
    return runs


@pytest.mark.parametrize(
    ("country", "name", "freqs", "cadence"),
    [
        ("us", "ringback", [440, 480], [(True, 2000), (False, 4000)]),
        ("us", "busy", [480, 620], [(True, 500), (False, 500)]),
        ("uk", "ringback", [400, 450], [(True, 400), (False, 200), (True, 400), (False, 2000)]),
        ("uk", "busy", [400], [(True, 375), (False, 375)]),
        ("eu", "ringback", [425], [(True, 1000), (False, 4000)]),
        ("eu", "busy", [425], [(True, 500), (False, 500)]),
        ("ru", "ringback", [425], [(True, 800), (False, 3200)]),
        ("ru", "busy", [425], [(True, 400), (False, 400)]),
    ],
)
def test_tone_frequency_and_cadence(
    country: str, name: str, freqs: list[int], cadence: list[tuple[bool, int]]
) -> None:
    spec = tone(name, country)
    period_s = spec.period_samples / 8000
    x = render_tone(spec, 2 * period_s)
    assert _on_off_runs_ms(x) == cadence * 2
    on_len = cadence[0][1] * 8
    assert _peaks(x[:on_len].astype(float), len(freqs)) == pytest.approx(freqs, abs=8000 / on_len)


def test_level_in_dbm0() -> None:
    x = render_tone(tone("dial", "eu"), 1.0).astype(float)
    rms_db = 20 * np.log10(np.sqrt(np.mean(x**2)) / (dbm0_to_amplitude(0) / np.sqrt(2)))
    assert rms_db == pytest.approx(-13.0, abs=0.05)


def test_source_continues_phase_across_ticks() -> None:
    spec = tone("ringback", "uk")
    src = ToneSource(spec)
    frames = np.concatenate([src.next_frame() for _ in range(300)])
    assert np.array_equal(frames, render_tone(spec, 300 * 0.02))
    assert src.position == 300 * 160


def test_beep_plays_once() -> None:
    src = ToneSource(tone("beep"))
    frames = [src.next_frame() for _ in range(20)]
    assert all(f.any() for f in frames[:12])  # 250 ms = 12.5 frames
    assert not any(f.any() for f in frames[13:])
    assert src.finished


def test_dial_tone_is_continuous() -> None:
    x = render_tone(tone("dial", "us"), 3.0)
    assert _on_off_runs_ms(x) == [(True, 3000)]


def test_silence_and_unknown_tones() -> None:
    assert silence().tolist() == [0] * 160
    with pytest.raises(ConfigError, match="tone 'howler' is not defined for country 'us'"):
        tone("howler", "us")
    with pytest.raises(ConfigError, match="tone country 'xx' is not defined"):
        tone("busy", "xx")
