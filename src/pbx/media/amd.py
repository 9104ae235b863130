"""Answering-machine detection (AMD), batched over every channel that has it on.

Theory of operation — the classic state machine (Asterisk ``app_amd``), run on
20 ms frames of what the called party says.  A frame is *silent* when its mean
absolute amplitude is below ``silence_threshold`` (256 of 32768: white noise at
about −42 dBov).  Per channel the machine keeps the time since the start, the
current run of silence, the current run of voice, the voice heard in all, the
words counted and whether the greeting has started (app_amd: a run of voice of
``min_word_ms``).  A run of voice of ``min_word_ms`` after at least
``between_words_silence_ms`` of silence is a new word.  Each frame, the first of
these that holds decides (:data:`DECISIONS`; app_amd's checks in app_amd's order):

========================  ==========  ==========================================
reason                    verdict     when
========================  ==========  ==========================================
``fax``                   machine     a fax or modem tone (CNG 1100 Hz, CED 2100 Hz)
                                      for ``fax_min_ms``, before any word
``beep``                  machine     a beep (below) before any other verdict
``too_long``              not sure    ``total_analysis_ms`` passed undecided
``initial_silence``       machine     ``initial_silence_ms`` of silence before
                                      the greeting started
``silence_after_speech``  human       ``after_greeting_silence_ms`` of silence
                                      after the greeting started
``max_word_length``       machine     one run of voice of ``max_word_ms``
``max_words``             machine     ``max_words`` words counted
``long_greeting``         machine     ``greeting_ms`` of voice in all, once the
                                      greeting started
========================  ==========  ==========================================

:class:`AmdParams` holds the parameters; its defaults are VICIdial's
``AMD(2000,2000,1000,5000,120,50,4,256)`` (initial silence, greeting, after-greeting
silence, total analysis time, minimum word length, between-words silence, maximum
words, silence threshold) with app_amd's maximum word length of 5000 ms.
:meth:`AmdParams.classic` is app_amd exactly (the tone rules off).  The defaults
add three changes, each of which the labelled corpus (``benchmarks/amd_corpus.py``,
measured by ``benchmarks/bench_amd.py``) showed to matter — with them the corpus's
people classified as machines went from 4.0% to 0.0% at the same machine detection:

* the greeting starts after ``greeting_start_ms`` (60 ms) of voice, not a whole
  word: app_amd never starts it for a clipped "Yes?" or "Да?" shorter than
  ``min_word_ms`` and calls the person a machine after the initial silence;
* the silence threshold follows the line's noise floor: it is raised to
  ``noise_margin_db`` above the quietest frame of about the last second (the
  minimum of the last five 10-frame blocks, tonal frames left out), so a noisy
  line's hiss is silence, not one long word that reads as a long greeting;
* the tone rules: a fax, or a beep after a greeting too short for the word rules
  (or a mailbox that only beeps), decides at once.

The beep detector.  A frame can be part of a tone when it is above
``silence_threshold`` and within ``tone_level_step_db`` of the previous frame's
level (a tone's level is steady; this spares most speech frames the transform).
Those frames of the channels that listen for tones are Hann-windowed and their
spectrum at 250–2300 Hz (50 Hz bins) taken in one matrix product; a frame is
*tonal* when the three bins around the strongest one between 300 and 2200 Hz
carry at least ``tone_purity`` (0.9) of the frame's energy (a sine: 1.0; a beep
with its 3rd harmonic 12 dB down: 0.94; the corpus's speech: 0.42 typical, 0.89 at
the 99th percentile), its frequency the power centroid of those bins (within 2 Hz).
Tonal frames each within ``tone_step_hz`` of the first and within
``tone_level_step_db`` of the one before are one tone; ``beep_min_ms`` of it
between ``beep_min_hz`` and ``beep_max_hz`` is a beep.  In the corpus's 600 files
of speech and music no such run lasted longer than 80 ms (4 frames, once); its
shortest beeps (150 ms) give 6 frames.  A beep at a fax frequency before any word
may be a fax: it is a fax at ``fax_min_ms``, else a beep when it ends.

After a machine verdict (not a fax) the channel listens on for the end of the
greeting, the moment to leave a message: the end of a beep (``by="beep"``,
reported on the first frame after the tone), else ``end_silence_ms`` of silence
(``by="silence"``), else ``greeting_end_timeout_ms`` after the start
(``by="timeout"``).  Then its detection is over; any other verdict ends it at once.

Batching: the state of every channel with AMD on lives in one slot of a set of
arrays (slots ``0..n-1`` are in use; stopping a channel moves the last slot into
its place), so a tick is a fixed number of whole-array operations over the ``n``
slots plus one matrix product over the frames that need the tone test; Python
touches a channel only when it starts, stops or is decided.  The rules are
elementwise and each slot's noise-floor blocks run on its own clock, so ``n``
channels at once decide exactly as each would alone.  Nothing here reads a clock:
time is 20 ms per frame since the start.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from attrs import define, field, frozen

__all__ = [
    "DECISIONS",
    "AmdDetector",
    "AmdParams",
    "AmdReason",
    "AmdVerdict",
    "EndedBy",
    "tone_features",
]

SAMPLE_RATE = 8000
FRAME = 160
FRAME_MS = 20

AmdVerdict = Literal["human", "machine", "not_sure"]
AmdReason = Literal[
    "fax",
    "beep",
    "too_long",
    "initial_silence",
    "silence_after_speech",
    "max_word_length",
    "max_words",
    "long_greeting",
]
EndedBy = Literal["beep", "silence", "timeout"]
#: The per-slot arrays by name (see ``_SLOT_ARRAYS``), or views of their first slots.
Slots = dict[str, npt.NDArray[Any]]

#: The decisions, in the order they are tried within a frame (the first that holds
#: wins): the tone rules, then app_amd's checks in app_amd's order.
DECISIONS: tuple[tuple[AmdReason, AmdVerdict], ...] = (
    ("fax", "machine"),
    ("beep", "machine"),
    ("too_long", "not_sure"),
    ("initial_silence", "machine"),
    ("silence_after_speech", "human"),
    ("max_word_length", "machine"),
    ("max_words", "machine"),
    ("long_greeting", "machine"),
)

#: Slot phases: analysing the answer, then (machines) waiting for the greeting's end.
ANALYSING, GREETING = 1, 2

_BIN_HZ = SAMPLE_RATE / FRAME  # 50 Hz
#: Bins searched for the strongest partial: 300–2200 Hz (room for CED at 2100 Hz).
_LO_BIN, _HI_BIN = 6, 45
_n = np.arange(FRAME)[:, None]
_k = np.arange(_LO_BIN - 1, _HI_BIN + 1)[None, :]
_w = np.hanning(FRAME)[:, None]
#: ``(160, 84)``: the Hann-windowed DFT at bins 5–45 (cos, then sin), then at bins 0
#: and 80 (DC and Nyquist, for the frame's total by Parseval).
_BASIS = np.concatenate(
    [
        _w * np.cos(2 * np.pi * _k * _n / FRAME),
        _w * np.sin(2 * np.pi * _k * _n / FRAME),
        _w,
        _w * np.cos(np.pi * _n),
    ],
    axis=1,
).astype(np.float32)
_BASIS.flags.writeable = False
_WINDOW2 = (np.hanning(FRAME) ** 2).astype(np.float32)
_NB = _HI_BIN - _LO_BIN + 2  # bins in the basis
#: Fax and modem tones: CNG 1100 Hz ± 38 Hz (ITU-T T.30), CED/ANS 2100 Hz ± 15 Hz (V.25).
FAX_TONES_HZ = ((1100.0, 38.0), (2100.0, 15.0))
#: Blocks of frames for the noise floor (the minimum over the last blocks).
_BLOCK_TICKS, _BLOCKS = 10, 5


@frozen
class AmdParams:
    """Parameters of one channel's detection (per campaign); times in milliseconds."""

    #: Silence before the greeting that makes a machine (app_amd ``initial_silence``).
    initial_silence_ms: int = 2000
    #: Voice in all, once the greeting started, that makes a machine (``greeting``).
    greeting_ms: int = 2000
    #: Silence after the greeting started that makes a person (``after_greeting_silence``).
    after_greeting_silence_ms: int = 1000
    #: Undecided this long: not sure (``total_analysis_time``).
    total_analysis_ms: int = 5000
    #: Shortest run of voice that counts as a word (``min_word_length``).
    min_word_ms: int = 120
    #: Silence that ends a word (``between_words_silence``).
    between_words_silence_ms: int = 50
    #: Words that make a machine (``maximum_number_of_words``).
    max_words: int = 4
    #: Mean absolute amplitude below which a frame is silent (``silence_threshold``).
    silence_threshold: int = 256
    #: One run of voice this long makes a machine (``maximum_word_length``).
    max_word_ms: int = 5000
    #: A run of voice this long starts the greeting (None: ``min_word_ms``, as app_amd),
    #: so a short "Yes?" is not followed by an initial-silence verdict.
    greeting_start_ms: int | None = 60
    #: Raise the threshold to ``noise_margin_db`` above the line's noise floor.
    adaptive_threshold: bool = True
    noise_margin_db: float = 6.0
    #: Decide on a beep or a fax tone heard before the verdict.
    tones_decide: bool = True
    #: A steady tone this long in this band is a beep.
    beep_min_ms: int = 120
    beep_min_hz: float = 400.0
    beep_max_hz: float = 2000.0
    #: A fax tone this long before any word is a fax (CNG bursts last 0.5 s).
    fax_min_ms: int = 360
    #: Share of a frame's energy in its strongest partial for the frame to be tonal.
    tone_purity: float = 0.9
    #: Largest distance of a frame's frequency from the tone's first frame's ...
    tone_step_hz: float = 10.0
    #: ... and largest level change from the previous frame of the tone.
    tone_level_step_db: float = 2.0
    #: After a machine verdict: silence that ends the greeting ...
    end_silence_ms: int = 1500
    #: ... and the time from the start after which the greeting is taken as ended.
    greeting_end_timeout_ms: int = 30000

    @classmethod
    def classic(cls, **changes: Any) -> AmdParams:
        """app_amd's algorithm exactly (fixed threshold, no tone decisions), VICIdial's
        values unless changed; the greeting's end is still reported."""
        classic: dict[str, Any] = {
            "adaptive_threshold": False,
            "tones_decide": False,
            "greeting_start_ms": None,
        }
        return cls(**(classic | changes))


