"""The media shell writes recordings on its worker thread while it ticks, and gives the
recorder back its inline writer when it stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import soundfile as sf

from pbx.media.engine import MediaEngine
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.recorder import InlineWriter
from pbx.net.media import MediaService, RecordingWriter
from pbx.rtp.ports import PortPool
from tests.media.fakes import FakeStream


def test_ticker_hands_recording_blocks_to_its_writer_thread(tmp_path: Path) -> None:
    engine = MediaEngine()
    recorder = engine.recorder
    recorder.block_ticks = 3
    tone = (np.arange(160) * 97 % 2000 - 1000).astype(np.int16)
    stream = FakeStream(None)

    async def run() -> tuple[int, int]:
        service = MediaService(engine, PortPool(40000, 40010), "127.0.0.1")
        service.start()
        assert isinstance(recorder.writer, RecordingWriter) and recorder.deferred
        ch = engine.add_channel(stream)
        engine.echo(ch, True)
        engine.start_recording("r", tmp_path / "r.wav", mono=[ch])
        first = service.ticks
        while service.ticks < first + 12:
            stream.frames.append(ulaw_encode(tone).tobytes())
            await asyncio.sleep(0.005)
        engine.stop_recording("r")  # waits for the thread, then renames
        last = service.ticks
        service.stop()
        return first, last

    first, last = asyncio.run(run())
    assert isinstance(recorder.writer, InlineWriter) and not recorder.deferred
    data, rate = sf.read(str(tmp_path / "r.wav"), dtype="int16")
    assert rate == 8000 and len(data) == (last - first) * 160
    heard = data.reshape(-1, 160)
    assert np.array_equal(heard, np.tile(ulaw_decode(ulaw_encode(tone)), (len(heard), 1)))
