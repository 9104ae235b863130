"""What simulated phones say, and the checks on what they heard (8 kHz int16, 20 ms frames).

Theory of operation
-------------------
*Sources.* A phone's audio is described by a small frozen value — :class:`Tone`,
:class:`Silence`, :class:`Speech`, a sound-file path or an int16 array at 8 kHz — and
played through an
:class:`AudioCursor`, which hands out one 160-sample frame per 20 ms tick and goes
silent when the audio ends. The same description can be given to several phones: each
gets its own cursor. In-band DTMF is a burst of the two ITU-T Q.23 sines per digit
(:func:`dtmf_samples`) that the phone adds to its frames.

*Checks.* Everything a phone received is one timeline of frames. Three measures run
over it, all vectorised over every frame at once:

* level — :func:`pbx.media.detect.frame_dbov` per frame, :func:`dbov` over a span;
* tone — :func:`tone_share`: the share of a frame's energy within ±100 Hz of a frequency
  (Hann window, 160 samples zero-padded to 640: the window's main lobe is ±100 Hz, so a
  pure tone keeps > 99 % of its energy in the band and 440/660/1000 Hz stay apart);
  :func:`longest_tone` finds the longest run of tone frames, bridging single lost frames;
* prompt fingerprint — :func:`match_prompt`: normalised cross-correlation of the heard
  audio with the prompt's samples at every offset (by FFT), so a prompt is found
  wherever it starts, whatever the gain, and through G.711 (μ-law keeps the correlation
  above 0.99; a concealed frame or two costs a few hundredths).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
from attrs import frozen

from pbx.media.detect import DTMF_COLUMN_HZ, DTMF_KEYPAD, DTMF_ROW_HZ, frame_dbov
from pbx.media.prompts import read_prompt

__all__ = [
    "FRAME",
    "SAMPLE_RATE",
    "Audio",
    "AudioCursor",
    "Silence",
    "Speech",
    "Tone",
    "dbov",
    "dtmf_samples",
    "frames_of",
    "longest_tone",
    "match_prompt",
    "silence",
    "tone_share",
]

SAMPLE_RATE = 8000
FRAME = 160
"""Samples per 20 ms frame at 8 kHz."""
FULL_SCALE = 32768.0
SILENT_DBOV = -120.0
"""The level reported for digital silence (instead of minus infinity)."""

Pcm = npt.NDArray[np.int16]


@frozen
class Tone:
    """A continuous sine of ``freq`` Hz at ``level_dbov`` (RMS), for ``seconds`` or for ever."""

    freq: float
    seconds: float | None = None
    """How long the tone lasts; ``None``: until the phone is given other audio."""
    level_dbov: float = -15.0
    """RMS level relative to a full-scale square wave (a full-scale sine is −3 dBov)."""

    @property
    def amplitude(self) -> float:
        """The sine's peak value in 16-bit linear."""
        return FULL_SCALE * math.sqrt(2.0) * 10 ** (self.level_dbov / 20)

    def samples(self, start: int, count: int) -> Pcm:
        """Samples ``start .. start+count`` of the tone (phase continues across frames)."""
        n = np.arange(start, start + count, dtype=np.int64)
        phase = np.mod(self.freq * n, SAMPLE_RATE) * (2 * math.pi / SAMPLE_RATE)
        out = np.rint(self.amplitude * np.sin(phase))
        return np.clip(out, -32768, 32767).astype(np.int16)


@frozen
class Silence:
    """Digital silence (frames of zeros are still sent, as phones do)."""

    seconds: float | None = None


silence = Silence()
"""Silence for ever: the default audio of every simulated phone."""