#: The per-slot arrays of :class:`AmdDetector` (state and parameters), by name and dtype.
_SLOT_ARRAYS: dict[str, type[np.generic]] = {
    "row": np.intp,
    "phase": np.int8,
    "t": np.int32,
    "sil": np.int32,
    "cons": np.int32,
    "vdur": np.int32,
    "words": np.int32,
    "in_sil": np.bool_,
    "greet": np.bool_,
    "cur_min": np.float32,
    "block_min": np.float32,
    "run": np.int32,
    "hz": np.float32,
    "tone_level": np.float32,
    "tone": np.int8,
    # parameters
    "p_initial": np.int32,
    "p_greeting": np.int32,
    "p_after": np.int32,
    "p_total": np.int32,
    "p_min_word": np.int32,
    "p_greet_start": np.int32,
    "p_between": np.int32,
    "p_max_words": np.int32,
    "p_threshold": np.float32,
    "p_max_word": np.int32,
    "p_adaptive": np.bool_,
    "p_margin": np.float32,
    "p_tones": np.bool_,
    "p_beep_frames": np.int32,
    "p_beep_lo": np.float32,
    "p_beep_hi": np.float32,
    "p_fax_frames": np.int32,
    "p_purity": np.float32,
    "p_step": np.float32,
    "p_level_step": np.float32,
    "p_end_silence": np.int32,
    "p_end_timeout": np.int32,
}


