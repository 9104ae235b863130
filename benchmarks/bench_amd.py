"""Answering-machine detection on the labelled corpus, through the media engine's tick.

Every file of the corpus (``benchmarks/amd_corpus.py``: people answering, machine
greetings with and without beeps, silent lines, fax tones) becomes one channel of one
:class:`~pbx.media.engine.MediaEngine`, fed a PCMU frame per 20 ms tick as a call's
jitter buffer would; ``detect_amd`` is turned on for all at tick 0 (the answer) and
the tick runs until every detection is over.  Reported for each parameter set:

1. the confusion matrix (truth × verdict) and the machine verdicts' reasons;
2. people classified as machines (hung up on; target ≤ 2%) and machines detected
   (target ≥ 90%);
3. decision times: people from the end of their first word (target p95 ≤ 2.0 s),
   machines from the start of the greeting;
4. the greeting's end (the moment to leave a message): by beep, silence or timeout,
   how late after the true end, and how many came before it;

then the batched cost: ``AmdDetector.process`` for 300 and 1,000 channels with AMD on
(each slot replays corpus audio; a slot whose detection ends starts again, like a
campaign's next call), in µs per tick and per channel, and the whole tick of an
engine with those channels with AMD on and off.

Parameter sets: ``pbx`` (``AmdParams()``: VICIdial's values, noise-floor threshold,
tone decisions), ``app_amd`` (``AmdParams.classic()``: VICIdial's values, app_amd's
algorithm) and ``app_amd-asterisk`` (app_amd with Asterisk's own defaults 2500, 1500,
800, 5000, 100, 50, 3, 256).

The tone test is a small matrix product: like ``bench_tick.py``, run it with
``OPENBLAS_NUM_THREADS=1`` (OpenBLAS's threads only slow products this small).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_amd.py [--quick]
[--corpus DIR] [--no-cost]`` (without
``--corpus`` the corpus is generated into a temporary directory; with a directory
that has no ``labels.csv`` it is generated there and kept).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import amd_corpus  # beside this script
import numpy as np
import numpy.typing as npt
import soundfile as sf
import structlog
from attrs import define, field

from pbx.media.amd import AmdDetector, AmdParams
from pbx.media.engine import MediaEngine
from pbx.media.events import AmdDetected, GreetingEnded
from pbx.media.g711 import ulaw_decode, ulaw_encode

FRAME = 160
TICK = 0.02
PARAMS = {
    "pbx": AmdParams(),
    "app_amd": AmdParams.classic(),
    "app_amd-asterisk": AmdParams.classic(
        initial_silence_ms=2500,
        greeting_ms=1500,
        after_greeting_silence_ms=800,
        min_word_ms=100,
        max_words=3,
    ),
}
VERDICTS = ("human", "machine", "not_sure", "(none)")


class WavStream:
    """A called party whose audio is a corpus file: one PCMU payload per tick."""

    remote_addr = None

    def __init__(self, payloads: list[bytes]) -> None:
        self._next = iter(payloads).__next__

    def receive(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        pass

    def pop_frame(self) -> bytes | None:
        try:
            return self._next()
        except StopIteration:
            return None  # the file ended: the line goes quiet (concealment, then silence)

    def packetize(self, payload: bytes) -> bytes:
        return payload

    def next_event(self) -> None:
        return None

    def send_dtmf(self, digit: str) -> None:
        pass


@define
class Outcome:
    """What the detector said about one file."""

    label: amd_corpus.Label
    verdict: str = "(none)"
    reason: str = ""
    seconds: float = -1.0
    ended_by: str = ""
    ended_at: float = -1.0


def load_pcmu(path: Path) -> npt.NDArray[np.uint8]:
    """A corpus file as μ-law codes, ``(frames, 160)``."""
    pcm, rate = sf.read(str(path), dtype="int16")
    assert rate == 8000
    n = len(pcm) // FRAME
    return ulaw_encode(pcm[: n * FRAME]).reshape(n, FRAME)


@define
class Corpus:
    labels: list[amd_corpus.Label]
    codes: list[npt.NDArray[np.uint8]] = field(factory=list)


def load_corpus(directory: Path) -> Corpus:
    labels = amd_corpus.read_labels(directory / "labels.csv")
    return Corpus(labels, [load_pcmu(directory / label.file) for label in labels])


def run_corpus(corpus: Corpus, params: AmdParams) -> list[Outcome]:
    """Every file as a channel of one engine, all answered at tick 0."""
    engine = MediaEngine(capacity=len(corpus.labels))
    outcomes: dict[int, Outcome] = {}
    for label, codes in zip(corpus.labels, corpus.codes, strict=True):
        ch = engine.add_channel(WavStream([row.tobytes() for row in codes]), "PCMU")
        engine.detect_amd(ch, True, params)
        outcomes[ch] = Outcome(label)
    k = 0
    while engine.amd.active and k < 3000:
        for event in engine.tick(k * TICK).events:
            if isinstance(event, AmdDetected):
                out = outcomes[event.channel]
                out.verdict, out.reason, out.seconds = event.verdict, event.reason, event.seconds
            elif isinstance(event, GreetingEnded):
                out = outcomes[event.channel]
                out.ended_by, out.ended_at = event.by, event.seconds
        k += 1
    return list(outcomes.values())


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.2f}" if values else "-"


def report(name: str, outcomes: list[Outcome]) -> dict[str, float]:
    """Print the tables for one parameter set; the headline figures."""
    print(f"\n== {name} ==")
    print(f"{'truth':<9}" + "".join(f"{v:>10}" for v in VERDICTS) + f"{'total':>8}")
    for truth in amd_corpus.KINDS:
        rows = [o for o in outcomes if o.label.truth == truth]
        counts = Counter(o.verdict for o in rows)
        print(f"{truth:<9}" + "".join(f"{counts[v]:>10}" for v in VERDICTS) + f"{len(rows):>8}")
    for truth in amd_corpus.KINDS:
        reasons = Counter(f"{o.verdict}/{o.reason}" for o in outcomes if o.label.truth == truth)
        print(f"  {truth} by reason: " + ", ".join(f"{r} {c}" for r, c in sorted(reasons.items())))
    people = [o for o in outcomes if o.label.truth == "human"]
    machines = [o for o in outcomes if o.label.truth == "machine"]
    hung_up = sum(o.verdict == "machine" for o in people) / max(1, len(people))
    detected = sum(o.verdict == "machine" for o in machines) / max(1, len(machines))
    human_t = [o.seconds - o.label.first_word_end for o in people if o.verdict == "human"]
    human_end = [o.seconds - o.label.speech_end for o in people if o.verdict == "human"]
    machine_t = [o.seconds - o.label.speech_start for o in machines if o.verdict == "machine"]
    print(
        f"people classified as machines: {100 * hung_up:.1f}% (target ≤ 2%);"
        f" machines detected: {100 * detected:.1f}% (target ≥ 90%)"
    )
    print(
        f"decision, people (after their first word ends): p50 {pct(human_t, 50)} s,"
        f" p95 {pct(human_t, 95)} s, max {pct(human_t, 100)} s (target p95 ≤ 2.0 s);"
        f" after their answer ends: p50 {pct(human_end, 50)} s, p95 {pct(human_end, 95)} s"
    )
    print(
        f"decision, machines (after the greeting starts): p50 {pct(machine_t, 50)} s,"
        f" p95 {pct(machine_t, 95)} s"
    )
    greeting_report(machines)
    return {
        "hung_up": hung_up,
        "detected": detected,
        "human_p95": float(np.percentile(human_t, 95)) if human_t else float("nan"),
    }


def greeting_report(machines: list[Outcome]) -> None:
    """How the greeting's end was found for the machines detected."""
    found = [o for o in machines if o.verdict == "machine"]
    by = Counter(o.ended_by or "(none)" for o in found)
    beeps = [o for o in found if o.label.beep_end >= 0]
    beep_found = [o for o in beeps if o.ended_by == "beep"]
    late = [o.ended_at - o.label.greeting_end for o in found if o.ended_at >= 0]
    early = sum(x < -0.05 for x in late)
    print(
        "greeting end: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())) + f";"
        f" beeps found {len(beep_found)} of {len(beeps)};"
        f" after the true end p50 {pct(late, 50)} s, p95 {pct(late, 95)} s;"
        f" before it (message into the greeting) {early} of {len(late)}"
    )
    beep_late = [o.ended_at - o.label.beep_end for o in beep_found]
    if beep_late:
        p50, top = pct(beep_late, 50), pct(beep_late, 100)
        print(f"  by beep, after the beep ends: p50 {p50} s, max {top} s")


