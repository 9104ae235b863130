from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.rtp.rtcp import RtcpReportBlock
from pbx.rtp.stats import ReceiverStats


def test_interarrival_jitter_a_8_hand_computed() -> None:
    stats = ReceiverStats(ssrc=1, first_seq=0, clock_rate=8000, min_sequential=1)
    # Timestamps every 20 ms; the third packet arrives 5 ms late.
    # transit: 0, 0, 40, 0  →  D: 0, 40, 40
    # J: 0 → 0 + (0-0)/16 = 0 → 0 + (40-0)/16 = 2.5 → 2.5 + (40-2.5)/16 = 4.84375
    for ts, now in ((0, 0.000), (160, 0.020), (320, 0.045), (480, 0.060)):
        stats.update_jitter(ts, now)
    assert stats.jitter == pytest.approx(4.84375)
    assert stats.jitter_ms == pytest.approx(4.84375 / 8)


def test_jitter_survives_timestamp_wrap() -> None:
    stats = ReceiverStats(ssrc=1, first_seq=0, clock_rate=8000)
    stats.update_jitter(2**32 - 160, 100.000)
    stats.update_jitter(0, 100.020)
    stats.update_jitter(160, 100.040)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_loss_counts_and_fraction_lost_a_3() -> None:
    stats = ReceiverStats(ssrc=1, first_seq=0, clock_rate=8000, min_sequential=1)
    for seq in (0, 1, 2, 5, 6, 7, 8, 9):
        stats.seq.update(seq)
    assert stats.expected == 10
    assert stats.received == 8
    assert stats.lost == 2
    block = stats.report_block(now=1.0)
    assert block.fraction_lost == (2 << 8) // 10
    assert block.packets_lost == 2
    assert block.highest_sequence == 9
    # The next interval: 10 more expected, all received → fraction 0, cumulative stays.
    for seq in range(10, 20):
        stats.seq.update(seq)
    block = stats.report_block(now=2.0)
    assert block.fraction_lost == 0
    assert block.packets_lost == 2


def test_duplicates_can_make_cumulative_loss_negative_a_3() -> None:
    stats = ReceiverStats(ssrc=1, first_seq=0, clock_rate=8000, min_sequential=1)
    for seq in (0, 1, 1, 2):
        stats.seq.update(seq)
    assert stats.lost == -1
    assert stats.report_block(0.0).fraction_lost == 0


def test_report_block_carries_lsr_and_dlsr_6_4_1() -> None:
    stats = ReceiverStats(ssrc=0xABCD, first_seq=65535, clock_rate=8000, min_sequential=1)
    stats.seq.update(65535)
    stats.seq.update(0)
    ntp = (0x0001_2345_6789_0000 << 0) | 0
    stats.on_sender_report(ntp, now=10.0)
    stats.update_jitter(0, 10.0)
    block = stats.report_block(now=10.5)
    assert block == RtcpReportBlock(
        ssrc=0xABCD,
        fraction_lost=0,
        packets_lost=0,
        highest_sequence=65536,
        jitter=0,
        lsr=0x2345_6789,
        dlsr=32768,
    )


def test_no_sr_means_zero_lsr_and_dlsr() -> None:
    stats = ReceiverStats(ssrc=1, first_seq=0, clock_rate=8000, min_sequential=1)
    stats.seq.update(0)
    block = stats.report_block(now=5.0)
    assert block.lsr == 0 and block.dlsr == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 0xFFFF), max_size=40), min_size=1, max_size=8))
def test_any_sequence_a_sender_chooses_gives_a_sendable_report(
    intervals: list[list[int]],
) -> None:
    # Sequence restarts and wild jumps once made the fraction negative or 256, and the
    # RTCP report (struct.error) escaped the engine for every call.
    stats = ReceiverStats(ssrc=1, first_seq=intervals[0][0] if intervals[0] else 0, clock_rate=8000)
    for n, interval in enumerate(intervals):
        for seq in interval:
            stats.seq.update(seq)
        block = stats.report_block(now=float(n))
        assert 0 <= block.fraction_lost <= 255
        assert len(bytes(block)) == 24


def test_a_sender_jumping_about_cannot_push_the_fraction_out_of_its_byte() -> None:
    # A sender's own sequence numbers (found by a random search): restarts and jumps once
    # gave a fraction of 341/256, and packing the report raised struct.error.
    stats = ReceiverStats(ssrc=1, first_seq=17611, clock_rate=8000, min_sequential=1)
    intervals = [
        [8271, 8272, 8273, 8274, 8275, 8301, 8302, 51093, 51094, 51096, 51097, 51098, 13399]
        + [13397, 13398, 13399, 13400, 28390],
        [28527, 28528, 28529, 28530, 28531, 28532, 28533, 28534, 28535, 28536, 13107, 13108]
        + [13089],
        [13275, 13242, 13214],
        [24883, 24884, 24885, 51557, 51558, 51559, 51560, 51668, 51669, 51670, 49113, 49114]
        + [49115, 49116, 49117, 48565],
    ]
    for n, interval in enumerate(intervals):
        for seq in interval:
            stats.seq.update(seq)
        block = stats.report_block(now=float(n))
        assert 0 <= block.fraction_lost <= 255
        assert len(bytes(block)) == 24
