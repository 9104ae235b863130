"""The media engine: one vectorized tick over every live channel, sans-I/O.

Theory of operation: each channel (an RTP stream of a call leg) owns one row of
preallocated ``(capacity, 160)`` arrays, grown by doubling; one extra row at
the end stays zero and stands in for "no source".  Definitions per row:

* **input pcm** — what the channel's far end *says* this tick (its decoded
  RTP frame, or concealment when the frame is missing);
* **output pcm** — what the far end *hears*: the bridge mix of its peers'
  input (``clip(G @ input)``, :mod:`pbx.media.mixer`) plus its own player
  (prompts, tones, music on hold) plus its own input when echo is on.

``tick(now)`` runs, in order, and touches each stream from Python only as
the stream API requires: one ``pop_frame`` (or the ``frame_source`` it
stands for) in a list comprehension; the remote addresses are read again only
when one changed.  Streams that can (:class:`~pbx.rtp.stream.RtpStream`)
keep their send state in the engine's :class:`~pbx.rtp.bank.RtpBank` and flag
their events there, so neither ``packetize`` nor ``next_event`` is called per
channel; other streams get those calls too.

1. ``_pull``: pop one 160-byte payload per channel from its jitter buffer into
   the ``uint8`` payload block — for the streams whose jitter buffers are in the
   engine's :class:`~pbx.rtp.jitterbank.JitterBank`, one vectorized pop of
   every buffer in its steady state, a ``pop()`` call for the rest — and
   ``_stream_events``: drain the RFC 4733 digits of the streams that flagged some;
2. ``_conceal``: conceal missing frames: the first miss repeats the previous
   frame at −6 dB, further misses are silence (RFC 3550 §6.4.1 leaves
   concealment to the receiver);
3. ``_decode``: decode per codec group in one table lookup (:mod:`pbx.media.g711`)
   into the input pcm block — while anything records, the recorder's next history
   block (``_next_input_block``), so recording costs the tick nothing more — and
   finish the concealment on the decoded rows (``_conceal_pcm``);
4. ``_detect``: run DTMF and talk detection on the subscribed rows of the input
   block; ``_detect_amd``: answering-machine detection (:mod:`pbx.media.amd`) on
   the channels that have it on — nothing at all while none has;
   ``_interrupt_players``: a digit stops an interruptible player;
5. ``_mix``: mix into an ``int32`` accumulator, add player rows, saturate once;
6. ``_record``: count the tick in the recorder, which takes the recordings that
   are due from its history (:mod:`pbx.media.recorder`);
7. ``_packetize``: encode per codec group and build one RTP datagram per channel
   that has a remote address: the bank writes every header and payload into one
   block (:meth:`~pbx.rtp.bank.RtpBank.packetize`); a stream sending
   telephone-events builds its own packet.

The tick reads no clock; ``now`` only stamps events.  It returns datagrams
(with the channel each belongs to), events and counters; the shell sends and
measures.  Two jobs can run after the datagrams are sent, off the media path:
``write_recordings()`` (with ``RecorderBank(deferred=True)``; the shell,
:mod:`pbx.net.media`, gives the recorder a writer thread, so this only hands
the due blocks over) and
``rtcp_to_send(now)``, which visits a rotating tenth of the streams per call
for their RTCP reports (RFC 3550 §6.2) and DTMF timers (RFC 4733 §2.5.1.4).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import structlog
from attrs import define, field

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.media.amd import AmdDetector, AmdParams
from pbx.media.codecs import Codec, codec_by_name
from pbx.media.detect import DtmfDetector, TalkDetector
from pbx.media.events import (
    AmdDetected,
    DtmfDetected,
    GreetingEnded,
    MediaEvent,
    PlaybackFinished,
    RecordingFinished,
    StreamEvent,
    TalkStarted,
    TalkStopped,
)
from pbx.media.layout import Layout, build_layout
from pbx.media.mixer import Mixer, Role
from pbx.media.prompts import Player, PlayItem, PromptCache, PromptItem, as_items
from pbx.media.recorder import Format, RecorderBank
from pbx.media.tick import Addr, MediaStream, TickCounters, TickOutput
from pbx.rtp.bank import RtpBank
from pbx.rtp.jitter import JitterBuffer
from pbx.rtp.jitterbank import JitterBank

__all__ = ["FRAME", "MediaEngine", "MediaStream", "TickCounters", "TickOutput"]

log = structlog.get_logger(__name__)

FRAME = 160
#: Row numbers in the engine's arrays.
Rows = npt.NDArray[np.intp]
#: Seconds from the NTP epoch (1900) to the Unix epoch (1970), RFC 868.
NTP_UNIX_OFFSET = 2_208_988_800


def _losses(stream: MediaStream) -> tuple[int, int]:
    """(lost, late) packets of an RTP stream; (0, 0) for a stream that keeps no stats."""
    stats = getattr(stream, "stats", None)
    if stats is None:
        return 0, 0
    s = stats()
    return max(0, int(s.lost)), int(s.late)


@define
class MediaEngine:
    """Channels in array rows; bridges, players, recorders and detectors over them."""

    prompts: PromptCache = field(factory=PromptCache)
    recorder: RecorderBank = field(factory=RecorderBank)
    mixer: Mixer = field(factory=Mixer)
    dtmf: DtmfDetector = field(factory=DtmfDetector)
    talk: TalkDetector = field(factory=TalkDetector)
    #: Answering-machine detection; its channels are its own slots, not in the layout,
    #: so starting and ending a detection (every few seconds per outbound call) costs
    #: no layout rebuild.
    amd: AmdDetector = field(factory=AmdDetector)
    #: The send state of every stream that can bind to it (``bind_bank``): the tick
    #: builds their datagrams in one block.
    rtp: RtpBank = field(factory=RtpBank)
    #: The jitter buffers of every stream whose frames come from one (its
    #: ``frame_source`` is the buffer's ``pop``): the tick pops them in one step.
    jitter: JitterBank = field(factory=JitterBank)
    capacity: int = 64
    #: Seconds to add to ``now`` to get Unix time, for RTCP NTP timestamps; the shell
    #: sets it once (``time.time() - loop.time()``) so the core never reads a clock.
    wallclock_offset: float = 0.0
    #: Each stream's timers (RTCP, DTMF end) are checked every this many ticks.
    timer_scan_ticks: int = 10
    _scan_cursor: int = field(init=False, default=0)

    _streams: list[MediaStream | None] = field(init=False, factory=list)
    _codecs: list[Codec | None] = field(init=False, factory=list)
    _free: list[int] = field(init=False, factory=list)
    _high: int = field(init=False, default=0)
    closed_lost: int = field(init=False, default=0)
    """RTP packets lost on the streams already removed (RFC 3550 A.3)."""
    closed_late: int = field(init=False, default=0)
    """RTP packets that arrived too late for their frame, on the streams removed."""
    _payload_in: npt.NDArray[np.uint8] = field(init=False)
    _pcm_in: npt.NDArray[np.int16] = field(init=False)
    #: Last tick's input pcm: DTMF reads frames it skipped last tick from here
    #: instead of copying them.
    _pcm_prev: npt.NDArray[np.int16] = field(init=False)
    #: The engine's own two input pcm blocks, used in turn while nothing records.
    _pcm_a: npt.NDArray[np.int16] = field(init=False)
    _pcm_b: npt.NDArray[np.int16] = field(init=False)
    _acc: npt.NDArray[np.int32] = field(init=False)
    _pcm_out: npt.NDArray[np.int16] = field(init=False)
    _payload_out: npt.NDArray[np.uint8] = field(init=False)
    _missed: npt.NDArray[np.int32] = field(init=False)
    _silence: npt.NDArray[np.uint8] = field(init=False)
    _dtmf_on: npt.NDArray[np.bool_] = field(init=False)
    #: The row's stream keeps its send state in ``rtp`` (and flags its events there).
    _banked: npt.NDArray[np.bool_] = field(init=False)
    #: The row's stream's jitter buffer is bound to ``jitter``.
    _jbanked: npt.NDArray[np.bool_] = field(init=False)
    _talk_on: npt.NDArray[np.bool_] = field(init=False)
    _players: dict[int, Player] = field(init=False, factory=dict)
    _paused_players: dict[int, Player] = field(init=False, factory=dict)
    _pending: list[MediaEvent] = field(init=False, factory=list)
    _layout: Layout | None = field(init=False, default=None)
    #: The remote addresses of the layout's streams, kept while ``rtp.address_version``
    #: stays at ``_addrs_version`` (every stream banked).
    _addrs: list[Addr | None] | None = field(init=False, default=None)
    _addrs_version: int = field(init=False, default=-1)
    _every_addr: bool = field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        cap = max(1, self.capacity)
        self.capacity = 0
        self._payload_in = np.zeros((1, FRAME), dtype=np.uint8)
        self._pcm_in = self._pcm_a = np.zeros((1, FRAME), dtype=np.int16)
        self._pcm_prev = self._pcm_b = np.zeros((1, FRAME), dtype=np.int16)
        self._acc = np.zeros((1, FRAME), dtype=np.int32)
        self._pcm_out = np.zeros((1, FRAME), dtype=np.int16)
        self._payload_out = np.zeros((1, FRAME), dtype=np.uint8)
        self._missed = np.zeros(0, dtype=np.int32)
        self._silence = np.zeros(0, dtype=np.uint8)
        self._dtmf_on = np.zeros(0, dtype=np.bool_)
        self._banked = np.zeros(0, dtype=np.bool_)
        self._jbanked = np.zeros(0, dtype=np.bool_)
        self._talk_on = np.zeros(0, dtype=np.bool_)
        self._grow(cap)

    # -- channels -------------------------------------------------------------------
    def add_channel(self, stream: MediaStream, codec: str = "PCMU") -> int:
        """Give ``stream`` a row; returns the channel id (= row)."""
        chosen = codec_by_name(codec)
        if not self._free:
            self._grow(2 * self.capacity)
        ch = heapq.heappop(self._free)
        self._streams[ch] = stream
        self._codecs[ch] = chosen
        self._high = max(self._high, ch + 1)
        self._payload_in[ch] = chosen.silence
        self._silence[ch] = chosen.silence
        self._pcm_a[ch] = self._pcm_b[ch] = 0
        self._missed[ch] = 2
        bind_bank = getattr(stream, "bind_bank", None)
        if bind_bank is not None:
            bind_bank(self.rtp, ch)
        self._banked[ch] = bind_bank is not None
        jb = getattr(stream, "jitter_buffer", None)
        self._jbanked[ch] = (
            isinstance(jb, JitterBuffer)
            and self.jitter.accepts(jb)
            and getattr(stream, "frame_source", None) == jb.pop
        )
        if self._jbanked[ch]:
            self.jitter.attach(ch, cast(JitterBuffer, jb))
        self.dtmf.reset([ch])
        self.talk.reset([ch])
        self._layout = None
        return ch

    def rtp_losses(self) -> tuple[int, int]:
        """RTP packets lost (RFC 3550 A.3) and arrived too late for their frame, over
        every stream since start: the closed ones' and the live ones' (for /metrics)."""
        lost, late = self.closed_lost, self.closed_late
        for stream in self._streams[: self._high]:
            if stream is not None:
                more_lost, more_late = _losses(stream)
                lost += more_lost
                late += more_late
        return lost, late

    def remove_channel(self, ch: int) -> None:
        """Free the row of ``ch``: leaves its bridge, stops its player and detectors."""
        stream = self._stream(ch)
        lost, late = _losses(stream)
        self.closed_lost += lost
        self.closed_late += late
        if self._banked[ch]:
            cast(Any, stream).unbind_bank()
            self._banked[ch] = False
        if self._jbanked[ch]:
            self.jitter.detach(ch)
            self._jbanked[ch] = False
        self.mixer.forget(ch)
        self._players.pop(ch, None)
        self._paused_players.pop(ch, None)
        self.recorder.forget_row(ch)
        self.amd.stop(ch)
        self._dtmf_on[ch] = self._talk_on[ch] = False
        self._streams[ch] = None
        self._codecs[ch] = None
        self._pcm_a[ch] = self._pcm_b[ch] = 0
        heapq.heappush(self._free, ch)
        while self._high and self._streams[self._high - 1] is None:
            self._high -= 1
        self._layout = None

    def set_codec(self, ch: int, codec: str) -> None:
        """Switch the codec of ``ch`` (after a re-INVITE changed the payload type)."""
        stream = self._stream(ch)
        self._codecs[ch] = chosen = codec_by_name(codec)
        self._silence[ch] = chosen.silence
        if self._banked[ch]:
            cast(Any, stream).bind_bank(self.rtp, ch)  # the payload type may have changed
        self._layout = None

    def receive(self, ch: int, data: bytes, addr: Addr, now: float) -> None:
        """Hand an RTP datagram received for ``ch`` to its stream."""
        self._stream(ch).receive(data, addr, now)

    def receiver(self, ch: int) -> Callable[[bytes, Addr, float], None]:
        """The ``receive(data, addr, now)`` of the stream of ``ch``, for a shell to call
        per datagram without a lookup (valid until the channel is removed)."""
        return self._stream(ch).receive

    def receive_rtcp(self, ch: int, data: bytes, addr: Addr, now: float) -> None:
        """Hand an RTCP datagram received for ``ch`` to its stream."""
        receive_rtcp = getattr(self._stream(ch), "receive_rtcp", None)
        if receive_rtcp is not None:
            receive_rtcp(data, addr, now)

    def rtcp_to_send(self, now: float) -> list[tuple[int, bytes, Addr]]:
        """RTCP reports due now, as ``(channel, datagram, address)`` (RFC 3550 §6.2).

        Each call looks at a rotating share of the channels (all of them every
        ``timer_scan_ticks`` calls), so the cost per tick stays small; the report
        interval is at least 2.5 s, so the delay this adds is immaterial.  The
        same scan fires each stream's ``handle_timer`` (a DTMF event whose end
        packets were lost, RFC 4733 §2.5.1.4).
        """
        layout = self._layout or self._build_layout()
        n = len(layout.streams)
        out: list[tuple[int, bytes, Addr]] = []
        if not n:
            return out
        step = -(-n // max(1, self.timer_scan_ticks))
        start = self._scan_cursor if self._scan_cursor < n else 0
        stop = min(n, start + step)
        self._scan_cursor = stop if stop < n else 0
        ntp_time = now + self.wallclock_offset + NTP_UNIX_OFFSET
        for i in range(start, stop):
            stream: Any = layout.streams[i]
            handle_timer = getattr(stream, "handle_timer", None)
            if handle_timer is not None:
                handle_timer(now)
            rtcp_due = getattr(stream, "rtcp_due", None)
            if rtcp_due is None or not rtcp_due(now):
                continue
            data = stream.build_rtcp(now, ntp_time)
            addr = getattr(stream, "rtcp_addr", None)
            if addr is not None:
                out.append((layout.rows_list[i], data, addr))
        return out

    def send_dtmf(self, ch: int, digit: str) -> None:
        """Send ``digit`` as RFC 4733 telephone-events on ``ch``."""
        self._stream(ch).send_dtmf(digit)

    # -- playback -------------------------------------------------------------------
    def play(
        self,
        ch: int,
        items: Iterable[PlayItem | str] | PlayItem | str,
        loop: bool = False,
        interruptible: bool = True,
    ) -> None:
        """Play a playlist to ``ch`` (what it hears), replacing what was playing.

        A looping playlist stopped earlier on this channel resumes where it left off.
        """
        self._stream(ch)
        playlist = as_items(items)
        for item in playlist:  # fail now, naming the file, rather than inside a tick
            if isinstance(item, PromptItem):
                self.prompts.get(item.name)
        player = Player(playlist, loop=loop, interruptible=interruptible)
        previous = self._paused_players.pop(ch, None)
        if loop and previous is not None:
            player.resume(previous)
        self._stop_player(ch, completed=False)
        self._players[ch] = player

    def stop_playback(self, ch: int) -> None:
        """Stop what ``ch`` is playing; reports ``PlaybackFinished(completed=False)``."""
        self._stream(ch)
        self._stop_player(ch, completed=False)

    def is_playing(self, ch: int) -> bool:
        """True while ``ch`` has a playlist."""
        return ch in self._players

    def _stop_player(self, ch: int, completed: bool) -> None:
        player = self._players.pop(ch, None)
        if player is None:
            return
        if player.loop:
            self._paused_players[ch] = player
        self._pending.append(PlaybackFinished(ch, player.current_name, completed))

    # -- recording ------------------------------------------------------------------
    def start_recording(
        self,
        key: str,
        path: str | Path,
        *,
        left: int | None = None,
        right: int | None = None,
        mono: Sequence[int] | None = None,
        fmt: Format = "wav",
    ) -> None:
        """Record what ``left``/``right`` say in stereo, or the mix of ``mono``."""
        if mono is not None:
            if left is not None or right is not None:
                raise LocalProtocolError("a recording is either stereo (left/right) or mono")
            sources: list[tuple[int, ...]] = [tuple(mono)]
        elif left is not None and right is not None:
            sources = [(left,), (right,)]
        else:
            raise LocalProtocolError("a stereo recording needs both left and right channels")
        for ch in (r for s in sources for r in s):
            self._stream(ch)
        self.recorder.start(key, path, sources, fmt)

    def recording_add(self, key: str, ch: int) -> None:
        """Mix what channel ``ch`` says into the mono recording ``key`` from now on."""
        self._stream(ch)
        self.recorder.add_source(key, ch)

    def recording_silence(self, key: str, ch: int, silent: bool) -> None:
        """Record channel ``ch``'s part of ``key`` as silence (muted) or again."""
        self.recorder.silence_source(key, ch, silent)

    def pause_recording(self, key: str) -> None:
        """Record silence until resumed (keeps both channels aligned)."""
        self.recorder.pause(key)

    def resume_recording(self, key: str) -> None:
        """Record audio again."""
        self.recorder.resume(key)

    def stop_recording(self, key: str) -> None:
        """Finalise the file; reports ``RecordingFinished`` from the next tick."""
        rec = self.recorder.stop(key)
        self._pending.append(RecordingFinished(key, str(rec.path), rec.seconds))

    # -- bridges --------------------------------------------------------------------
    def bridge_create(self) -> int:
        """A new empty bridge."""
        return self.mixer.create_bridge()

    def bridge_join(
        self, bridge: int, ch: int, role: Role = Role.PARTICIPANT, *, whisper_to: int | None = None
    ) -> None:
        """Put ``ch`` in ``bridge`` with ``role``."""
        self._stream(ch)
        self.mixer.join(bridge, ch, role, whisper_to=whisper_to)

    def bridge_set_role(self, ch: int, role: Role, *, whisper_to: int | None = None) -> None:
        """Change the role of ``ch`` in its bridge."""
        self.mixer.set_role(ch, role, whisper_to=whisper_to)

    def bridge_mute(self, ch: int, muted: bool) -> None:
        """Mute or unmute ``ch`` in its bridge."""
        self.mixer.set_muted(ch, muted)

    def bridge_deafen(self, ch: int, deaf: bool) -> None:
        """Let ``ch`` hear nobody in its bridge (a party on hold hears music only), or
        hear again; nothing when ``ch`` is in no bridge."""
        if self.mixer.bridge_of(ch) is not None:
            self.mixer.set_deaf(ch, deaf)

    def bridge_leave(self, ch: int) -> None:
        """Take ``ch`` out of its bridge."""
        self.mixer.leave(ch)

    def bridge_destroy(self, bridge: int) -> None:
        """Remove a bridge and its memberships."""
        self.mixer.destroy_bridge(bridge)

    def echo(self, ch: int, on: bool) -> None:
        """Let ``ch`` hear itself (line test)."""
        self._stream(ch)
        self.mixer.set_echo(ch, on)

    # -- detectors ------------------------------------------------------------------
    def detect_dtmf(self, ch: int, on: bool) -> None:
        """Run in-band DTMF detection on what ``ch`` says."""
        self._stream(ch)
        self._dtmf_on[ch] = on
        self.dtmf.reset([ch])
        self._layout = None

    def detect_talk(self, ch: int, on: bool) -> None:
        """Report talk spurts of ``ch`` (TalkStarted/TalkStopped)."""
        self._stream(ch)
        self._talk_on[ch] = on
        self.talk.reset([ch])
        self._layout = None

    def detect_amd(self, ch: int, on: bool = True, params: AmdParams | None = None) -> None:
        """Tell who answered ``ch``: a person, an answering machine or a fax.

        Analysis starts with the next tick (restarting one in progress) and reports
        one ``AmdDetected``; after a machine verdict (fax aside) it listens on until
        the greeting ends and reports ``GreetingEnded``, then stops by itself.
        ``on=False`` stops it without events.  ``params`` default to
        :class:`~pbx.media.amd.AmdParams` (VICIdial's values).
        """
        self._stream(ch)
        if on:
            self.amd.start(ch, params or AmdParams())
        else:
            self.amd.stop(ch)

    def amd_on(self, ch: int) -> bool:
        """True while ``ch`` is analysed or waits for the end of its greeting."""
        return self.amd.is_on(ch)

    # -- the tick -------------------------------------------------------------------
    def tick(self, now: float) -> TickOutput:
        """Process one 20 ms frame for every channel."""
        layout = self._layout or self._build_layout()
        events, self._pending = self._pending, []
        hi = self._high
        present, all_present = self._pull(layout)
        self._stream_events(layout, hi, events, now)
        recording = self._next_input_block()
        silent_rows, repeat_rows = self._conceal(layout, present, all_present)
        self._decode(layout, hi)
        self._conceal_pcm(silent_rows, repeat_rows)
        self._detect(layout, events, now)
        amd_rows = self.amd.active
        if amd_rows:
            self._detect_amd(events, now)
        self._interrupt_players(events)
        playing = len(self._players)
        forward = self._mix(layout, hi, playing, all_present, events)
        self._record(recording)
        payloads, addresses, channels = self._packetize(layout, hi, forward)
        counters = TickCounters(
            channels=len(layout.rows_list),
            frames_received=len(present),
            frames_concealed=len(repeat_rows),
            frames_silent=len(silent_rows),
            datagrams=len(payloads),
            playing=playing,
            recording=recording,
            dtmf_rows=len(layout.dtmf_rows),
            amd_rows=amd_rows,
        )
        return TickOutput(payloads, addresses, events, counters, list(channels))

    def _pull(self, layout: Layout) -> tuple[Rows, bool]:
        """Step 1: a payload per channel into the payload block; which rows got one."""
        # Jitter buffers in the bank: one vectorized pop of every buffer in its steady
        # state.  The rest (other branches, other streams): a call each, their frames
        # joined and copied in one assignment (list comprehensions, whose calls of Python
        # methods the 3.11 interpreter specializes, beat map() with operator.call).
        n = len(layout.rows_list)
        payload_in = self._payload_in
        if layout.jitter_at is None:
            got = np.zeros(n, dtype=np.bool_)
        elif len(layout.jitter_at) == n:
            got = self.jitter.pop_into(layout.jitter_rows, payload_in)
        else:
            got = np.zeros(n, dtype=np.bool_)
            got[layout.jitter_at] = self.jitter.pop_into(layout.jitter_rows, payload_in)
        all_present = bool(got.all())
        if all_present:
            return layout.rows, all_present
        pops = layout.pops
        pairs = [
            (i, frame)
            for i in np.flatnonzero(~got).tolist()
            if (frame := pops[i]()) is not None and len(frame) == FRAME  # else: lost
        ]
        if pairs:
            at = np.array([i for i, _ in pairs], dtype=np.intp)
            joined = b"".join([frame for _, frame in pairs])
            block = np.frombuffer(joined, np.uint8).reshape(-1, FRAME)
            if layout.contiguous:
                payload_in[at] = block
            else:
                payload_in[layout.rows[at]] = block
            got[at] = True
            all_present = bool(got.all())
        return layout.rows[got], all_present

    def _stream_events(self, layout: Layout, hi: int, events: list[MediaEvent], now: float) -> None:
        """Step 1, continued: the streams' events (RFC 4733 digits, remote BYEs)."""
        if layout.unbanked:
            streams = layout.streams
            stream_events = [streams[i].next_event() for i in layout.unbanked]
            if stream_events.count(None) != len(stream_events):
                self._collect_stream_events(layout, stream_events, events, now)
        flagged = self.rtp.events[:hi]
        if flagged.any():
            self._collect_flagged_events(np.flatnonzero(flagged), events, now)

    def _next_input_block(self) -> int:
        """Make the block to decode into this tick's input pcm; the number of recordings."""
        # The recorder's next history block while recording, else the engine's other one.
        recording = len(self.recorder.recordings)
        prev = self._pcm_in
        if recording:
            self._pcm_in = self.recorder.block(self.capacity + 1)
        else:
            self._pcm_in = self._pcm_b if prev is self._pcm_a else self._pcm_a
        self._pcm_prev = prev
        return recording

    def _conceal(self, layout: Layout, present: Rows, all_present: bool) -> tuple[Rows, Rows]:
        """Step 2: count misses, silence payloads; the rows to silence and to repeat."""
        missed = self._missed  # a row that got nothing keeps last tick's payload
        if all_present:
            if layout.contiguous:
                missed[: len(layout.rows_list)] = 0
            else:
                missed[layout.rows] = 0
            none = layout.rows[:0]
            return none, none
        missed[layout.rows] = np.minimum(missed[layout.rows] + 1, 2)
        missed[present] = 0
        silent_rows = layout.rows[missed[layout.rows] >= 2]
        if len(silent_rows):
            self._payload_in[silent_rows] = self._silence[silent_rows, None]
        return silent_rows, layout.rows[missed[layout.rows] == 1]

    def _conceal_pcm(self, silent_rows: Rows, repeat_rows: Rows) -> None:
        """Step 3, after decoding: repeated frames at −6 dB, silence as true zero."""
        if len(repeat_rows):
            self._pcm_in[repeat_rows] >>= 1
        if len(silent_rows):
            self._pcm_in[silent_rows] = 0  # A-law silence decodes to ±8: make it true zero

    def _detect(self, layout: Layout, events: list[MediaEvent], now: float) -> None:
        """Step 4: DTMF and talk detection on what each channel says."""
        pcm_in = self._pcm_in
        dtmf_rows = layout.dtmf_rows
        inband: list[tuple[int, str]] = []
        if len(dtmf_rows):
            span = layout.dtmf_span
            subscribed = None if span is None else pcm_in[span]
            inband = self.dtmf.process(pcm_in, dtmf_rows, subscribed, previous=self._pcm_prev)
        for ch, digit in inband:
            events.append(DtmfDetected(ch, digit, "inband", now))
        if len(layout.talk_rows):
            started, stopped = self.talk.process(pcm_in, layout.talk_rows, now)
            events.extend(TalkStarted(ch, now, level) for ch, level in started)
            events.extend(TalkStopped(ch, now, dur) for ch, dur in stopped)

    def _detect_amd(self, events: list[MediaEvent], now: float) -> None:
        """Step 4, continued: answering-machine detection, verdicts before greeting ends."""
        verdicts, ends = self.amd.process(self._pcm_in)
        events.extend(AmdDetected(ch, verdict, why, sec, now) for ch, verdict, why, sec in verdicts)
        events.extend(GreetingEnded(ch, by, sec, now) for ch, by, sec in ends)

    def _interrupt_players(self, events: list[MediaEvent]) -> None:
        """Step 4, continued: a digit stops its channel's interruptible player."""
        if self._players:
            for event in events:
                if isinstance(event, DtmfDetected):
                    player = self._players.get(event.channel)
                    if player is not None and player.interruptible:
                        self._stop_player(event.channel, completed=False)
            if self._pending:
                events.extend(self._pending)
                self._pending = []

    def _mix(
        self, layout: Layout, hi: int, playing: int, all_present: bool, events: list[MediaEvent]
    ) -> bool:
        """Step 5: mix, add players, saturate; True when the codes were forwarded as they came."""
        plan = self.mixer.plan()
        pcm_in = self._pcm_in
        # Two-party calls in one codec, nothing playing, every frame here: each sink
        # hears exactly one source unchanged, so its codes are forwarded as they came
        # (bit-transparent) and steps 5 and 7 need no arithmetic and no encoding.
        forward = not playing and plan.copy_only and all_present and len(layout.by_codec) == 1
        if forward:
            codec = layout.by_codec[0][0]
            plan.copy_into(self._payload_in[:hi], self._payload_out[:hi], codec.silence)
        elif not playing and plan.copy_only:  # no sums, no saturation
            plan.copy_into(pcm_in[:hi], self._pcm_out[:hi])
        else:
            acc = self._acc
            plan.mix_into(pcm_in[:hi], acc[:hi])
            if playing:
                self._play(acc, events)
            np.clip(acc[:hi], -32768, 32767, out=acc[:hi])
            self._pcm_out[:hi] = acc[:hi]
        return forward

    def _record(self, recording: int) -> None:
        """Step 6: count the tick in the recorder (the block decoded into is its history)."""
        if recording:
            self.recorder.advance()

    def _packetize(
        self, layout: Layout, hi: int, forwarded: bool
    ) -> tuple[list[bytes], list[Addr], list[int]]:
        """Step 7: encode (unless forwarded); a datagram per channel with an address."""
        if not forwarded:
            self._encode(layout, hi)
        n = len(layout.rows_list)
        if not n:
            return [], [], []
        rows_out = slice(0, n) if layout.contiguous else layout.rows
        if layout.contiguous:
            block_out = self._payload_out[:n]
        else:
            block_out = self._payload_out.take(layout.rows, axis=0)
        addrs, every_addr = self._addresses(layout)
        if every_addr and layout.all_banked and not self.rtp.scalar[rows_out].any():
            # Every datagram in one block (the usual case).
            payloads = self.rtp.packetize(rows_out, block_out)
            return payloads, cast(list[Addr], addrs), layout.rows_list
        return self._packetize_mixed(layout, block_out, addrs)

    def _addresses(self, layout: Layout) -> tuple[list[Addr | None], bool]:
        """Every stream's remote address, and whether all have one (kept between ticks)."""
        addrs = self._addrs
        version = self.rtp.address_version
        if addrs is None or not layout.all_banked or self._addrs_version != version:
            addrs = [stream.remote_addr for stream in layout.streams]
            self._addrs, self._addrs_version = addrs, version
            self._every_addr = all(addrs)
        return addrs, self._every_addr

    def _packetize_mixed(
        self, layout: Layout, block_out: npt.NDArray[np.uint8], addrs: list[Addr | None]
    ) -> tuple[list[bytes], list[Addr], list[int]]:
        """Datagrams when some rows lack an address, are not banked or send DTMF."""
        has_addr = np.fromiter((a is not None for a in addrs), dtype=np.bool_, count=len(addrs))
        vector = has_addr & self._banked[layout.rows] & ~self.rtp.scalar[layout.rows]
        payloads: list[bytes] = []
        addresses: list[Addr] = []
        channels: list[int] = []
        picked = np.flatnonzero(vector)
        if len(picked):
            payloads = self.rtp.packetize(layout.rows[picked], block_out[picked])
            for i in picked.tolist():
                addresses.append(cast(Addr, addrs[i]))
                channels.append(layout.rows_list[i])
        for i in np.flatnonzero(has_addr & ~vector).tolist():
            stream = layout.streams[i]
            payloads.append(stream.packetize(block_out[i].tobytes()))
            addresses.append(cast(Addr, addrs[i]))
            channels.append(layout.rows_list[i])
        return payloads, addresses, channels

    def write_recordings(self) -> int:
        """Write the recording blocks that are due (with ``RecorderBank(deferred=True)``).

        The shell calls it after sending the tick's datagrams, so file writes never
        delay media; returns the number of blocks written.
        """
        return self.recorder.write_due()

    def _collect_stream_events(
        self, layout: Layout, first: list[Any], events: list[MediaEvent], now: float
    ) -> None:
        for i, event in zip(layout.unbanked, first, strict=True):
            if event is not None:
                stream = layout.streams[i]
                self._drain_events(layout.rows_list[i], stream, event, events, now)

    def _collect_flagged_events(
        self, rows: npt.NDArray[np.intp], events: list[MediaEvent], now: float
    ) -> None:
        for ch in rows.tolist():
            self.rtp.events[ch] = False
            stream = self._streams[ch]
            if stream is not None:
                self._drain_events(ch, stream, stream.next_event(), events, now)

    def _drain_events(
        self, ch: int, stream: MediaStream, event: Any, events: list[MediaEvent], now: float
    ) -> None:
        while event is not None:
            digit = getattr(event, "digit", None)
            if isinstance(digit, str):
                events.append(DtmfDetected(ch, digit, "rfc4733", now))
            else:
                events.append(StreamEvent(ch, event))
            event = stream.next_event()

    def _play(self, acc: npt.NDArray[np.int32], events: list[MediaEvent]) -> None:
        rows = np.fromiter(self._players, dtype=np.intp, count=len(self._players))
        block = np.empty((len(rows), FRAME), dtype=np.int16)
        finished = []
        for i, (ch, player) in enumerate(self._players.items()):
            if player.fill(block[i], self.prompts):
                finished.append(ch)
        acc[rows] += block
        for ch in finished:
            player = self._players.pop(ch)
            events.append(PlaybackFinished(ch, player.current_name, True))

    def _decode(self, layout: Layout, hi: int) -> None:
        """Step 3: decode the payload block per codec group into the input pcm."""
        if len(layout.by_codec) == 1:
            codec = layout.by_codec[0][0]
            codec.decode(self._payload_in[:hi], self._pcm_in[:hi])
            return
        for codec, rows in layout.by_codec:
            self._pcm_in[rows] = codec.decode(self._payload_in[rows], None)

    def _encode(self, layout: Layout, hi: int) -> None:
        """Encode the output pcm per codec group into the outgoing payload block."""
        if len(layout.by_codec) == 1:
            codec = layout.by_codec[0][0]
            codec.encode(self._pcm_out[:hi], self._payload_out[:hi])
            return
        for codec, rows in layout.by_codec:
            self._payload_out[rows] = codec.encode(self._pcm_out[rows], None)

    # -- internals ------------------------------------------------------------------
    def _stream(self, ch: int) -> MediaStream:
        stream = self._streams[ch] if 0 <= ch < len(self._streams) else None
        if stream is None:
            raise InvalidStateError(f"channel {ch} does not exist")
        return stream

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        if capacity <= old:
            return

        def grown(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.zeros((capacity + 1,) + arr.shape[1:], dtype=arr.dtype)
            out[:old] = arr[:old]  # the last row (zero row) stays zero
            return out

        self._payload_in = grown(self._payload_in)
        self._pcm_in = self._pcm_a = grown(self._pcm_in)
        self._pcm_prev = self._pcm_b = grown(self._pcm_prev)
        self._acc = grown(self._acc)
        self._pcm_out = grown(self._pcm_out)
        self._payload_out = grown(self._payload_out)
        self._missed = np.concatenate([self._missed, np.full(capacity - old, 2, dtype=np.int32)])
        self._silence = np.concatenate([self._silence, np.zeros(capacity - old, dtype=np.uint8)])
        self._dtmf_on = np.concatenate([self._dtmf_on, np.zeros(capacity - old, dtype=np.bool_)])
        self._banked = np.concatenate([self._banked, np.zeros(capacity - old, dtype=np.bool_)])
        self._jbanked = np.concatenate([self._jbanked, np.zeros(capacity - old, dtype=np.bool_)])
        self.rtp.grow(capacity)
        self.jitter.grow(capacity)
        self._talk_on = np.concatenate([self._talk_on, np.zeros(capacity - old, dtype=np.bool_)])
        self._streams.extend([None] * (capacity - old))
        self._codecs.extend([None] * (capacity - old))
        for row in range(old, capacity):
            heapq.heappush(self._free, row)
        self.capacity = capacity
        self._layout = None

    def _build_layout(self) -> Layout:
        """The layout of the current channel table, kept until channels change."""
        self._addrs = None
        self._layout = build_layout(
            self._streams,
            self._codecs,
            self._high,
            dtmf_on=self._dtmf_on,
            talk_on=self._talk_on,
            banked=self._banked,
            jbanked=self._jbanked,
        )
        return self._layout
