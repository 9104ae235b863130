"""What every simulated phone is: a SIP user agent, an RTP port pair, audio out and in.

Theory of operation
-------------------
Each simulated phone (the caller of :mod:`pbx.testing.caller`, the agent phone of
:mod:`pbx.testing.agent`) is what a real one is to the pbx: a SIP user agent on its own UDP
port of 127.0.0.1 (a :class:`~pbx.sip.endpoint.SipEndpoint` run by a
:class:`~pbx.net.pump.SipService`) and an RTP/RTCP port pair (a
:class:`~pbx.net.rtp_udp.RtpTransport`) carrying one :class:`~pbx.rtp.stream.RtpStream`
per call. Nothing is shortcut: the pbx sees INVITEs, REGISTERs with digest
authentication, REFERs, INFOs and RTP exactly as it sees them from the network.

The :class:`~pbx.testing.harness.Harness` ticks every phone every 20 ms on its event
loop. A tick pops one frame from the stream's jitter buffer, decodes it (G.711) and
appends it to the phone's *heard* timeline (zeros when nothing arrived, so sample ``i``
was heard ``i / 8000`` s after the first frame), then — while the call's media is up —
encodes the next frame of the phone's audio, with any in-band DTMF added, and sends it
(RFC 4733 events replace audio frames while they last, as
:meth:`~pbx.rtp.stream.RtpStream.packetize` does). When the loop was not running for a
while (the test was busy between waits), the missed ticks are recorded as silence and
the stream's timestamp skips over them (:meth:`~pbx.rtp.stream.RtpStream.silence`).

Every blocking method runs the harness loop until its condition holds or its time-out
passes, then raises :class:`~pbx.testing.errors.WaitTimeout` saying what happened
instead.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import structlog
from attrs import evolve

from pbx.errors import PbxError
from pbx.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from pbx.net.pump import SipService
from pbx.net.rtp_udp import RtpTransport
from pbx.rtp.dtmf import DtmfDigit
from pbx.rtp.stream import RtpStream
from pbx.sip import events as sip
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.offer_answer import (
    LocalMedia,
    NegotiatedMedia,
    OfferAnswerError,
    build_offer,
    negotiate_answer,
)
from pbx.sip.sdp import SdpParseError, SessionDescription
from pbx.testing.audio import (
    FRAME,
    SAMPLE_RATE,
    Audio,
    AudioCursor,
    dbov,
    dtmf_samples,
    frame_levels,
    frames_of,
    longest_tone,
    match_prompt,
)
from pbx.testing.errors import SimulationError

if TYPE_CHECKING:
    from pbx.testing.harness import Harness

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
DTMF_MODES = ("rfc4733", "inband", "info")
Pcm = npt.NDArray[np.int16]


class Timeline:
    """Everything a phone heard: int16 samples, one 20 ms frame per tick, and each
    frame's arrival time on the harness clock.

    Each frame is also marked *received* or not: a tick whose jitter buffer had nothing
    to play (buffering at the start, an underrun when packets came late, a tick missed
    while the loop was busy) is a silent filler frame. An underrun does not advance the
    buffer's play position, so what follows is the same audio, only later: leaving the
    fillers out (:meth:`received_since`) gives what was said without those stretches,
    which is what prompt fingerprints are matched against.
    """

    def __init__(self) -> None:
        self._pcm = np.zeros(SAMPLE_RATE * 4, dtype=np.int16)
        self._times = np.zeros(SAMPLE_RATE * 4 // FRAME, dtype=np.float64)
        self._received = np.zeros(SAMPLE_RATE * 4 // FRAME, dtype=np.bool_)
        self.frames = 0

    def append(self, frame: Pcm, now: float, received: bool = True) -> None:
        """Add one frame heard at ``now`` (``received``: False for a silent filler)."""
        if (self.frames + 1) * FRAME > len(self._pcm):
            self._pcm = np.concatenate([self._pcm, np.zeros_like(self._pcm)])
            self._times = np.concatenate([self._times, np.zeros_like(self._times)])
            self._received = np.concatenate([self._received, np.zeros_like(self._received)])
        start = self.frames * FRAME
        self._pcm[start : start + FRAME] = frame
        self._times[self.frames] = now
        self._received[self.frames] = received
        self.frames += 1

    def received_since(self, first_frame: int = 0) -> tuple[Pcm, npt.NDArray[np.int64]]:
        """The received frames from frame ``first_frame`` on, fillers left out: their
        samples joined, and the timeline index of each of them."""
        index = np.flatnonzero(self._received[first_frame : self.frames]) + first_frame
        frames = self._pcm[: self.frames * FRAME].reshape(-1, FRAME)[index]
        return frames.reshape(-1), index.astype(np.int64)

    @property
    def samples(self) -> Pcm:
        """Every sample heard (a read-only view)."""
        view = self._pcm[: self.frames * FRAME]
        view.flags.writeable = False
        return view

    @property
    def times(self) -> npt.NDArray[np.float64]:
        """The harness time of each frame."""
        view = self._times[: self.frames]
        view.flags.writeable = False
        return view

    def frame_at(self, t: float) -> int:
        """The index of the first frame heard at or after time ``t``."""
        return int(np.searchsorted(self._times[: self.frames], t, side="left"))

    def since(self, t: float | None) -> Pcm:
        """The samples heard from time ``t`` on (all of them for ``None``)."""
        if t is None:
            return self.samples
        return self.samples[self.frame_at(t) * FRAME :]


class PromptWatch:
    """Looks for one prompt in a :class:`Timeline` as it grows: :meth:`check` after each
    tick says whether it has been heard (from frame ``origin`` on).

    The prompt is found by its fingerprint (:func:`~pbx.testing.audio.match_prompt`)
    in the received frames only: an underrun's filler frames would shift the rest of the
    prompt (see :class:`Timeline`). The search runs every 100 ms of new audio, over the
    new frames and enough before them for a prompt that began earlier.
    """

    def __init__(
        self, timeline: Timeline, samples: Pcm, *, origin: int = 0, threshold: float = 0.8
    ) -> None:
        self.timeline = timeline
        self.samples = samples
        self.origin = origin
        self.threshold = threshold
        self.best_score = 0.0
        """The best normalised correlation so far."""
        self.best_frame = -1
        """The timeline index of the frame the best match starts in (-1: none yet)."""
        self.heard = False
        self._need = math.ceil(len(samples) / FRAME)
        self._checked = origin
        self._calls = 0

    def check(self, *, force: bool = False) -> bool:
        """True once the prompt was heard (searching only when enough is new, or now
        with ``force``)."""
        if self.heard:
            return True
        self._calls += 1
        timeline, need = self.timeline, self._need
        total = timeline.frames
        if total - self.origin < need:
            return False
        if not force and self._calls % 5 and total - self._checked < need + 50:
            return False  # search every 100 ms of new audio
        lo = max(self.origin, self._checked - 2 * need - 10)
        pcm, index = timeline.received_since(lo)
        self._checked = total
        if len(pcm) < len(self.samples):
            return False
        score, offset = match_prompt(pcm, self.samples)
        if score > self.best_score:
            self.best_score, self.best_frame = score, int(index[offset // FRAME])
        self.heard = score >= self.threshold
        return self.heard


class SimPhone:
    """What the simulated caller and agent phone share: SIP UA, RTP port pair, audio."""

    label = "phone"

    def __init__(
        self, harness: Harness, audio: Audio = None, *, service: SipService | None = None
    ) -> None:
        self.harness = harness
        self._own_sip = service is None
        if service is None:
            endpoint = SipEndpoint(
                EndpointConfig(host=HOST, port=0, user_agent="pbx.testing"), harness.new_rng()
            )
            service = SipService(endpoint, self._on_sip_event)
        self.endpoint: SipEndpoint = service.endpoint
        self.sip = service
        """The SIP user agent's service: the phone's own, or one it shares (the calls of a
        :class:`~pbx.testing.carrier.SimCarrier` share the carrier's port)."""
        self.rtp: RtpTransport | None = None
        self.stream: RtpStream | None = None
        self.media: NegotiatedMedia | None = None
        self.leg: str | None = None
        """The SIP leg of the current (or last) call."""
        self.heard_timeline = Timeline()
        self.digits_received: list[str] = []
        """RFC 4733 digits the pbx sent to this phone, in order."""
        self.sip_events: list[sip.EndpointEvent] = []
        """Every SIP event of this phone's user agent, in order (for assertions)."""
        self._cursor = AudioCursor(audio)
        self._overlay: deque[Pcm] = deque()
        self._sending = False
        self._info_queue: deque[str] = deque()
        self._info_pending: str | None = None
        self._session_id = harness.new_rng().getrandbits(31)
        self._session_version = 0
        self._closed = False

    # ------------------------------------------------------------------ life cycle
    async def _start(self) -> None:
        if self._own_sip:
            await self.sip.start(HOST, 0, udp=True, tcp=False)
            assert self.sip.udp.local is not None
            self.endpoint.config = evolve(self.endpoint.config, port=self.sip.udp.local[1])
        self.rtp = await self.harness.bind_rtp(self._on_rtp, self._on_rtcp)

    @property
    def sip_port(self) -> int:
        """The UDP port this phone's SIP user agent listens on."""
        return self.endpoint.config.port

    @property
    def rtp_port(self) -> int:
        """This phone's RTP port (RTCP on the next one)."""
        assert self.rtp is not None
        return self.rtp.port

    def close(self) -> None:
        """Stop listening (sockets closed); the harness does it at the end of a test."""
        if self._closed:
            return
        self._closed = True
        self._sending = False
        if self._own_sip:
            self.sip.close()
        if self.rtp is not None:
            self.rtp.close()

    def _new_stream(self) -> RtpStream:
        rng = self.harness.new_rng()
        return RtpStream(
            rng.getrandbits(32),
            0,
            clock_rate=8000,
            telephone_event_pt=101,
            initial_seq=rng.getrandbits(16),
            initial_ts=rng.getrandbits(32),
            cname=f"{self.label}@{HOST}",
            rng=rng,
        )

    def _local_media(self) -> LocalMedia:
        return LocalMedia(HOST, self.rtp_port)

    def _apply(self, media: NegotiatedMedia) -> None:
        self.media = media
        stream = self.stream
        if stream is None:
            return
        stream.payload_type = media.payload_type
        stream.telephone_event_pt = media.telephone_event
        if media.remote_port and media.remote_address not in ("0.0.0.0", "::"):
            stream.set_remote((media.remote_address, media.remote_port))

    def _sdp_answer(self, offer_sdp: bytes | None) -> bytes:
        """Our SDP for an incoming INVITE: the answer to its offer (applied to the
        stream, RFC 3264 §6), or our own offer when it came without one (§5). Raises
        :class:`SdpParseError` or :class:`OfferAnswerError` for an offer we cannot take."""
        if offer_sdp is None:
            return bytes(
                build_offer(
                    self._local_media(),
                    session_id=self._session_id,
                    session_version=self._next_version(),
                )
            )
        answer, media = negotiate_answer(
            SessionDescription.parse(offer_sdp),
            self._local_media(),
            session_id=self._session_id,
            session_version=self._next_version(),
        )
        self._apply(media)
        return bytes(answer)

    def _next_version(self) -> int:
        self._session_version += 1
        return self._session_version

    # ------------------------------------------------------------------ network input
    def _on_rtp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if self.stream is not None:
            self.stream.receive(data, addr, now)

    def _on_rtcp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if self.stream is not None:
            self.stream.receive_rtcp(data, addr, now)

    def _on_sip_event(self, event: sip.EndpointEvent, now: float) -> None:
        self.sip_events.append(event)
        try:
            self.on_sip(event, now)
        finally:
            self.harness.poke()

    def on_sip(self, event: sip.EndpointEvent, now: float) -> None:
        """Act on one SIP event (the caller and the agent phone override this)."""

    def _answer_in_dialog(self, event: sip.InDialogRequest, now: float) -> None:
        """What a phone answers inside a call: re-offers with our answer, the rest 200."""
        method = event.request.method
        if method in ("INVITE", "UPDATE") and event.sdp is not None:
            try:
                offer = SessionDescription.parse(event.sdp)
                answer, media = negotiate_answer(
                    offer,
                    self._local_media(),
                    session_id=self._session_id,
                    session_version=self._next_version(),
                )
            except (SdpParseError, OfferAnswerError):
                self.endpoint.respond(event.transaction, 488, now)
                return
            self._apply(media)
            self.endpoint.respond(
                event.transaction, 200, now, body=bytes(answer), content_type="application/sdp"
            )
        elif method in ("INVITE", "UPDATE"):
            offer_sd = build_offer(
                self._local_media(),
                session_id=self._session_id,
                session_version=self._next_version(),
            )
            self.endpoint.respond(
                event.transaction, 200, now, body=bytes(offer_sd), content_type="application/sdp"
            )
        elif method == "REFER":
            self.endpoint.respond(event.transaction, 405, now)
        else:
            self.endpoint.respond(event.transaction, 200, now)

    def _on_request_answered(self, event: sip.RequestAnswered | sip.RequestFailed) -> None:
        if self._info_pending is not None and event.handle == self._info_pending:
            self._info_pending = None
            self._send_next_info()

    # ------------------------------------------------------------------ the 20 ms tick
    def tick(self, now: float) -> None:
        """Hear one frame and say one frame (called by the harness every 20 ms)."""
        stream = self.stream
        frame: Pcm | None = None
        if stream is not None:
            payload = stream.pop_frame()
            if payload is not None and len(payload) == FRAME:
                frame = self._decode(payload)
            while (event := stream.next_event()) is not None:
                if isinstance(event, DtmfDigit):
                    self.digits_received.append(event.digit)
            deadline = stream.get_timer()
            if deadline is not None and deadline <= now:
                stream.handle_timer(now)
        self.heard_timeline.append(
            frame if frame is not None else np.zeros(FRAME, dtype=np.int16),
            now,
            frame is not None,
        )
        if stream is None or self.rtp is None or not self._sending:
            return  # the audio starts when the call's media does
        out = self._cursor.next_frame()
        if self._overlay:
            burst = self._overlay.popleft()
            out = np.clip(out.astype(np.int32) + burst, -32768, 32767).astype(np.int16)
        media = self.media
        addr = stream.remote_addr
        if (media is not None and not media.sends) or addr is None:
            stream.silence()  # on hold: time goes on, nothing is sent
            return
        self.rtp.send(stream.packetize(self._encode(out)), addr)
        for data, rtcp_addr in stream.datagrams_to_send(now):
            self.rtp.send_rtcp(data, rtcp_addr)

    def skip(self, ticks: int, now: float) -> None:
        """``ticks`` ticks up to ``now`` were missed (the loop did not run): hear silence
        for them, and skip over their audio."""
        quiet = np.zeros(FRAME, dtype=np.int16)
        for i in range(ticks):
            self.heard_timeline.append(quiet, now - (ticks - i) * FRAME / SAMPLE_RATE, False)
        if self.stream is not None and self._sending:
            self._cursor.skip(ticks)
            for _ in range(min(ticks, len(self._overlay))):
                self._overlay.popleft()
            self.stream.silence(ticks)

    def _codec(self) -> str:
        return self.media.codec if self.media is not None else "PCMU"

    def _decode(self, payload: bytes) -> Pcm:
        codes = np.frombuffer(payload, dtype=np.uint8)
        return alaw_decode(codes) if self._codec() == "PCMA" else ulaw_decode(codes)

    def _encode(self, pcm: Pcm) -> bytes:
        return bytes(alaw_encode(pcm) if self._codec() == "PCMA" else ulaw_encode(pcm))

    # ------------------------------------------------------------------ audio out
    def play(self, audio: Audio) -> None:
        """Say ``audio`` from the next tick on (replacing what was being said)."""
        self._cursor = AudioCursor(audio)

    def talk(self, seconds: float, audio: Audio | None = None) -> None:
        """Say ``audio`` (default: what is being said) for ``seconds``, then go silent if
        ``audio`` was given. Blocks for ``seconds``."""
        if audio is not None:
            self.play(audio)
        self.harness.sleep(seconds)
        if audio is not None:
            self.play(None)

    def send_dtmf(
        self,
        digits: str,
        mode: str | None = None,
        *,
        duration_ms: int = 100,
        timeout: float | None = None,
    ) -> None:
        """Press ``digits`` (``0-9 * # A-D``) and wait until they have all been sent.

        ``mode``: ``rfc4733`` (telephone-event packets, RFC 4733 §2), ``inband`` (the
        DTMF sines added to the audio) or ``info`` (one SIP INFO ``application/dtmf-relay``
        per digit, each after the previous one was answered). Default: the phone's mode.
        """
        mode = mode or self.dtmf_mode
        done = self._queue_dtmf(digits, mode, duration_ms)
        per_digit = duration_ms / 1000 + 0.1
        # A call the pbx ends on a digit (voicemail's #) leaves the rest unsent: done too.
        self.harness.wait_for(
            lambda: done() or not self._sending,
            timeout if timeout is not None else self.harness.timeout + per_digit * len(digits),
            f"{self.describe()} to send DTMF {digits!r} ({mode})",
            self.describe_state,
        )

    def _queue_dtmf(self, digits: str, mode: str, duration_ms: int = 100) -> Callable[[], bool]:
        """Start sending ``digits`` in ``mode`` without waiting; the condition that says
        when they have all been sent."""
        if mode not in DTMF_MODES:
            raise SimulationError(f"unknown DTMF mode {mode!r} (use {', '.join(DTMF_MODES)})")
        if not self._sending or self.stream is None or self.leg is None:
            raise SimulationError(f"{self.describe()}: cannot send DTMF without a call")
        stream = self.stream
        if mode == "rfc4733":
            if stream.telephone_event_pt is None:
                raise SimulationError(
                    f"{self.describe()}: the pbx did not accept telephone-event (RFC 4733)"
                )
            for digit in digits:
                stream.send_dtmf(digit, duration_ms)
            done: Callable[[], bool] = lambda: not stream.sending_dtmf  # noqa: E731
        elif mode == "inband":
            for digit in digits:
                burst = dtmf_samples(digit, duration_ms).astype(np.int32)
                for i in range(0, len(burst), FRAME):
                    chunk = np.zeros(FRAME, dtype=np.int32)
                    part = burst[i : i + FRAME]
                    chunk[: len(part)] = part
                    self._overlay.append(chunk.astype(np.int16))
            done = lambda: not self._overlay  # noqa: E731
        else:
            self._info_queue.extend(digits)
            if self._info_pending is None:
                self._send_next_info()
            done = lambda: self._info_pending is None and not self._info_queue  # noqa: E731
        return done

    dtmf_mode = "rfc4733"

    def _send_next_info(self) -> None:
        if not self._info_queue or self.leg is None:
            return
        digit = self._info_queue.popleft()
        signal = {"*": "10", "#": "11"}.get(digit, digit)
        body = f"Signal={signal}\r\nDuration=100\r\n".encode()
        try:
            self._info_pending = self.endpoint.request(
                self.leg,
                "INFO",
                self.harness.now(),
                body=body,
                content_type="application/dtmf-relay",
            )
        except PbxError as exc:
            self._info_queue.clear()
            raise SimulationError(f"{self.describe()}: cannot send INFO: {exc}") from None
        self.sip.flush()

    # ------------------------------------------------------------------ audio in
    @property
    def heard(self) -> Pcm:
        """Everything this phone heard, int16 at 8 kHz, one 20 ms frame per tick."""
        return self.heard_timeline.samples

    def heard_energy(self, since: float | None = None, *, last: float | None = None) -> float:
        """The level in dBov of what was heard since harness time ``since`` (or in the
        ``last`` seconds; default: everything)."""
        if last is not None:
            return dbov(self.heard[-round(last * SAMPLE_RATE) :])
        return dbov(self.heard_timeline.since(since))

    def wait_for_audio(self, min_dbov: float = -40.0, timeout: float | None = None) -> float:
        """Wait until a frame at ``min_dbov`` or louder arrives; return its harness time."""
        timeline = self.heard_timeline
        start = timeline.frames
        found: list[int] = []

        def loud() -> bool:
            frames = frames_of(timeline.samples[start * FRAME :])
            hits = np.flatnonzero(frame_levels(frames) >= min_dbov)
            if len(hits):
                found.append(start + int(hits[0]))
                return True
            return False

        self.harness.wait_for(
            loud,
            self._timeout(timeout),
            f"{self.describe()} to hear audio at {min_dbov:g} dBov or louder",
            lambda: f"loudest frame {self._loudest(start):.1f} dBov; {self.describe_state()}",
        )
        return float(timeline.times[found[0]])

    def wait_for_silence(
        self, max_dbov: float = -50.0, seconds: float = 0.2, timeout: float | None = None
    ) -> float:
        """Wait until ``seconds`` of consecutive frames at ``max_dbov`` or quieter were
        heard; return the harness time the quiet began."""
        timeline = self.heard_timeline
        start = timeline.frames
        need = max(1, math.ceil(seconds * SAMPLE_RATE / FRAME))
        found: list[int] = []

        def quiet() -> bool:
            levels = frame_levels(frames_of(timeline.samples[start * FRAME :]))
            run = 0
            for i, level in enumerate((levels <= max_dbov).tolist()):
                run = run + 1 if level else 0
                if run >= need:
                    found.append(start + i - need + 1)
                    return True
            return False

        self.harness.wait_for(
            quiet,
            self._timeout(timeout, seconds),
            f"{self.describe()} to hear {seconds:g} s of silence (≤ {max_dbov:g} dBov)",
            lambda: f"last frame {self.heard_energy(last=0.02):.1f} dBov; {self.describe_state()}",
        )
        return float(timeline.times[found[0]])

    def _loudest(self, start: int) -> float:
        levels = frame_levels(frames_of(self.heard_timeline.samples[start * FRAME :]))
        return float(levels.max()) if len(levels) else -120.0

    def assert_heard_prompt(
        self,
        prompt: str | Pcm,
        timeout: float | None = None,
        *,
        threshold: float = 0.8,
        first_seconds: float | None = None,
        since: float | None = None,
    ) -> float:
        """Wait until the prompt was heard; return the harness time it started.

        ``prompt`` is a name in the pbx's prompt cache (``"en/voicemail-greeting"``) or
        int16 samples at 8 kHz. It is found by its fingerprint: the normalised
        cross-correlation of what was heard with the prompt's samples reaches
        ``threshold`` at some offset. ``first_seconds`` matches only the prompt's
        beginning (to go on before a long prompt ends). Default time-out: the prompt's
        length plus the harness time-out.
        """
        name, samples = self.prompt_samples(prompt)
        if first_seconds is not None:
            samples = samples[: round(first_seconds * SAMPLE_RATE)]
        length = len(samples) / SAMPLE_RATE
        timeline = self.heard_timeline
        origin = timeline.frame_at(since) if since is not None else 0
        watch = PromptWatch(timeline, samples, origin=origin, threshold=threshold)
        self.harness.wait_for(
            watch.check,
            timeout if timeout is not None else length + self.harness.timeout,
            f"{self.describe()} to hear prompt {name} ({length:.2f} s)",
            lambda: (
                f"best match {watch.best_score:.2f} (threshold {threshold:g}) in "
                f"{(timeline.frames - origin) * FRAME / SAMPLE_RATE:.2f} s heard; "
                f"{self.describe_state()}"
            ),
        )
        if watch.best_frame >= 0:
            return float(timeline.times[watch.best_frame])
        return self.harness.now()

    def prompt_samples(self, prompt: str | Pcm) -> tuple[str, Pcm]:
        """A prompt's name for messages and its samples: ``prompt`` is a name in the
        pbx's prompt cache or int16 samples at 8 kHz."""
        if isinstance(prompt, str):
            return prompt, self.harness.app.engine.prompts.get(prompt)
        samples = np.asarray(prompt, dtype=np.int16)
        return f"{len(samples) / SAMPLE_RATE:.2f} s of samples", samples

    def assert_heard_tone(
        self,
        freq_hz: float,
        min_seconds: float = 0.5,
        timeout: float | None = None,
        *,
        since: float | None = None,
        min_dbov: float = -45.0,
    ) -> float:
        """Wait until ``freq_hz`` was heard for ``min_seconds`` without a break; return
        the harness time the tone started (searches from ``since``, default: all)."""
        timeline = self.heard_timeline
        origin = timeline.frame_at(since) if since is not None else 0
        best = [0.0, -1]

        def heard_it() -> bool:
            frames = frames_of(timeline.samples[origin * FRAME :])
            seconds, start = longest_tone(frames, freq_hz, min_dbov=min_dbov)
            if seconds > best[0]:
                best[0], best[1] = seconds, origin + start
            return seconds >= min_seconds - 1e-9

        self.harness.wait_for(
            heard_it,
            self._timeout(timeout, min_seconds),
            f"{self.describe()} to hear {freq_hz:g} Hz for {min_seconds:g} s",
            lambda: (
                f"longest {freq_hz:g} Hz run {best[0]:.2f} s; heard "
                f"{self.heard_energy(since):.1f} dBov overall; {self.describe_state()}"
            ),
        )
        return float(timeline.times[int(best[1])])

    def _timeout(self, timeout: float | None, extra: float = 0.0) -> float:
        return timeout if timeout is not None else self.harness.timeout + extra

    # ------------------------------------------------------------------ description
    def describe(self) -> str:
        """Who this phone is, for messages."""
        return self.label

    def describe_state(self) -> str:
        """What this phone's call is doing, for messages."""
        return ""
