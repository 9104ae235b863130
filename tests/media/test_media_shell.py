"""The media shell writes recordings on its worker thread while it ticks, and gives the
recorder back its inline writer when it stops."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pbx.media.engine import MediaEngine
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.recorder import InlineWriter
from pbx.net.media import MediaService, RecordingWriter
from pbx.rtp.ports import PortPool
from pbx.rtp.stream import RtpStream
from tests.conftest import need_ipv6_loopback
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


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_rtp_through_the_epoll_reader_comes_back_from_the_same_port(host: str) -> None:
    """Datagrams read by the service's one epoll reach the stream; the echo goes back to
    the sender's address (symmetric RTP) from the port it was sent to, over IPv4 and IPv6."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if family == socket.AF_INET6:
        need_ipv6_loopback()
    engine = MediaEngine()
    # Distinct noise frames: a frame the engine conceals (a late packet) is the last
    # one again at -6 dB, which for constant frames can equal another test frame.
    rng = random.Random(7)
    frames = [rng.randbytes(160) for _ in range(30)]

    async def run() -> tuple[list[bytes], set[tuple[str, int]], int]:
        service = MediaService(engine, PortPool(41000, 41100), host)
        peer = socket.socket(family, socket.SOCK_DGRAM)
        peer.bind((host, 0))
        peer.setblocking(False)
        port = service.open()
        stream = RtpStream(0xBEEF, 0, initial_seq=1, initial_ts=1, cname="t")
        ch = engine.add_channel(stream)
        service.attach(port, ch)
        engine.echo(ch, True)
        service.start()
        heard: list[bytes] = []
        sources: set[tuple[str, int]] = set()
        try:
            for k, frame in enumerate(frames):
                packet = struct.pack("!BBHII", 0x80, 0, k, 160 * k, 0x1234) + frame
                peer.sendto(packet, (host, port))
                await asyncio.sleep(0.02)
                while True:
                    try:
                        data, source = peer.recvfrom(2048)
                    except BlockingIOError:
                        break
                    heard.append(data[12:])
                    sources.add((source[0], source[1]))
        finally:
            service.stop()
            peer.close()
        return heard, sources, port

    heard, sources, port = asyncio.run(run())
    assert sources == {(host, port)}
    echoed = [p for p in heard if p in frames]
    assert len(echoed) >= 20  # every frame but the ones in flight at the ends
    order = [frames.index(p) for p in echoed]
    assert order == sorted(order), order  # in order, none twice
    assert len(set(echoed)) == len(echoed)
