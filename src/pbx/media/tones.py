"""Call-progress tones as parametric cadences, generated at 8 kHz into int16.

Theory of operation: a tone is a :class:`ToneSpec` — a sum of sine
frequencies at a level in dBm0 and a cadence of ``(on_ms, off_ms)`` steps
repeated forever (an empty cadence is continuous, e.g. dial tone).  The values
per country come from ITU-T E.180 Supplement 2 ("Various tones used in
national networks") and the national standards it lists.  Level: a 0 dBm0
sine in the 16-bit linear domain of G.711 has amplitude 22,662 (3.17 dB below
the μ-law full-scale sine of 32,635, ITU-T G.711 Table 5).

:class:`ToneSource` produces consecutive 160-sample (20 ms) frames with the
phase and cadence continued across ticks: sample ``n`` of the tone is always
``sum(A * sin(2π f n / 8000))`` gated by the cadence at ``n``, so a frame is
one vectorized evaluation over ``n .. n+159`` with no per-sample loop.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from attrs import define, field, frozen

from pbx.errors import ConfigError

__all__ = [
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "TONES",
    "ToneSource",
    "ToneSpec",
    "dbm0_to_amplitude",
    "render_tone",
    "silence",
    "tone",
]

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
#: Amplitude of a 0 dBm0 sine in 16-bit linear (ITU-T G.711: +3.17 dBm0 is full scale).
DBM0_AMPLITUDE = 32635.0 / 10 ** (3.17 / 20)


def dbm0_to_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (16-bit linear) of a sine at ``level_dbm0``."""
    return DBM0_AMPLITUDE * 10 ** (level_dbm0 / 20)


