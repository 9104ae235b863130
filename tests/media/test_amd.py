"""Answering-machine detection: app_amd's rules on synthetic frames, batch = single,
beeps and fax tones, espeak-ng speech, and the engine's tick."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from pbx.errors import InvalidStateError
from pbx.media.amd import AmdDetector, AmdParams, tone_features
from pbx.media.engine import MediaEngine
from pbx.media.events import AmdDetected, GreetingEnded
from pbx.media.g711 import ulaw_encode
from tests.conftest import need_peer
from tests.media.fakes import FakeStream
from tests.media.signals import music_like, speech_like, through_ulaw

RATE = 8000
FRAME = 160
Pcm = npt.NDArray[np.int16]
Result = tuple[list[tuple[str, str, float]], list[tuple[str, float]]]


def voice(ms: int, rng: np.random.Generator, level: float = 2000.0) -> Pcm:
    """Noise-like "speech" (not tonal), mean absolute amplitude about 0.8 × ``level``."""
    return rng.normal(0, level, ms * RATE // 1000).clip(-32768, 32767).astype(np.int16)


def quiet(ms: int) -> Pcm:
    return np.zeros(ms * RATE // 1000, dtype=np.int16)


def sine(hz: float, ms: int, amplitude: float = 8000.0) -> Pcm:
    n = np.arange(ms * RATE // 1000)
    return (amplitude * np.sin(2 * np.pi * hz * n / RATE)).astype(np.int16)


def run(pcm: Pcm, params: AmdParams, frames: int | None = None) -> Result:
    """One channel through a detector: verdicts ``(verdict, reason, s)``, ends ``(by, s)``."""
    detector = AmdDetector()
    detector.start(0, params)
    block = np.zeros((1, FRAME), dtype=np.int16)
    total = len(pcm) // FRAME if frames is None else frames
    verdicts: list[tuple[str, str, float]] = []
    ends: list[tuple[str, float]] = []
    for k in range(total):
        block[0] = pcm[k * FRAME : (k + 1) * FRAME] if (k + 1) * FRAME <= len(pcm) else 0
        got, ended = detector.process(block)
        verdicts += [(v, r, s) for _, v, r, s in got]
        ends += [(by, s) for _, by, s in ended]
    return verdicts, ends


CLASSIC = AmdParams.classic()


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        # A word, then a second of silence: a person, 1.0 s after the word.
        ("hello", [("q", 500), ("v", 400), ("q", 2000)], ("human", "silence_after_speech", 1.9)),
        # Nobody speaks: a machine (or a dead line) after the initial silence.
        ("silent line", [("q", 3000)], ("machine", "initial_silence", 2.0)),
        # Two seconds of voice once the greeting started.
        ("long greeting", [("q", 300), ("v", 3000)], ("machine", "long_greeting", 2.3)),
        # The fourth word of 200 ms, after 100 ms pauses: 0.3 + 3 × 0.3 + 0.12.
        ("words", [("q", 300)] + [("v", 200), ("q", 100)] * 5, ("machine", "max_words", 1.32)),
        # Words too short to count and pauses too short for a person: not sure at 5 s.
        ("mumble", [("q", 300)] + [("v", 100), ("q", 700)] * 8, ("not_sure", "too_long", 5.0)),
    ],
)
def test_app_amd_rules_on_synthetic_frames(
    name: str, pattern: list[tuple[str, int]], expected: tuple[str, str, float]
) -> None:
    rng = np.random.default_rng(7)
    pcm = np.concatenate([voice(ms, rng) if kind == "v" else quiet(ms) for kind, ms in pattern])
    verdicts, _ = run(pcm, CLASSIC)
    assert verdicts == [expected], name


def test_max_word_length_when_the_greeting_rule_is_out_of_the_way() -> None:
    pcm = np.concatenate([quiet(200), voice(6000, np.random.default_rng(1))])
    params = AmdParams.classic(greeting_ms=10_000, total_analysis_ms=10_000)
    assert run(pcm, params)[0] == [("machine", "max_word_length", 5.2)]


def test_short_yes_is_a_person_not_an_initial_silence() -> None:
    # "Да?" shorter than app_amd's minimum word (120 ms): app_amd never starts the
    # greeting and calls it a machine after the initial silence.
    pcm = np.concatenate([quiet(800), voice(100, np.random.default_rng(2)), quiet(3000)])
    assert run(pcm, CLASSIC)[0] == [("machine", "initial_silence", 2.9)]
    assert run(pcm, AmdParams())[0] == [("human", "silence_after_speech", 1.9)]


def test_noisy_line_is_silence_over_the_noise_floor() -> None:
    # Hiss above app_amd's fixed threshold reads as one long greeting: a machine.
    rng = np.random.default_rng(3)
    hiss = rng.normal(0, 450, 6 * RATE)
    word = np.zeros_like(hiss)
    word[RATE : RATE + 3200] = rng.normal(0, 6000, 3200)
    pcm = (hiss + word).clip(-32768, 32767).astype(np.int16)
    assert run(pcm, CLASSIC)[0] == [("machine", "long_greeting", 2.0)]
    assert run(pcm, AmdParams())[0] == [("human", "silence_after_speech", 2.4)]


def test_tone_features_find_a_sine_and_not_speech_like_noise() -> None:
    frames = np.stack([sine(1000, 20), sine(437, 20), sine(1840, 20)]).astype(np.float32)
    share, hz = tone_features(frames)
    assert (share > 0.99).all()
    assert np.allclose(hz, [1000, 437, 1840], atol=2.0)
    noise = voice(400, np.random.default_rng(4)).reshape(-1, FRAME).astype(np.float32)
    assert tone_features(noise)[0].max() < 0.5


def greeting_then(tail: list[Pcm], seed: int = 5) -> Pcm:
    """A greeting from 0.4 s: six words of 400 ms with 80 ms pauses (ends at 3.2 s);
    the fourth word's 120th ms (1.96 s) makes it a machine."""
    rng = np.random.default_rng(seed)
    words = [part for _ in range(6) for part in (voice(400, rng), quiet(80))]
    return np.concatenate([quiet(400), *words[:-1], *tail])


