from __future__ import annotations

import random

import pytest

from pbx.errors import ConfigError
from pbx.rtp.jitter import JitterBuffer
from pbx.rtp.packet import RtpPacket


def frame(n: int, size: int = 160) -> bytes:
    """A payload that says which frame it is."""
    return n.to_bytes(2, "big") * (size // 2)


def test_in_order_stream_plays_each_frame_on_the_next_tick() -> None:
    jb = JitterBuffer()
    assert jb.pop() is None  # nothing yet: idle, not concealment
    out = []
    for n in range(5):
        assert jb.put(frame(n), n, 1000 + 160 * n, now=0.02 * n)
        out.append(jb.pop())
    assert out == [frame(n) for n in range(5)]
    assert jb.played == 5 and jb.concealed == 0 and jb.depth == 1


def test_accepts_an_rtp_packet() -> None:
    jb = JitterBuffer()
    jb.put(RtpPacket(0, 7, 320, 1, frame(9)), 7, 320, 0.0)
    assert jb.pop() == frame(9)


def test_reordering_within_the_window_is_undone() -> None:
    jb = JitterBuffer(min_depth=3)
    for n in (0, 2, 1):
        jb.put(frame(n), n, 160 * n, 0.0)
    assert [jb.pop() for _ in range(3)] == [frame(0), frame(1), frame(2)]
    assert jb.late == 0 and jb.lost == 0


def test_packet_after_its_frame_was_played_is_late_and_grows_the_depth() -> None:
    jb = JitterBuffer(min_depth=1, max_depth=4)
    jb.put(frame(0), 0, 0, 0.0)
    jb.put(frame(2), 2, 320, 0.0)
    assert jb.pop() == frame(0)
    assert jb.pop() is None  # frame 1 missing while frame 2 waits: a loss
    assert jb.lost == 1
    assert not jb.put(frame(1), 1, 160, 0.05)  # arrives after its turn
    assert jb.late == 1
    assert jb.depth == 2
    assert jb.pop() is None  # the one-tick stretch that makes room for the new depth
    assert jb.pop() == frame(2)
    assert jb.concealed == 2


def test_duplicates_are_dropped_and_counted() -> None:
    jb = JitterBuffer(min_depth=2)
    assert jb.put(frame(0), 10, 0, 0.0)
    assert not jb.put(frame(0), 10, 0, 0.0)
    assert jb.put(frame(1), 11, 160, 0.0)
    assert not jb.put(frame(1), 12, 160, 0.0)  # same samples under another sequence number
    assert jb.duplicates == 2
    assert [jb.pop(), jb.pop()] == [frame(0), frame(1)]


def test_underrun_then_resume_without_gap_grows_depth_and_loses_nothing() -> None:
    jb = JitterBuffer(min_depth=1, max_depth=5)
    jb.put(frame(0), 0, 0, 0.0)
    assert jb.pop() == frame(0)
    assert jb.pop() is None  # frame 1 is late on the wire
    assert jb.underruns == 1
    jb.put(frame(1), 1, 160, 0.05)
    assert jb.pop() is None  # rebuffering to the grown depth
    assert jb.depth == 2
    jb.put(frame(2), 2, 320, 0.06)
    assert jb.pop() == frame(1)
    jb.put(frame(3), 3, 480, 0.08)
    assert jb.pop() == frame(2)
    assert jb.lost == 0 and jb.late == 0


def test_silence_suppression_gap_is_skipped_without_growing() -> None:
    jb = JitterBuffer()
    jb.put(frame(0), 0, 0, 0.0)
    assert jb.pop() == frame(0)
    assert [jb.pop() for _ in range(10)] == [None] * 10  # the far end is silent
    jb.put(frame(50), 1, 160 * 50, 1.0)  # next talkspurt, timestamp moved on
    assert jb.pop() == frame(50)
    assert jb.depth == 1 and jb.lost == 0


def test_sequence_and_timestamp_wrap() -> None:
    jb = JitterBuffer()
    out = []
    for n in range(6):
        jb.put(frame(n), 65533 + n, (2**32 - 480 + 160 * n) & 0xFFFFFFFF, 0.0)
        out.append(jb.pop())
    assert out == [frame(n) for n in range(6)]


def test_timestamp_jump_beyond_the_ring_resyncs_once_the_next_packet_confirms_it() -> None:
    jb = JitterBuffer()
    jb.put(frame(0), 0, 0, 0.0)
    assert jb.pop() == frame(0)
    hour = 8000 * 3600
    assert not jb.put(frame(1), 1, hour, 0.02)  # a new timeline an hour away: kept aside
    assert jb.resyncs == 0 and jb.strays == 1
    assert jb.put(frame(2), 2, hour + 160, 0.04)  # the next packet continues it
    assert jb.resyncs == 1 and jb.strays == 0
    assert [jb.pop(), jb.pop()] == [frame(1), frame(2)]
    assert not jb.put(frame(3), 3, 480, 0.06)  # the timestamp going back is a jump too
    assert jb.put(frame(4), 4, 640, 0.08)
    assert jb.resyncs == 2
    assert [jb.pop(), jb.pop()] == [frame(3), frame(4)]


def test_a_lone_packet_beyond_the_ring_neither_flushes_nor_moves_the_timeline() -> None:
    jb = JitterBuffer(min_depth=3)
    rng = random.Random(5)
    for n in range(40):
        jb.put(frame(n), n, 160 * n, 0.02 * n)
        # A stray with a random timestamp (and an in-window sequence number) each tick.
        assert not jb.put(frame(9999), n + 1000, rng.getrandbits(32) | 1 << 31, 0.02 * n)
    assert jb.resyncs == 0 and jb.strays == 40
    assert [jb.pop() for _ in range(40)] == [frame(n) for n in range(40)]
    assert jb.lost == 0 and jb.duplicates == 0


def test_a_dropped_duplicate_does_not_claim_its_sequence_number() -> None:
    jb = JitterBuffer(min_depth=2)
    assert jb.put(frame(0), 10, 0, 0.0)
    assert not jb.put(frame(7), 12, 0, 0.0)  # same samples as frame 0: dropped
    assert jb.put(frame(1), 11, 160, 0.0)
    assert jb.put(frame(2), 12, 320, 0.0)  # 12 was never stored: not a duplicate
    assert [jb.pop() for _ in range(3)] == [frame(0), frame(1), frame(2)]


@pytest.mark.parametrize("ptime_samples", [80, 240])
def test_remote_ptime_10_and_30_is_reframed_into_20_ms(ptime_samples: int) -> None:
    jb = JitterBuffer(min_depth=2)
    audio = bytes(random.Random(1).randrange(256) for _ in range(160 * 30))
    out = b""
    seq = 0
    for tick in range(30):
        # The sender emits packets whenever a packet's worth of samples has elapsed.
        while (seq + 1) * ptime_samples <= (tick + 1) * 160:
            start = seq * ptime_samples
            jb.put(audio[start : start + ptime_samples], seq, start, tick * 0.02)
            seq += 1
        got = jb.pop()
        if got is not None:
            out += got
    assert len(out) >= 160 * 25
    assert audio.startswith(out)
    assert jb.partial == 0 and jb.lost == 0


def test_partial_frame_fills_missing_samples() -> None:
    jb = JitterBuffer(min_depth=1, fill_byte=0xD5)
    jb.put(b"\x01" * 80, 0, 0, 0.0)  # first half of frame 0
    jb.put(b"\x03" * 80, 2, 160, 0.0)  # first half of frame 1; second half of frame 0 lost
    assert jb.pop() == b"\x01" * 80 + b"\xd5" * 80
    assert jb.partial == 1


def test_depth_shrinks_after_a_stable_period_and_drops_one_frame() -> None:
    jb = JitterBuffer(min_depth=1, max_depth=4, shrink_after=20)
    jb.depth = 3
    n = 0
    played = []
    for _ in range(3):
        jb.put(frame(n), n, 160 * n, 0.0)
        n += 1
    for _ in range(45):
        jb.put(frame(n), n, 160 * n, 0.0)
        n += 1
        played.append(jb.pop())
    assert jb.depth == 1
    assert jb.dropped == 2
    assert jb.buffered == 1  # 3 frames waited after each pop before the two shrinks
    numbers = [int.from_bytes(p[:2], "big") for p in played if p is not None]
    assert len(numbers) == 45 and numbers == sorted(numbers)
    assert set(range(numbers[-1])) - set(numbers) == {20, 41}


def test_invalid_configuration_names_the_key() -> None:
    with pytest.raises(ConfigError, match="jitter.min_depth"):
        JitterBuffer(min_depth=5, max_depth=2)
    with pytest.raises(ConfigError, match="jitter.capacity"):
        JitterBuffer(capacity=48)


def test_random_loss_and_reordering_everything_on_time_is_played_in_order() -> None:
    rng = random.Random(20240601)
    jb = JitterBuffer(min_depth=1, max_depth=8)
    packets = 3000
    arrivals = []
    sent_lost = set()
    for n in range(packets):
        if rng.random() < 0.05:
            sent_lost.add(n)
            continue
        delay = 0.010 + rng.expovariate(1 / 0.008)  # a long tail: reordering and late packets
        arrivals.append((0.020 * n + delay, n))
    arrivals.sort()
    accepted = set()
    rejected = set()
    played = []
    pops = 0
    i = 0
    for tick in range(packets + 50):
        now = 0.005 + 0.020 * tick
        while i < len(arrivals) and arrivals[i][0] <= now:
            arrival, n = arrivals[i]
            if jb.put(frame(n), n, 160 * n, arrival):
                accepted.add(n)
            else:
                rejected.add(n)
            i += 1
        out = jb.pop()
        pops += 1
        if out is not None:
            played.append(int.from_bytes(out[:2], "big"))
    # Played strictly in order, and exactly what arrived in time (less what the shrink
    # policy dropped to cut the delay, which it counts).
    assert played == sorted(set(played))
    assert set(played) <= accepted
    assert len(accepted - set(played)) == jb.dropped
    assert rejected and len(rejected) == jb.late  # the tail made some late
    assert not (rejected & set(played))
    # Every frame between the first and last played is either played or concealed.
    span = played[-1] - played[0] + 1
    assert span - len(played) == jb.lost + jb.dropped
    assert set(range(played[0], played[-1] + 1)) - set(played) >= sent_lost & set(
        range(played[0], played[-1])
    )
    assert jb.concealed >= jb.lost
    assert 1 < jb.depth <= 8  # it adapted to the jitter
