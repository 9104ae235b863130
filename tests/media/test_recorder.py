"""Recording: stereo/mono layout, blocks, pause as silence, crash safety under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.media.recorder import RecorderBank, recover_recordings, repair_wav, wav_header


def _tick_block(tick: int) -> np.ndarray:
    """Rows 0..7 with recognisable content per tick."""
    pcm = np.zeros((8, 160), dtype=np.int16)
    for row in range(8):
        pcm[row] = (row + 1) * 1000 + tick % 500
    return pcm


def test_stereo_and_mono_recordings(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=5)
    bank.start("call-1", tmp_path / "stereo.wav", [(0,), (1,)])
    bank.start("call-2", tmp_path / "mono.flac", [(2, 3)], fmt="flac")
    for tick in range(23):
        bank.feed(_tick_block(tick))
    stereo = bank.stop("call-1")
    mono = bank.stop("call-2")
    assert stereo.seconds == pytest.approx(23 * 0.02)
    data, rate = sf.read(str(tmp_path / "stereo.wav"), dtype="int16")
    assert rate == 8000 and data.shape == (23 * 160, 2)
    ticks = np.repeat(np.arange(23), 160)
    assert np.array_equal(data[:, 0], 1000 + ticks)
    assert np.array_equal(data[:, 1], 2000 + ticks)
    mono_data, _ = sf.read(str(tmp_path / "mono.flac"), dtype="int16")
    assert mono_data.ndim == 1
    assert np.array_equal(mono_data, 3000 + 4000 + 2 * ticks)
    assert mono.seconds == pytest.approx(0.46)
    assert not list(tmp_path.glob("*.part"))


def test_pause_writes_silence_so_timing_stays_aligned(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=4)
    bank.start("k", tmp_path / "p.wav", [(0,), (1,)])
    for tick in range(10):
        if tick == 3:
            bank.pause("k")
        if tick == 6:
            bank.resume("k")
        bank.feed(_tick_block(tick))
    bank.stop("k")
    data, _ = sf.read(str(tmp_path / "p.wav"), dtype="int16")
    assert data.shape == (1600, 2)
    per_tick = data[:, 0].reshape(10, 160)[:, 0].tolist()
    assert per_tick == [1000, 1001, 1002, 0, 0, 0, 1006, 1007, 1008, 1009]


def test_mono_mix_saturates(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=2)
    bank.start("k", tmp_path / "m.wav", [(0, 1)])
    pcm = np.zeros((3, 160), dtype=np.int16)
    pcm[0], pcm[1] = 30000, 30000
    bank.feed(pcm)
    bank.stop("k")
    data, _ = sf.read(str(tmp_path / "m.wav"), dtype="int16")
    assert data.tolist() == [32767] * 160


def test_first_blocks_are_staggered(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=10)
    for i in range(4):
        bank.start(f"r{i}", tmp_path / f"r{i}.wav", [(0,)])
    sizes = []
    for tick in range(3):
        bank.feed(_tick_block(tick))
        sizes.append([bank.recordings[f"r{i}"].frames_written for i in range(4)])
    assert sizes[0] == [160, 0, 0, 0]
    assert sizes[1] == [160, 320, 0, 0]
    assert sizes[2] == [160, 320, 480, 0]
    bank.close_all()


def test_errors(tmp_path: Path) -> None:
    bank = RecorderBank()
    bank.start("k", tmp_path / "a.wav", [(0,)])
    with pytest.raises(InvalidStateError, match="recording 'k' is already running"):
        bank.start("k", tmp_path / "b.wav", [(0,)])
    with pytest.raises(InvalidStateError, match="recording 'x' is not running"):
        bank.stop("x")
    with pytest.raises(LocalProtocolError, match="format 'mp3'"):
        bank.start("m", tmp_path / "a.mp3", [(0,)], fmt="mp3")  # type: ignore[arg-type]
    bank.close_all()


def test_repair_wav_fixes_sizes_from_file_length(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(str(path), np.arange(1000, dtype=np.int16), 8000, "PCM_16")
    raw = bytearray(path.read_bytes())
    raw[4:8] = b"\x00\x00\x00\x00"
    raw[40:44] = b"\x00\x00\x00\x00"
    path.write_bytes(bytes(raw) + b"\x01")  # plus half a sample
    assert repair_wav(path) == 1000
    with wave.open(str(path)) as w:
        assert w.getnframes() == 1000


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import structlog
    from pbx.media.recorder import RecorderBank
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    bank = RecorderBank(block_ticks=5)
    bank.start("k", sys.argv[1], [(0,), (1,)], fmt=sys.argv[2])
    pcm = np.zeros((3, 160), dtype=np.int16)
    for tick in range(10_000):
        pcm[0] = tick
        pcm[1] = -tick
        bank.feed(pcm)
        if tick == 52:
            print("ready", flush=True)
            time.sleep(60)
    """
)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_recording_survives_sigkill(tmp_path: Path, fmt: str) -> None:
    final = tmp_path / f"call.{fmt}"
    env = dict(os.environ)
    src_dir = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src_dir + os.pathsep + env.get("PYTHONPATH", "")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(final), fmt], stdout=subprocess.PIPE, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    part = tmp_path / f"call.{fmt}.part"
    assert part.exists() and not final.exists()
    # First block: 1 tick, then blocks of 5 ticks; ticks 0..50 were written by tick 52.
    written_ticks = 51
    if fmt == "wav":
        with wave.open(str(part)) as w:  # strict reader: header sizes must be right
            assert w.getnframes() == written_ticks * 160
        data, _ = sf.read(str(part), dtype="int16")
        assert np.array_equal(data[:, 0], np.repeat(np.arange(written_ticks), 160))
        assert np.array_equal(data[:, 1], -np.repeat(np.arange(written_ticks), 160))
    assert recover_recordings(tmp_path) == [final]
    data, _ = sf.read(str(final), dtype="int16")
    # FLAC keeps what the encoder had emitted: whole 4096-sample frames.
    n = len(data)
    assert n == written_ticks * 160 if fmt == "wav" else n >= 4096
    assert np.array_equal(data[:, 0], np.repeat(np.arange(written_ticks), 160)[:n])
    assert not part.exists()


