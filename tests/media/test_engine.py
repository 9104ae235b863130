"""The engine tick with fake streams: bridging, prompts, DTMF, recording, batch = single."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pbx.errors import InvalidStateError
from pbx.media.detect import DtmfDetector
from pbx.media.engine import MediaEngine
from pbx.media.events import DtmfDetected, PlaybackFinished, RecordingFinished
from pbx.media.g711 import alaw_decode, ulaw_decode, ulaw_encode, ulaw_to_alaw
from pbx.media.mixer import Role
from pbx.media.prompts import PromptCache, SilenceItem
from pbx.media.recorder import RecorderBank
from tests.media.fakes import FakeDigit, FakeStream
from tests.media.signals import detect_stream, dtmf_string


def _ulaw_frames(rng: np.random.Generator, count: int, amp: int = 6000) -> list[bytes]:
    pcm = rng.integers(-amp, amp, size=(count, 160)).astype(np.int16)
    # μ-law has two codes for zero; keep frames in the canonical set so they survive a round trip.
    return [ulaw_encode(ulaw_decode(ulaw_encode(f))).tobytes() for f in pcm]


def test_two_bridged_channels_frames_from_a_arrive_at_b(rng: np.random.Generator) -> None:
    eng = MediaEngine()
    a, b = FakeStream(("127.0.0.1", 4000)), FakeStream(("127.0.0.1", 4002))
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    bridge = eng.bridge_create()
    eng.bridge_join(bridge, ca)
    eng.bridge_join(bridge, cb)
    frames = _ulaw_frames(rng, 5)
    a.frames.extend(frames)
    outs = [eng.tick(now=i * 0.02) for i in range(5)]
    assert b.sent == frames
    assert outs[0].datagrams[1] == (b"HDR" + frames[0], ("127.0.0.1", 4002))
    assert all(p == b"\xff" * 160 for p in a.sent)  # B said nothing
    assert outs[0].counters.frames_received == 1 and outs[0].counters.channels == 2


def test_pcmu_to_pcma_transcodes_through_the_bridge(rng: np.random.Generator) -> None:
    eng = MediaEngine()
    a, b = FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a, "PCMU"), eng.add_channel(b, "PCMA")
    bridge = eng.bridge_create()
    eng.bridge_join(bridge, ca)
    eng.bridge_join(bridge, cb)
    frames = _ulaw_frames(rng, 3)
    a.frames.extend(frames)
    for i in range(3):
        eng.tick(i * 0.02)
    codes = [np.frombuffer(f, np.uint8) for f in frames]
    assert b.sent == [ulaw_to_alaw(c).tobytes() for c in codes]


def test_prompt_is_heard_by_the_channel_not_its_peer() -> None:
    cache = PromptCache()
    prompt = (np.arange(400) * 40 - 8000).astype(np.int16)
    cache.add("welcome", prompt)
    eng = MediaEngine(prompts=cache)
    a, b = FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    bridge = eng.bridge_create()
    eng.bridge_join(bridge, ca)
    eng.bridge_join(bridge, cb)
    eng.play(ca, "welcome")
    events = []
    for i in range(4):
        events += eng.tick(i * 0.02).events
    heard = np.concatenate([ulaw_decode(np.frombuffer(p, np.uint8)) for p in a.sent])
    expected = ulaw_decode(ulaw_encode(prompt))
    assert np.array_equal(heard[:400], expected)
    assert not heard[400:].any()
    assert all(p == b"\xff" * 160 for p in b.sent)
    assert events == [PlaybackFinished(ca, "welcome", True)]


def test_dtmf_interrupts_prompt_and_both_sources_are_reported() -> None:
    cache = PromptCache()
    cache.add("menu", np.full(8000, 1000, dtype=np.int16))
    eng = MediaEngine(prompts=cache)
    s = FakeStream()
    ch = eng.add_channel(s)
    eng.detect_dtmf(ch, True)
    eng.play(ch, "menu")
    pcm = dtmf_string("7", np.random.default_rng(1), 30)
    s.frames.extend(ulaw_encode(f).tobytes() for f in pcm[: len(pcm) // 160 * 160].reshape(-1, 160))
    s.events.append(FakeDigit("#"))
    events = []
    for i in range(len(s.frames)):
        events += eng.tick(i * 0.02).events
    digits = [e for e in events if isinstance(e, DtmfDetected)]
    assert [(d.digit, d.source) for d in digits] == [("#", "rfc4733"), ("7", "inband")]
    assert PlaybackFinished(ch, "menu", False) in events
    assert not eng.is_playing(ch)


def test_missing_frame_is_repeated_at_minus_6db_then_silence() -> None:
    eng = MediaEngine()
    a, b = FakeStream(), FakeStream()
    ca, _ = eng.add_channel(a), eng.add_channel(b)
    eng.echo(ca, True)
    frame = ulaw_encode(np.full(160, 4000, dtype=np.int16)).tobytes()
    a.frames.extend([frame, None, None])
    outs = [eng.tick(i * 0.02) for i in range(3)]
    levels = [int(ulaw_decode(np.frombuffer(p, np.uint8))[0]) for p in a.sent]
    assert levels[0] == int(ulaw_decode(np.frombuffer(frame, np.uint8))[0])
    assert abs(levels[1] - levels[0] / 2) < levels[0] * 0.04
    assert levels[2] == 0
    assert [o.counters.frames_concealed for o in outs] == [0, 1, 0]


def test_supervisor_whisper_and_listen_through_the_engine(rng: np.random.Generator) -> None:
    eng = MediaEngine()
    caller, agent, sup = FakeStream(), FakeStream(), FakeStream()
    cc, ca, cs = (eng.add_channel(s) for s in (caller, agent, sup))
    bridge = eng.bridge_create()
    eng.bridge_join(bridge, cc)
    eng.bridge_join(bridge, ca)
    eng.bridge_join(bridge, cs, Role.WHISPER, whisper_to=ca)
    coaching = _ulaw_frames(rng, 2)
    sup.frames.extend(coaching)
    eng.tick(0.0)
    assert caller.sent[0] == b"\xff" * 160  # the caller does not hear the coach
    assert agent.sent[0] == coaching[0]
    eng.bridge_set_role(cs, Role.LISTEN)
    eng.tick(0.02)
    assert agent.sent[1] == b"\xff" * 160


def test_recording_through_the_engine(tmp_path: Path, rng: np.random.Generator) -> None:
    eng = MediaEngine()
    a, b = FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    fa, fb = _ulaw_frames(rng, 60), _ulaw_frames(rng, 60)
    a.frames.extend(fa)
    b.frames.extend(fb)
    eng.start_recording("call-1", tmp_path / "call.wav", left=ca, right=cb)
    for i in range(60):
        eng.tick(i * 0.02)
    eng.stop_recording("call-1")
    out = eng.tick(1.2)
    assert out.events == [RecordingFinished("call-1", str(tmp_path / "call.wav"), 1.2)]
    data, _ = sf.read(str(tmp_path / "call.wav"), dtype="int16")
    assert np.array_equal(data[:, 0], ulaw_decode(np.frombuffer(b"".join(fa), np.uint8)))
    assert np.array_equal(data[:, 1], ulaw_decode(np.frombuffer(b"".join(fb), np.uint8)))


def _run_calls(pairs: int, ticks: int, seed: int, codecs: tuple[str, str]) -> list[list[bytes]]:
    rng = np.random.default_rng(seed)
    eng = MediaEngine(capacity=2)
    streams = []
    for _ in range(pairs):
        s1, s2 = FakeStream(), FakeStream()
        c1, c2 = eng.add_channel(s1, codecs[0]), eng.add_channel(s2, codecs[1])
        bridge = eng.bridge_create()
        eng.bridge_join(bridge, c1)
        eng.bridge_join(bridge, c2)
        eng.detect_dtmf(c1, True)
        streams += [s1, s2]
    frames = _ulaw_frames(np.random.default_rng(seed + 1), ticks * 2 * pairs)
    k = 0
    for s in streams:
        for _ in range(ticks):
            s.frames.append(frames[k] if rng.random() > 0.1 else None)
            k += 1
    for i in range(ticks):
        eng.tick(i * 0.02)
    return [s.sent for s in streams]


def test_batch_equals_single_channel_processing() -> None:
    batched = _run_calls(pairs=6, ticks=30, seed=5, codecs=("PCMU", "PCMA"))
    # The same calls one at a time, each in its own engine (same frames, same losses).
    rng = np.random.default_rng(5)
    frames = _ulaw_frames(np.random.default_rng(6), 30 * 12)
    plan = [
        [frames[s * 30 + t] if rng.random() > 0.1 else None for t in range(30)] for s in range(12)
    ]
    for pair in range(6):
        eng = MediaEngine()
        s1, s2 = FakeStream(), FakeStream()
        c1, c2 = eng.add_channel(s1, "PCMU"), eng.add_channel(s2, "PCMA")
        bridge = eng.bridge_create()
        eng.bridge_join(bridge, c1)
        eng.bridge_join(bridge, c2)
        s1.frames.extend(plan[2 * pair])
        s2.frames.extend(plan[2 * pair + 1])
        for i in range(30):
            eng.tick(i * 0.02)
        assert s1.sent == batched[2 * pair]
        assert s2.sent == batched[2 * pair + 1]


def test_rows_are_reused_and_grow_by_doubling() -> None:
    eng = MediaEngine(capacity=2)
    chans = [eng.add_channel(FakeStream()) for _ in range(5)]
    assert chans == [0, 1, 2, 3, 4]
    assert eng.capacity == 8
    eng.remove_channel(1)
    assert eng.add_channel(FakeStream()) == 1
    with pytest.raises(InvalidStateError, match="channel 9 does not exist"):
        eng.play(9, "x")
    eng.remove_channel(4)
    out = eng.tick(0.0)
    assert out.counters.channels == 4


def test_looping_music_on_hold_resumes() -> None:
    cache = PromptCache()
    cache.add("moh", np.arange(1, 1001, dtype=np.int16) * 8)
    eng = MediaEngine(prompts=cache)
    s = FakeStream()
    ch = eng.add_channel(s)
    eng.play(ch, "moh", loop=True)
    for i in range(3):
        eng.tick(i * 0.02)
    eng.play(ch, [SilenceItem(0.04)])  # an announcement interrupts the music
    ev = []
    for i in range(2):
        ev += eng.tick(0.06 + i * 0.02).events
    eng.play(ch, "moh", loop=True)
    eng.tick(0.1)
    resumed = ulaw_decode(np.frombuffer(s.sent[-1], np.uint8))
    assert resumed[0] == ulaw_decode(ulaw_encode(np.array([481 * 8], np.int16)))[0]
    assert ev[-1] == PlaybackFinished(ch, "silence", True)


def test_send_and_receive_go_to_the_stream() -> None:
    eng = MediaEngine()
    s = FakeStream()
    ch = eng.add_channel(s)
    eng.receive(ch, b"pkt", ("127.0.0.1", 5000), 1.5)
    eng.send_dtmf(ch, "5")
    assert s.received == [(b"pkt", ("127.0.0.1", 5000), 1.5)]
    assert s.dtmf_sent == ["5"]
    s.remote_addr = None
    assert eng.tick(0.0).datagrams == []


def test_alaw_channel_silence_is_true_zero() -> None:
    eng = MediaEngine()
    s = FakeStream()
    ch = eng.add_channel(s, "PCMA")
    eng.echo(ch, True)
    eng.tick(0.0)
    assert alaw_decode(np.frombuffer(s.sent[0], np.uint8)).max() <= 8


def test_datagrams_name_their_channel() -> None:
    eng = MediaEngine()
    s0, s1, s2 = FakeStream(("127.0.0.1", 1000)), FakeStream(None), FakeStream(("127.0.0.1", 1004))
    for s in (s0, s1, s2):
        eng.add_channel(s)
    out = eng.tick(0.0)
    assert out.channels == [0, 2]
    assert [addr for _, addr in out.datagrams] == [("127.0.0.1", 1000), ("127.0.0.1", 1004)]
    assert s1.sent == []  # no address, nothing packetized: its sequence numbers do not advance
    assert eng.rtcp_to_send(0.0) == []  # fakes have no RTCP


def test_two_party_same_codec_is_forwarded_bit_transparently() -> None:
    eng = MediaEngine()
    a, b = FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    bridge = eng.bridge_create()
    eng.bridge_join(bridge, ca)
    eng.bridge_join(bridge, cb)
    odd = bytes([0x7F] * 80 + [0x00] * 80)  # μ-law "negative zero" and the most negative code
    a.frames.extend([odd, None, odd])
    b.frames.extend([b"\xff" * 160] * 3)
    eng.tick(0.0)
    assert b.sent[0] == odd  # forwarded as received
    eng.tick(0.02)  # A's frame is missing: concealed through the mixer (-6 dB repeat)
    halved = ulaw_decode(np.frombuffer(odd, np.uint8)) >> 1
    assert b.sent[1] == ulaw_encode(halved).tobytes()
    eng.tick(0.04)
    assert b.sent[2] == odd


def test_a_frame_of_another_size_counts_as_lost(rng: np.random.Generator) -> None:
    eng = MediaEngine()
    a, b, c = FakeStream(), FakeStream(), FakeStream()
    ca, cb, cc = (eng.add_channel(s) for s in (a, b, c))
    eng.echo(ca, True)
    eng.echo(cb, True)
    eng.echo(cc, True)
    good = _ulaw_frames(rng, 2)
    a.frames.extend([good[0], good[1][:80]])  # then half a frame: lost, repeated at -6 dB
    b.frames.extend([good[1], None])
    c.frames.extend([good[0], good[1]])
    first = eng.tick(0.0)
    second = eng.tick(0.02)
    assert first.counters.frames_received == 3
    assert second.counters.frames_received == 1 and second.counters.frames_concealed == 2
    assert c.sent == good
    halved = ulaw_encode(ulaw_decode(np.frombuffer(good[0], np.uint8)) >> 1).tobytes()
    assert a.sent == [good[0], halved]


def test_recording_on_a_lagging_writer_through_the_engine(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    jobs: list[Callable[[], None]] = []

    class Later:
        def submit(self, job: Callable[[], None]) -> None:
            jobs.append(job)

        def wait(self) -> None:
            while jobs:
                jobs.pop(0)()

    eng = MediaEngine(recorder=RecorderBank(block_ticks=5, deferred=True, writer=Later()))
    a, b = FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    fa, fb = _ulaw_frames(rng, 23), _ulaw_frames(rng, 23)
    a.frames.extend(fa)
    b.frames.extend(fb)
    eng.start_recording("call-1", tmp_path / "call.wav", left=ca, right=cb)
    for i in range(23):
        eng.tick(i * 0.02)
        eng.write_recordings()
    assert not (tmp_path / "call.wav").exists()
    eng.stop_recording("call-1")  # waits for the writer, then renames
    data, _ = sf.read(str(tmp_path / "call.wav"), dtype="int16")
    assert np.array_equal(data[:, 0], ulaw_decode(np.frombuffer(b"".join(fa), np.uint8)))
    assert np.array_equal(data[:, 1], ulaw_decode(np.frombuffer(b"".join(fb), np.uint8)))


def test_recording_a_channel_that_leaves_keeps_silence_not_its_rows_next_call(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The engine decodes into the recorder's history; a recorded channel removed mid-call
    is silence from then on, though a new channel takes its row at once."""
    eng = MediaEngine(recorder=RecorderBank(block_ticks=4, deferred=True))
    a, b, c = FakeStream(), FakeStream(), FakeStream()
    ca, cb = eng.add_channel(a), eng.add_channel(b)
    fa, fb, fc = _ulaw_frames(rng, 8), _ulaw_frames(rng, 20), _ulaw_frames(rng, 12)
    a.frames.extend(fa)
    b.frames.extend(fb)
    c.frames.extend(fc)
    eng.start_recording("call", tmp_path / "call.wav", left=ca, right=cb)
    for i in range(20):
        if i == 8:
            eng.remove_channel(ca)
            assert eng.add_channel(c) == ca  # the same row, another call
        eng.tick(i * 0.02)
        eng.write_recordings()
    eng.stop_recording("call")
    data, _ = sf.read(str(tmp_path / "call.wav"), dtype="int16")
    said_a = ulaw_decode(np.frombuffer(b"".join(fa), np.uint8))
    assert np.array_equal(data[: 8 * 160, 0], said_a)
    assert not data[8 * 160 :, 0].any()
    assert np.array_equal(data[:, 1], ulaw_decode(np.frombuffer(b"".join(fb), np.uint8)))


