"""Call recording to WAV or FLAC, buffered in blocks and safe against a crash.

Theory of operation: a recording has one or two output channels (mono mix, or
stereo with the caller left and the agent right); each output channel is the
saturated sum of what some engine rows *say* (their input pcm).  The bank keeps
a *history* of the engine's whole input pcm blocks, ``(ticks, rows, 160)``
``int16``: each tick the engine decodes its payloads straight into the next
history row (:meth:`RecorderBank.block`, then :meth:`RecorderBank.advance`), so
recording costs a tick no copy at all and no per-recording Python.

Writing every tick costs more than the whole tick budget (one system call per
write, see FINDINGS), so a recording is written in blocks of about one second:
when its block is due, its channels are taken from the history (a view of one
row across the block's ticks for a single source; a saturating sum for a mix;
silence where it was paused or its source had gone), interleaved into sample
frames and appended to the file.  The first block of each recording is
shortened by a per-recording offset, so recordings started in the same tick are
written in different ticks afterwards.  The history holds ``block_ticks +
slack_ticks`` ticks, so a block can wait a few ticks for its write
(``deferred``) or be written by a worker thread while the history moves on: the
bank hands each block to a :class:`BlockWriter` as a job, and before a history
row is reused it waits for the jobs that still read it
(:meth:`BlockWriter.wait`, immediate when the writer keeps up).  The default
writer runs jobs at once; the shell's (:mod:`pbx.net.media`) runs them on a
thread.  A job only interleaves and makes system calls (numpy copies and
``os.write`` release the GIL); the frame count and header values are computed
when it is submitted.

Pause writes silence rather than skipping, so the two channels and the call's
timeline stay aligned (what contact-center QA tools expect); the paused span
counts in the recorded length.

Crash safety: the file is written as ``<path>.part``.  A WAV file is written
with plain ``os.write`` calls (a canonical 44-byte RIFF/WAVE header, then
16-bit little-endian sample frames), and after each block the header is
rewritten with ``os.pwrite`` so the RIFF and ``data`` chunk sizes match the
frames written.  So after a ``kill -9`` the ``.part`` file is a valid WAV up
to its last block.  A FLAC file goes through libsndfile (which writes each
frame as its encoder emits it, but whose stream header has no length until
close).  :func:`recover_recordings` (call it at start-up) repairs every
``.part`` left behind (:func:`recover_recording`, one file) — WAV sizes from the
file length (:func:`repair_wav`), FLAC by re-encoding the frames that decode —
and renames it to its final name, keeping the time its last block was written
as the file's modification time; a ``.part`` with no audio left (empty, or a
FLAC whose encoder had emitted no frame) is removed.  ``close()`` writes the
final header and renames ``.part`` to the final path.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import soundfile as sf
import structlog
from attrs import define, field

from pbx.errors import InvalidStateError, LocalProtocolError, PbxError

__all__ = [
    "PART_SUFFIX",
    "BlockWriter",
    "InlineWriter",
    "RecorderBank",
    "Recording",
    "RecordingError",
    "recover_recording",
    "recover_recordings",
    "repair_wav",
    "wav_header",
]

log = structlog.get_logger(__name__)

SAMPLE_RATE = 8000
FRAME = 160
PART_SUFFIX = ".part"
Format = Literal["wav", "flac"]
_SF_FORMAT = {"wav": "WAV", "flac": "FLAC"}
Pcm = npt.NDArray[np.int16]
_NEVER = np.iinfo(np.int64).max
#: The canonical PCM WAV header: RIFF chunk, 16-byte ``fmt `` chunk, ``data`` chunk header.
_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_WAVE_FORMAT_PCM = 1
_LITTLE_ENDIAN = sys.byteorder == "little"


class RecordingError(PbxError):
    """A recording file could not be written or repaired; names the path."""


def wav_header(channels: int, data_bytes: int, rate: int = SAMPLE_RATE) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV file holding ``data_bytes`` of samples."""
    align = 2 * channels
    return _WAV_HEADER.pack(
        b"RIFF",
        36 + data_bytes,  # RIFF chunk size: everything after its 8-byte chunk header
        b"WAVE",
        b"fmt ",
        16,
        _WAVE_FORMAT_PCM,
        channels,
        rate,
        rate * align,
        align,
        16,
        b"data",
        data_bytes,
    )


