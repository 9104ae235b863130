"""Call recording to WAV or FLAC, buffered in blocks and safe against a crash.

Theory of operation: a recording has one or two output channels (mono mix, or
stereo with the caller left and the agent right); each output channel is the
saturated sum of what some engine rows *say* (their input pcm).  A
:class:`RecorderBank` keeps every active recording's pending audio in one
``(R, ticks, 160)`` array of 32-bit words, one interleaved stereo sample frame
per word; each tick one gather, a few whole-array operations that pack the
two channels, and one scatter of contiguous rows (each at the recording's own
tick position) append the tick's samples of every recording with no
per-recording Python work, and a flush hands the words to libsndfile as
int16 frames without a copy.

Writing every tick costs more than the whole tick budget (one system call per
write, see FINDINGS), so a recording is written in blocks of about one second.
The first block of each recording is shortened by a per-recording offset, so
recordings started in the same tick flush in different ticks afterwards.

Pause writes silence rather than skipping, so the two channels and the call's
timeline stay aligned (what contact-center QA tools expect); the paused span
counts in the recorded length.

Crash safety: the file is written as ``<path>.part`` through an unbuffered
file, and after each block the WAV RIFF and ``data`` chunk sizes are patched in
place (``SoundFile.flush()`` does not update them: libsndfile only rewrites the
header on close).  So after a ``kill -9`` the ``.part`` file is a valid WAV up
to its last block.  :func:`recover_recordings` (call it at start-up) repairs
every ``.part`` left behind — WAV sizes from the file length
(:func:`repair_wav`), FLAC by re-encoding the frames that decode (libFLAC's
stream header has no length until close) — and renames it to its final name.
``close()`` finalises the header and renames ``.part`` to the final path.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt
import soundfile as sf
import structlog
from attrs import define, field

from pbx.errors import InvalidStateError, LocalProtocolError, PbxError

__all__ = [
    "PART_SUFFIX",
    "RecorderBank",
    "Recording",
    "RecordingError",
    "recover_recordings",
    "repair_wav",
]

log = structlog.get_logger(__name__)

SAMPLE_RATE = 8000
FRAME = 160
PART_SUFFIX = ".part"
Format = Literal["wav", "flac"]
_SF_FORMAT = {"wav": "WAV", "flac": "FLAC"}


class RecordingError(PbxError):
    """A recording file could not be written or repaired; names the path."""


@define
class Recording:
    """One open recording file and its place in the bank's buffers."""

    key: str
    #: Final path (the file is ``path + ".part"`` until closed).
    path: Path
    fmt: Format
    #: Engine rows summed into each output channel (1 or 2 channels).
    sources: tuple[tuple[int, ...], ...]
    #: Row in the bank's buffer arrays.
    slot: int
    paused: bool = False
    #: Sample frames written to the file so far.
    frames_written: int = 0
    _raw: BinaryIO | None = None
    _file: Any = None
    _data_offset: int | None = None

    @property
    def part_path(self) -> Path:
        """Where the file lives while it is being written."""
        return self.path.with_name(self.path.name + PART_SUFFIX)

    @property
    def channels(self) -> int:
        """1 (mono mix) or 2 (stereo)."""
        return len(self.sources)

    def open(self) -> None:
        """Create ``<path>.part`` and its libsndfile writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._raw = open(self.part_path, "w+b", buffering=0)  # closed in close()
            self._file = sf.SoundFile(
                self._raw,
                "w",
                SAMPLE_RATE,
                self.channels,
                "PCM_16",
                format=_SF_FORMAT[self.fmt],
            )
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            if self._raw is not None:
                self._raw.close()
            raise RecordingError(
                f"recording file '{self.part_path}' cannot be created: {exc}"
            ) from None

    def write(self, block: npt.NDArray[np.int16]) -> None:
        """Append ``block`` ``(frames, channels)`` and make the file readable as it is."""
        self._file.write(block)
        self.frames_written += len(block)
        if self.fmt == "wav" and self._raw is not None:
            self._patch_wav_sizes()

    def _patch_wav_sizes(self) -> None:
        assert self._raw is not None
        fd = self._raw.fileno()
        if self._data_offset is None:
            self._data_offset = _wav_data_offset(os.pread(fd, 4096, 0), self.part_path)
        data_bytes = self.frames_written * self.channels * 2
        # RIFF chunk size (bytes after the 8-byte RIFF header) and data chunk size.
        os.pwrite(fd, struct.pack("<I", self._data_offset + data_bytes - 8), 4)
        os.pwrite(fd, struct.pack("<I", data_bytes), self._data_offset - 4)

    def close(self) -> None:
        """Finalise the header and move the file to its final name."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
            os.replace(self.part_path, self.path)

    @property
    def seconds(self) -> float:
        """Length written so far."""
        return self.frames_written / SAMPLE_RATE


