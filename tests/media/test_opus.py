"""The Opus edge of a browser leg (pbx.media.opus): PCMU frames to Opus and back.

One transcoder plays the pbx towards a browser (``to_browser``: the engine's PCMU
packets become Opus), a second one receives those Opus packets as if from a browser
(``to_engine``): what comes out must be the tone that went in, as 160-sample PCMU
packets on a steady 8 kHz timeline, with losses kept as time and events scaled.
"""

from __future__ import annotations

import struct
from itertools import pairwise

import numpy as np

from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.opus import OpusTranscoder
from pbx.rtp.packet import RtpPacket, build_rtp_header

OPUS_PT, EVENT_PT, SSRC = 111, 110, 0x1234


def pcmu_packets(hz: float, count: int, ts0: int = 1000, seq0: int = 7) -> list[bytes]:
    t = np.arange(160 * count) / 8000
    pcm = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)
    return [
        build_rtp_header(0, seq0 + i, ts0 + 160 * i, SSRC)
        + ulaw_encode(pcm[i * 160 :][:160]).tobytes()
        for i in range(count)
    ]


def dominant_hz(pcm: np.ndarray) -> float:
    x = pcm.astype(np.float64) * np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(pcm)


def opus_stream(hz: float, count: int) -> list[bytes]:
    sender = OpusTranscoder(OPUS_PT, EVENT_PT)
    out = [sender.to_browser(p) for p in pcmu_packets(hz, count)]
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


def test_pcmu_to_opus_and_back_keeps_the_tone_and_the_timeline() -> None:
    opus = opus_stream(440, 100)
    first = RtpPacket.parse(opus[0])
    assert first.payload_type == OPUS_PT and first.timestamp == 1000 * 6
    assert RtpPacket.parse(opus[1]).timestamp - first.timestamp == 960
    assert all(len(p) < 12 + 160 for p in opus)  # compressed, not G.711 in disguise
    receiver = OpusTranscoder(OPUS_PT, EVENT_PT)
    engine = [RtpPacket.parse(p) for d in opus for p in receiver.to_engine(d)]
    assert len(engine) >= 98
    assert {p.payload_type for p in engine} == {0}
    assert {len(p.payload) for p in engine} == {160}
    assert all(b.timestamp - a.timestamp == 160 for a, b in pairwise(engine))
    assert all(b.sequence_number - a.sequence_number == 1 for a, b in pairwise(engine))
    pcm = ulaw_decode(np.frombuffer(b"".join(p.payload for p in engine[20:]), dtype=np.uint8))
    assert abs(dominant_hz(pcm) - 440) < 10
    assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 3000  # the level survives


def test_a_lost_packet_is_kept_as_time_and_a_late_one_is_dropped() -> None:
    opus = opus_stream(700, 30)
    receiver = OpusTranscoder(OPUS_PT, EVENT_PT)
    before = [p for d in opus[:10] for p in receiver.to_engine(d)]
    after = [p for d in opus[11:20] for p in receiver.to_engine(d)]  # packet 10 lost
    assert receiver.to_engine(opus[10]) == []  # arriving late now: dropped
    assert receiver.to_engine(opus[15]) == []  # a duplicate: dropped
    stamps = [RtpPacket.parse(p).timestamp for p in before + after]
    assert all(b - a == 160 for a, b in pairwise(stamps))
    assert len(before) + len(after) == 19 + 1  # 20 ms of silence stand for the lost one


def test_each_packet_of_the_browser_reaches_the_engine_at_once() -> None:
    """No packet's audio waits for the next one: from the first packet on, every
    Opus packet in gives one PCMU frame out, and a tone that starts in packet N is
    heard in frame N, not 20 ms later."""
    silence_then_tone = [
        build_rtp_header(0, 7 + i, 1000 + 160 * i, SSRC) + ulaw_encode(pcm).tobytes()
        for i, pcm in enumerate(
            [np.zeros(160, np.int16)] * 10
            + [(np.sin(2 * np.pi * 1000 * np.arange(160) / 8000) * 8000).astype(np.int16)] * 10
        )
    ]
    sender = OpusTranscoder(OPUS_PT, EVENT_PT)
    opus = [sender.to_browser(p) for p in silence_then_tone]
    receiver = OpusTranscoder(OPUS_PT, EVENT_PT)
    per_packet = [receiver.to_engine(d) for d in opus if d is not None]
    assert [len(out) for out in per_packet] == [1] * 20
    levels = [
        np.sqrt(np.mean(ulaw_decode(np.frombuffer(out[0][12:], np.uint8)).astype(float) ** 2))
        for out in per_packet
    ]
    assert max(levels[:10]) < 200
    assert levels[11] > 2000  # the tone's second packet is whole in its own frame


def test_telephone_events_are_scaled_both_ways_and_garbage_is_survived() -> None:
    pbx = OpusTranscoder(OPUS_PT, EVENT_PT)
    event = struct.pack("!BBH", 5, 0x80 | 10, 800)  # digit 5, end, 100 ms at 8 kHz
    out = pbx.to_browser(build_rtp_header(EVENT_PT, 3, 2000, SSRC, marker=True) + event)
    assert out is not None
    sent = RtpPacket.parse(out)
    assert sent.timestamp == 12000 and sent.marker
    assert struct.unpack("!BBH", sent.payload) == (5, 0x80 | 10, 4800)
    [back] = pbx.to_engine(out)
    got = RtpPacket.parse(back)
    assert got.payload_type == EVENT_PT and got.timestamp == 2000
    assert struct.unpack("!BBH", got.payload) == (5, 0x80 | 10, 800)
    # Not RTP, another payload type, a payload libopus cannot read: nothing, no raise.
    assert pbx.to_engine(b"\x00garbage") == []
    assert pbx.to_engine(build_rtp_header(96, 1, 1, SSRC) + b"x" * 20) == []
    pbx.to_engine(build_rtp_header(OPUS_PT, 9, 99999, SSRC) + b"\xff" * 40)
    assert pbx.to_browser(b"short") is None