def test_inband_dtmf_through_the_engine_equals_each_channel_alone() -> None:
    rng = np.random.default_rng(21)
    digits = ["".join(rng.choice(list("0123456789*#"), 8)) for _ in range(5)]
    signals = [dtmf_string(d, rng, 20, tone_ms=(40, 61), pause_ms=(40, 61)) for d in digits]
    ticks = min(len(x) for x in signals) // 160
    eng = MediaEngine(capacity=2)
    streams = [FakeStream() for _ in signals]
    found: dict[int, str] = {}
    for k, (stream, pcm) in enumerate(zip(streams, signals, strict=True)):
        stream.frames.extend(
            ulaw_encode(pcm[i * 160 : (i + 1) * 160]).tobytes() for i in range(ticks)
        )
        if k < 4:  # the fifth channel joins later: the subscribed rows change mid-way
            eng.detect_dtmf(eng.add_channel(stream), True)
    for i in range(ticks):
        if i == 37:
            late = eng.add_channel(streams[4])
            eng.detect_dtmf(late, True)
            streams[4].frames.rotate(-37)  # its audio starts where the others are
        for event in eng.tick(i * 0.02).events:
            assert isinstance(event, DtmfDetected) and event.source == "inband"
            found[event.channel] = found.get(event.channel, "") + event.digit
    for ch, pcm in enumerate(signals):
        start = 37 * 160 if ch == 4 else 0
        alone = detect_stream(DtmfDetector(alternate=False), pcm[start : ticks * 160])
        assert found.get(ch, "") == alone and alone
