"""One media-engine tick for 1,000 two-party calls (2,000 channels) against the 20 ms budget.

Each tick pops one frame per channel from its jitter buffer, decodes, runs in-band
DTMF detection on every channel, mixes, records both sides of every call to a
buffered stereo WAV, encodes and builds one RTP datagram per channel.  The streams
are real :class:`pbx.rtp.stream.RtpStream` objects, bound to the engine's banks as
in the application (send state in :class:`~pbx.rtp.bank.RtpBank`, jitter buffers in
:class:`~pbx.rtp.jitterbank.JitterBank`); between ticks, untimed, each jitter buffer
is given the next packet's payload (``JitterBuffer.put``: what the shell's read path
does per datagram, measured with the rest of the receive path in table 4 and in
``bench_media_path.py``).  Recording writes go to a temporary directory.

Tables:

0. the figure that matters: the full tick as the application runs it — one engine,
   ticked every 20 ms (the shell's pace), recording blocks handed to the shell's
   writer thread after each tick — min/p50/p99 over the run;
1. the tick, p50/p99 in ms and as % of the 20 ms budget, for the full load and with
   parts switched off (so the cost of each part shows); with recording writes
   deferred (``RecorderBank(deferred=True)`` + ``engine.write_recordings()`` after the
   datagrams are sent) the tick and the writes are shown apart; and as the shell
   runs it (:class:`pbx.net.media.RecordingWriter`: the writes on a worker thread,
   the tick thread only hands the due blocks over — the thread competes for the
   CPU and the GIL while the next ticks run, back to back here);
2. the full tick stage by stage (best of several runs of each stage alone on the
   same engine state);
3. mixing strategies for the same calls: the sparse plan the engine uses
   (gather + ``np.add.reduceat``), a dense ``G @ pcm``, and batched matmuls over
   bridges of equal size; also for 3-party conferences;
4. per-packet RTP cost with the real stream.

OPENBLAS_CORETYPE on these machines forces a slower kernel for the DTMF product;
run ``env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 .venv/bin/python
benchmarks/bench_tick.py`` to see the machine's own figure (the script prints what
was set).  Run: ``.venv/bin/python benchmarks/bench_tick.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import structlog

from pbx.media.engine import MediaEngine
from pbx.media.g711 import ulaw_encode
from pbx.media.mixer import Mixer, mix_dense
from pbx.media.recorder import BlockWriter, InlineWriter, RecorderBank
from pbx.net.media import RecordingWriter
from pbx.rtp.stream import RtpStream


class FedStream(RtpStream):
    """A real stream whose jitter buffer is handed one payload per tick by :meth:`feed`
    (the payloads of the receive path, without the datagrams)."""

    def __init__(self, frames: list[bytes], ssrc: int) -> None:
        super().__init__(ssrc, 0, initial_seq=ssrc & 0xFFFF, initial_ts=ssrc, cname="bench")
        self._next = itertools.cycle(frames).__next__
        self.remote_addr = ("127.0.0.1", 20000 + 2 * (ssrc % 10000))
        self._put = self.jitter_buffer.put
        self._k = 0

    def feed(self) -> None:
        k = self._k
        self._put(self._next(), k, k * FRAME, k * 0.02)
        self._k = k + 1


FRAME = 160


def feed_all(eng: MediaEngine) -> None:
    """The next packet's payload into every stream's jitter buffer (untimed)."""
    for stream in eng._streams:
        if isinstance(stream, FedStream):
            stream.feed()


def speech_frames(rng: np.random.Generator, count: int) -> list[bytes]:
    pcm = rng.normal(0, 2000, (count, 160)).clip(-32768, 32767).astype(np.int16)
    return [ulaw_encode(f).tobytes() for f in pcm]


def build_engine(
    calls: int,
    rec_dir: Path | None,
    dtmf: bool,
    rng: np.random.Generator,
    deferred: bool = False,
    writer: BlockWriter | None = None,
) -> MediaEngine:
    bank = RecorderBank(deferred=deferred, writer=writer or InlineWriter())
    eng = MediaEngine(capacity=2 * calls, recorder=bank)
    frames = speech_frames(rng, 64)
    for call in range(calls):
        a = eng.add_channel(FedStream(frames[call % 7 :] + frames[: call % 7], 2 * call))
        b = eng.add_channel(FedStream(frames[call % 5 :] + frames[: call % 5], 2 * call + 1))
        bridge = eng.bridge_create()
        eng.bridge_join(bridge, a)
        eng.bridge_join(bridge, b)
        if dtmf:
            eng.detect_dtmf(a, True)
            eng.detect_dtmf(b, True)
        if rec_dir is not None:
            eng.start_recording(f"call-{call}", rec_dir / f"call-{call}.wav", left=a, right=b)
    return eng


def time_ticks_at(eng: MediaEngine, k: int, deferred: bool) -> tuple[float, float]:
    """Tick ``k``: seconds for the tick, and for the deferred recording writes after it."""
    feed_all(eng)
    t0 = time.perf_counter()
    eng.tick(k * 0.02)
    t1 = time.perf_counter()
    if deferred:
        eng.write_recordings()
    return t1 - t0, time.perf_counter() - t1


def paced_ticks(calls: int, ticks: int, rec_dir: Path, rng: np.random.Generator) -> np.ndarray:
    """The full tick as the shell runs it: every 20 ms, writes on the writer thread."""
    writer = RecordingWriter()
    eng = build_engine(calls, rec_dir, True, rng, deferred=True, writer=writer)
    out = np.zeros(ticks)
    t0 = time.perf_counter()
    for k in range(60 + ticks):
        delay = t0 + k * 0.02 - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t, _ = time_ticks_at(eng, k, True)
        if k >= 60:
            out[k - 60] = t
    writer.wait()
    eng.recorder.close_all()
    writer.close()
    return out


def stage_table(eng: MediaEngine, rec_dir: Path, reps: int) -> list[tuple[str, float]]:
    """Each stage of the full tick alone, best of runs, in ms (the engine's own state)."""
    layout = eng._layout
    assert layout is not None and layout.contiguous and len(layout.by_codec) == 1
    n = len(layout.rows_list)
    codec = layout.by_codec[0][0]
    plan = eng.mixer.plan()
    rows_out = slice(0, n)
    bank = eng.rtp
    pcm_in, payload_in, payload_out = eng._pcm_in, eng._payload_in, eng._payload_out

    addrs = [stream.remote_addr for stream in layout.streams]

    def frames_out() -> None:
        out = bank.packetize(rows_out, payload_out[:n])
        list(zip(out, addrs, strict=True))

    # Popping needs a fed buffer each time: fed untimed before each timed pop.
    pops_us = float("inf")
    for _ in range(5):
        total = 0.0
        for _ in range(reps):
            feed_all(eng)
            t0 = time.perf_counter()
            got = eng.jitter.pop_into(slice(0, n), payload_in)
            total += time.perf_counter() - t0
            assert got.all()
        pops_us = min(pops_us, total * 1e6 / reps)
    stages = [
        ("decode (G.711 pair table)", lambda: codec.decode(payload_in[:n], pcm_in[:n])),
        (
            "DTMF: Goertzel product + screen + debounce",
            lambda: eng.dtmf.process(pcm_in, layout.dtmf_rows, pcm_in[:n]),
        ),
        (
            "mix: forward codes (two-party, one codec)",
            lambda: plan.copy_into(payload_in[:n], payload_out[:n], codec.silence),
        ),
        ("frames out: RtpBank datagrams, paired with addresses", frames_out),
    ]
    rows = [("frames in: JitterBank.pop_into the payload block", pops_us / 1000)]
    rows += [(name, best_us(fn, reps) / 1000) for name, fn in stages]
    # Recording: a second bank over the same rows, one block cycle at a time (each
    # tick the pcm is in the bank's history block, as the engine decodes into it;
    # the blocks due then are written); the mean per tick, best of 3 cycles.
    bank = RecorderBank(deferred=True)
    for call_no in range(n // 2):
        bank.start(f"s{call_no}", rec_dir / f"s{call_no}.wav", [(2 * call_no,), (2 * call_no + 1,)])
    count_ms, write_ms = float("inf"), float("inf")
    for cycle in range(4):
        count_t = write_t = 0.0
        for _ in range(bank.block_ticks):
            bank.block(eng.capacity + 1)[:] = pcm_in  # the engine's decode, untimed here
            t0 = time.perf_counter()
            bank.advance()
            t1 = time.perf_counter()
            bank.write_due()
            write_t += time.perf_counter() - t1
            count_t += t1 - t0
        if cycle:  # the first cycle writes the staggered first blocks
            count_ms = min(count_ms, count_t * 1e3 / bank.block_ticks)
            write_ms = min(write_ms, write_t * 1e3 / bank.block_ticks)
    bank.close_all()
    rows.insert(-1, ("record: count the tick in the recorder's history", count_ms))
    rows.append(("record: blocks due, gather + interleave + write (mean)", write_ms))
    return rows


def jitter_pops_ms(channels: int, ticks: int) -> tuple[float, float]:
    """Jitter buffers in steady state, one frame each per tick: p50 ms of a ``pop`` call
    per buffer, and of one :meth:`JitterBank.pop_into` over the same buffers bound."""
    from pbx.rtp.jitter import JitterBuffer
    from pbx.rtp.jitterbank import JitterBank

    buffers = [JitterBuffer() for _ in range(channels)]
    bound = [JitterBuffer() for _ in range(channels)]
    bank = JitterBank(channels)
    for row, jb in enumerate(bound):
        bank.attach(row, jb)
    out = np.zeros((channels, FRAME), dtype=np.uint8)
    payload = bytes(FRAME)
    for k in range(3):
        for jb in buffers + bound:
            jb.put(payload, k, k * FRAME, 0.0)
    calls, vector = [], []
    for k in range(3, 3 + ticks):
        for jb in buffers + bound:
            jb.put(payload, k, k * FRAME, 0.0)
        pops = [jb.pop for jb in buffers]
        t0 = time.perf_counter()
        [pop() for pop in pops]
        t1 = time.perf_counter()
        bank.pop_into(slice(0, channels), out)
        vector.append(time.perf_counter() - t1)
        calls.append(t1 - t0)
    return float(np.percentile(calls, 50)) * 1e3, float(np.percentile(vector, 50)) * 1e3


def best_us(fn: Callable[[], object], reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e6


def mixing_table(calls: int, party: int, reps: int) -> list[tuple[str, float]]:
    rng = np.random.default_rng(party)
    n = calls * party
    pcm = rng.integers(-8000, 8000, (n, 160)).astype(np.int16)
    mixer = Mixer()
    for call in range(calls):
        bridge = mixer.create_bridge()
        for k in range(party):
            mixer.join(bridge, call * party + k)
    plan = mixer.plan()
    acc = np.empty((n, 160), dtype=np.int32)
    rows: list[tuple[str, float]] = [
        ("sparse plan (engine)", best_us(lambda: plan.mix_into(pcm, acc), reps))
    ]
    # Batched matmul over bridges of the same size: (B, k, k) @ (B, k, 160).
    block = np.ones((party, party), dtype=np.float32) - np.eye(party, dtype=np.float32)
    blocks = np.broadcast_to(block, (calls, party, party))
    idx = np.arange(n).reshape(calls, party)

    def batched() -> np.ndarray:
        x = pcm[idx].astype(np.float32)
        return np.clip(np.matmul(blocks, x), -32768, 32767).astype(np.int16)

    assert np.array_equal(batched().reshape(n, 160), mixer.mix(pcm))
    rows.append(("batched matmul per size", best_us(batched, reps)))
    if n <= 3000:
        dense = mixer.gain_matrix(n)
        rows.append(("dense G @ pcm", best_us(lambda: mix_dense(dense, pcm), max(1, reps // 20))))
    return rows


def rtp_packet_cost(reps: int) -> float:
    from pbx.rtp.packet import build_rtp_header

    rx = RtpStream(1, 0, initial_seq=0, initial_ts=0, cname="bench", jitter_min_depth=1)
    payload = bytes(160)
    addr = ("127.0.0.1", 40000)
    state = {"seq": 100, "ts": 8000}

    def one_packet() -> None:
        seq, ts = state["seq"], state["ts"]
        data = build_rtp_header(0, seq, ts, 0x1234) + payload
        rx.receive(data, addr, ts / 8000)
        rx.pop_frame()
        state["seq"], state["ts"] = (seq + 1) & 0xFFFF, ts + 160

    return best_us(one_packet, reps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="finish in well under 30 s")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40)  # errors only
    )
    ticks = 150 if args.quick else 1000
    calls = args.calls
    print(
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')} "
        f"calls={calls} channels={2 * calls} ticks={ticks}"
    )
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        paced = paced_ticks(calls, ticks, Path(tmp), rng) * 1e3
    lo, p50, p99 = paced.min(), np.percentile(paced, 50), np.percentile(paced, 99)
    print(
        f"\nthe tick as the shell runs it (every 20 ms, recording writes on the writer thread):"
        f"\n  min {lo:.2f} ms, p50 {p50:.2f} ms ({p50 / 0.2:.1f}% of 20 ms),"
        f" p99 {p99:.2f} ms ({p99 / 0.2:.1f}%)"
    )
    head = f"tick: {calls} two-party calls"
    print(
        f"\n{head:<46} {'min ms':>7} {'p50 ms':>7} {'p99 ms':>7} {'p50 %':>6} {'p99 %':>6}"
        "  (% of 20 ms)"
    )
    # (label, record, DTMF, writes): writes "inline" in the tick, "deferred" after it on
    # the same thread, or handed to the shell's worker "thread" after it.
    configs = [
        ("full: pop+decode+DTMF+mix+record+encode+RTP", True, True, "inline"),
        ("full, writes on the shell's thread: the tick", True, True, "thread"),
        ("full, recording writes deferred: the tick", True, True, "deferred"),
        ("without recording", False, True, "inline"),
        ("without DTMF (writes on the thread)", True, False, "thread"),
        ("without both", False, False, "inline"),
    ]
    writers: list[RecordingWriter] = []
    with tempfile.TemporaryDirectory() as tmp:
        engines = []
        for i, (_, record, dtmf, writes) in enumerate(configs):
            rec_dir = Path(tmp) / str(i)
            rec_dir.mkdir()
            writer = None
            if writes == "thread":
                writer = RecordingWriter()
                writers.append(writer)
            deferred = writes != "inline"
            engines.append(
                build_engine(calls, rec_dir if record else None, dtmf, rng, deferred, writer)
            )
        # The engines take turns tick by tick, so a noisy neighbour hits them alike.
        tick_t = np.zeros((len(configs), ticks))
        write_t = np.zeros((len(configs), ticks))
        for k in range(60 + ticks):  # 60 warm-up ticks: allocations, first staggered writes
            for i, eng in enumerate(engines):
                t, w = time_ticks_at(eng, k, configs[i][3] != "inline")
                if k >= 60:
                    tick_t[i, k - 60], write_t[i, k - 60] = t, w
        for i, (name, _, _, writes) in enumerate(configs):
            rows = [(name, tick_t[i])]
            if writes == "deferred":
                rows.append(("  ... the deferred writes after it", write_t[i]))
                rows.append(("  ... tick + writes", tick_t[i] + write_t[i]))
            elif writes == "thread" and name.startswith("full"):
                rows.append(("  ... handing due blocks to the thread", write_t[i]))
                rows.append(("  ... tick + hand-off", tick_t[i] + write_t[i]))
            for label, t in rows:
                ms = t * 1e3
                lo, p50, p99 = ms.min(), np.percentile(ms, 50), np.percentile(ms, 99)
                print(
                    f"{label:<46} {lo:>7.2f} {p50:>7.2f} {p99:>7.2f} "
                    f"{p50 / 0.2:>5.1f}% {p99 / 0.2:>5.1f}%"
                )
        calls_ms, vector_ms = jitter_pops_ms(2 * calls, 50 if args.quick else 200)
        print(
            f"\n{2 * calls} jitter buffers in steady state, one frame each (p50):"
            f" a pop() call each {calls_ms:.2f} ms, JitterBank.pop_into {vector_ms:.2f} ms"
        )
        for writer in writers:
            writer.wait()
        stage_dir = Path(tmp) / "stages"
        stage_dir.mkdir()
        full = engines[2]  # deferred writes: its tick has no file I/O
        stages = stage_table(full, stage_dir, 5 if args.quick else 20)
        tick_best = float("inf")
        for k in range(20 if args.quick else 100):
            t, _ = time_ticks_at(full, 60 + ticks + k, True)
            tick_best = min(tick_best, t * 1e3)
        print(f"\n{'full tick, stage by stage (best)':<50} {'ms':>7} {'% of 20 ms':>11}")
        for name, stage_ms in stages:
            print(f"{name:<50} {stage_ms:>7.3f} {stage_ms / 0.2:>10.1f}%")
        in_tick = sum(ms for name, ms in stages if "blocks due" not in name)
        print(f"{'sum of the stages in the tick':<50} {in_tick:>7.3f} {in_tick / 0.2:>10.1f}%")
        print(f"{'the tick itself (best)':<50} {tick_best:>7.3f} {tick_best / 0.2:>10.1f}%")
        for eng in engines:
            eng.recorder.close_all()
        for writer in writers:
            writer.close()
    reps = 20 if args.quick else 100
    for party in (2, 3):
        n_calls = calls if party == 2 else calls * 2 // 3
        print(f"\n{'mixing ' + str(n_calls) + ' ' + str(party) + '-party bridges':<44} {'µs':>8}")
        for name, us in mixing_table(n_calls, party, reps):
            print(f"{name:<44} {us:>8.0f}")
    per_packet = rtp_packet_cost(2000 if args.quick else 20000)
    total = per_packet * 2 * calls / 1000
    print(f"\n{'real RtpStream per packet':<44} {'µs':>8} {'x' + str(2 * calls) + ' ms':>10}")
    print(f"{'receive + pop_frame (jitter buffer)':<44} {per_packet:>8.2f} {total:>10.2f}")
    print("(socket recvfrom/sendto are not included: about 5 µs per packet, see FINDINGS)")


if __name__ == "__main__":
    main()