@frozen
class Speech:
    """Speech-like audio for ``seconds``: syllables of voiced sound with short pauses.

    Each syllable (120–240 ms) is a glottal pulse train at a pitch that glides between
    100 and 220 Hz, shaped by two formant bands that move from syllable to syllable,
    under a flat-topped envelope; 50–90 ms of silence separate the syllables. To
    answering-machine detection it reads as words (a run of voice longer than
    ``min_word_ms`` after a short silence), never as a tone (its energy is spread over
    many harmonics); a short one (≈ 0.6 s, "hello?") is a person's greeting, five
    seconds a machine's. The same ``seed`` gives the same samples.
    """

    seconds: float
    seed: int = 0
    level_dbov: float = -20.0
    """RMS level of the voiced parts, relative to a full-scale square wave."""

    def samples(self) -> Pcm:
        """All the samples, int16 at 8 kHz (ending on a syllable's end or a pause)."""
        rng = np.random.default_rng(self.seed)
        total = round(self.seconds * SAMPLE_RATE)
        out = np.zeros(total, dtype=np.float64)
        amplitude = FULL_SCALE * 10 ** (self.level_dbov / 20)
        pos = 0
        while pos < total:
            n = min(round(rng.uniform(0.12, 0.24) * SAMPLE_RATE), total - pos)
            out[pos : pos + n] = _syllable(n, rng) * amplitude
            pos += n + round(rng.uniform(0.05, 0.09) * SAMPLE_RATE)
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def _syllable(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """One voiced syllable of ``n`` samples at unit RMS."""
    f0 = np.linspace(rng.uniform(100, 220), rng.uniform(100, 220), n)
    phase = np.cumsum(f0 / SAMPLE_RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per pitch period
    spectrum = np.fft.rfft(pulses + rng.normal(0, 0.02, n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    gain = np.zeros_like(freqs)
    for low, high in ((300.0, 900.0), (900.0, 2500.0)):
        centre = rng.uniform(low, high)
        gain += np.exp(-0.5 * ((freqs - centre) / rng.uniform(80.0, 200.0)) ** 2)
    voiced = np.fft.irfft(spectrum * gain, n)
    voiced /= float(np.sqrt(np.mean(voiced**2))) + 1e-12
    ramp = min(n // 4, SAMPLE_RATE // 100)  # 10 ms fades
    envelope = np.ones(n)
    if ramp:
        fade = np.sin(np.linspace(0.0, math.pi / 2, ramp)) ** 2
        envelope[:ramp] = fade
        envelope[n - ramp :] = fade[::-1]
    return np.asarray(voiced * envelope, dtype=np.float64)


Audio = Tone | Silence | Speech | str | Path | npt.NDArray[np.int16] | None
"""What a phone can be told to say: a tone, silence, speech-like sound, a sound file,
samples at 8 kHz, or ``None`` (silence)."""


class AudioCursor:
    """Frames of one :data:`Audio`, 160 samples at a time; silence once it has ended."""

    def __init__(self, audio: Audio) -> None:
        self.audio = audio
        self.position = 0
        self._tone: Tone | None = None
        self._pcm: Pcm | None = None
        self._length: int | None = None
        if isinstance(audio, Tone):
            self._tone = audio
            self._length = None if audio.seconds is None else round(audio.seconds * SAMPLE_RATE)
        elif isinstance(audio, Silence):
            self._length = None if audio.seconds is None else round(audio.seconds * SAMPLE_RATE)
        elif isinstance(audio, Speech):
            self._pcm = audio.samples()
            self._length = len(self._pcm)
        elif isinstance(audio, (str, Path)):
            self._pcm = read_prompt(Path(audio))
            self._length = len(self._pcm)
        elif isinstance(audio, np.ndarray):
            self._pcm = np.asarray(audio, dtype=np.int16).reshape(-1)
            self._length = len(self._pcm)

    @property
    def finished(self) -> bool:
        """True once audio of a limited length has been played to its end."""
        return self._length is not None and self.position >= self._length

    def next_frame(self) -> Pcm:
        """The next 20 ms (zeros after the end)."""
        start = self.position
        self.position += FRAME
        end = FRAME if self._length is None else min(FRAME, max(0, self._length - start))
        if end <= 0:
            return np.zeros(FRAME, dtype=np.int16)
        if self._tone is not None:
            frame = self._tone.samples(start, FRAME)
        elif self._pcm is not None:
            frame = np.zeros(FRAME, dtype=np.int16)
            frame[:end] = self._pcm[start : start + end]
            return frame
        else:
            return np.zeros(FRAME, dtype=np.int16)
        if end < FRAME:
            frame[end:] = 0
        return frame

    def skip(self, frames: int) -> None:
        """Advance over ``frames`` frames that were not sent (the loop was not running)."""
        self.position += frames * FRAME


def dtmf_samples(
    digit: str, duration_ms: int = 100, gap_ms: int = 60, level_dbov: float = -13.0
) -> Pcm:
    """One in-band DTMF digit: its row and column sines (ITU-T Q.23), then a pause."""
    key = digit.upper()
    row = next((i for i, keys in enumerate(DTMF_KEYPAD) if key in keys), None)
    if row is None or len(key) != 1:
        raise ValueError(f"no DTMF tone for {digit!r}")
    column = DTMF_KEYPAD[row].index(key)
    on = duration_ms * SAMPLE_RATE // 1000
    n = np.arange(on)
    amplitude = FULL_SCALE * math.sqrt(2.0) * 10 ** (level_dbov / 20)
    tone = amplitude * (
        np.sin(2 * math.pi * DTMF_ROW_HZ[row] * n / SAMPLE_RATE)
        + np.sin(2 * math.pi * DTMF_COLUMN_HZ[column] * n / SAMPLE_RATE)
    )
    out = np.zeros(on + gap_ms * SAMPLE_RATE // 1000, dtype=np.int16)
    out[:on] = np.clip(np.rint(tone), -32768, 32767)
    return out


# ---------------------------------------------------------------------------- checks


def frames_of(pcm: npt.NDArray[np.int16]) -> Pcm:
    """``pcm`` cut into whole 160-sample frames, shape ``(n, 160)`` (a partial tail dropped)."""
    n = len(pcm) // FRAME
    return np.asarray(pcm[: n * FRAME], dtype=np.int16).reshape(n, FRAME)


def dbov(pcm: npt.NDArray[np.int16]) -> float:
    """The RMS level of ``pcm`` in dBov; :data:`SILENT_DBOV` for silence or no samples."""
    if len(pcm) == 0:
        return SILENT_DBOV
    x = np.asarray(pcm, dtype=np.float64)
    energy = float(np.dot(x, x)) / (len(x) * FULL_SCALE**2)
    return max(SILENT_DBOV, 10 * math.log10(energy)) if energy > 0 else SILENT_DBOV


def frame_levels(frames: Pcm) -> npt.NDArray[np.float64]:
    """dBov of each frame of ``frames`` (``(n, 160)``), :data:`SILENT_DBOV` for silence."""
    if len(frames) == 0:
        return np.zeros(0)
    return np.maximum(frame_dbov(frames), SILENT_DBOV)


_PAD = 640
_WINDOW = np.hanning(FRAME).astype(np.float64)
_BIN_HZ = SAMPLE_RATE / _PAD
TONE_BANDWIDTH = 100.0
"""Half-width in Hz of the band a tone's energy is measured in (the Hann main lobe)."""


def tone_share(frames: Pcm, freq: float) -> npt.NDArray[np.float64]:
    """For each frame, the share (0–1) of its energy within ±100 Hz of ``freq``."""
    if len(frames) == 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(frames.astype(np.float64) * _WINDOW, n=_PAD, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    bins = np.arange(power.shape[1]) * _BIN_HZ
    band = np.abs(bins - freq) <= TONE_BANDWIDTH
    total = power.sum(axis=1)
    inside = power[:, band].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, inside / total, 0.0)
    return np.asarray(share, dtype=np.float64)


def tone_frames(
    frames: Pcm, freq: float, *, min_share: float = 0.8, min_dbov: float = -45.0
) -> npt.NDArray[np.bool_]:
    """True for each frame that carries ``freq`` (loud enough, most energy in the band)."""
    return np.asarray(
        (tone_share(frames, freq) >= min_share) & (frame_levels(frames) >= min_dbov),
        dtype=np.bool_,
    )


def longest_tone(
    frames: Pcm, freq: float, *, min_share: float = 0.8, min_dbov: float = -45.0
) -> tuple[float, int]:
    """The longest run of ``freq`` in seconds and the frame it starts at.

    A single frame without the tone inside a run (a lost packet concealed) does not end
    it; two in a row do.
    """
    mask = tone_frames(frames, freq, min_share=min_share, min_dbov=min_dbov)
    best, best_start = 0, -1
    start, misses, last_hit = -1, 0, -1
    for i, hit in enumerate(mask.tolist()):
        if hit:
            if start < 0:
                start = i
            misses = 0
            last_hit = i
            if last_hit - start + 1 > best:
                best, best_start = last_hit - start + 1, start
        elif start >= 0:
            misses += 1
            if misses >= 2:
                start, misses = -1, 0
    return best * FRAME / SAMPLE_RATE, best_start


def match_prompt(heard: npt.NDArray[np.int16], prompt: npt.NDArray[np.int16]) -> tuple[float, int]:
    """Where ``prompt`` best matches inside ``heard``: (score, sample offset).

    The score is the normalised cross-correlation (1.0: the same waveform at any gain);
    0.0 when ``heard`` is shorter than the prompt or either is silent.
    """
    h = np.asarray(heard, dtype=np.float64)
    t = np.asarray(prompt, dtype=np.float64)
    n_t = len(t)
    if n_t == 0 or len(h) < n_t:
        return 0.0, -1
    t_norm = math.sqrt(float(np.dot(t, t)))
    if t_norm == 0.0:
        return 0.0, -1
    size = 1 << int(math.ceil(math.log2(len(h) + n_t)))
    corr = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(t, size)), size)
    corr = corr[: len(h) - n_t + 1]
    energy = np.concatenate(([0.0], np.cumsum(h * h)))
    window = energy[n_t:] - energy[:-n_t]
    window_norm = np.sqrt(np.maximum(window, 0.0))
    # Windows with (almost) no energy cannot hold the prompt.
    floor = 1e-6 * t_norm
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(window_norm > floor, corr / (window_norm * t_norm), 0.0)
    best = int(np.argmax(scores))
    return float(scores[best]), best
