"""G.711 encode/decode rate: pbx's numpy tables against CPython's audioop, side by side.

Two shapes per operation and law:

* ``frame``: one 160-sample (20 ms) frame per call — the per-packet way;
* ``batch``: one (1000, 160) block per call — the engine's way, one call per tick;
* ``1000f``: pbx batched against audioop called once per frame for 1000 frames —
  what a per-packet engine using audioop would do each tick.

Figures are samples per second (best of several rounds, the machine is shared);
``pbx/audioop`` above 1 means pbx is faster.  Every run also checks that the two
agree bit for bit over all 65,536 inputs and 256 codes.  audioop is deprecated
(removed in Python 3.13) and used here only as the reference peer.

Run: ``.venv/bin/python benchmarks/bench_codec.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np

from pbx.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def best_rate(fn: Callable[[], object], samples_per_call: int, budget: float, rounds: int) -> float:
    """Samples per second of ``fn``, the best of ``rounds`` timed rounds."""
    fn()
    calls = 1
    while True:  # calibrate to ~budget/rounds per round
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        dt = time.perf_counter() - t0
        if dt > budget / rounds / 4 or calls > 1 << 22:
            break
        calls *= 2
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return samples_per_call / best


def bit_exact() -> dict[str, bool]:
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    codes = np.arange(256, dtype=np.uint8)
    return {
        "ulaw encode": g711.ulaw_encode(pcm).tobytes() == audioop.lin2ulaw(pcm.tobytes(), 2),
        "alaw encode": g711.alaw_encode(pcm).tobytes() == audioop.lin2alaw(pcm.tobytes(), 2),
        "ulaw decode": g711.ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes.tobytes(), 2),
        "alaw decode": g711.alaw_decode(codes).tobytes() == audioop.alaw2lin(codes.tobytes(), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="finish in well under 30 s")
    args = parser.parse_args()
    budget, rounds = (0.25, 3) if args.quick else (1.0, 7)

    rng = np.random.default_rng(1)
    frame_pcm = (rng.normal(0, 3000, 160)).clip(-32768, 32767).astype(np.int16)
    batch_pcm = (rng.normal(0, 3000, (1000, 160))).clip(-32768, 32767).astype(np.int16)
    frame_codes = g711.ulaw_encode(frame_pcm)
    batch_codes = g711.ulaw_encode(batch_pcm)
    frame_pcm_b, batch_pcm_b = frame_pcm.tobytes(), batch_pcm.tobytes()
    frame_codes_b, batch_codes_b = frame_codes.tobytes(), batch_codes.tobytes()
    pcm_frames = [f.tobytes() for f in batch_pcm]
    code_frames = [f.tobytes() for f in batch_codes]
    out_codes_f = np.empty(160, np.uint8)
    out_codes_b = np.empty((1000, 160), np.uint8)
    out_pcm_f = np.empty(160, np.int16)
    out_pcm_b = np.empty((1000, 160), np.int16)

    cases: list[tuple[str, str, Callable[[], object], Callable[[], object], int]] = []
    for law in ("ulaw", "alaw"):
        enc = getattr(g711, f"{law}_encode")
        dec = getattr(g711, f"{law}_decode")
        a_enc = getattr(audioop, f"lin2{law}")
        a_dec = getattr(audioop, f"{law}2lin")
        cases += [
            (f"{law} encode", "frame", lambda e=enc: e(frame_pcm, out_codes_f),
             lambda a=a_enc: a(frame_pcm_b, 2), 160),
            (f"{law} encode", "batch", lambda e=enc: e(batch_pcm, out_codes_b),
             lambda a=a_enc: a(batch_pcm_b, 2), 160_000),
            (f"{law} decode", "frame", lambda d=dec: d(frame_codes, out_pcm_f),
             lambda a=a_dec: a(frame_codes_b, 2), 160),
            (f"{law} decode", "batch", lambda d=dec: d(batch_codes, out_pcm_b),
             lambda a=a_dec: a(batch_codes_b, 2), 160_000),
            (f"{law} encode", "1000f", lambda e=enc: e(batch_pcm, out_codes_b),
             lambda a=a_enc: [a(f, 2) for f in pcm_frames], 160_000),
            (f"{law} decode", "1000f", lambda d=dec: d(batch_codes, out_pcm_b),
             lambda a=a_dec: [a(f, 2) for f in code_frames], 160_000),
        ]  # fmt: skip

    exact = bit_exact()
    print(f"{'operation':<12} {'shape':<6} {'pbx Msamples/s':>15} {'audioop Msamples/s':>19} "
          f"{'pbx/audioop':>12} {'pbx µs/call':>12} {'bit-exact':>10}")  # fmt: skip
    for name, shape, ours, peer, n in cases:
        r_ours = best_rate(ours, n, budget, rounds)
        r_peer = best_rate(peer, n, budget, rounds)
        print(
            f"{name:<12} {shape:<6} {r_ours / 1e6:>15.1f} {r_peer / 1e6:>19.1f} "
            f"{r_ours / r_peer:>11.2f}x {n / r_ours * 1e6:>12.2f} {str(exact[name]):>10}"
        )
    print(
        "frame: one 160-sample frame per call (both); batch: one (1000, 160) block per call "
        "(both); 1000f: pbx one block, audioop 1000 per-frame calls (a per-packet engine)"
    )


if __name__ == "__main__":
    main()
