"""RtpBank: a bound stream's datagrams are byte for byte those of an unbound twin."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pbx.media.engine import MediaEngine
from pbx.rtp.bank import RtpBank
from pbx.rtp.packet import RtpPacket
from pbx.rtp.stream import RtpStream

from .helpers import event, rtp

PEER = ("127.0.0.1", 40000)


def twin(ssrc: int, seq: int, ts: int, pt: int = 0) -> RtpStream:
    return RtpStream(ssrc, pt, initial_seq=seq, initial_ts=ts, cname="c@pbx", rng=random.Random(1))


def frames(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 160), dtype=np.uint8)


@pytest.mark.parametrize(("seq", "ts"), [(100, 1000), (0xFFFE, 0xFFFFFF00)])
def test_bank_datagrams_match_the_stream_across_marker_silence_dtmf_and_wrap(
    seq: int, ts: int
) -> None:
    rng = np.random.default_rng(3)
    bank = RtpBank(capacity=4)
    specs = [(0xA1, seq, ts, 0), (0xB2, seq + 7, ts + 3, 8), (0xC3, 5, 17, 0)]
    bound = [twin(*spec) for spec in specs]
    plain = [twin(*spec) for spec in specs]
    rows = np.array([0, 2, 3])
    for stream, row in zip(bound, rows, strict=True):
        stream.bind_bank(bank, int(row))
    for tick in range(40):
        block = frames(rng, 3)
        if tick == 5:
            for s in (bound[1], plain[1]):
                s.silence(3)  # marker on the next packet, timestamp jumps
        if tick == 9:
            for s in (bound[0], plain[0]):
                s.send_dtmf("5", duration_ms=60)
        expected = [s.packetize(block[i].tobytes()) for i, s in enumerate(plain)]
        scalar = bank.scalar[rows]
        got: list[bytes | None] = [None] * 3
        vector = np.flatnonzero(~scalar)
        for i, data in zip(vector, bank.packetize(rows[vector], block[vector]), strict=True):
            got[i] = data
        for i in np.flatnonzero(scalar):
            got[i] = bound[i].packetize(block[i].tobytes())
        assert got == expected, tick
        if tick == 9:
            assert scalar[0] and not scalar[1:].any()
    assert not bank.scalar[rows].any()  # the digit is over: back in the block
    for b, p in zip(bound, plain, strict=True):
        assert b.stats() == p.stats()
        assert b.build_rtcp(10.0, 3.9e9) == p.build_rtcp(10.0, 3.9e9)  # SR counts agree
    first = RtpPacket.parse(bank.packetize(rows[:1], frames(rng, 1))[0])
    assert not first.marker and first.ssrc == 0xA1


def test_unbind_gives_the_state_back() -> None:
    bank = RtpBank(capacity=2)
    stream, other = twin(9, 10, 20), twin(9, 10, 20)
    stream.bind_bank(bank, 1)
    block = np.full((1, 160), 0xFF, dtype=np.uint8)
    for _ in range(3):
        bank.packetize(np.array([1]), block)
        other.packetize(block[0].tobytes())
    stream.unbind_bank()
    assert stream.packetize(b"\xff" * 160) == other.packetize(b"\xff" * 160)
    assert stream.packets_sent == 4


def test_engine_sends_banked_streams_in_one_block_and_flags_their_digits() -> None:
    engine = MediaEngine()
    streams = [twin(0x10 + i, 1, 1) for i in range(3)]
    chans = [engine.add_channel(s, "PCMU") for s in streams]
    for ch in chans:
        engine.echo(ch, True)
    for k in range(3):
        for i, s in enumerate(streams):
            s.receive(rtp(k, k * 160, ssrc=0x99 + i, payload=bytes([k + 1]) * 160), PEER, k * 0.02)
    out = engine.tick(0.0)
    assert len(out.datagrams) == 3
    for (data, addr), s in zip(out.datagrams, streams, strict=True):
        packet = RtpPacket.parse(data)
        assert addr == PEER and packet.ssrc == s.local_ssrc and packet.marker
        assert packet.payload == b"\x01" * 160  # echoed unchanged
    # An RFC 4733 digit on the middle channel: only its flag is raised.
    streams[1].receive(rtp(5, 480, event(3, True, 10, 800), pt=101, ssrc=0x9A), PEER, 0.07)
    assert engine.rtp.events[chans].tolist() == [False, True, False]
    out = engine.tick(0.08)
    digits = [(e.channel, e.digit) for e in out.events if hasattr(e, "digit")]
    assert digits == [(chans[1], "3")]
    assert not engine.rtp.events[chans].any()
    # Sending a digit moves that channel to its own packetize for the event's packets.
    engine.send_dtmf(chans[2], "7")
    out = engine.tick(0.1)
    pts = [RtpPacket.parse(d).payload_type for d, _ in out.datagrams]
    assert pts == [0, 0, 101]