@frozen
class ToneSpec:
    """A call-progress tone: frequencies, level and cadence."""

    #: Name, e.g. ``"ringback"``.
    name: str
    #: Frequencies in Hz, summed (e.g. ``(440, 480)`` for US ringback).
    frequencies: tuple[float, ...]
    #: Level of each frequency component in dBm0.
    level_dbm0: float = -13.0
    #: ``(on_ms, off_ms)`` steps repeated forever; empty = continuous.
    cadence: tuple[tuple[int, int], ...] = ()
    #: Play the cadence once and then stay silent (e.g. a beep).
    once: bool = False

    @property
    def period_samples(self) -> int:
        """Length of one cadence cycle in samples (0 for a continuous tone)."""
        return sum(on + off for on, off in self.cadence) * SAMPLE_RATE // 1000

    def gate(self, n: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """True where sample index ``n`` falls in an ``on`` step of the cadence."""
        if not self.cadence:
            return np.ones(n.shape, dtype=np.bool_)
        period = self.period_samples
        pos = n % period
        on = np.zeros(n.shape, dtype=np.bool_)
        start = 0
        for on_ms, off_ms in self.cadence:
            length = on_ms * SAMPLE_RATE // 1000
            on |= (pos >= start) & (pos < start + length)
            start += length + off_ms * SAMPLE_RATE // 1000
        if self.once:
            on &= n < period
        return on

    def samples(self, n: npt.NDArray[np.int64]) -> npt.NDArray[np.int16]:
        """The tone at absolute sample indices ``n`` (int16)."""
        amplitude = dbm0_to_amplitude(self.level_dbm0)
        acc = np.zeros(n.shape, dtype=np.float64)
        for freq in self.frequencies:
            # Phase from (f*n mod rate) keeps full precision for hours of tone.
            phase = np.mod(freq * n, SAMPLE_RATE) * (2 * math.pi / SAMPLE_RATE)
            acc += np.sin(phase)
        acc *= amplitude
        acc *= self.gate(n)
        return np.clip(np.rint(acc), -32768, 32767).astype(np.int16)


def _spec(
    name: str,
    freqs: tuple[float, ...],
    cadence: tuple[tuple[int, int], ...] = (),
    level: float = -13.0,
    once: bool = False,
) -> ToneSpec:
    return ToneSpec(name, freqs, level, cadence, once)


# ITU-T E.180 Suppl. 2; ANSI T1.401 / Telcordia GR-506 for US; BT SIN 350 for UK;
# ETSI ES 201 970 (CEPT 425 Hz) for EU; GOST/E.180 for RU.
TONES: dict[str, dict[str, ToneSpec]] = {
    "us": {
        "dial": _spec("dial", (350, 440)),
        "ringback": _spec("ringback", (440, 480), ((2000, 4000),), level=-19),
        "busy": _spec("busy", (480, 620), ((500, 500),), level=-24),
        "congestion": _spec("congestion", (480, 620), ((250, 250),), level=-24),
        "call_waiting": _spec("call_waiting", (440,), ((300, 9700),)),
        "beep": _spec("beep", (1000,), ((250, 0),), once=True),
    },
    "uk": {
        "dial": _spec("dial", (350, 440)),
        "ringback": _spec("ringback", (400, 450), ((400, 200), (400, 2000)), level=-19),
        "busy": _spec("busy", (400,), ((375, 375),)),
        "congestion": _spec("congestion", (400,), ((400, 350), (225, 525))),
        "call_waiting": _spec("call_waiting", (400,), ((100, 2500),)),
        "beep": _spec("beep", (1000,), ((250, 0),), once=True),
    },
    "eu": {
        "dial": _spec("dial", (425,)),
        "ringback": _spec("ringback", (425,), ((1000, 4000),)),
        "busy": _spec("busy", (425,), ((500, 500),)),
        "congestion": _spec("congestion", (425,), ((250, 250),)),
        "call_waiting": _spec("call_waiting", (425,), ((200, 200), (200, 9000))),
        "beep": _spec("beep", (1000,), ((250, 0),), once=True),
    },
    "ru": {
        "dial": _spec("dial", (425,)),
        "ringback": _spec("ringback", (425,), ((800, 3200),)),
        "busy": _spec("busy", (425,), ((400, 400),)),
        "congestion": _spec("congestion", (425,), ((200, 200),)),
        "call_waiting": _spec("call_waiting", (425,), ((200, 5000),)),
        "beep": _spec("beep", (1000,), ((250, 0),), once=True),
    },
}


def tone(name: str, country: str = "us") -> ToneSpec:
    """The tone ``name`` (``dial``, ``ringback``, ``busy``, ...) of ``country``."""
    try:
        table = TONES[country.lower()]
    except KeyError:
        raise ConfigError(
            f"tone country '{country}' is not defined (defined: {', '.join(TONES)})"
        ) from None
    try:
        return table[name]
    except KeyError:
        raise ConfigError(
            f"tone '{name}' is not defined for country '{country}' (defined: {', '.join(table)})"
        ) from None


def render_tone(spec: ToneSpec, seconds: float, start_sample: int = 0) -> npt.NDArray[np.int16]:
    """``seconds`` of ``spec`` as int16 at 8 kHz, from sample ``start_sample``."""
    count = int(round(seconds * SAMPLE_RATE))
    return spec.samples(np.arange(start_sample, start_sample + count, dtype=np.int64))


def silence(samples: int = FRAME_SAMPLES) -> npt.NDArray[np.int16]:
    """``samples`` of digital silence (int16 zeros)."""
    return np.zeros(samples, dtype=np.int16)


_FRAME_INDEX = np.arange(FRAME_SAMPLES, dtype=np.int64)


@define
class ToneSource:
    """Consecutive 20 ms frames of a tone, phase and cadence continued across ticks."""

    spec: ToneSpec
    #: Absolute index of the next sample to produce.
    position: int = 0
    _index: npt.NDArray[np.int64] = field(init=False, factory=lambda: _FRAME_INDEX.copy())

    def read(self, count: int) -> npt.NDArray[np.int16]:
        """The next ``count`` samples."""
        out = self.spec.samples(np.arange(self.position, self.position + count, dtype=np.int64))
        self.position += count
        return out

    def next_frame(self) -> npt.NDArray[np.int16]:
        """The next 160 samples (one tick)."""
        np.add(_FRAME_INDEX, self.position, out=self._index)
        self.position += FRAME_SAMPLES
        return self.spec.samples(self._index)

    @property
    def finished(self) -> bool:
        """True once a ``once`` tone has played its cadence."""
        return self.spec.once and self.position >= self.spec.period_samples