def test_beep_after_the_greeting_ends_it_on_the_first_frame_after_the_tone() -> None:
    # The beep runs 3.7–4.2 s: reported at the end of the frame after it.
    pcm = greeting_then([quiet(500), sine(1000, 500), quiet(3000)])
    verdicts, ends = run(pcm, AmdParams())
    assert verdicts == [("machine", "max_words", 1.96)]
    assert ends == [("beep", 4.22)]


def test_beep_with_a_harmonic_through_ulaw_and_noise() -> None:
    n = np.arange(4000)
    tone = 6000 * np.sin(2 * np.pi * 850 * n / RATE) + 1500 * np.sin(2 * np.pi * 2550 * n / RATE)
    noisy = tone + np.random.default_rng(6).normal(0, 300, len(tone))
    pcm = greeting_then([quiet(700), through_ulaw(noisy), quiet(2000)])
    assert run(pcm, AmdParams())[1] == [("beep", 4.42)]  # tone 3.9–4.4 s


def test_without_a_beep_the_greeting_ends_after_silence_or_a_timeout() -> None:
    pcm = greeting_then([quiet(3000)])
    assert run(pcm, AmdParams())[1] == [("silence", 4.7)]  # 1.5 s after the greeting
    rng = np.random.default_rng(8)
    chatter = np.concatenate([voice(300, rng) if k % 2 else quiet(300) for k in range(40)])
    params = AmdParams(greeting_end_timeout_ms=6000)
    assert run(greeting_then([chatter]), params)[1] == [("timeout", 6.0)]


def test_a_short_greeting_and_its_beep_decide_at_once() -> None:
    # "Leave a message": too short for the word rules; the beep decides.
    rng = np.random.default_rng(9)
    pcm = np.concatenate([quiet(300), voice(700, rng), quiet(400), sine(1400, 300), quiet(2000)])
    verdicts, ends = run(pcm, AmdParams())
    # The tone (1.4–1.7 s) is examined from its second frame: 6 frames at 1.54 s.
    assert verdicts == [("machine", "beep", 1.54)]
    assert ends == [("beep", 1.72)]
    assert run(pcm, CLASSIC)[0] == [("human", "silence_after_speech", 2.7)]


@pytest.mark.parametrize(("hz", "burst_ms"), [(1100, 500), (2100, 3000)])
def test_fax_tones_are_machines_with_reason_fax(hz: float, burst_ms: int) -> None:
    pcm = np.concatenate([quiet(600), sine(hz, burst_ms, 5000), quiet(3000), sine(hz, 500)])
    verdicts, ends = run(pcm, AmdParams())
    assert verdicts == [("machine", "fax", 0.98)]  # 18 frames of tone from its second
    assert ends == []