class BlockWriter(Protocol):
    """Runs the recorder's file writes, in the order submitted."""

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` now or later, after every job submitted before it."""

    def wait(self) -> None:
        """Return once every job submitted so far has run."""


class InlineWriter:
    """The default :class:`BlockWriter`: runs each job at once, on the caller's thread."""

    __slots__ = ()

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` now."""
        job()

    def wait(self) -> None:
        """Nothing is ever pending."""


def interleave(channels: Sequence[Sequence[Pcm]]) -> Pcm:
    """Sample frames ``(ticks · 160, len(channels))`` from each channel's ``(ticks, 160)``
    pieces (the same tick counts, in order, for every channel)."""
    ticks = sum(len(piece) for piece in channels[0])
    out = np.empty((ticks, FRAME, len(channels)), dtype=np.int16)
    for c, pieces in enumerate(channels):
        pos = 0
        for piece in pieces:
            end = pos + len(piece)
            out[pos:end, :, c] = piece  # one strided copy per piece
            pos = end
    return out.reshape(ticks * FRAME, len(channels))


@define
class Recording:
    """One open recording file and its slot in the bank's ring."""

    key: str
    #: Final path (the file is ``path + ".part"`` until closed).
    path: Path
    fmt: Format
    #: Engine rows summed into each output channel (1 or 2 channels).
    sources: tuple[tuple[int, ...], ...]
    #: The bank's slot (its block schedule).
    slot: int
    paused: bool = False
    #: Tick spans ``[start, end)`` recorded as silence (``end`` open while paused).
    pauses: list[list[int]] = field(factory=list)
    #: Source rows that went away, and the first tick they no longer speak for the call.
    gone: dict[int, int] = field(factory=dict)
    #: Per source row, tick spans ``[start, end)`` it is recorded as silence (a row that
    #: joined a mix late, or a muted conference member; ``end`` open while it lasts).
    silent: dict[int, list[list[int]]] = field(factory=dict)

    @property
    def simple(self) -> bool:
        """Each output channel is one engine row (a stereo call, or mono of one row)."""
        return all(len(src) == 1 for src in self.sources)

    #: Sample frames handed to the writer so far (written once it has caught up).
    frames_written: int = 0
    _fd: int | None = None
    _file: Any = None

    @property
    def part_path(self) -> Path:
        """Where the file lives while it is being written."""
        return self.path.with_name(self.path.name + PART_SUFFIX)

    @property
    def channels(self) -> int:
        """1 (mono mix) or 2 (stereo)."""
        return len(self.sources)

    def open(self) -> None:
        """Create ``<path>.part`` with an empty WAV header, or its libsndfile FLAC writer."""
        part = self.part_path
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            if self.fmt == "wav":
                self._fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                _write_all(self._fd, wav_header(self.channels, 0))
            else:
                self._file = sf.SoundFile(
                    str(part), "w", SAMPLE_RATE, self.channels, "PCM_16", format="FLAC"
                )
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self._close_quietly()
            raise RecordingError(f"recording file '{part}' cannot be created: {exc}") from None

    def append_job(
        self, pieces: Sequence[Sequence[Pcm]], ready: bool = False, ticks: int | None = None
    ) -> Callable[[], None]:
        """The job that appends ``pieces`` (per channel, ``(ticks, 160)`` arrays) to the file.

        The frames are counted now; the job interleaves them (unless ``ready``:
        then they are interleaved now, for history rows about to be reused) and
        writes them.  For WAV it then rewrites the header with the new sizes,
        so the file on disk is always a valid WAV up to its last block.  ``ticks``:
        how many ticks the pieces hold, when the caller knows.
        """
        if ticks is None:
            ticks = sum(len(piece) for piece in pieces[0])
        frames = FRAME * ticks
        self.frames_written += frames
        channels, key, path = len(self.sources), self.key, self.path
        block = interleave(pieces) if ready else None
        fd, file = self._fd, self._file
        header = wav_header(channels, self.frames_written * channels * 2) if fd is not None else b""

        def job() -> None:
            data = block if block is not None else interleave(pieces)
            try:
                if fd is not None:
                    _write_all(fd, data if _LITTLE_ENDIAN else data.byteswap())
                    os.pwrite(fd, header, 0)
                elif file is not None:
                    file.write(data)
            except (OSError, sf.LibsndfileError, RuntimeError) as exc:
                log.error("recording_write_failed", key=key, path=str(path), error=str(exc))

        return job

    def close(self) -> None:
        """Finalise the header and move the file to its final name.

        The caller makes sure every job of this recording has run.
        """
        if self._fd is None and self._file is None:
            return
        try:
            if self._fd is not None:
                os.pwrite(
                    self._fd, wav_header(self.channels, self.frames_written * self.channels * 2), 0
                )
                os.close(self._fd)
                self._fd = None
            else:
                self._file.close()
                self._file = None
            os.replace(self.part_path, self.path)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self._close_quietly()
            log.error("recording_close_failed", key=self.key, path=str(self.path), error=str(exc))

    def _close_quietly(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        if self._file is not None:
            try:
                self._file.close()
            except (OSError, sf.LibsndfileError, RuntimeError):
                pass
            self._file = None

    @property
    def seconds(self) -> float:
        """Length recorded so far."""
        return self.frames_written / SAMPLE_RATE


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


@define
class RecorderBank:
    """Every active recording over one history of the engine's pcm blocks."""

    #: Ticks buffered before a file write (50 ticks = 1 s).
    block_ticks: int = 50
    #: Leave writing to :meth:`write_due` (the shell calls it after sending the
    #: tick's datagrams); :meth:`advance` then writes only a block whose history
    #: rows are about to be reused.
    deferred: bool = False
    #: Extra ticks of history beyond a block: room for deferred and threaded writes.
    slack_ticks: int = 10
    #: Runs the file writes (inline by default; the shell may give a worker thread).
    writer: BlockWriter = field(factory=InlineWriter)
    recordings: dict[str, Recording] = field(factory=dict)
    #: ``(ticks, rows, 160)``: tick ``k`` of the bank lives in history row ``k % ticks``.
    _history: Pcm = field(init=False)
    #: Per slot: the first tick not yet handed to the writer, and the tick its block is due.
    _start: npt.NDArray[np.int64] = field(init=False)
    _due: npt.NDArray[np.int64] = field(init=False)
    _tick: int = field(init=False, default=0)
    _free: list[int] = field(init=False, factory=list)
    _by_slot: dict[int, Recording] = field(init=False, factory=dict)
    #: Engine row → keys of the recordings it is a source of.
    _by_row: dict[int, set[str]] = field(init=False, factory=dict)
    _started: int = field(init=False, default=0)
    #: The oldest tick that a submitted, not yet waited-for job reads from the history.
    _reading_from: int | None = field(init=False, default=None)
    _slots: npt.NDArray[np.intp] | None = field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._history = np.zeros((self.block_ticks + self.slack_ticks, 0, FRAME), dtype=np.int16)
        self._start = np.zeros(0, dtype=np.int64)
        self._due = np.zeros(0, dtype=np.int64)

    def start(
        self, key: str, path: str | Path, sources: Sequence[Sequence[int]], fmt: Format = "wav"
    ) -> Recording:
        """Open a recording of ``sources`` (one tuple of rows per output channel)."""
        if key in self.recordings:
            raise InvalidStateError(f"recording '{key}' is already running")
        if fmt not in _SF_FORMAT:
            raise LocalProtocolError(f"recording format '{fmt}' is not wav or flac")
        if not 1 <= len(sources) <= 2 or not all(sources):
            raise LocalProtocolError("a recording needs 1 or 2 channels, each with a source row")
        slot = self._allocate_slot()
        rec = Recording(key, Path(path), fmt, tuple(tuple(s) for s in sources), slot)
        try:
            rec.open()
        except RecordingError:
            self._free.append(slot)
            raise
        self.recordings[key] = rec
        self._by_slot[slot] = rec
        for row in {r for src in rec.sources for r in src}:
            self._by_row.setdefault(row, set()).add(key)
        self._start[slot] = self._tick
        # Stagger the first block so recordings started together are written apart.
        self._due[slot] = self._tick + 1 + self._started % self.block_ticks
        self._started += 1
        self._slots = None
        log.info("recording_started", key=key, path=str(rec.path), channels=rec.channels)
        return rec

    def pause(self, key: str) -> None:
        """Write silence instead of audio until :meth:`resume`."""
        rec = self._get(key)
        if not rec.paused:
            rec.paused = True
            rec.pauses.append([self._tick, _NEVER])

    def resume(self, key: str) -> None:
        """Write audio again after :meth:`pause`."""
        rec = self._get(key)
        if rec.paused:
            rec.paused = False
            rec.pauses[-1][1] = self._tick

    def stop(self, key: str) -> Recording:
        """Write what is buffered, finalise the file and forget the recording."""
        rec = self._get(key)
        self._flush(rec)
        self.writer.wait()
        self._reading_from = None
        rec.close()
        del self.recordings[key]
        del self._by_slot[rec.slot]
        for row in {r for src in rec.sources for r in src}:
            keys = self._by_row.get(row)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_row[row]
        self._start[rec.slot] = self._due[rec.slot] = _NEVER
        self._free.append(rec.slot)
        self._slots = None
        log.info("recording_finished", key=key, path=str(rec.path), seconds=rec.seconds)
        return rec

    def add_source(self, key: str, row: int) -> None:
        """Mix ``row`` into the mono recording ``key`` from this tick on (a member
        joining a conference); a row it had already is heard again."""
        rec = self._get(key)
        if rec.channels != 1:
            raise LocalProtocolError(f"recording '{key}' is stereo: only a mono mix grows")
        (src,) = rec.sources
        gone = rec.gone.pop(row, None)
        if row in src and gone is None:
            return
        if row not in src:
            rec.sources = ((*src, row),)
            # Before this tick the row spoke for someone else, or for nobody.
            rec.silent.setdefault(row, []).append([0, self._tick])
        else:  # it left and came back (a row reused by another channel)
            rec.silent.setdefault(row, []).append([gone or 0, self._tick])
        self._by_row.setdefault(row, set()).add(key)

    def silence_source(self, key: str, row: int, silent: bool) -> None:
        """Record ``row``'s part of ``key`` as silence from this tick on, or its audio
        again (a muted conference member is not heard, so not recorded)."""
        rec = self._get(key)
        if not any(row in src for src in rec.sources):
            raise LocalProtocolError(f"row {row} is not a source of recording '{key}'")
        spans = rec.silent.setdefault(row, [])
        open_span = bool(spans) and spans[-1][1] == _NEVER
        if silent and not open_span:
            spans.append([self._tick, _NEVER])
        elif not silent and open_span:
            spans[-1][1] = self._tick

    def forget_row(self, row: int) -> None:
        """A channel row went away: from this tick on its place in every recording is
        silence (the row may carry another channel later)."""
        keys = self._by_row.pop(row, None)
        for key in keys or ():
            self.recordings[key].gone.setdefault(row, self._tick)

    def block(self, rows: int) -> Pcm:
        """The ``(rows, 160)`` block where this tick's pcm goes (then :meth:`advance`).

        The engine decodes its payloads straight into it; the block stays as written
        until ``block_ticks + slack_ticks`` ticks later.  A change of ``rows`` (the
        engine grew) writes every pending block first.
        """
        history = self._history
        if history.shape[1] != rows:
            history = self._resize(rows)
        ticks = len(history)
        if self._reading_from is not None and self._tick - ticks >= self._reading_from:
            self.writer.wait()  # a job still reads the history row this tick reuses
            self._reading_from = None
        return history[self._tick % ticks]

    def advance(self) -> None:
        """This tick's block is written: count the tick and hand over the blocks due."""
        self._tick += 1
        if not self.recordings:
            return
        slots = self._slots
        if slots is None:
            slots = self._slots = np.array(sorted(self._by_slot), dtype=np.intp)
        if self.deferred:  # only blocks whose oldest history row the next tick reuses
            due = slots[self._start[slots] <= self._tick - len(self._history)]
        else:
            due = slots[self._due[slots] <= self._tick]
        for slot in due.tolist():
            self._flush(self._by_slot[slot], ready=self.deferred)

    def feed(self, pcm: Pcm) -> None:
        """Append a tick of ``pcm`` (every row's input, ``(rows, 160)``): a copy into
        :meth:`block` and :meth:`advance`, for a caller that does not decode in place."""
        self.block(len(pcm))[:] = pcm
        self.advance()

    def write_due(self) -> int:
        """Hand every block that is due to the writer; returns how many."""
        if not self.recordings:
            return 0
        slots = self._slots
        if slots is None:
            slots = self._slots = np.array(sorted(self._by_slot), dtype=np.intp)
        due = slots[self._due[slots] <= self._tick]
        for slot in due.tolist():
            self._flush(self._by_slot[slot])
        return len(due)

    def close_all(self) -> list[Recording]:
        """Stop every recording (shutdown)."""
        return [self.stop(key) for key in list(self.recordings)]

    def _flush(self, rec: Recording, ready: bool = False) -> None:
        slot = rec.slot
        start = int(self._start[slot])
        count = self._tick - start
        if count > 0:
            ticks = len(self._history)
            first = start % ticks
            spans = [(first, min(first + count, ticks), start)]
            if first + count > ticks:
                spans.append((0, first + count - ticks, start + ticks - first))
            history = self._history
            if rec.simple and not (rec.gone or rec.pauses or rec.silent):  # views, no copy
                pieces = [[history[a:b, src[0]] for a, b, _ in spans] for src in rec.sources]
            else:
                pieces = [
                    [self._channel(rec, src, a, b, tick0) for a, b, tick0 in spans]
                    for src in rec.sources
                ]
            self.writer.submit(rec.append_job(pieces, ready, count))
            if not ready and (self._reading_from is None or start < self._reading_from):
                self._reading_from = start
            # Pause and silence spans that ended before this block are done with.
            rec.pauses = [p for p in rec.pauses if p[1] > self._tick]
            if rec.silent:
                kept = {r: [p for p in ps if p[1] > self._tick] for r, ps in rec.silent.items()}
                rec.silent = {r: ps for r, ps in kept.items() if ps}
        self._start[slot] = self._tick
        self._due[slot] = self._tick + self.block_ticks

    def _channel(self, rec: Recording, src: tuple[int, ...], a: int, b: int, tick0: int) -> Pcm:
        """One output channel over history rows ``a:b`` (bank ticks from ``tick0``)."""
        history = self._history
        tick1 = tick0 + (b - a)
        live = [r for r in src if rec.gone.get(r, _NEVER) > tick0]
        clean = len(live) == len(src) and all(rec.gone.get(r, _NEVER) >= tick1 for r in src)
        if len(src) == 1 and clean and not rec.pauses and not rec.silent:
            return history[a:b, src[0]]  # a view: no copy until the job interleaves it
        out = np.zeros((b - a, FRAME), dtype=np.int32)
        for row in live:
            end = min(rec.gone.get(row, _NEVER), tick1) - tick0
            spans = rec.silent.get(row)
            if not spans:
                out[:end] += history[a : a + end, row]
                continue
            said = history[a : a + end, row].astype(np.int32)
            for s0, s1 in spans:
                lo, hi = max(s0, tick0) - tick0, min(s1, tick0 + end) - tick0
                if lo < hi:
                    said[lo:hi] = 0
            out[:end] += said
        for p0, p1 in rec.pauses:
            lo, hi = max(p0, tick0) - tick0, min(p1, tick1) - tick0
            if lo < hi:
                out[lo:hi] = 0
        np.clip(out, -32768, 32767, out=out)
        return out.astype(np.int16)

    def _resize(self, rows: int) -> Pcm:
        """A history of ``rows`` rows: every pending block is written from the old one."""
        due = self._due.copy()
        for rec in list(self.recordings.values()):
            self._flush(rec)
        self.writer.wait()
        self._reading_from = None
        self._due[:] = np.maximum(due, self._due - self.block_ticks + 1)  # keep the stagger
        self._history = np.zeros((len(self._history), rows, FRAME), dtype=np.int16)
        return self._history

    def _allocate_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = len(self._start)
        grow = max(4, slot)
        self._start = np.concatenate([self._start, np.full(grow, _NEVER, dtype=np.int64)])
        self._due = np.concatenate([self._due, np.full(grow, _NEVER, dtype=np.int64)])
        self._free.extend(range(slot + grow - 1, slot, -1))
        return slot

    def _get(self, key: str) -> Recording:
        try:
            return self.recordings[key]
        except KeyError:
            raise InvalidStateError(f"recording '{key}' is not running") from None


def _wav_data_offset(header: bytes, path: Path) -> int:
    """Offset of the first sample byte, walking the RIFF chunks (RIFF/WAVE layout)."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise RecordingError(f"'{path}' is not a RIFF/WAVE file")
    pos = 12
    while pos + 8 <= len(header):
        chunk_id = header[pos : pos + 4]
        (size,) = struct.unpack_from("<I", header, pos + 4)
        if chunk_id == b"data":
            return pos + 8
        pos += 8 + size + (size & 1)
    raise RecordingError(f"'{path}' has no data chunk in its first {len(header)} bytes")


def _wav_block_align(header: bytes) -> int:
    pos = 12
    while pos + 8 <= len(header):
        chunk_id = header[pos : pos + 4]
        (size,) = struct.unpack_from("<I", header, pos + 4)
        if chunk_id == b"fmt ":
            (align,) = struct.unpack_from("<H", header, pos + 8 + 12)
            return max(int(align), 1)
        pos += 8 + size + (size & 1)
    return 1


def repair_wav(path: str | Path) -> int:
    """Fix the RIFF and ``data`` sizes of a WAV cut short; returns its sample frames.

    A trailing partial sample frame is cut off.  Raises :class:`RecordingError`
    naming the path if the file is not a WAV with a data chunk.
    """
    path = Path(path)
    with open(path, "r+b") as fh:
        header = fh.read(4096)
        offset = _wav_data_offset(header, path)
        align = _wav_block_align(header)
        length = os.fstat(fh.fileno()).st_size
        data_bytes = max(0, length - offset) // align * align
        fh.truncate(offset + data_bytes)
        fh.seek(4)
        fh.write(struct.pack("<I", offset + data_bytes - 8))
        fh.seek(offset - 4)
        fh.write(struct.pack("<I", data_bytes))
    return data_bytes // align


def _repair_flac(part: Path, final: Path) -> int:
    """Re-encode the decodable frames of an unfinished FLAC; returns sample frames.

    With no decodable frame nothing is written (libsndfile writes no stream header
    before the first sample, and an empty file is not a FLAC file).
    """
    chunks = []
    with sf.SoundFile(str(part)) as src:
        rate, channels = src.samplerate, src.channels
        buf = np.empty((4096, channels), dtype=np.int16)
        ptr = sf._ffi.cast("short*", buf.ctypes.data)
        while True:
            # The stream header of an unfinished file has no length, so libsndfile
            # cannot seek in it; read sequentially with its frame reader.
            n = sf._snd.sf_readf_short(src._file, ptr, len(buf))
            if n <= 0:
                break
            chunks.append(buf[:n].copy())
    if not chunks:
        return 0
    sf.write(str(final), np.concatenate(chunks), rate, "PCM_16", format="FLAC")
    return sum(len(chunk) for chunk in chunks)


def recover_recording(part: str | Path) -> Path | None:
    """Repair one ``<path>.part`` left by a crash and move it to ``<path>``.

    Returns the final path, or ``None`` when no audio of it survived (an empty file,
    or a FLAC whose encoder had emitted no frame yet): the ``.part`` is removed.  The
    final file keeps the ``.part``'s modification time, the time its last block was
    written.  Raises :class:`RecordingError` naming the path when the file cannot be
    repaired (it is then left as it is).
    """
    part = Path(part)
    if part.name.endswith(PART_SUFFIX):
        final = part.with_name(part.name[: -len(PART_SUFFIX)])
    else:
        raise RecordingError(f"'{part}' is not a {PART_SUFFIX} recording")
    kind = final.suffix.lower()
    if kind not in (".wav", ".flac"):
        raise RecordingError(f"'{part}' is neither a WAV nor a FLAC recording")
    try:
        stat = part.stat()
        if stat.st_size == 0:
            part.unlink()
            log.warning("recording_discarded", path=str(part), reason="empty")
            return None
        if kind == ".wav":
            frames = repair_wav(part)
            os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.replace(part, final)
        else:
            frames = _repair_flac(part, final)
            part.unlink()
            if not frames:
                log.warning("recording_discarded", path=str(part), reason="no decodable frame")
                return None
            os.utime(final, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        raise RecordingError(f"recording '{part}' cannot be recovered: {exc}") from None
    log.warning("recording_recovered", path=str(final), frames=frames)
    return final


def recover_recordings(directory: str | Path) -> list[Path]:
    """Repair and rename every ``*.part`` recording under ``directory`` (run at start-up)."""
    recovered = []
    for part in sorted(Path(directory).rglob("*" + PART_SUFFIX)):
        if part.name[: -len(PART_SUFFIX)].lower().endswith((".wav", ".flac")):
            try:
                final = recover_recording(part)
            except RecordingError as exc:
                log.error("recording_recovery_failed", path=str(part), error=str(exc))
                continue
            if final is not None:
                recovered.append(final)
    return recovered