def test_deferred_writes_wait_for_write_due(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=3, deferred=True, slack_ticks=2)
    rec = bank.start("k", tmp_path / "d.wav", [(0,), (1,)])
    bank.feed(_tick_block(0))
    assert rec.frames_written == 0  # due (first block is 1 tick) but deferred
    assert bank.write_due() == 1 and rec.frames_written == 160
    for tick in range(1, 6):
        bank.feed(_tick_block(tick))
    assert rec.frames_written == 160 + 5 * 160  # the buffer filled up: written anyway
    bank.stop("k")
    data, _ = sf.read(str(tmp_path / "d.wav"), dtype="int16")
    assert data[:, 0].reshape(6, 160)[:, 0].tolist() == [1000, 1001, 1002, 1003, 1004, 1005]


def test_wav_header_is_the_canonical_riff_header(tmp_path: Path) -> None:
    frames = np.arange(-300, 300, dtype=np.int16).reshape(-1, 2)
    with wave.open(str(tmp_path / "ref.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames.tobytes())
    assert (tmp_path / "ref.wav").read_bytes()[:44] == wav_header(2, frames.nbytes)


class LaggingWriter:
    """Holds every job until :meth:`wait`: a worker thread that has fallen behind."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []
        self.waits = 0

    def submit(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def wait(self) -> None:
        self.waits += 1
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def test_a_lagging_writer_is_waited_for_before_its_ring_rows_are_reused(tmp_path: Path) -> None:
    writer = LaggingWriter()
    bank = RecorderBank(block_ticks=4, slack_ticks=3, writer=writer)  # a 7-tick ring
    rec = bank.start("k", tmp_path / "lag.wav", [(0,), (1,)])
    for tick in range(30):
        bank.feed(_tick_block(tick))
        assert len(writer.jobs) <= 2  # never more than the ring can hold unread
    assert writer.waits >= 3 and rec.frames_written == 29 * 160
    bank.stop("k")
    data, _ = sf.read(str(tmp_path / "lag.wav"), dtype="int16")
    assert data[:, 0].reshape(30, 160)[:, 0].tolist() == [1000 + t for t in range(30)]
    assert data[:, 1].reshape(30, 160)[:, 0].tolist() == [2000 + t for t in range(30)]


def test_the_shell_writer_thread_writes_the_same_files(tmp_path: Path) -> None:
    from pbx.net.media import RecordingWriter

    writer = RecordingWriter()
    banks = {
        "inline": RecorderBank(block_ticks=3, deferred=True),
        "thread": RecorderBank(block_ticks=3, deferred=True, writer=writer),
    }
    for name, bank in banks.items():
        bank.start("s", tmp_path / f"{name}-s.wav", [(0,), (3,)])
        bank.start("m", tmp_path / f"{name}-m.flac", [(1, 2)], fmt="flac")
    for tick in range(40):
        for name, bank in banks.items():
            if tick == 17:  # more recordings than the first slots: the ring grows
                for i in range(5):
                    bank.start(f"x{i}", tmp_path / f"{name}-x{i}.wav", [(i,), (7 - i,)])
            bank.feed(_tick_block(tick))
            bank.write_due()
    for bank in banks.values():
        bank.close_all()
    writer.close()
    for suffix in ["s.wav", "m.flac"] + [f"x{i}.wav" for i in range(5)]:
        inline, _ = sf.read(str(tmp_path / f"inline-{suffix}"), dtype="int16")
        threaded, _ = sf.read(str(tmp_path / f"thread-{suffix}"), dtype="int16")
        assert len(inline) == (40 if suffix[0] in "sm" else 23) * 160
        assert np.array_equal(inline, threaded), suffix
    x4, _ = sf.read(str(tmp_path / "thread-x4.wav"), dtype="int16")
    assert x4[::160, 0].tolist() == [5000 + t for t in range(17, 40)]
    assert x4[::160, 1].tolist() == [4000 + t for t in range(17, 40)]


def test_a_source_that_goes_away_is_silence_even_when_its_row_is_reused(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=4, slack_ticks=2)
    bank.start("stereo", tmp_path / "s.wav", [(0,), (1,)])
    bank.start("mono", tmp_path / "m.wav", [(0, 2)])
    for tick in range(11):
        if tick == 6:
            bank.forget_row(0)  # the caller hung up; row 0 carries another call from now
        bank.feed(_tick_block(tick))
    bank.close_all()
    stereo, _ = sf.read(str(tmp_path / "s.wav"), dtype="int16")
    mono, _ = sf.read(str(tmp_path / "m.wav"), dtype="int16")
    left = stereo[::160, 0].tolist()
    assert left == [1000 + t for t in range(6)] + [0] * 5
    assert stereo[::160, 1].tolist() == [2000 + t for t in range(11)]
    assert mono[::160].tolist() == [4000 + 2 * t for t in range(6)] + [
        3000 + t for t in range(6, 11)
    ]


def test_recording_across_a_growing_engine_keeps_every_tick(tmp_path: Path) -> None:
    """The engine grows (more rows) mid-recording: the history is rebuilt after every
    pending block is written, and the file has every tick in order."""
    bank = RecorderBank(block_ticks=5, deferred=True)
    rec = bank.start("k", tmp_path / "g.wav", [(0,), (1,)])
    for tick in range(23):
        pcm = _tick_block(tick)
        if tick >= 9:
            pcm = np.concatenate([pcm, np.full((8, 160), 7, dtype=np.int16)])
        bank.feed(pcm)
        bank.write_due()
    bank.stop("k")
    assert rec.frames_written == 23 * 160
    data, _ = sf.read(str(tmp_path / "g.wav"), dtype="int16")
    assert data[::160, 0].tolist() == [1000 + t for t in range(23)]
    assert data[::160, 1].tolist() == [2000 + t for t in range(23)]


def test_a_mono_mix_grows_and_mutes_members_as_a_conference_does(tmp_path: Path) -> None:
    bank = RecorderBank(block_ticks=4, slack_ticks=2)
    bank.start("room", tmp_path / "room.wav", [(0,)])
    for tick in range(12):
        if tick == 2:
            bank.add_source("room", 1)  # a second member joins
        if tick == 4:
            bank.silence_source("room", 0, True)  # the first is muted ...
        if tick == 6:
            bank.silence_source("room", 0, False)  # ... and unmuted
        if tick == 8:
            bank.forget_row(1)  # the second leaves; row 1 carries another call
        if tick == 10:
            bank.add_source("room", 1)  # a third member joins on the reused row
        bank.feed(_tick_block(tick))
    bank.close_all()
    mono, _ = sf.read(str(tmp_path / "room.wav"), dtype="int16")
    first = [1000 + t for t in range(12)]
    second = [2000 + t for t in range(12)]
    expected = [
        first[t] * (t not in (4, 5)) + second[t] * (2 <= t < 8 or t >= 10) for t in range(12)
    ]
    assert mono[::160].tolist() == expected
    with pytest.raises(LocalProtocolError, match="stereo"):
        bank.start("call", tmp_path / "s.wav", [(0,), (1,)])
        bank.add_source("call", 2)
