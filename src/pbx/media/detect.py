"""In-band DTMF and talk detection, batched over every subscribed channel.

Theory of operation — DTMF (ITU-T Q.23 frequencies, Q.24 reception limits):
each tick the 160-sample frames of the subscribed rows form an ``(M, 160)``
matrix; one product with a precomputed ``(160, 16)`` cosine/sine basis at the
eight DTMF frequencies gives every channel's eight DFT powers at once (the
Goertzel algorithm's result, computed as a matrix multiply rather than a
per-sample recurrence).  A frame carries a digit when

* the strongest row and column tones each exceed the level threshold,
* twist is within limits: the row (low group) tone at most 8 dB above the
  column tone (normal twist), the column tone at most 4 dB above the row tone
  (reverse twist),
* each winner is at least 8 dB above the other tones of its group
  (relative peak), and
* the two tones carry at least 45% of the frame's energy (a frame only half
  covered by the tone still passes; speech and music spread their energy).

The level test runs first on every row as a cheap screen; the frame energy
for the share test is computed only for rows loud enough at a row and a column
frequency, and only the few rows that pass both (frames that look like two pure
tones) go through the twist and relative-peak checks.  With 160-sample frames the rectangular
window leaks at most −13 dB into the neighbouring DTMF frequency (697/770 Hz),
below the relative-peak limit.

Debounce (Q.24: tone ≥ 40 ms, pause ≥ 40 ms): a digit is reported when it is
present in two consecutive frames, at least one of them "strong" (the two
tones carry ≥ 75% of the energy: a full frame of tone), and it is reported
once until a frame without it.  State is kept in per-row arrays, so the
decision for all channels is a handful of vectorized comparisons.

Alternate ticks (half the work, the same digits at the same ticks): since a
digit needs two consecutive frames with it, each row is classified on every
other tick (the first half of the rows on even ticks, the second half on odd
ticks), plus every row whose last
frame showed a digit; the frame a row skips is held.  When a row's next frame
shows a digit, its held frame is classified first and the debounce advances
through both frames in order.  A skipped frame is never needed otherwise: a
row that skips has no digit in its last frame, so its debounce state is the
idle one, and a frame without a digit leaves an idle state unchanged — if the
skipped frame had a digit and the next frame has none, the state after that
next frame is idle either way.  When the subscribed rows change, every row is
classified that tick.

Talk detection: per-row frame level in dBov (``10·log10(mean(x²)/32768²)``);
talk starts after ``onset`` consecutive frames above the threshold and stops
after ``hangover`` consecutive frames below it — the energy features that
answering-machine detection builds on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from attrs import define, field

__all__ = [
    "DTMF_COLUMN_HZ",
    "DTMF_KEYPAD",
    "DTMF_ROW_HZ",
    "DtmfDetector",
    "TalkDetector",
    "dtmf_powers",
    "frame_dbov",
]

SAMPLE_RATE = 8000
FRAME = 160
#: ITU-T Q.23 low (row) and high (column) group frequencies, Hz.
DTMF_ROW_HZ = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMN_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
#: Digit at [row][column].
DTMF_KEYPAD = ("123A", "456B", "789C", "*0#D")
_DIGITS = np.array([d for row in DTMF_KEYPAD for d in row])
_FREQS = np.array(DTMF_ROW_HZ + DTMF_COLUMN_HZ)
_n = np.arange(FRAME)[:, None]
#: (160, 16): cos for the eight frequencies, then sin.
BASIS = np.concatenate(
    [np.cos(2 * np.pi * _FREQS * _n / SAMPLE_RATE), np.sin(2 * np.pi * _FREQS * _n / SAMPLE_RATE)],
    axis=1,
).astype(np.float32)
BASIS.flags.writeable = False

#: Power of a full-frame sine of amplitude A at a DTMF frequency is (A·N/2)².
_POWER_PER_AMPLITUDE2 = (FRAME / 2) ** 2


def _db(db: float) -> float:
    return 10 ** (db / 10)


def dtmf_powers(
    frames: npt.NDArray[np.floating] | npt.NDArray[np.int16],
) -> npt.NDArray[np.float32]:
    """DFT power at the eight DTMF frequencies for each 160-sample frame, ``(M, 8)``."""
    x = np.asarray(frames, dtype=np.float32)
    spec = x @ BASIS
    spec *= spec
    return spec[:, :8] + spec[:, 8:]


def frame_dbov(frames: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
    """Level of each frame in dBov: ``10·log10(mean(x²)/32768²)``, −inf for silence."""
    x = frames.astype(np.float32)
    energy = np.einsum("ij,ij->i", x, x, dtype=np.float64) / (frames.shape[1] * 32768.0**2)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(energy)


_NONE = np.zeros(0, dtype=np.intp)


def _grow(arr: npt.NDArray[np.generic], n: int, fill: object) -> npt.NDArray[np.generic]:
    if len(arr) >= n:
        return arr
    out = np.full(max(n, 2 * len(arr)), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


@define
class DtmfDetector:
    """Goertzel DTMF detection for many channels with per-row debounce state."""

    #: Minimum level of each tone, dBm0 (Q.24 requires operation down to about −25).
    min_level_dbm0: float = -32.0
    normal_twist_db: float = 8.0
    reverse_twist_db: float = 4.0
    relative_peak_db: float = 8.0
    #: Share of frame energy in the two tones to accept a frame / call it strong.
    min_fraction: float = 0.45
    strong_fraction: float = 0.75
    _last: npt.NDArray[np.int8] = field(factory=lambda: np.full(0, -1, dtype=np.int8))
    _strong: npt.NDArray[np.bool_] = field(factory=lambda: np.zeros(0, dtype=np.bool_))
    _reported: npt.NDArray[np.bool_] = field(factory=lambda: np.zeros(0, dtype=np.bool_))
    #: Classify each row on alternate ticks (exact: see the module docstring).
    alternate: bool = True
    _x: npt.NDArray[np.float32] = field(factory=lambda: np.empty((0, FRAME), dtype=np.float32))
    _spec: npt.NDArray[np.float32] = field(factory=lambda: np.empty((0, 16), dtype=np.float32))
    #: Per row: the frame skipped on an alternate tick, and that tick (−1: none held).
    _held: npt.NDArray[np.int16] = field(factory=lambda: np.zeros((0, FRAME), dtype=np.int16))
    _stamp: npt.NDArray[np.int64] = field(factory=lambda: np.zeros(0, dtype=np.int64))
    _tick: int = 0
    _rows: npt.NDArray[np.intp] = field(factory=lambda: np.zeros(0, dtype=np.intp))
    #: ``_rows[0]`` when the rows are consecutive, else −1.
    _first: int = -1
    #: Skipped frames of the last call are in ``_held`` (else in the caller's ``previous``).
    _held_here: bool = True
    #: Some row had a digit in its last frame (``_last`` ≥ 0 somewhere).
    _any_live: bool = False

    def reset(self, rows: npt.ArrayLike) -> None:
        """Forget the debounce state of ``rows`` (a channel was added or removed)."""
        idx = np.asarray(rows, dtype=np.intp)
        self._ensure(int(idx.max()) + 1 if idx.size else 0)
        self._last[idx] = -1
        self._any_live = bool((self._last >= 0).any())
        self._strong[idx] = False
        self._reported[idx] = False
        self._stamp[idx] = -1

    def _ensure(self, n: int) -> None:
        self._last = _grow(self._last, n, -1)  # type: ignore[assignment]
        self._strong = _grow(self._strong, n, False)  # type: ignore[assignment]
        self._reported = _grow(self._reported, n, False)  # type: ignore[assignment]
        self._stamp = _grow(self._stamp, n, -1)  # type: ignore[assignment]
        if len(self._held) < len(self._stamp):
            held = np.zeros((len(self._stamp), FRAME), dtype=np.int16)
            held[: len(self._held)] = self._held
            self._held = held

    def classify(
        self, frames: npt.NDArray[np.int16]
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
        """Per frame: digit index 0–15 into the keypad or −1, and whether it is strong."""
        m = len(frames)
        if len(self._x) < m:  # work buffers, reused tick after tick
            self._x = np.empty((max(m, 2 * len(self._x)), FRAME), dtype=np.float32)
            self._spec = np.empty((len(self._x), 16), dtype=np.float32)
        x = self._x[:m]
        np.copyto(x, frames)
        spec = np.matmul(x, BASIS, out=self._spec[:m])
        np.multiply(spec, spec, out=spec)
        powers = spec[:, :8] + spec[:, 8:]
        digit = np.full(m, -1, dtype=np.int8)
        strong = np.zeros(m, dtype=np.bool_)
        # Cheap screen first: the level of the strongest row and column tone, then the
        # energy share of the two — the frame's energy computed only for the frames
        # loud enough at two DTMF frequencies (most speech and noise frames are not).
        # Each tone's power P is (A·N/2)², its energy in the frame A²·N/2 = 2P/N.
        # Pairwise maxima over columns: much faster than max(axis=1) over 4 columns.
        pr = np.maximum(powers[:, 0], powers[:, 1])
        np.maximum(pr, powers[:, 2], out=pr)
        np.maximum(pr, powers[:, 3], out=pr)
        pc = np.maximum(powers[:, 4], powers[:, 5])
        np.maximum(pc, powers[:, 6], out=pc)
        np.maximum(pc, powers[:, 7], out=pc)
        cand = np.flatnonzero(np.minimum(pr, pc) > self._min_power)
        if not len(cand):
            return digit, strong
        if 2 * len(cand) > m:
            energy = np.einsum("ij,ij->i", x, x)[cand]
        else:
            xc = x[cand]
            energy = np.einsum("ij,ij->i", xc, xc)
        tone_energy = pr[cand] + pc[cand]
        # tone energy (pr + pc)·2/N against min_fraction·energy, without scaling pr + pc
        share = tone_energy >= (self.min_fraction * FRAME / 2.0) * energy
        cand, energy, tone_energy = cand[share], energy[share], tone_energy[share]
        if not len(cand):
            return digit, strong
        tone_energy = tone_energy * (2.0 / FRAME)
        rows_p, cols_p = powers[cand, :4], powers[cand, 4:]
        pr, pc = pr[cand], pc[cand]
        r = rows_p.argmax(axis=1)
        c = cols_p.argmax(axis=1)
        take = np.arange(len(cand))
        ok = pr <= pc * _db(self.normal_twist_db)  # normal twist: row louder
        ok &= pc <= pr * _db(self.reverse_twist_db)  # reverse twist: column louder
        rel = _db(-self.relative_peak_db)
        rows_p[take, r] = 0  # the runners-up of each group
        cols_p[take, c] = 0
        ok &= rows_p.max(axis=1) <= pr * rel
        ok &= cols_p.max(axis=1) <= pc * rel
        digit[cand] = np.where(ok, r * 4 + c, -1)
        fraction = tone_energy / np.maximum(energy, 1.0)
        strong[cand] = ok & (fraction >= self.strong_fraction)
        return digit, strong

    @property
    def _min_power(self) -> float:
        """DFT power of one tone at the minimum level (Q.24): ``(A·N/2)²``."""
        min_amp = 32635.0 / 10 ** (3.17 / 20) * 10 ** (self.min_level_dbm0 / 20)
        return _POWER_PER_AMPLITUDE2 * min_amp**2

    def process(
        self,
        pcm: npt.NDArray[np.int16],
        rows: npt.NDArray[np.intp],
        frames: npt.NDArray[np.int16] | None = None,
        previous: npt.NDArray[np.int16] | None = None,
    ) -> list[tuple[int, str]]:
        """Run on ``pcm[rows]`` (one tick); returns ``(row, digit)`` for newly detected digits.

        ``frames`` may pass ``pcm[rows]`` when the caller has it without a copy
        (a slice, when the rows are consecutive).  ``previous`` may pass the
        ``pcm`` block of the previous call, kept intact by the caller (rows are
        channels, so it stays valid when the subscribed rows change): frames
        skipped on an alternate tick are then read from it, not copied.
        """
        if len(rows) == 0:
            return []
        same_rows = rows is self._rows or (
            len(rows) == len(self._rows) and bool(np.array_equal(rows, self._rows))
        )
        if not same_rows:
            self._ensure(int(rows.max()) + 1)
            self._rows = rows
            consecutive = len(rows) > 1 and bool(np.all(np.diff(rows) == 1))
            self._first = int(rows[0]) if consecutive else -1
        if frames is None:
            frames = pcm.take(rows, axis=0)
        tick = self._tick
        self._tick += 1
        held = self._held if self._held_here else previous
        self._held_here = previous is None
        if not self.alternate or not same_rows or len(rows) < 2:
            digit, strong = self.classify(frames)
            late = self._held_rows(rows, digit, tick, held)
            self._stamp[rows] = -1
            if len(late[0]):
                self._update(*late)
            return self._update(rows, digit, strong)
        # Alternate ticks: the first half of the rows this tick, the second half next
        # tick, plus every row whose last frame had a digit.  A skipped frame is held;
        # when the row's next frame shows a digit, the held frame is classified first,
        # so the debounce sees every frame of a tone (see the module docstring).
        half = (len(rows) + 1) // 2
        lo, hi = (0, half) if tick & 1 == 0 else (half, len(rows))
        off_lo, off_hi = (half, len(rows)) if lo == 0 else (0, half)
        digit = np.full(len(rows), -1, dtype=np.int8)
        strong = np.zeros(len(rows), dtype=np.bool_)
        digit[lo:hi], strong[lo:hi] = self.classify(frames[lo:hi])
        extra = _NONE
        if self._any_live:
            live = np.flatnonzero(self._last[rows] >= 0)
            extra = live[(live < lo) | (live >= hi)]
        skipped: slice | npt.NDArray[np.intp]
        if self._first >= 0:  # consecutive rows: a slice, no index array
            skipped = slice(self._first + off_lo, self._first + off_hi)
        else:
            skipped = rows[off_lo:off_hi]
        if previous is None:
            self._held[skipped] = frames[off_lo:off_hi]
        self._stamp[skipped] = tick
        if len(extra):
            digit[extra], strong[extra] = self.classify(frames[extra])
            self._stamp[rows[extra]] = -1
        if not self._any_live and digit.max() < 0:
            return []  # no digit now or in any row's last frame: nothing changes
        late = self._held_rows(rows[lo:hi], digit[lo:hi], tick, held)
        if len(late[0]):
            self._update(*late)
        return self._update(rows, digit, strong)

    def _held_rows(
        self,
        rows: npt.NDArray[np.intp],
        digit: npt.NDArray[np.int8],
        tick: int,
        held: npt.NDArray[np.int16] | None,
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
        """The rows with a digit now whose previous frame was skipped: that frame, classified."""
        late = rows[digit >= 0]
        late = late[self._stamp[late] == tick - 1]
        if not len(late) or held is None:  # (None: the caller stopped passing ``previous``)
            return late[:0], np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.bool_)
        self._stamp[late] = -1
        digit_then, strong_then = self.classify(held[late])
        return late, digit_then, strong_then

    def _update(
        self, rows: npt.NDArray[np.intp], digit: npt.NDArray[np.int8], strong: npt.NDArray[np.bool_]
    ) -> list[tuple[int, str]]:
        """Advance the debounce of ``rows`` by one frame each; the digits that fire."""
        # Only rows with a digit now or last frame can change state.
        if self._any_live:
            live = np.flatnonzero((digit >= 0) | (self._last[rows] >= 0))
        else:
            live = np.flatnonzero(digit >= 0)
        if not len(live):
            return []
        rows, digit, strong = rows[live], digit[live], strong[live]
        prev = self._last[rows]
        same = (digit >= 0) & (digit == prev)
        fire = same & (strong | self._strong[rows]) & ~self._reported[rows]
        self._reported[rows] = same & (self._reported[rows] | fire)
        self._strong[rows] = strong | (same & self._strong[rows])
        self._last[rows] = digit
        self._any_live = bool((self._last >= 0).any())
        if not fire.any():
            return []
        fired = np.flatnonzero(fire)
        return [(int(rows[i]), str(_DIGITS[digit[i]])) for i in fired]


@define
class TalkDetector:
    """Per-row voice activity from frame energy, with onset and hangover."""

    threshold_dbov: float = -40.0
    #: Consecutive loud frames to start talk (2 = 40 ms).
    onset: int = 2
    #: Consecutive quiet frames to stop talk (15 = 300 ms).
    hangover: int = 15
    _talking: npt.NDArray[np.bool_] = field(factory=lambda: np.zeros(0, dtype=np.bool_))
    _run: npt.NDArray[np.int32] = field(factory=lambda: np.zeros(0, dtype=np.int32))
    _since: npt.NDArray[np.float64] = field(factory=lambda: np.zeros(0, dtype=np.float64))

    def reset(self, rows: npt.ArrayLike) -> None:
        """Forget the state of ``rows``."""
        idx = np.asarray(rows, dtype=np.intp)
        self._ensure(int(idx.max()) + 1 if idx.size else 0)
        self._talking[idx] = False
        self._run[idx] = 0

    def _ensure(self, n: int) -> None:
        self._talking = _grow(self._talking, n, False)  # type: ignore[assignment]
        self._run = _grow(self._run, n, 0)  # type: ignore[assignment]
        self._since = _grow(self._since, n, 0.0)  # type: ignore[assignment]

    def process(
        self, pcm: npt.NDArray[np.int16], rows: npt.NDArray[np.intp], now: float
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """One tick: ``([(row, level_dbov)] started, [(row, duration)] stopped)``."""
        if len(rows) == 0:
            return [], []
        self._ensure(int(rows.max()) + 1)
        level = frame_dbov(pcm.take(rows, axis=0))
        loud = level > self.threshold_dbov
        talking = self._talking[rows]
        # Count consecutive frames that disagree with the current state.
        against = loud != talking
        run = np.where(against, self._run[rows] + 1, 0)
        start = ~talking & (run >= self.onset)
        stop = talking & (run >= self.hangover)
        flip = start | stop
        run[flip] = 0
        self._run[rows] = run
        self._talking[rows] = talking ^ flip
        started = [(int(rows[i]), float(level[i])) for i in np.flatnonzero(start)]
        for row, _ in started:
            self._since[row] = now - (self.onset - 1) * FRAME / SAMPLE_RATE
        stopped = []
        for i in np.flatnonzero(stop):
            row = int(rows[i])
            talk_end = now - self.hangover * FRAME / SAMPLE_RATE
            stopped.append((row, max(0.0, talk_end - self._since[row] + FRAME / SAMPLE_RATE)))
        return started, stopped