def cost(corpus: Corpus, channels: int, ticks: int) -> tuple[float, float]:
    """µs per tick of ``AmdDetector.process`` with ``channels`` slots on (restarted when
    done): median and p99."""
    rng = np.random.default_rng(channels)
    pcm_files = [ulaw_decode(c) for c in corpus.codes]
    pick = rng.integers(0, len(pcm_files), channels)
    offset = np.zeros(channels, dtype=np.int64)
    detector = AmdDetector()
    params = AmdParams()
    for row in range(channels):
        detector.start(row, params)
    block = np.zeros((channels + 1, FRAME), dtype=np.int16)
    times = []
    for _ in range(ticks):
        for row in range(channels):  # untimed: the engine's decode does this
            frames = pcm_files[pick[row]]
            block[row] = frames[offset[row] % len(frames)]
        offset += 1
        t0 = time.perf_counter()
        detector.process(block)
        times.append(time.perf_counter() - t0)
        for row in range(channels):  # a finished detection: the next call on that row
            if not detector.is_on(row):
                pick[row] = rng.integers(0, len(pcm_files))
                offset[row] = 0
                detector.start(row, params)
    us = np.array(times) * 1e6
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def tick_cost(corpus: Corpus, channels: int, ticks: int) -> tuple[float, float]:
    """Median ms of the engine's whole tick with ``channels`` channels, AMD on and off
    (the same audio; detections restarted when done), the two taking turns."""
    engines = []
    for _ in range(2):
        engine = MediaEngine(capacity=channels)
        for i in range(channels):
            codes = corpus.codes[i % len(corpus.codes)]
            engine.add_channel(WavStream([row.tobytes() for row in codes] * 10), "PCMU")
        engines.append(engine)
    on, off = engines
    for ch in range(channels):
        on.detect_amd(ch)
    t_on, t_off = [], []
    for k in range(ticks):
        for engine, out in ((on, t_on), (off, t_off)):
            t0 = time.perf_counter()
            engine.tick(k * TICK)
            out.append(time.perf_counter() - t0)
        for ch in range(channels):
            if not on.amd_on(ch):
                on.detect_amd(ch)
    return float(np.median(t_on)) * 1e3, float(np.median(t_off)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick corpus, fewer ticks")
    parser.add_argument("--corpus", type=Path, help="a corpus directory (generated if empty)")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost tables")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    counts = amd_corpus.QUICK_COUNTS if args.quick else amd_corpus.FULL_COUNTS
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.corpus or Path(tmp)
        t0 = time.perf_counter()
        if not (directory / "labels.csv").exists():
            amd_corpus.generate(directory, counts)
        corpus = load_corpus(directory)
        made = time.perf_counter() - t0
    kinds = Counter(label.truth for label in corpus.labels)
    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')} "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )
    print(
        f"corpus: {len(corpus.labels)} files ("
        + ", ".join(f"{kinds[k]} {k}" for k in amd_corpus.KINDS)
        + f"), {sum(len(c) for c in corpus.codes) * TICK / 60:.1f} min of audio,"
        f" ready in {made:.1f} s"
    )
    for name, params in PARAMS.items():
        t0 = time.perf_counter()
        outcomes = run_corpus(corpus, params)
        report(name, outcomes)
        took = time.perf_counter() - t0
        print(f"(all {len(outcomes)} files as channels of one engine: {took:.1f} s)")
    ticks = 200 if args.quick else 1000
    if args.no_cost:
        return
    print(f"\n{'batched cost, AmdParams()':<40} {'p50 µs':>8} {'p99 µs':>8} {'µs/channel':>11}")
    for channels in (300, 1000):
        p50, p99 = cost(corpus, channels, ticks)
        label = f"AmdDetector.process, {channels} channels"
        print(f"{label:<40} {p50:>8.0f} {p99:>8.0f} {p50 / channels:>11.2f}")
    for channels in (300, 1000):
        on, off = tick_cost(corpus, channels, ticks // 2)
        print(
            f"engine tick, {channels} channels: AMD on {on:.2f} ms, off {off:.2f} ms"
            f" (+{1000 * (on - off):.0f} µs)"
        )


if __name__ == "__main__":
    main()