def tone_features(
    frames: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per frame: the share of energy in the strongest partial (300–2200 Hz) and its
    frequency in Hz (the power centroid of its three 50 Hz bins).

    The spectrum of the Hann-windowed frame at the bins that matter is one product
    with ``_BASIS`` (as the DTMF detector does); the total over all 81 bins comes
    from the windowed frame's energy by Parseval:
    ``sum |Y_k|² = (N·sum y² + |Y_0|² + |Y_80|²) / 2``.
    """
    spec = frames @ _BASIS
    spec *= spec
    power = spec[:, :_NB] + spec[:, _NB : 2 * _NB]
    total = (frames * frames) @ _WINDOW2
    total *= FRAME
    total += spec[:, -2] + spec[:, -1]
    total *= 0.5
    k = power[:, 1:-1].argmax(axis=1) + 1  # index into power; bin = k + _LO_BIN - 1
    take = np.arange(len(k))
    below, at, above = power[take, k - 1], power[take, k], power[take, k + 1]
    peak = below + at + above
    share = peak / np.maximum(total, 1e-6)
    hz = (k + (_LO_BIN - 1) + (above - below) / np.maximum(peak, 1e-6)) * _BIN_HZ
    return share.astype(np.float32), hz.astype(np.float32)


@define
class AmdDetector:
    """The AMD state machine and the beep detector for many channels (rows) at once."""

    #: Slots in use: ``0..active-1`` (the channels analysed or awaiting a greeting's end).
    active: int = field(init=False, default=0)
    _slot_of: dict[int, int] = field(init=False, factory=dict)
    _cap: int = field(init=False, default=0)
    #: Some slot's tone run is going (else the tone state is all zero).
    _any_run: bool = field(init=False, default=False)
    _no_tone: npt.NDArray[np.int8] = field(init=False, factory=lambda: np.zeros(0, np.int8))
    #: Per slot: the minima of the last blocks of frames (the noise floor's window).
    _block: npt.NDArray[np.float32] = field(
        init=False, factory=lambda: np.zeros((0, _BLOCKS), np.float32)
    )
    _s: Slots = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._s = {name: np.zeros(0, dtype=dt) for name, dt in _SLOT_ARRAYS.items()}
        self._grow(16)

    # -- channels -------------------------------------------------------------------
    def start(self, row: int, params: AmdParams) -> None:
        """Analyse ``row`` from its next frame on (restarts a detection in progress)."""
        slot = self._slot_of.get(row)
        if slot is None:
            if self.active == self._cap:
                self._grow(2 * self._cap)
            slot = self.active
            self.active += 1
            self._slot_of[row] = slot
        s = self._s
        s["row"][slot] = row
        s["phase"][slot] = ANALYSING
        for name in ("t", "sil", "cons", "vdur", "words", "run", "tone"):
            s[name][slot] = 0
        s["in_sil"][slot] = s["greet"][slot] = False
        s["cur_min"][slot] = s["block_min"][slot] = np.inf
        self._block[slot] = np.inf
        s["hz"][slot] = s["tone_level"][slot] = 0.0
        self._set_params(slot, params)

    def _set_params(self, slot: int, p: AmdParams) -> None:
        s = self._s
        frames = 1.0 / FRAME_MS
        values: dict[str, float | bool] = {
            "p_initial": p.initial_silence_ms,
            "p_greeting": p.greeting_ms,
            "p_after": p.after_greeting_silence_ms,
            "p_total": p.total_analysis_ms,
            "p_min_word": p.min_word_ms,
            "p_greet_start": (
                p.min_word_ms if p.greeting_start_ms is None else p.greeting_start_ms
            ),
            "p_between": p.between_words_silence_ms,
            "p_max_words": p.max_words,
            "p_threshold": p.silence_threshold,
            "p_max_word": p.max_word_ms,
            "p_adaptive": p.adaptive_threshold,
            "p_margin": 10 ** (p.noise_margin_db / 20),
            "p_tones": p.tones_decide,
            "p_beep_frames": max(1, int(np.ceil(p.beep_min_ms * frames))),
            "p_beep_lo": p.beep_min_hz,
            "p_beep_hi": p.beep_max_hz,
            "p_fax_frames": max(1, int(np.ceil(p.fax_min_ms * frames))),
            "p_purity": p.tone_purity,
            "p_step": p.tone_step_hz,
            "p_level_step": 10 ** (p.tone_level_step_db / 20),
            "p_end_silence": p.end_silence_ms,
            "p_end_timeout": p.greeting_end_timeout_ms,
        }
        for name, value in values.items():
            s[name][slot] = value

    def stop(self, row: int) -> None:
        """Forget ``row`` (no events); the last slot moves into its place."""
        slot = self._slot_of.pop(row, None)
        if slot is None:
            return
        last = self.active - 1
        if slot != last:
            for arr in self._s.values():
                arr[slot] = arr[last]
            self._block[slot] = self._block[last]
            self._slot_of[int(self._s["row"][slot])] = slot
        self.active = last

    def is_on(self, row: int) -> bool:
        """True while ``row`` is being analysed or waits for the end of its greeting."""
        return row in self._slot_of

    def _grow(self, cap: int) -> None:
        for name, arr in self._s.items():
            grown = np.zeros(cap, dtype=arr.dtype)
            grown[: len(arr)] = arr
            self._s[name] = grown
        block = np.full((cap, _BLOCKS), np.inf, dtype=np.float32)
        block[: len(self._block)] = self._block
        self._block = block
        self._cap = cap

    # -- the tick -------------------------------------------------------------------
    def process(
        self, pcm: npt.NDArray[np.int16]
    ) -> tuple[list[tuple[int, AmdVerdict, AmdReason, float]], list[tuple[int, EndedBy, float]]]:
        """One frame for every slot in use, read from ``pcm`` (rows are channels).

        Returns ``(verdicts, ends)``: ``(row, verdict, reason, seconds)`` for the
        channels that were decided and ``(row, by, seconds)`` for those whose greeting
        ended, ``seconds`` counted from the start to the end of this frame.
        """
        n = self.active
        if not n:
            return [], []
        s = {name: arr[:n] for name, arr in self._s.items()}
        if len(self._no_tone) != n:
            self._no_tone = np.zeros(n, dtype=np.int8)
        x = pcm.take(s["row"], axis=0)
        # Mean |x| (app_amd's measure) in int32: |−32768| wraps to itself in int16,
        # so it is widened first.
        level = np.abs(x, dtype=np.int32).sum(axis=1).astype(np.float32)
        level *= 1.0 / FRAME
        prev_tone, tone, tonal = self._tones(s, x, level)
        silent = self._silent(s, level, tonal)
        s["t"] += FRAME_MS
        analysing = s["phase"] == ANALYSING
        masks = self._rules(s, silent, analysing, prev_tone, tone)
        ended = (prev_tone > 0) & (tone == 0)
        return self._report(s, analysing, masks, ended)

    def _silent(
        self, s: Slots, level: npt.NDArray[np.float32], tonal: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Which frames are silent: below the threshold, raised over the noise floor.

        Tonal frames are voice and stay out of the floor (a long beep is not noise).
        """
        cur_min = s["cur_min"]
        np.minimum(cur_min, np.where(tonal, np.inf, level), out=cur_min)
        threshold = s["p_threshold"].astype(np.float32)
        adaptive = s["p_adaptive"]
        if adaptive.any():
            floor = np.minimum(s["block_min"], cur_min)
            floor *= s["p_margin"]
            np.maximum(threshold, floor, out=floor)
            threshold = np.where(adaptive, floor, threshold)
        # Each slot's block of frames ends on its own clock (so a channel's floor does
        # not depend on when the others started): its minimum joins the window.
        frames = s["t"] // FRAME_MS + 1
        due = np.flatnonzero(frames % _BLOCK_TICKS == 0)
        if len(due):
            pos = (frames[due] // _BLOCK_TICKS) % _BLOCKS
            self._block[due, pos] = cur_min[due]
            cur_min[due] = np.inf
            s["block_min"][due] = self._block[due].min(axis=1)
        silent: npt.NDArray[np.bool_] = (level < threshold) & ~tonal
        return silent

    def _tones(
        self,
        s: Slots,
        x: npt.NDArray[np.int16],
        level: npt.NDArray[np.float32],
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
        """Advance each slot's tone run: the tone state before and after this frame
        (0 none, 1 a beep, 2 a beep at a fax frequency before any word: maybe a fax)
        and which frames are tonal."""
        # Only frames above app_amd's threshold and within the level step of the previous
        # frame can be part of a tone (a tone's level is steady): that spares most speech
        # frames the transform.
        prev_level, level_step = s["tone_level"], s["p_level_step"]
        steady = (level <= prev_level * level_step) & (level * level_step >= prev_level)
        prev_level[:] = level
        steady &= level >= s["p_threshold"]
        listen = steady & ((s["phase"] == GREETING) | s["p_tones"])
        at = np.flatnonzero(listen)
        run, hz = s["run"], s["hz"]
        tonal = np.zeros(len(run), dtype=np.bool_)
        now_hz = np.zeros(len(run), dtype=np.float32)
        if len(at):
            share, found = tone_features(x[at].astype(np.float32))
            tonal[at] = share >= s["p_purity"][at]
            now_hz[at] = found
        if not self._any_run and not tonal.any():  # no tone now or last frame (usual)
            return self._no_tone, self._no_tone, tonal
        same = tonal & (run > 0) & (np.abs(now_hz - hz) <= s["p_step"])
        fresh = tonal & ~same
        run[:] = np.where(same, run + 1, fresh.astype(np.int32))
        hz[:] = np.where(fresh, now_hz, hz)
        beep = (run >= s["p_beep_frames"]) & (hz >= s["p_beep_lo"]) & (hz <= s["p_beep_hi"])
        fax_hz = np.zeros(len(run), dtype=np.bool_)
        for centre, tolerance in FAX_TONES_HZ:
            fax_hz |= np.abs(hz - centre) <= tolerance
        # Voice heard before the run (this frame, tonal, is voice): less than a word?
        before_words = s["vdur"] - FRAME_MS * (run - 1) < s["p_min_word"]
        maybe_fax = fax_hz & before_words & (run > 0)
        tone = np.where(maybe_fax & (beep | (run >= s["p_fax_frames"])), 2, beep.astype(np.int8))
        prev = s["tone"].copy()
        s["tone"][:] = tone
        self._any_run = bool(run.any())
        return prev, s["tone"], tonal

    def _rules(
        self,
        s: Slots,
        silent: npt.NDArray[np.bool_],
        analysing: npt.NDArray[np.bool_],
        prev_tone: npt.NDArray[np.int8],
        tone: npt.NDArray[np.int8],
    ) -> npt.NDArray[np.bool_]:
        """Advance app_amd's counters by one frame; ``(len(DECISIONS), n)``: which
        decision holds for which analysing slot (rows in :data:`DECISIONS` order)."""
        voice = ~silent
        sil, cons, vdur, words = s["sil"], s["cons"], s["vdur"], s["words"]
        in_sil, greet = s["in_sil"], s["greet"]
        np.multiply(sil + FRAME_MS, silent, out=sil)  # the run of silence, ms
        between = silent & (sil >= s["p_between"])  # a word ends
        in_sil |= between
        cons[between] = 0
        step = FRAME_MS * voice
        cons += step  # the run of voice, ms
        vdur += step  # voice in all, ms
        word = voice & (cons >= s["p_min_word"]) & in_sil
        words += word
        in_sil &= ~word
        tones = analysing & s["p_tones"]
        masks = np.empty((len(DECISIONS), len(sil)), dtype=np.bool_)
        masks[0] = tones & (tone == 2) & (s["run"] >= s["p_fax_frames"])
        masks[1] = tones & ((tone == 1) | ((prev_tone == 2) & (tone == 0)))
        masks[2] = s["t"] >= s["p_total"]
        masks[3] = silent & ~greet & (sil >= s["p_initial"])
        masks[4] = silent & greet & (sil >= s["p_after"])
        masks[5] = voice & (cons >= s["p_max_word"])
        masks[6] = voice & (words >= s["p_max_words"])
        masks[7] = voice & greet & (vdur >= s["p_greeting"])
        masks &= analysing
        greet |= voice & (cons >= s["p_greet_start"])  # the greeting started
        return masks

    def _report(
        self,
        s: Slots,
        analysing: npt.NDArray[np.bool_],
        masks: npt.NDArray[np.bool_],
        ended: npt.NDArray[np.bool_],
    ) -> tuple[list[tuple[int, AmdVerdict, AmdReason, float]], list[tuple[int, EndedBy, float]]]:
        """The verdicts and greeting ends of this frame; slots that are done are freed."""
        decided = masks.any(axis=0)
        greeting = ~analysing
        end_beep = greeting & ended
        end_silence = greeting & (s["sil"] >= s["p_end_silence"])
        end_timeout = greeting & (s["t"] >= s["p_end_timeout"])
        over = end_beep | end_silence | end_timeout
        if not decided.any() and not over.any():
            return [], []
        rows, t = s["row"], s["t"]
        verdicts: list[tuple[int, AmdVerdict, AmdReason, float]] = []
        ends: list[tuple[int, EndedBy, float]] = []
        done: list[int] = []
        first = masks.argmax(axis=0)
        for slot in np.flatnonzero(decided).tolist():
            reason, verdict = DECISIONS[int(first[slot])]
            row, seconds = int(rows[slot]), int(t[slot]) / 1000
            verdicts.append((row, verdict, reason, seconds))
            if verdict != "machine" or reason == "fax":
                done.append(row)
            elif reason == "beep" and ended[slot]:  # a beep that was maybe a fax, now over
                ends.append((row, "beep", seconds))
                done.append(row)
            else:
                s["phase"][slot] = GREETING
                s["sil"][slot] = 0  # the greeting's end is silence after the verdict
        for slot in np.flatnonzero(over).tolist():
            by: EndedBy = (
                "beep" if end_beep[slot] else "silence" if end_silence[slot] else "timeout"
            )
            row = int(rows[slot])
            ends.append((row, by, int(t[slot]) / 1000))
            done.append(row)
        for row in done:
            self.stop(row)
        return verdicts, ends
