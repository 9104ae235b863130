"""Prompts decoded once and shared, and the per-channel player that plays them.

Theory of operation: a :class:`PromptCache` maps a prompt name (``"welcome"``,
``"digits/5"``) to one read-only int16 array at 8 kHz.  Files in any format
libsndfile reads (WAV, FLAC, OGG) at any rate and channel count are read
with ``soundfile``, averaged to mono and resampled with soxr once (see
:mod:`pbx.media.resample`); every channel playing the prompt reads the same
array.  A missing or unreadable file raises :class:`PromptError` naming the
path.

A :class:`Player` is a channel's playlist: a tuple of items
(:class:`PromptItem`, :class:`ToneItem`, :class:`SilenceItem`), the index of
the current item and the sample position within it.  Each tick it fills one
160-sample row of the engine's output block with slice copies (crossing item
boundaries inside a frame when needed); a looping playlist (music on hold)
wraps around, and :meth:`Player.resume` lets the engine continue a looping
playlist where it stopped when it is started again on the same channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
import structlog
from attrs import define, field, frozen

from pbx.errors import ConfigError
from pbx.media.numbers import say_digits, say_number
from pbx.media.resample import ENGINE_RATE, to_engine_pcm
from pbx.media.tones import ToneSpec

__all__ = [
    "PlayItem",
    "Player",
    "PromptCache",
    "PromptError",
    "PromptItem",
    "SilenceItem",
    "ToneItem",
    "as_items",
    "say_digits",
    "say_number",
]

log = structlog.get_logger(__name__)

Pcm = npt.NDArray[np.int16]
EXTENSIONS = (".wav", ".flac", ".ogg")


class PromptError(ConfigError):
    """A prompt file is missing or cannot be decoded; the message names the path."""


@define
class PromptCache:
    """Prompt name -> shared int16 samples at 8 kHz, loaded once."""

    #: Directory where ``name`` resolves to ``root/name.{wav,flac,ogg}``.
    root: Path | None = None
    #: soxr quality used for resampling ("HQ" or "VHQ").
    quality: str = "HQ"
    _prompts: dict[str, Pcm] = field(factory=dict)

    def add(self, name: str, samples: Pcm) -> Pcm:
        """Register already-decoded int16 samples at 8 kHz under ``name``."""
        pcm = np.array(samples, dtype=np.int16)
        pcm.flags.writeable = False
        self._prompts[name] = pcm
        return pcm

    def load(self, name: str, path: str | Path) -> Pcm:
        """Read ``path`` (any rate/channels), convert it and register it as ``name``."""
        return self.add(name, read_prompt(Path(path), self.quality))

    def get(self, name: str) -> Pcm:
        """The samples of ``name``, loading ``root/name.*`` on first use."""
        pcm = self._prompts.get(name)
        if pcm is not None:
            return pcm
        return self.load(name, self._resolve(name))

    def discard(self, name: str) -> None:
        """Forget ``name`` (a voicemail message played once); no error when unknown."""
        self._prompts.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._prompts

    def _resolve(self, name: str) -> Path:
        base = (self.root or Path(".")) / name
        if base.suffix.lower() in EXTENSIONS:
            return base
        for ext in EXTENSIONS:
            candidate = base.with_name(base.name + ext)
            if candidate.exists():
                return candidate
        raise PromptError(f"prompt file '{base}' does not exist (tried {', '.join(EXTENSIONS)})")


def read_prompt(path: Path, quality: str = "HQ") -> Pcm:
    """Decode ``path`` to mono int16 at 8 kHz; raises :class:`PromptError` naming it."""
    if not path.exists():
        raise PromptError(f"prompt file '{path}' does not exist")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise PromptError(f"prompt file '{path}' cannot be read: {exc}") from None
    if audio.shape[0] == 0:
        raise PromptError(f"prompt file '{path}' contains no audio")
    pcm = to_engine_pcm(audio, int(rate), quality)
    log.debug("prompt_loaded", path=str(path), rate=rate, channels=audio.shape[1], n=len(pcm))
    return pcm


@frozen
class PromptItem:
    """Play the prompt ``name`` from the cache."""

    name: str


@frozen
class ToneItem:
    """Play a tone for ``seconds`` (None: forever, or one cadence for a ``once`` tone)."""

    spec: ToneSpec
    seconds: float | None = None


@frozen
class SilenceItem:
    """Play ``seconds`` of silence."""

    seconds: float


PlayItem = PromptItem | ToneItem | SilenceItem


def as_items(items: Iterable[PlayItem | str] | PlayItem | str) -> tuple[PlayItem, ...]:
    """Normalise a playlist: a bare string is a prompt name."""
    if isinstance(items, str | PromptItem | ToneItem | SilenceItem):
        items = [items]
    return tuple(PromptItem(i) if isinstance(i, str) else i for i in items)


def _item_name(item: PlayItem) -> str:
    if isinstance(item, PromptItem):
        return item.name
    if isinstance(item, ToneItem):
        return item.spec.name
    return "silence"


@define
class Player:
    """One channel's playlist and where it is in it."""

    items: tuple[PlayItem, ...]
    loop: bool = False
    #: Stop on a DTMF digit from the caller (barge-in).
    interruptible: bool = True
    #: Index of the current item.
    index: int = 0
    #: Sample position within the current item.
    position: int = 0

    @property
    def finished(self) -> bool:
        """True once a non-looping playlist has played every item."""
        return self.index >= len(self.items)

    @property
    def current_name(self) -> str:
        """Name of the item playing (or the last one once finished)."""
        if not self.items:
            return ""
        return _item_name(self.items[min(self.index, len(self.items) - 1)])

    def resume(self, previous: Player) -> None:
        """Continue where ``previous`` (the same looping playlist) stopped."""
        if previous.items == self.items:
            self.index, self.position = previous.index, previous.position

    def fill(self, out: Pcm, cache: PromptCache) -> bool:
        """Write the next ``len(out)`` samples into ``out``; True when the playlist ended."""
        need = len(out)
        filled = 0
        idle_items = 0  # guards a looping playlist made only of empty items
        while filled < need:
            if self.index >= len(self.items):
                if not self.loop or not self.items or idle_items > len(self.items):
                    out[filled:] = 0
                    self.index = len(self.items)
                    return True
                self.index, self.position = 0, 0
            item = self.items[self.index]
            n, total = self._copy(item, out[filled:], cache)
            filled += n
            self.position += n
            idle_items = 0 if n else idle_items + 1
            if total is not None and self.position >= total:
                self.index += 1
                self.position = 0
        return not self.loop and self.index >= len(self.items)

    def _copy(self, item: PlayItem, out: Pcm, cache: PromptCache) -> tuple[int, int | None]:
        """Copy from ``item`` at ``self.position``; returns (count, item length or None)."""
        if isinstance(item, PromptItem):
            samples = cache.get(item.name)
            n = max(0, min(len(out), len(samples) - self.position))
            out[:n] = samples[self.position : self.position + n]
            return n, len(samples)
        if isinstance(item, ToneItem):
            total: int | None
            if item.seconds is not None:
                total = int(round(item.seconds * ENGINE_RATE))
            elif item.spec.once:
                total = item.spec.period_samples
            else:
                total = None
            n = len(out) if total is None else max(0, min(len(out), total - self.position))
            idx = np.arange(self.position, self.position + n, dtype=np.int64)
            out[:n] = item.spec.samples(idx)
            return n, total
        total = int(round(item.seconds * ENGINE_RATE))
        n = max(0, min(len(out), total - self.position))
        out[:n] = 0
        return n, total


def playlist_seconds(items: Sequence[PlayItem], cache: PromptCache) -> float | None:
    """Total duration of a playlist in seconds, or None if it contains an endless tone."""
    total = 0
    for item in items:
        if isinstance(item, PromptItem):
            total += len(cache.get(item.name))
        elif isinstance(item, ToneItem):
            if item.seconds is None and not item.spec.once:
                return None
            total += (
                int(round(item.seconds * ENGINE_RATE))
                if item.seconds is not None
                else item.spec.period_samples
            )
        else:
            total += int(round(item.seconds * ENGINE_RATE))
    return total / ENGINE_RATE
