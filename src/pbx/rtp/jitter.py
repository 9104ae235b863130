"""Adaptive jitter buffer: packets in, one 20 ms frame out per tick (RFC 3550 §6.4.1, A.8).

Theory of operation
-------------------
The buffer is a fixed ring of ``capacity`` frame slots. A packet's place is its
*timeline position*: its RTP timestamp unwrapped against the highest one seen and taken
relative to the first packet, divided into ``frame_samples``-sample frames (160 samples =
20 ms at 8 kHz). Keying slots by timestamp rather than by sequence number is what lets
the buffer re-frame a remote ptime of 10 or 30 ms into 20 ms frames, leave room for the
telephone-event packets that share the sequence space, and keep its place across
silence suppression. The extended sequence number is kept in a small ring to recognise
duplicates (a retransmitted packet with the same sequence number).

The engine calls :meth:`JitterBuffer.pop` exactly once per tick. The buffer is either
*buffering* or *playing*:

* buffering (at start, and after an underrun): :meth:`pop` returns None until ``depth``
  whole frames lie between the play position and the newest sample received; if the
  first data after a pause lies ahead of the play position (a silence-suppression gap or
  lost packets) the play position jumps to it;
* playing: :meth:`pop` returns the frame at the play position and advances. A frame with
  no data while newer data exists is a loss: None is returned (the engine conceals it) and
  ``lost`` is counted. When no newer data exists it is an *underrun*: the buffer goes back
  to buffering without advancing, so a merely delayed packet is still played.

Adaptation: the depth starts at ``min_depth`` frames. A packet arriving after its frame
was played (``late``) and an underrun the stream resumes from without a gap both grow the
depth by one frame, up to ``max_depth``; growth after a late packet also holds playback
one tick (a *stretch*). After ``shrink_after`` ticks without either, the depth shrinks by
one frame and one frame is dropped from the head when more than ``depth`` are waiting.
A timestamp jump further than the ring can hold (a restarted timeline, or a talkspurt
after a long silence) resyncs the buffer once the next packet confirms it: the packet
beyond the ring is kept aside, and when the packet after it follows it in sequence and
lies within a ring of it, the buffer restarts its timeline on the kept packet and stores
both. A lone packet beyond the ring (a stray or injected one) is dropped without touching
the timeline or the unwrap reference, so it cannot flush the frames waiting to play
(the same rule as RFC 3550 A.1's ``bad_seq`` for sequence numbers). A sequence number
is remembered for duplicate detection only once its packet is stored.

State in arrays: the frames live in a ``capacity × frame_bytes`` byte ring and the
state a steady-state pop reads or advances (play position, playing/stretch/trim, the
stable-tick count, frames played, and per slot the number of the whole frame it holds)
in small integer arrays, read and written through ``memoryview`` s (a Python int per
access, nearly as fast as a list); what only packets change (which frame each slot
holds, the sample masks, the newest sample) is kept in Python lists and attributes, for
the per-packet path. A buffer owns its arrays
until it is bound to a row of a :class:`~pbx.rtp.jitterbank.JitterBank`
(:meth:`JitterBuffer.bind`); then they are views of the bank's, so the media engine can
take the steady-state pop of every bound buffer as a few array operations per tick
(exactly :meth:`pop`'s fast path) and call :meth:`pop` only for the buffers that need
its other branches.

A played frame's slot is not cleared: the play position only grows (reset and resync
clear every slot and restart the timeline), so a slot whose frame number lies behind
the play position can never match a frame the buffer looks for again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from pbx.errors import ConfigError
from pbx.rtp.packet import RtpPacket

if TYPE_CHECKING:
    from pbx.rtp.jitterbank import JitterBank

__all__ = ["STATE_FIELDS", "JitterBuffer"]

_SEEN_SIZE = 256

# Fields of a buffer's state vector (a row of JitterBank.state when bound); the first
# three are what a steady-state pop advances by one.
PLAY = 0
"""The frame to play next (timeline position)."""
STABLE = 1
"""Ticks played since the last late packet or underrun."""
PLAYED = 2
PLAYING = 3
STRETCH = 4
"""Ticks still to hold playback (after a late packet grew the depth)."""
TRIM = 5
"""Drop one frame from the head at the next pop (the depth shrank)."""
SHRINK = 6
"""``shrink_after``, per buffer."""
STATE_FIELDS = 8  # one spare: a row is one 64-byte cache line


class JitterBuffer:
    """A fixed ring of frames keyed by timeline position; one frame out per :meth:`pop`."""

    __slots__ = (
        "frame_samples",
        "bytes_per_sample",
        "frame_bytes",
        "capacity",
        "min_depth",
        "max_depth",
        "shrink_after",
        "fill_byte",
        "depth",
        "_cap_mask",
        "_full",
        "_state_a",
        "_done_a",
        "_ring_a",
        "_st",
        "_frame_of",
        "_high",
        "_done",
        "_ring",
        "_mask",
        "_seen",
        "_origin",
        "_ts_ref",
        "_ever_played",
        "_underrun_at",
        "_pending",
        "_bank",
        "_row",
        "late",
        "duplicates",
        "lost",
        "concealed",
        "underruns",
        "partial",
        "dropped",
        "resyncs",
        "strays",
    )

    def __init__(
        self,
        frame_samples: int = 160,
        bytes_per_sample: int = 1,
        min_depth: int = 1,
        max_depth: int = 10,
        capacity: int = 64,
        shrink_after: int = 500,
        fill_byte: int = 0xFF,
    ) -> None:
        if frame_samples <= 0:
            raise ConfigError(f"jitter.frame_samples: must be positive, got {frame_samples}")
        if not 1 <= min_depth <= max_depth:
            raise ConfigError(
                f"jitter.min_depth/max_depth: need 1 <= min_depth <= max_depth, "
                f"got {min_depth} and {max_depth}"
            )
        if capacity & (capacity - 1) or capacity < 2 * max_depth + 2:
            raise ConfigError(
                f"jitter.capacity: must be a power of two of at least 2·max_depth+2, got {capacity}"
            )
        self.frame_samples = frame_samples
        self.bytes_per_sample = bytes_per_sample
        self.frame_bytes = frame_samples * bytes_per_sample
        self.capacity = capacity
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.shrink_after = shrink_after
        self.fill_byte = fill_byte
        self._cap_mask = capacity - 1
        self._full = (1 << frame_samples) - 1
        self._bank: JitterBank | None = None
        self._row = -1
        state = np.zeros(STATE_FIELDS, dtype=np.int64)
        state[SHRINK] = shrink_after
        self._use(
            state,
            np.full(capacity, -1, dtype=np.int64),
            np.zeros(capacity * self.frame_bytes, dtype=np.uint8),
        )
        #: Per slot: the frame it holds (a list: only packets write it, never a pop).
        self._frame_of = [-1] * capacity
        #: Per slot: which samples of its frame arrived (a bit per sample), meaningful
        #: while the slot's frame number is the frame's.
        self._mask = [0] * capacity
        self._seen = [-1] * _SEEN_SIZE
        self.late = 0
        """Packets dropped because their frame had already been played."""
        self.duplicates = 0
        """Packets dropped because the same sequence number or samples were already buffered."""
        self.lost = 0
        """Frames played as a gap while newer data was buffered (lost or reordered too late)."""
        self.concealed = 0
        """Ticks that returned None after playback started (lost, underrun, stretch)."""
        self.underruns = 0
        """Times playback caught up with the newest data and went back to buffering."""
        self.partial = 0
        """Frames played with part of their samples missing (filled with ``fill_byte``)."""
        self.dropped = 0
        """Frames dropped from the head to shrink the delay."""
        self.resyncs = 0
        """Timestamp jumps beyond the ring that restarted the timeline."""
        self.strays = 0
        """Packets beyond the ring that no next packet confirmed (dropped), or that wait
        for the next packet to confirm them."""
        self.reset()

    # -- the arrays -------------------------------------------------------------------
    def _use(
        self,
        state: npt.NDArray[np.int64],
        done: npt.NDArray[np.int64],
        ring: npt.NDArray[np.uint8],
    ) -> None:
        """Keep the state in these arrays (the buffer's own, or views of a bank row)."""
        self._state_a, self._done_a, self._ring_a = state, done, ring
        self._st = state.data
        self._done = done.data
        self._ring = ring.data

    def bind(self, bank: JitterBank, row: int) -> None:
        """Keep the state in ``row`` of ``bank`` from now on.

        :meth:`JitterBank.attach <pbx.rtp.jitterbank.JitterBank.attach>` calls it (and
        keeps the buffer pointed at the bank's arrays when they grow): attach, do not
        call this directly.
        """
        if self._bank is not None:
            self.unbind()
        bank.load(row, self._state_a, self._done_a, self._ring_a)
        self._bank, self._row = bank, row
        self.rebind()

    def rebind(self) -> None:
        """Point at the bank's arrays again (the bank grew and moved them)."""
        bank, row = self._bank, self._row
        if bank is not None:
            self._use(bank.state[row], bank.done[row], bank.ring[row])

    def unbind(self) -> None:
        """Take the state back into arrays of the buffer's own."""
        if self._bank is None:
            return
        self._bank = None
        self._row = -1
        self._use(
            self._state_a.copy(),
            self._done_a.copy(),
            self._ring_a.copy(),
        )

    @property
    def bank(self) -> JitterBank | None:
        """The bank holding the state, or None."""
        return self._bank

    @property
    def bank_row(self) -> int:
        """The row of the bank holding the state, or −1 when unbound."""
        return self._row

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every packet and the timeline (a new source); counters are kept."""
        self.depth = self.min_depth
        self._clear_slots()
        self._seen = [-1] * _SEEN_SIZE
        self._origin: int | None = None
        self._ts_ref = 0
        st = self._st
        st[PLAY] = st[PLAYING] = st[STRETCH] = st[STABLE] = st[TRIM] = 0
        self._high = 0
        self._ever_played = False
        self._underrun_at: int | None = None
        self._pending: tuple[int, int, bytes | bytearray, int, float] | None = None

    def restart_sequence(self) -> None:
        """Forget the sequence numbers seen (the source restarted them); frames stay."""
        self._seen = [-1] * _SEEN_SIZE

    def _clear_slots(self) -> None:
        self._frame_of = [-1] * self.capacity
        self._done_a.fill(-1)
        self._mask = [0] * self.capacity

    @property
    def played(self) -> int:
        """Frames returned with audio."""
        return self._st[PLAYED]

    @property
    def buffered(self) -> int:
        """Whole frames between the play position and the newest sample received."""
        if self._origin is None:
            return 0
        return max(0, self._high // self.frame_samples - self._st[PLAY])

    @property
    def depth_ms(self) -> float:
        """The current target depth in milliseconds, at 8 kHz per 160-sample frame."""
        return self.depth * self.frame_samples / 8.0

    def put(
        self,
        packet_or_payload: RtpPacket | bytes | bytearray,
        ext_seq: int,
        timestamp: int,
        now: float,
    ) -> bool:
        """Store one packet's payload; return False when it is dropped (duplicate or late).

        ``ext_seq`` is the extended sequence number (for duplicate detection), ``timestamp``
        the packet's RTP timestamp, ``now`` the arrival time (kept for future use by
        adaptive policies; the buffer itself is driven by :meth:`pop` ticks).
        """
        if isinstance(packet_or_payload, RtpPacket):
            payload: bytes | bytearray = packet_or_payload.payload
        else:
            payload = packet_or_payload
        seen = self._seen
        seen_index = ext_seq & (_SEEN_SIZE - 1)
        if seen[seen_index] == ext_seq:
            self.duplicates += 1
            return False
        spf = self.frame_samples
        st = self._st
        origin = self._origin
        if origin is None:
            self._origin = origin = ref = timestamp
            self._ts_ref = timestamp
            st[PLAY] = 0
            ext_ts = timestamp
        else:
            # Unwrap the 32-bit timestamp against the highest one seen (RFC 3550 §5.1).
            ref = self._ts_ref
            ext_ts = ref + (((timestamp - ref + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
        rel = ext_ts - origin
        frame = rel // spf
        offset = rel - frame * spf
        samples = len(payload) // self.bytes_per_sample
        if samples == 0:
            return False
        last_frame = (rel + samples - 1) // spf
        play = st[PLAY]
        if frame >= play + self.capacity or last_frame < play - self.capacity:
            # A jump the ring cannot hold: a restarted timeline once confirmed.
            return self._jump(payload, ext_seq, timestamp, ext_ts, now)
        if ext_ts > ref:
            self._ts_ref = ext_ts
        if last_frame < play:
            # RFC 3550 A.8 jitter made this packet miss its turn.
            self.late += 1
            st[STABLE] = 0
            if self.depth < self.max_depth:
                self.depth += 1
                st[STRETCH] += 1
            return False
        fb = self.frame_bytes
        if offset == 0 and len(payload) == fb:
            # Fast path: one packet is exactly one frame (ptime 20).
            index = frame & self._cap_mask
            if self._frame_of[index] == frame and self._mask[index]:
                self.duplicates += 1
                return False
            self._ring[index * fb : index * fb + fb] = payload
            self._frame_of[index] = frame
            self._mask[index] = self._full
            self._done[index] = frame
        elif not self._write_split(payload, rel, samples, play):
            self.duplicates += 1
            return False
        seen[seen_index] = ext_seq
        end = rel + samples
        if end > self._high:
            self._high = end
        return True

    def _write_split(self, payload: bytes | bytearray, rel: int, samples: int, play: int) -> bool:
        """Write a packet that is not exactly one aligned frame; False when nothing was new.

        Each piece goes straight into its frame's slot of the ring; the slot's sample
        mask records what arrived (the rest is filled when a partial frame plays).
        """
        spf = self.frame_samples
        bps = self.bytes_per_sample
        fb = self.frame_bytes
        full = self._full
        frame_of, masks, done, ring = self._frame_of, self._mask, self._done, self._ring
        cap_mask = self._cap_mask
        wrote = False
        frame, offset = divmod(rel, spf)
        source = 0
        remaining = samples
        while remaining > 0:
            count = spf - offset if spf - offset < remaining else remaining
            if frame >= play:
                index = frame & cap_mask
                mask = masks[index] if frame_of[index] == frame else 0
                bits = full if count == spf else ((1 << count) - 1) << offset
                if mask & bits != bits:
                    at = index * fb + offset * bps
                    ring[at : at + count * bps] = payload[source * bps : (source + count) * bps]
                    mask |= bits
                    frame_of[index] = frame
                    masks[index] = mask
                    done[index] = frame if mask == full else -1
                    wrote = True
            frame += 1
            offset = 0
            source += count
            remaining -= count
        return wrote

    def _jump(
        self, payload: bytes | bytearray, ext_seq: int, timestamp: int, ext_ts: int, now: float
    ) -> bool:
        """A packet beyond the ring: keep it, or restart the timeline on the one kept.

        The kept packet is confirmed by the next one that follows it in sequence (by at
        most a ring's worth of packets) and lies at most a ring's worth of samples after
        it; anything else replaces it. Returns whether the packet was stored.
        """
        pending = self._pending
        self._pending = (ext_seq, ext_ts, payload, timestamp, now)
        if pending is None:
            self.strays += 1
            return False
        kept_seq, kept_ts, kept_payload, kept_timestamp, kept_now = pending
        if not (
            0 < ext_seq - kept_seq <= self.capacity
            and 0 <= ext_ts - kept_ts < self.capacity * self.frame_samples
        ):
            self.strays += 1
            return False
        # The source really moved its timeline: restart it on the kept packet.
        self.strays -= 1
        self._resync(kept_ts)
        self.put(kept_payload, kept_seq, kept_timestamp, kept_now)
        return self.put(payload, ext_seq, timestamp, now)

    def _resync(self, ext_ts: int) -> None:
        self.resyncs += 1
        self._pending = None
        self._clear_slots()
        self._origin = ext_ts
        self._ts_ref = ext_ts
        st = self._st
        st[PLAY] = st[PLAYING] = st[STRETCH] = 0
        self._high = 0
        self._underrun_at = None

    def pop(self) -> bytes | None:
        """Return the frame to play this tick, or None for a gap or while buffering."""
        # The steady state first: playing, the next frame whole and in place, nothing
        # to stretch, trim or adapt this tick (JitterBank.pop_into takes the same branch
        # for many buffers at once). A whole frame at the play position means newer
        # samples than the play position have arrived: not an underrun.
        st = self._st
        if st[PLAYING] and not (st[STRETCH] or st[TRIM]):
            play = st[PLAY]
            index = play & self._cap_mask
            stable = st[STABLE] + 1
            if self._done[index] == play and stable < st[SHRINK]:
                st[PLAY] = play + 1
                st[STABLE] = stable
                st[PLAYED] += 1
                fb = self.frame_bytes
                return self._ring[index * fb : index * fb + fb].tobytes()
        return self._pop_general()

    def _pop_general(self) -> bytes | None:
        if self._origin is None:
            return None
        st = self._st
        if st[STRETCH]:
            st[STRETCH] -= 1
            self.concealed += 1
            return None
        play = st[PLAY]
        available = self._high // self.frame_samples - play
        if not st[PLAYING]:
            first = self._first_data_at_or_after(play)
            if first < 0:
                if self._ever_played:
                    self.concealed += 1
                return None
            if first > play:
                # Skip a silence-suppression gap or frames lost while we waited.
                available -= first - play
                st[PLAY] = play = first
            elif self._underrun_at == play:
                # The stream resumed exactly where it stopped: delay jitter, not silence.
                st[STABLE] = 0
                if self.depth < self.max_depth:
                    self.depth += 1
            self._underrun_at = None
            if available < self.depth:
                if self._ever_played:
                    self.concealed += 1
                return None
            st[PLAYING] = 1
        elif available <= 0:
            st[PLAYING] = 0
            self._underrun_at = play
            self.underruns += 1
            self.concealed += 1
            return None
        if st[TRIM] and available > self.depth:
            # Shrink the delay by one frame.
            st[TRIM] = 0
            self.dropped += 1
            play += 1
        st[PLAY] = play + 1
        self._ever_played = True
        stable = st[STABLE] + 1
        if stable >= self.shrink_after:
            stable = 0
            if self.depth > self.min_depth:
                self.depth -= 1
                st[TRIM] = 1
        st[STABLE] = stable
        index = play & self._cap_mask
        if self._frame_of[index] != play:
            self.lost += 1
            self.concealed += 1
            return None
        mask = self._mask[index]
        fb = self.frame_bytes
        frame = self._ring[index * fb : index * fb + fb].tobytes()
        if mask == self._full:
            st[PLAYED] += 1
            return frame
        return self._fill_partial(frame, mask)

    def _fill_partial(self, slot: bytes, mask: int) -> bytes:
        self.partial += 1
        self._st[PLAYED] += 1
        frame = bytearray(slot)
        bps = self.bytes_per_sample
        fill = bytes((self.fill_byte,)) * bps
        for sample in range(self.frame_samples):
            if not mask >> sample & 1:
                frame[sample * bps : (sample + 1) * bps] = fill
        return bytes(frame)

    def _first_data_at_or_after(self, play: int) -> int:
        last = min(self._high // self.frame_samples + 1, play + self.capacity)
        frame_of = self._frame_of
        cap_mask = self._cap_mask
        for frame in range(play, last):
            if frame_of[cap_mask & frame] == frame:
                return frame
        return -1
