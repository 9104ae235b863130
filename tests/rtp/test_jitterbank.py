"""JitterBank: the vectorized steady-state pop gives what each buffer's own pop gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pbx.rtp.jitter import JitterBuffer
from pbx.rtp.jitterbank import JitterBank


def frame(n: int, size: int = 160) -> bytes:
    return (n & 0xFFFF).to_bytes(2, "big") * (size // 2)


def counters(jb: JitterBuffer) -> tuple[int, ...]:
    return (
        jb.played,
        jb.late,
        jb.duplicates,
        jb.lost,
        jb.concealed,
        jb.underruns,
        jb.partial,
        jb.dropped,
        jb.resyncs,
        jb.depth,
        jb.buffered,
    )


def traffic(rng: random.Random, ticks: int) -> list[list[tuple[bytes, int, int]]]:
    """Per tick, the packets (payload, ext_seq, timestamp) one source sends or repeats:
    ptime 20 or 30, loss, reordering, duplicates, late arrivals, pauses, timestamp jumps."""
    ptime = rng.choice((160, 160, 240))
    loss, reorder, dup = rng.random() * 0.1, rng.random() * 0.2, rng.random() * 0.05
    ts, seq, pending = rng.randrange(1 << 32), rng.randrange(1 << 16), 0.0
    held: list[tuple[bytes, int, int]] = []
    out: list[list[tuple[bytes, int, int]]] = []
    for k in range(ticks):
        now: list[tuple[bytes, int, int]] = []
        pending += 160
        if rng.random() < 0.01:
            ts += rng.choice((1600, 1 << 20))  # a pause, or a restarted timeline
        while pending >= ptime:
            pending -= ptime
            packet = (frame(seq, ptime), seq, ts & 0xFFFFFFFF)
            seq, ts = seq + 1, ts + ptime
            if rng.random() < loss:
                continue
            if rng.random() < reorder:
                held.append(packet)
                continue
            now.append(packet)
            if rng.random() < dup:
                now.append(packet)
        if held and rng.random() < 0.5:
            now.append(held.pop(0))
        if k % 7 == 0 and held:  # very late ones
            now.extend(held)
            held = []
        out.append(now)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_pop_into_matches_each_buffers_own_pop(seed: int) -> None:
    rng = random.Random(seed)
    rows, ticks = 40, 400
    kwargs = [
        {"min_depth": rng.randint(1, 3), "max_depth": 6, "shrink_after": rng.choice((30, 500))}
        for _ in range(rows)
    ]
    plain = [JitterBuffer(**kw) for kw in kwargs]  # type: ignore[arg-type]
    banked = [JitterBuffer(**kw) for kw in kwargs]  # type: ignore[arg-type]
    bank = JitterBank(capacity=8)  # grows (and rebinds) as rows are attached
    for row, jb in enumerate(banked):
        bank.attach(row, jb)
    assert bank.rows >= rows
    streams = [traffic(rng, ticks) for _ in range(rows)]
    out = np.zeros((bank.rows, 160), dtype=np.uint8)
    vector = 0
    for k in range(ticks):
        for row in range(rows):
            for payload, seq, ts in streams[row][k]:
                assert plain[row].put(payload, seq, ts, 0.0) == banked[row].put(
                    payload, seq, ts, 0.0
                )
        # Every other tick the rows go as a slice, else as an index array (shuffled).
        if k % 2:
            sel: np.ndarray | slice = slice(0, rows)
            order = list(range(rows))
        else:
            order = rng.sample(range(rows), rows)
            sel = np.array(order, dtype=np.intp)
        out[:] = 0
        got = bank.pop_into(sel, out)
        vector += int(got.sum())
        for i, row in enumerate(order):
            expected = plain[row].pop()
            actual = out[row].tobytes() if got[i] else banked[row].pop()
            assert actual == expected, (k, row)
            assert counters(banked[row]) == counters(plain[row]), (k, row)
    assert vector > rows * ticks // 3  # the vectorized branch carried the steady state


def test_unbound_buffer_keeps_its_state_and_rows_are_independent() -> None:
    bank = JitterBank(capacity=4)
    a, b = JitterBuffer(), JitterBuffer()
    bank.attach(0, a)
    bank.attach(1, b)
    for n in range(3):
        a.put(frame(n), n, 160 * n, 0.0)
        b.put(frame(100 + n), n, 160 * n, 0.0)
    out = np.zeros((4, 160), dtype=np.uint8)
    assert a.pop() == frame(0)  # the first pop starts playback (the general branch)
    assert b.pop() == frame(100)
    got = bank.pop_into(np.array([0, 1]), out)
    assert got.tolist() == [True, True]
    assert out[0].tobytes() == frame(1) and out[1].tobytes() == frame(101)
    bank.detach(0)
    assert a.bank_row == -1
    bank.state[0] = 0  # the row is reused: the buffer no longer sees it
    assert a.pop() == frame(2) and a.played == 3
    assert b.pop() == frame(102) and b.played == 3


def test_only_buffers_of_the_banks_shape_bind() -> None:
    bank = JitterBank()
    assert bank.accepts(JitterBuffer())
    assert not bank.accepts(JitterBuffer(capacity=128))
    assert not bank.accepts(JitterBuffer(frame_samples=320))
    assert not bank.accepts(JitterBuffer(bytes_per_sample=2))


def test_a_buffer_moves_between_banks_and_rows_cleanly() -> None:
    first, second = JitterBank(capacity=2), JitterBank(capacity=2)
    a, b = JitterBuffer(), JitterBuffer()
    first.attach(0, a)
    for n in range(3):
        a.put(frame(n), n, 160 * n, 0.0)
    assert a.pop() == frame(0)
    second.attach(1, a)  # moved: the first bank lets it go
    assert a.bank is second and a.bank_row == 1
    first.grow(64)  # no longer rebinds ``a``
    assert a.bank is second and a.pop() == frame(1)
    second.attach(1, b)  # the row is given to another buffer: ``a`` keeps its own state
    assert a.bank is None and b.bank is second
    assert a.pop() == frame(2) and a.played == 3
