"""Synthetic test signals: DTMF strings, speech-like noise, music-like chords."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pbx.media.detect import DTMF_COLUMN_HZ, DTMF_KEYPAD, DTMF_ROW_HZ
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.tones import dbm0_to_amplitude

RATE = 8000


def dtmf_tone(digit: str, samples: int, level_dbm0: float = -10.0, twist_db: float = 0.0):
    """Two sines of ``digit``; the column tone ``twist_db`` above the row tone."""
    r = next(i for i, row in enumerate(DTMF_KEYPAD) if digit in row)
    c = DTMF_KEYPAD[r].index(digit)
    n = np.arange(samples)
    a = dbm0_to_amplitude(level_dbm0)
    b = a * 10 ** (twist_db / 20)
    phase = np.random.default_rng(samples).uniform(0, 2 * np.pi, 2)
    return a * np.sin(2 * np.pi * DTMF_ROW_HZ[r] * n / RATE + phase[0]) + b * np.sin(
        2 * np.pi * DTMF_COLUMN_HZ[c] * n / RATE + phase[1]
    )


def dtmf_string(
    digits: str,
    rng: np.random.Generator,
    snr_db: float,
    tone_ms: tuple[int, int] = (60, 120),
    pause_ms: tuple[int, int] = (60, 120),
    level_dbm0: float = -10.0,
) -> npt.NDArray[np.int16]:
    """Digits with random durations and offsets, white noise at ``snr_db``, through μ-law."""
    parts = [np.zeros(int(rng.integers(0, 400)))]
    for d in digits:
        on = int(rng.integers(*tone_ms)) * RATE // 1000
        off = int(rng.integers(*pause_ms)) * RATE // 1000
        parts += [dtmf_tone(d, on, level_dbm0), np.zeros(off)]
    parts.append(np.zeros(1600))
    clean = np.concatenate(parts)
    tone_power = dbm0_to_amplitude(level_dbm0) ** 2  # two sines of A: 2 * A²/2
    noise = rng.normal(0, np.sqrt(tone_power / 10 ** (snr_db / 10)), len(clean))
    return through_ulaw(clean + noise)


def through_ulaw(x: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Round, saturate and pass through a PCMU encode/decode."""
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return ulaw_decode(ulaw_encode(pcm))


def speech_like(seconds: float, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """Band-limited noise whose band moves every syllable, with a 4 Hz envelope."""
    total = int(seconds * RATE)
    out = np.zeros(total)
    pos = 0
    while pos < total:
        syl = int(rng.uniform(0.08, 0.3) * RATE)
        n = min(syl, total - pos)
        spec = np.fft.rfft(rng.normal(0, 1, n))
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        # Formant-like bands: two random bands per syllable.
        gain = np.zeros_like(freqs)
        for _ in range(2):
            center = rng.uniform(300, 3000)
            width = rng.uniform(50, 400)
            gain += np.exp(-0.5 * ((freqs - center) / width) ** 2)
        seg = np.fft.irfft(spec * gain, n)
        env = np.sin(np.pi * np.arange(n) / n) ** 2
        seg = seg / (np.std(seg) + 1e-9) * env * dbm0_to_amplitude(rng.uniform(-25, -10))
        out[pos : pos + n] = seg
        pos += n + int(rng.uniform(0, 0.1) * RATE)
    return through_ulaw(out)


def music_like(seconds: float, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """Chords of 3-4 equal-tempered notes, each with decaying harmonics."""
    total = int(seconds * RATE)
    out = np.zeros(total)
    pos = 0
    while pos < total:
        n = min(int(rng.uniform(0.25, 1.0) * RATE), total - pos)
        t = np.arange(n) / RATE
        root = int(rng.integers(-12, 24))  # semitones from A4
        chord = [root, root + int(rng.choice([3, 4])), root + 7]
        if rng.random() < 0.5:
            chord.append(root + int(rng.choice([10, 11, 12])))
        seg = np.zeros(n)
        for semis in chord:
            f0 = 440.0 * 2 ** (semis / 12)
            for k in range(1, 6):
                if k * f0 < RATE / 2:
                    seg += np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k
        env = np.exp(-t * rng.uniform(0.5, 3))
        seg = seg / (np.std(seg) + 1e-9) * env * dbm0_to_amplitude(rng.uniform(-20, -8))
        out[pos : pos + n] = seg
        pos += n
    return through_ulaw(out)


def detect_stream(detector, pcm: npt.NDArray[np.int16]) -> str:
    """Feed ``pcm`` frame by frame through ``detector`` on row 0; the digits found."""
    frames = len(pcm) // 160
    block = pcm[: frames * 160].reshape(frames, 160)
    rows = np.array([0], dtype=np.intp)
    found = []
    for f in range(frames):
        found += [d for _, d in detector.process(block[f : f + 1], rows)]
    return "".join(found)