def test_speech_like_noise_and_chords_are_never_beeps() -> None:
    rng = np.random.default_rng(10)
    for pcm in (speech_like(12.0, rng), music_like(12.0, rng)):
        detector = AmdDetector()
        detector.start(0, AmdParams())
        runs = []
        for k in range(len(pcm) // FRAME):
            detector.process(pcm[None, k * FRAME : (k + 1) * FRAME])
            if detector.active:
                runs.append(int(detector._s["run"][0]))
            else:
                detector.start(0, AmdParams())
        assert max(runs) < 6  # a beep needs 6 frames


def random_call(rng: np.random.Generator) -> Pcm:
    parts = [quiet(int(rng.integers(0, 1500)))]
    for _ in range(int(rng.integers(1, 12))):
        parts.append(voice(int(rng.integers(40, 900)), rng, float(rng.uniform(300, 6000))))
        parts.append(quiet(int(rng.integers(20, 1300))))
    if rng.random() < 0.5:
        parts += [sine(float(rng.uniform(400, 2000)), int(rng.integers(100, 700))), quiet(2000)]
    pcm = np.concatenate(parts + [quiet(2000)])
    if rng.random() < 0.5:  # a noisy line: the noise floor matters
        pcm = (pcm + rng.normal(0, float(rng.uniform(100, 600)), len(pcm))).clip(-32768, 32767)
    return pcm.astype(np.int16)


def test_batch_equals_single() -> None:
    """Channels analysed together (started at different ticks, slots moving as others
    finish) decide exactly as each one alone."""
    rng = np.random.default_rng(14)
    calls = [random_call(rng) for _ in range(14)]
    params = [AmdParams() if k % 3 else AmdParams.classic(max_words=3) for k in range(14)]
    starts = [int(rng.integers(0, 40)) for _ in range(14)]
    alone = [run(pcm, p, frames=320) for pcm, p in zip(calls, params, strict=True)]
    detector = AmdDetector()
    together: list[Result] = [([], []) for _ in calls]
    block = np.zeros((20, FRAME), dtype=np.int16)
    rows = [3 + k for k in range(14)]  # not slot numbers: rows the engine would use
    for tick in range(360):
        for k, pcm in enumerate(calls):
            f = tick - starts[k]
            if f == 0:
                detector.start(rows[k], params[k])
            elif f == 320:  # as long as alone: a call that hangs up while analysed
                detector.stop(rows[k])
            chunk = pcm[f * FRAME : (f + 1) * FRAME] if f >= 0 else ()
            block[rows[k]] = chunk if len(chunk) == FRAME else 0
        verdicts, ends = detector.process(block)
        for row, v, r, s in verdicts:
            together[row - 3][0].append((v, r, s))
        for row, by, s in ends:
            together[row - 3][1].append((by, s))
    assert together == alone
    assert sum(len(v) for v, _ in alone) == 14  # every call decided, in many ways
    assert len({v[0][1] for v, _ in alone}) >= 4 and sum(len(e) for _, e in alone) >= 2


# -- espeak-ng speech ---------------------------------------------------------------
def corpus() -> ModuleType:
    need_peer("espeak-ng")
    need_peer("sox")
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "amd_corpus.py"
    spec = importlib.util.spec_from_file_location("amd_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["amd_corpus"] = module
    spec.loader.exec_module(module)
    return module


def engine_verdicts(calls: list[Pcm], params: AmdParams) -> list[tuple[str, str, float, str]]:
    """Each call a channel of one engine answered at tick 0: (verdict, reason, s, end)."""
    eng = MediaEngine()
    streams = [FakeStream() for _ in calls]
    chans = [eng.add_channel(s) for s in streams]
    for s, pcm in zip(streams, calls, strict=True):
        n = len(pcm) // FRAME
        s.frames.extend(ulaw_encode(f).tobytes() for f in pcm[: n * FRAME].reshape(n, FRAME))
    for ch in chans:
        eng.detect_amd(ch, True, params)
    out: dict[int, tuple[str, str, float, str]] = {}
    k = 0
    while any(eng.amd_on(ch) for ch in chans) and k < 2000:
        for e in eng.tick(k * 0.02).events:
            if isinstance(e, AmdDetected):
                out[e.channel] = (e.verdict, e.reason, e.seconds, "")
            elif isinstance(e, GreetingEnded):
                out[e.channel] = out[e.channel][:3] + (e.by,)
        k += 1
    return [out[ch] for ch in chans]


def test_espeak_people_and_machines_en_ru(tmp_path: Path) -> None:
    c = corpus()
    rng = np.random.default_rng(12)
    calls, labels = [], []
    specs = [
        ("en-us+f3", "en", "Hello?"),
        ("en-gb+m3", "en", "Hello, who is this?"),
        ("ru+m2", "ru", "Да, слушаю"),
        ("ru+f4", "ru", "Алло"),
    ]
    for voice_name, lang, text in specs:
        audio, label = c.render_human(
            rng, "h", tmp_path, c.Voice(lang, voice_name, 170, 50), text, -20.0, -60.0, 0.7
        )
        calls.append(np.clip(np.rint(audio), -32768, 32767).astype(np.int16))
        labels.append(label)
    greeting = "Hi, you've reached Sarah. I can't come to the phone now. Please leave a message."
    for lang, text, beep in [
        ("en", greeting, c.Beep(1000.0, 0.5, 0.5, -12.0)),
        ("ru", "Здравствуйте, вы позвонили Ивану. Оставьте сообщение после сигнала.", None),
    ]:
        audio, label = c.render_machine(
            rng, "m", tmp_path, c.Voice(lang, f"{lang}+m1", 170, 50), text, -18.0, -62.0, 0.4,
            beep=beep,
        )  # fmt: skip
        calls.append(np.clip(np.rint(audio), -32768, 32767).astype(np.int16))
        labels.append(label)
    results = engine_verdicts(calls, AmdParams())
    assert [r[0] for r in results] == ["human"] * 4 + ["machine"] * 2
    for (_, _, seconds, _), label in zip(results[:4], labels[:4], strict=True):
        assert seconds - label.first_word_end <= 2.0  # the target
    assert results[4][3] == "beep" and results[5][3] == "silence"


# -- the engine ---------------------------------------------------------------------
def frames_of(pcm: Pcm) -> list[bytes]:
    n = len(pcm) // FRAME
    return [ulaw_encode(f).tobytes() for f in pcm[: n * FRAME].reshape(n, FRAME)]


def test_engine_reports_verdict_and_greeting_end_with_now() -> None:
    eng = MediaEngine()
    s = FakeStream()
    ch = eng.add_channel(s)
    s.frames.extend(frames_of(greeting_then([quiet(500), sine(1000, 500), quiet(1000)])))
    eng.detect_amd(ch)
    events, counts = [], []
    for k in range(len(s.frames) + 5):
        out = eng.tick(100.0 + k * 0.02)
        events += out.events
        counts.append(out.counters.amd_rows)
    assert events == [
        AmdDetected(ch, "machine", "max_words", 1.96, pytest.approx(100.0 + 97 * 0.02)),
        GreetingEnded(ch, "beep", 4.22, pytest.approx(100.0 + 210 * 0.02)),
    ]
    assert counts[0] == 1 and counts[210] == 1 and counts[211] == 0
    assert not eng.amd_on(ch)


def test_no_events_for_channels_with_amd_off() -> None:
    eng = MediaEngine()
    streams = [FakeStream() for _ in range(3)]
    chans = [eng.add_channel(s) for s in streams]
    for s in streams:
        s.frames.extend(frames_of(greeting_then([quiet(2000)])))
    eng.detect_amd(chans[1])
    eng.detect_amd(chans[2])
    events = []
    for k in range(60):
        events += eng.tick(k * 0.02).events
    eng.detect_amd(chans[2], on=False)  # stopped mid-analysis: never reported
    for k in range(60, 300):
        events += eng.tick(k * 0.02).events
    assert [(type(e).__name__, e.channel) for e in events] == [
        ("AmdDetected", chans[1]),
        ("GreetingEnded", chans[1]),
    ]
    assert eng.tick(6.0).counters.amd_rows == 0


def test_removed_channel_stops_its_detection_and_restart_starts_over() -> None:
    eng = MediaEngine()
    a, b = FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    eng.detect_amd(ca)
    eng.detect_amd(cb, params=AmdParams.classic())
    for k in range(30):
        eng.tick(k * 0.02)
    eng.remove_channel(ca)
    assert not eng.amd_on(ca) and eng.amd_on(cb)
    eng.detect_amd(cb, params=AmdParams.classic())  # a restart: the clock starts again
    events = []
    for k in range(30, 200):
        events += eng.tick(k * 0.02).events
    assert events == [AmdDetected(cb, "machine", "initial_silence", 2.0, pytest.approx(2.58))]
    with pytest.raises(InvalidStateError):
        eng.detect_amd(ca)
