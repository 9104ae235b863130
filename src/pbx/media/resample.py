"""Sample-rate conversion of whole prompts to the engine's 8 kHz, done once on load.

Theory of operation: no hand-written DSP.  ``soxr`` (libsoxr) does the
band-limited conversion; its "HQ" quality keeps aliasing near −78 dB where
naive decimation aliases at −3.5 dB and "QQ" aliases audibly (see FINDINGS).
Multi-channel audio is first averaged to mono, then converted, rounded and
saturated to int16.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

__all__ = ["ENGINE_RATE", "to_engine_pcm"]

ENGINE_RATE = 8000


def to_engine_pcm(
    audio: npt.NDArray[np.floating], rate: int, quality: str = "HQ"
) -> npt.NDArray[np.int16]:
    """Mono int16 at 8 kHz from float audio in [-1, 1], shape ``(frames,)`` or ``(frames, ch)``."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != ENGINE_RATE and len(mono):
        mono = soxr.resample(mono, rate, ENGINE_RATE, quality=quality)
    scaled = np.rint(mono.astype(np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)
