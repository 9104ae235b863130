"""The engine with real RTP streams: two phones bridged through it, and RFC 4733 digits."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pbx.media.engine import MediaEngine
from pbx.media.events import DtmfDetected
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.prompts import PromptCache
from pbx.rtp.stream import RtpStream

PHONE_A = ("127.0.0.1", 30000)
PHONE_B = ("127.0.0.1", 30002)
PBX = ("127.0.0.1", 40000)


def _stream(ssrc: int, remote: tuple[str, int] | None) -> RtpStream:
    return RtpStream(
        ssrc, 0, remote_addr=remote, initial_seq=ssrc, initial_ts=ssrc * 7, cname=str(ssrc)
    )


def test_two_phones_bridged_through_the_engine_hear_each_other() -> None:
    eng = MediaEngine()
    ca = eng.add_channel(_stream(1, None))  # latches on the phone's first packet
    cb = eng.add_channel(_stream(2, None))
    bridge = eng.bridge_create()
    eng.bridge_join(bridge, ca)
    eng.bridge_join(bridge, cb)
    phone_a, phone_b = _stream(11, PBX), _stream(12, PBX)
    rng = np.random.default_rng(3)
    said = [
        ulaw_encode(ulaw_decode(ulaw_encode(rng.integers(-5000, 5000, 160).astype(np.int16))))
        for _ in range(30)
    ]
    heard_b: list[bytes] = []
    events = []
    for tick in range(30):
        now = tick * 0.02
        eng.receive(ca, phone_a.packetize(said[tick].tobytes()), PHONE_A, now)
        eng.receive(cb, phone_b.packetize(b"\xff" * 160), PHONE_B, now)
        if tick == 10:
            phone_a.send_dtmf("5")  # the next ticks carry telephone-events, not audio
        out = eng.tick(now + 0.01)
        events += out.events
        assert {addr for _, addr in out.datagrams} == {PHONE_A, PHONE_B}
        for data, addr in out.datagrams:
            if addr == PHONE_B:
                phone_b.receive(data, PBX, now + 0.015)
                frame = phone_b.pop_frame()
                if frame is not None:
                    heard_b.append(frame)
    sent_audio = [f.tobytes() for f in said[:11]]
    # What B hears starts with A's frames, in order, after the jitter buffers' delay.
    start = heard_b.index(sent_audio[0])
    assert heard_b[start : start + 11] == sent_audio
    digits = [e for e in events if isinstance(e, DtmfDetected)]
    assert [(e.channel, e.digit, e.source) for e in digits] == [(ca, "5", "rfc4733")]
    assert 0.2 < digits[0].now < 0.5  # sent from tick 11 on, reported at its start or end


def test_example_test_tone_prompt_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "prompts" / "test-tone.wav"
    pcm = PromptCache().load("test-tone", path)
    assert len(pcm) == 24000
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    assert np.fft.rfftfreq(len(pcm), 1 / 8000)[spec.argmax()] == pytest.approx(1000.0)
    assert abs(int(pcm.max()) - 10362) <= 1  # -10 dBFS peak


def test_rtcp_reports_for_every_channel_over_time() -> None:
    eng = MediaEngine(wallclock_offset=1_700_000_000.0)
    streams = [_stream(20 + i, ("127.0.0.1", 31000 + 2 * i)) for i in range(4)]
    chans = [eng.add_channel(s) for s in streams]
    reports: dict[int, list[tuple[bytes, tuple[str, int]]]] = {ch: [] for ch in chans}
    for tick in range(600):  # 12 s
        now = tick * 0.02
        eng.tick(now)
        for ch, data, addr in eng.rtcp_to_send(now):
            reports[ch].append((data, addr))
    for i, ch in enumerate(chans):
        assert 1 <= len(reports[ch]) <= 6  # RFC 3550 §6.2: about every 5 s, randomised
        data, addr = reports[ch][0]
        assert addr == ("127.0.0.1", 31001 + 2 * i)  # RTP port + 1
        assert data[1] == 200  # sender report: the channel has been sending
    eng.receive_rtcp(chans[0], reports[chans[1]][0][0], ("127.0.0.1", 31001), 12.0)
    assert [s.rtcp_received for s in streams] == [1, 0, 0, 0]


class _UnbankedStream(RtpStream):
    """The same stream, but its frames come through a wrapper, so the engine cannot
    take them from its JitterBank: it calls ``pop_frame`` per tick as for any stream."""

    @property
    def frame_source(self):  # type: ignore[no-untyped-def]
        jitter = self.jitter_buffer
        return lambda: jitter.pop()


def test_jitter_bank_pops_give_what_each_streams_pop_gives() -> None:
    """Jittered, lossy, reordered traffic into bridged calls: the engine whose streams'
    jitter buffers are in its JitterBank sends exactly what the per-stream engine sends,
    and the buffers count the same."""
    rng = np.random.default_rng(11)
    engines = (MediaEngine(), MediaEngine(), MediaEngine())
    # Every stream's buffer in the bank; none; every other call's (a mixed tick).
    kinds = (
        [RtpStream] * 6,
        [_UnbankedStream] * 6,
        [RtpStream, _UnbankedStream] * 3,
    )
    streams: tuple[list[RtpStream], ...] = ([], [], [])
    for eng, kinds_of, out in zip(engines, kinds, streams, strict=True):
        for call, kind in enumerate(kinds_of):
            pair = [
                kind(k, 0, remote_addr=PHONE_A, initial_seq=k, initial_ts=k, cname="x")
                for k in (2 * call, 2 * call + 1)
            ]
            rows = [eng.add_channel(s) for s in pair]
            bridge = eng.bridge_create()
            for row in rows:
                eng.bridge_join(bridge, row)
            out.extend(pair)
    assert engines[0]._layout is None and engines[0].tick(0).counters.channels == 12
    assert engines[0]._jbanked[:12].all() and not engines[1]._jbanked[:12].any()
    assert engines[2]._jbanked[:12].tolist() == [True, True, False, False] * 3
    engines[1].tick(0)
    engines[2].tick(0)
    frames = [rng.integers(0, 256, 160, dtype=np.uint8).tobytes() for _ in range(64)]
    pending: list[list[tuple[int, bytes]]] = [[] for _ in range(12)]
    sent = [0] * 12
    for tick in range(1, 400):
        for i in range(12):
            if rng.random() < 0.95:  # 5% loss
                seq = sent[i]
                pending[i].append((seq, frames[seq % 64]))
            sent[i] += 1
            delivered = [p for p in pending[i] if rng.random() < 0.7]  # jitter and reordering
            pending[i] = [p for p in pending[i] if p not in delivered]
            for seq, payload in delivered:
                packet = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, 160 * seq, 0x4000 + i)
                for s in (streams[0][i], streams[1][i], streams[2][i]):
                    s.receive(packet + payload, PHONE_A, tick * 0.02)
        out = [eng.tick(tick * 0.02) for eng in engines]
        for other in out[1:]:
            assert other.payloads == out[0].payloads, tick
            assert other.counters == out[0].counters, tick
    for a, b, c in zip(*streams, strict=True):
        jc = c.jitter_buffer
        assert (jc.played, jc.lost, jc.late, jc.concealed) == (
            a.jitter_buffer.played,
            a.jitter_buffer.lost,
            a.jitter_buffer.late,
            a.jitter_buffer.concealed,
        )
        ja, jb = a.jitter_buffer, b.jitter_buffer
        assert (ja.played, ja.lost, ja.late, ja.concealed, ja.underruns, ja.depth) == (
            jb.played,
            jb.lost,
            jb.late,
            jb.concealed,
            jb.underruns,
            jb.depth,
        )
        assert ja.played > 300  # audio flowed


def test_lost_packets_are_counted_on_live_and_removed_streams() -> None:
    eng = MediaEngine()
    ca = eng.add_channel(_stream(1, None))
    phone = _stream(11, PBX)
    for tick in range(40):
        packet = phone.packetize(b"\xff" * 160)
        if tick % 10 != 5:  # every tenth packet never arrives
            eng.receive(ca, packet, PHONE_A, tick * 0.02)
        eng.tick(tick * 0.02 + 0.01)
    lost, late = eng.rtp_losses()
    assert (lost, late) == (4, 0)
    eng.remove_channel(ca)
    assert eng.rtp_losses() == (4, 0)  # kept once the stream is gone
