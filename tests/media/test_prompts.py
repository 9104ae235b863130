"""Prompt loading/resampling and the per-channel player."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pbx.errors import ConfigError
from pbx.media.prompts import (
    Player,
    PromptCache,
    PromptError,
    PromptItem,
    SilenceItem,
    ToneItem,
    as_items,
    playlist_seconds,
)
from pbx.media.tones import render_tone, tone


def _write_sine(path: Path, rate: int, seconds: float, freq: float, channels: int, **kw) -> None:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(str(path), data, rate, **kw)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.astype(float) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / 8000)[spec.argmax()])


@pytest.mark.parametrize(
    ("rate", "channels", "fmt"),
    [(44100, 2, "WAV"), (48000, 2, "FLAC"), (16000, 2, "WAV"), (8000, 1, "WAV"), (48000, 1, "OGG")],
)
def test_prompt_resampled_to_8khz_mono(tmp_path: Path, rate: int, channels: int, fmt: str) -> None:
    ext = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg"}[fmt]
    path = tmp_path / f"hello.{ext}"
    _write_sine(path, rate, 1.5, 1000.0, channels, format=fmt)
    cache = PromptCache(root=tmp_path)
    pcm = cache.get("hello")
    assert pcm.dtype == np.int16
    assert len(pcm) == pytest.approx(12000, abs=2)  # 1.5 s at 8 kHz
    assert _peak_hz(pcm[1000:9000]) == pytest.approx(1000.0, abs=1.0)
    rms = np.sqrt(np.mean(pcm[1000:9000].astype(float) ** 2))
    assert rms == pytest.approx(0.5 * 32768 / np.sqrt(2), rel=0.05 if fmt == "OGG" else 0.01)
    assert cache.get("hello") is pcm  # loaded once, shared


def test_aliasing_is_suppressed(tmp_path: Path) -> None:
    # A 5 kHz tone at 48 kHz folds to 3 kHz with naive decimation; soxr removes it.
    path = tmp_path / "hi.wav"
    _write_sine(path, 48000, 1.0, 5000.0, 1)
    pcm = PromptCache(root=tmp_path).get("hi").astype(float)
    level_db = 20 * np.log10(np.sqrt(np.mean(pcm[800:-800] ** 2)) / (0.5 * 32768 / np.sqrt(2)))
    assert level_db < -60


def test_missing_and_unreadable_prompts_name_the_path(tmp_path: Path) -> None:
    cache = PromptCache(root=tmp_path)
    with pytest.raises(PromptError, match=f"prompt file '{tmp_path}/nope' does not exist"):
        cache.get("nope")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00garbage")
    with pytest.raises(PromptError, match=f"prompt file '{bad}' cannot be read"):
        cache.get("bad")
    with pytest.raises(ConfigError):  # PromptError is a ConfigError
        cache.load("x", tmp_path / "missing.flac")


def _cache() -> PromptCache:
    cache = PromptCache()
    cache.add("a", np.arange(1, 251, dtype=np.int16))  # 250 samples
    cache.add("b", -np.arange(1, 101, dtype=np.int16))  # 100 samples
    return cache


def _play(player: Player, cache: PromptCache, frames: int) -> tuple[np.ndarray, list[bool]]:
    out = np.zeros((frames, 160), dtype=np.int16)
    done = [player.fill(out[i], cache) for i in range(frames)]
    return out.ravel(), done


def test_player_crosses_item_boundaries_inside_a_frame() -> None:
    cache = _cache()
    player = Player(as_items(["a", SilenceItem(0.005), "b"]))  # 250 + 40 + 100 = 390
    out, done = _play(player, cache, 4)
    expected = np.concatenate([np.arange(1, 251), np.zeros(40), -np.arange(1, 101)])
    assert np.array_equal(out[:390], expected)
    assert not out[390:].any()
    assert done == [False, False, True, True]
    assert player.current_name == "b"


def test_looping_playlist_wraps_and_resumes() -> None:
    cache = _cache()
    player = Player(as_items("a"), loop=True)
    out, done = _play(player, cache, 5)  # 800 samples = 3.2 loops
    assert np.array_equal(out, np.tile(np.arange(1, 251), 4)[:800])
    assert not any(done)
    again = Player(as_items("a"), loop=True)
    again.resume(player)
    out2, _ = _play(again, cache, 1)
    assert out2[0] == (800 % 250) + 1  # continues where it stopped
    other = Player(as_items("b"), loop=True)
    other.resume(player)  # a different playlist starts from the top
    assert other.index == 0 and other.position == 0


def test_tone_item_for_a_duration() -> None:
    spec = tone("busy", "us")
    player = Player((ToneItem(spec, 0.1),))
    out, done = _play(player, PromptCache(), 6)
    assert np.array_equal(out[:800], render_tone(spec, 0.1))
    assert not out[800:].any()
    assert done == [False, False, False, False, True, True]
    assert playlist_seconds((ToneItem(spec, 0.1), PromptItem("a")), _cache()) == pytest.approx(
        0.1 + 250 / 8000
    )


def test_empty_looping_playlist_terminates() -> None:
    player = Player((SilenceItem(0.0),), loop=True)
    out, done = _play(player, PromptCache(), 1)
    assert done == [True] and not out.any()
