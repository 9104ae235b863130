from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pbx.rtp.seq import (
    MAX_DROPOUT,
    SequenceTracker,
    seq_diff,
    seq_lt,
    ts_diff,
    ts_lt,
)


def test_seq_diff_across_wrap() -> None:
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_diff(5, 5) == 0
    assert seq_diff(32767, 0) == 32767
    assert seq_diff(32768, 0) == -32768
    assert seq_lt(65530, 3) and not seq_lt(3, 65530)


def test_ts_diff_across_wrap() -> None:
    assert ts_diff(80, 2**32 - 80) == 160
    assert ts_diff(2**32 - 80, 80) == -160
    assert ts_lt(2**32 - 1, 0)


def test_probation_then_valid_a_1() -> None:
    tracker = SequenceTracker(100, min_sequential=2)
    assert tracker.update(100) < 0
    assert not tracker.valid
    assert tracker.update(101) == 101
    assert tracker.valid and tracker.received == 1 and tracker.expected == 1


def test_probation_restarts_on_out_of_order_a_1() -> None:
    tracker = SequenceTracker(100, min_sequential=2)
    assert tracker.update(100) < 0
    assert tracker.update(200) < 0
    assert tracker.update(201) == 201
    assert tracker.base_seq == 201


def test_sequence_wrap_65535_to_0_counts_a_cycle() -> None:
    tracker = SequenceTracker(65534, min_sequential=1)
    assert [tracker.update(s) for s in (65534, 65535, 0, 1)] == [65534, 65535, 65536, 65537]
    assert tracker.cycles == 65536
    assert tracker.extended_max == 65537
    assert tracker.expected == 4 and tracker.received == 4


def test_reordered_packet_across_wrap_gets_previous_cycle() -> None:
    tracker = SequenceTracker(65533, min_sequential=1)
    assert tracker.update(65533) == 65533
    assert tracker.update(0) == 65536  # 65534 and 65535 are late
    assert tracker.update(65535) == 65535
    assert tracker.update(65534) == 65534
    assert tracker.extended_max == 65536
    assert tracker.received == 4 and tracker.expected == 4


def test_duplicate_counts_as_received() -> None:
    tracker = SequenceTracker(10, min_sequential=1)
    assert [tracker.update(s) for s in (10, 11, 11, 12)] == [10, 11, 11, 12]
    assert tracker.received == 4 and tracker.expected == 3


def test_large_jump_needs_two_sequential_packets_to_restart_a_1() -> None:
    tracker = SequenceTracker(1000, min_sequential=1)
    tracker.update(1000)
    generation = tracker.generation
    jump = 1000 + MAX_DROPOUT + 10
    assert tracker.update(jump) < 0
    assert tracker.generation == generation
    assert tracker.update(1001) == 1001  # the old stream goes on
    assert tracker.update(jump) < 0
    assert tracker.update(jump + 1) == jump + 1
    assert tracker.generation == generation + 1
    # The jump's own packet opens the new sequence (its extended number is one less).
    assert tracker.base_seq == jump and tracker.received == 2 and tracker.expected == 2


def test_jump_is_confirmed_only_by_the_very_next_packet_a_1() -> None:
    tracker = SequenceTracker(1000, min_sequential=1)
    tracker.update(1000)
    generation = tracker.generation
    stray = 40000
    assert tracker.update(stray) < 0
    assert tracker.update(1001) == 1001  # the real stream in between
    assert tracker.update(stray + 1) < 0  # continues the stray, but not right after it
    assert tracker.update(1002) == 1002
    assert tracker.generation == generation and tracker.max_seq == 1002


def test_restart_across_the_wrap_keeps_the_jump_packet_one_before() -> None:
    tracker = SequenceTracker(30000, min_sequential=1)
    tracker.update(30000)
    assert tracker.update(65535) < 0
    assert tracker.update(0) == 65536  # the jump's packet is 65535, one before
    assert tracker.base_seq == 65535 and tracker.expected == 2


def test_misordered_beyond_max_misorder_is_a_jump() -> None:
    tracker = SequenceTracker(5000, min_sequential=1)
    tracker.update(5000)
    assert tracker.update(5000 - 101) < 0
    assert tracker.update(5000 - 100) == 4900


@given(st.integers(0, 65535), st.lists(st.integers(1, 50), min_size=1, max_size=200))
def test_in_order_stream_with_gaps_extends_monotonically(start: int, gaps: list[int]) -> None:
    tracker = SequenceTracker(start, min_sequential=1)
    ext = tracker.update(start)
    assert ext == start
    for gap in gaps:
        nxt = tracker.update((ext + gap) & 0xFFFF)
        assert nxt == ext + gap
        ext = nxt
    assert tracker.expected == sum(gaps) + 1