@define
class RecorderBank:
    """Every active recording's buffered audio, appended per tick in one scatter."""

    #: Ticks buffered before a file write (50 ticks = 1 s).
    block_ticks: int = 50
    #: Leave writing to :meth:`write_due` (the shell calls it after sending the
    #: tick's datagrams); :meth:`feed` then writes only a buffer that is full.
    deferred: bool = False
    #: Extra ticks of buffer beyond a block, room for deferred writes.
    slack_ticks: int = 10
    recordings: dict[str, Recording] = field(factory=dict)
    _buffers: npt.NDArray[np.uint32] = field(init=False)
    _fill: npt.NDArray[np.int64] = field(init=False)
    _flush_at: npt.NDArray[np.int64] = field(init=False)
    _free: list[int] = field(factory=list)
    _by_slot: dict[int, Recording] = field(factory=dict)
    _started: int = 0
    _index: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.bool_]] | None = None

    def __attrs_post_init__(self) -> None:
        self._buffers = np.zeros((0, self.block_ticks + self.slack_ticks, FRAME), dtype=np.uint32)
        self._fill = np.zeros(0, dtype=np.int64)
        self._flush_at = np.zeros(0, dtype=np.int64)

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
        rec.open()
        self.recordings[key] = rec
        self._by_slot[slot] = rec
        self._fill[slot] = 0
        # Stagger the first block so recordings started together flush apart.
        self._flush_at[slot] = 1 + self._started % self.block_ticks
        self._started += 1
        self._index = None
        log.info("recording_started", key=key, path=str(rec.path), channels=rec.channels)
        return rec

    def pause(self, key: str) -> None:
        """Write silence instead of audio until :meth:`resume`."""
        self._get(key).paused = True
        self._index = None

    def resume(self, key: str) -> None:
        """Write audio again after :meth:`pause`."""
        self._get(key).paused = False
        self._index = None

    def stop(self, key: str) -> Recording:
        """Write what is buffered, finalise the file and forget the recording."""
        rec = self._get(key)
        self._flush(rec)
        rec.close()
        del self.recordings[key]
        del self._by_slot[rec.slot]
        self._free.append(rec.slot)
        self._index = None
        log.info("recording_finished", key=key, path=str(rec.path), seconds=rec.seconds)
        return rec

    def forget_row(self, row: int) -> None:
        """A channel row went away: its place in every recording becomes silence."""
        for rec in self.recordings.values():
            if any(row in s for s in rec.sources):
                rec.sources = tuple(tuple(-1 if r == row else r for r in s) for s in rec.sources)
        self._index = None

    def feed(self, pcm: npt.NDArray[np.int16], zero_row: int) -> None:
        """Append this tick's samples of every recording from the ``(N, 160)`` block.

        ``pcm[zero_row]`` must be all zeros: it stands in for missing sources and
        for paused recordings.
        """
        if not self.recordings:
            return
        slots, rows, _ = self._gather_index(zero_row)
        samples = pcm.take(rows, axis=0)  # (M, 2, K, 160)
        if rows.shape[2] == 1:
            tick = samples[:, :, 0, :]
        else:
            tick = np.clip(samples.sum(axis=2, dtype=np.int32), -32768, 32767).astype(np.int16)
        # Interleave by packing each (left, right) sample pair into one uint32 in
        # native byte order: a frame of the file is then one word, every write below
        # is a contiguous 160-word row and a flush needs no copy.
        bits = tick.view(np.uint16)
        first, second = (0, 1) if sys.byteorder == "little" else (1, 0)
        packed = bits[:, second, :].astype(np.uint32)
        packed <<= 16
        packed |= bits[:, first, :]
        self._buffers[slots, self._fill[slots]] = packed
        self._fill[slots] += 1
        fill = self._fill[slots]
        if self.deferred:
            due = slots[fill >= self._buffers.shape[1]]  # full: cannot wait any longer
        else:
            due = slots[fill >= self._flush_at[slots]]
        for slot in due.tolist():
            self._flush(self._by_slot[slot])

    def write_due(self) -> int:
        """Write every buffer that reached its block size; returns how many were written."""
        if not self.recordings:
            return 0
        slots = self._gather_index(0)[0]
        due = slots[self._fill[slots] >= self._flush_at[slots]]
        for slot in due.tolist():
            self._flush(self._by_slot[slot])
        return len(due)

    def close_all(self) -> list[Recording]:
        """Stop every recording (shutdown)."""
        return [self.stop(key) for key in list(self.recordings)]

    def _flush(self, rec: Recording) -> None:
        ticks = int(self._fill[rec.slot])
        if ticks:
            frames = self._buffers[rec.slot, :ticks].reshape(-1).view(np.int16).reshape(-1, 2)
            try:
                rec.write(frames if rec.channels == 2 else frames[:, :1])
            except (OSError, sf.LibsndfileError, RuntimeError) as exc:
                log.error("recording_write_failed", key=rec.key, path=str(rec.path), error=str(exc))
        self._fill[rec.slot] = 0
        self._flush_at[rec.slot] = self.block_ticks

    def _gather_index(
        self, zero_row: int
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        if self._index is None:
            recs = list(self.recordings.values())
            width = max(len(s) for rec in recs for s in rec.sources)
            rows = np.full((len(recs), 2, width), -1, dtype=np.intp)
            for i, rec in enumerate(recs):
                if rec.paused:
                    continue
                for c, src in enumerate(rec.sources):
                    rows[i, c, : len(src)] = src
            slots = np.array([rec.slot for rec in recs], dtype=np.intp)
            paused = np.array([rec.paused for rec in recs], dtype=np.bool_)
            self._index = (slots, rows, paused)
        slots, rows, paused = self._index
        return slots, np.where(rows < 0, zero_row, rows), paused

    def _allocate_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = len(self._fill)
        grow = max(4, slot)
        self._buffers = np.concatenate(
            [self._buffers, np.zeros((grow,) + self._buffers.shape[1:], dtype=np.uint32)]
        )
        self._fill = np.concatenate([self._fill, np.zeros(grow, dtype=np.int64)])
        self._flush_at = np.concatenate([self._flush_at, np.zeros(grow, dtype=np.int64)])
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
    """Re-encode the decodable frames of an unfinished FLAC; returns sample frames."""
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
    audio = np.concatenate(chunks) if chunks else np.zeros((0, channels), dtype=np.int16)
    sf.write(str(final), audio, rate, "PCM_16", format="FLAC")
    part.unlink()
    return len(audio)


def recover_recordings(directory: str | Path) -> list[Path]:
    """Repair and rename every ``*.part`` recording under ``directory`` (run at start-up)."""
    recovered = []
    for part in sorted(Path(directory).rglob("*" + PART_SUFFIX)):
        final = part.with_name(part.name[: -len(PART_SUFFIX)])
        try:
            if final.suffix.lower() == ".wav":
                frames = repair_wav(part)
                os.replace(part, final)
            elif final.suffix.lower() == ".flac":
                frames = _repair_flac(part, final)
            else:
                continue
        except (OSError, RecordingError, sf.LibsndfileError, RuntimeError) as exc:
            log.error("recording_recovery_failed", path=str(part), error=str(exc))
            continue
        log.warning("recording_recovered", path=str(final), frames=frames)
        recovered.append(final)
    return recovered
