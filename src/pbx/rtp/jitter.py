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
A timestamp jump further than the ring can hold (a restarted or switched source) resyncs
the buffer on the new packet.
"""

from __future__ import annotations

from pbx.errors import ConfigError
from pbx.rtp.packet import RtpPacket

_SEEN_SIZE = 256


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
        "_slots",
        "_frame_of",
        "_mask",
        "_seen",
        "_origin",
        "_ts_ref",
        "_high",
        "_play",
        "_playing",
        "_ever_played",
        "_stretch",
        "_stable",
        "_trim",
        "_underrun_at",
        "played",
        "late",
        "duplicates",
        "lost",
        "concealed",
        "underruns",
        "partial",
        "dropped",
        "resyncs",
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
        self._slots: list[bytes | bytearray | None] = [None] * capacity
        self._frame_of = [-1] * capacity
        self._mask = [0] * capacity
        self._seen = [-1] * _SEEN_SIZE
        self.played = 0
        """Frames returned with audio."""
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
        self.reset()

    def reset(self) -> None:
        """Forget every packet and the timeline (a new source); counters are kept."""
        self.depth = self.min_depth
        for i in range(self.capacity):
            self._frame_of[i] = -1
            self._slots[i] = None
            self._mask[i] = 0
        self._seen = [-1] * _SEEN_SIZE
        self._origin: int | None = None
        self._ts_ref = 0
        self._high = 0
        self._play = 0
        self._playing = False
        self._ever_played = False
        self._stretch = 0
        self._stable = 0
        self._trim = False
        self._underrun_at: int | None = None

    @property
    def buffered(self) -> int:
        """Whole frames between the play position and the newest sample received."""
        if self._origin is None:
            return 0
        return max(0, self._high // self.frame_samples - self._play)

    @property
    def depth_ms(self) -> float:
        """The current target depth in milliseconds, at 8 kHz per 160-sample frame."""
        return self.depth * self.frame_samples / 8.0

    def put(
        self, packet_or_payload: RtpPacket | bytes, ext_seq: int, timestamp: int, now: float
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
        seen_index = ext_seq & (_SEEN_SIZE - 1)
        if self._seen[seen_index] == ext_seq:
            self.duplicates += 1
            return False
        self._seen[seen_index] = ext_seq
        spf = self.frame_samples
        origin = self._origin
        if origin is None:
            self._origin = origin = timestamp
            self._ts_ref = timestamp
            self._play = 0
            ext_ts = timestamp
        else:
            # Unwrap the 32-bit timestamp against the highest one seen (RFC 3550 §5.1).
            ref = self._ts_ref
            ext_ts = ref + (((timestamp - ref + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            if ext_ts > ref:
                self._ts_ref = ext_ts
        rel = ext_ts - origin
        frame = rel // spf
        offset = rel - frame * spf
        samples = len(payload) // self.bytes_per_sample
        if samples == 0:
            return False
        last_frame = (rel + samples - 1) // spf
        play = self._play
        if frame >= play + self.capacity or last_frame < play - self.capacity:
            # A jump the ring cannot hold: the source restarted its timeline.
            self._resync(ext_ts)
            rel, frame, offset, last_frame, play = 0, 0, 0, (samples - 1) // spf, 0
        elif last_frame < play:
            # RFC 3550 A.8 jitter made this packet miss its turn.
            self.late += 1
            self._stable = 0
            if self.depth < self.max_depth:
                self.depth += 1
                self._stretch += 1
            return False
        if offset == 0 and samples == spf:
            # Fast path: one packet is exactly one frame (ptime 20).
            index = frame & self._cap_mask
            if self._frame_of[index] == frame and self._mask[index]:
                self.duplicates += 1
                return False
            self._slots[index] = payload if isinstance(payload, bytes) else bytes(payload)
            self._frame_of[index] = frame
            self._mask[index] = self._full
        elif not self._write_split(payload, rel, samples, play):
            self.duplicates += 1
            return False
        end = rel + samples
        if end > self._high:
            self._high = end
        return True

    def _write_split(self, payload: bytes | bytearray, rel: int, samples: int, play: int) -> bool:
        """Write a packet that is not exactly one aligned frame; False when nothing was new.

        Whole frames inside the packet (ptime 30, 40 ...) are stored as bytes; a frame
        filled in pieces is a bytearray until its last piece arrives, then bytes again.
        """
        spf = self.frame_samples
        bps = self.bytes_per_sample
        full = self._full
        frame_of, masks, slots = self._frame_of, self._mask, self._slots
        cap_mask = self._cap_mask
        wrote = False
        frame, offset = divmod(rel, spf)
        source = 0
        remaining = samples
        while remaining > 0:
            count = spf - offset if spf - offset < remaining else remaining
            if frame >= play:
                index = frame & cap_mask
                mine = frame_of[index] == frame
                mask = masks[index] if mine else 0
                if count == spf:
                    if mask != full:
                        slots[index] = bytes(payload[source * bps : (source + spf) * bps])
                        frame_of[index] = frame
                        masks[index] = full
                        wrote = True
                else:
                    bits = ((1 << count) - 1) << offset
                    if mask & bits != bits:
                        slot = slots[index] if mine else None
                        if type(slot) is not bytearray:
                            slot = bytearray(slot) if slot else bytearray(self.frame_bytes)
                        slot[offset * bps : (offset + count) * bps] = payload[
                            source * bps : (source + count) * bps
                        ]
                        mask |= bits
                        slots[index] = bytes(slot) if mask == full else slot
                        frame_of[index] = frame
                        masks[index] = mask
                        wrote = True
            frame += 1
            offset = 0
            source += count
            remaining -= count
        return wrote

    def _resync(self, ext_ts: int) -> None:
        self.resyncs += 1
        for i in range(self.capacity):
            self._frame_of[i] = -1
            self._mask[i] = 0
            self._slots[i] = None
        self._origin = ext_ts
        self._ts_ref = ext_ts
        self._high = 0
        self._play = 0
        self._playing = False
        self._underrun_at = None
        self._stretch = 0

    def pop(self) -> bytes | None:
        """Return the frame to play this tick, or None for a gap or while buffering."""
        # The steady state first: playing, the next frame whole and in place, nothing
        # to stretch, trim or adapt this tick.
        if self._playing and not (self._stretch or self._trim):
            play = self._play
            index = play & self._cap_mask
            stable = self._stable + 1
            if (
                self._frame_of[index] == play
                and self._mask[index] == self._full
                and stable < self.shrink_after
                and self._high // self.frame_samples > play
            ):
                slot = self._slots[index]
                if type(slot) is bytes:
                    self._play = play + 1
                    self._stable = stable
                    self._frame_of[index] = -1
                    self._slots[index] = None
                    self.played += 1
                    return slot
        return self._pop_general()

    def _pop_general(self) -> bytes | None:
        if self._origin is None:
            return None
        if self._stretch:
            self._stretch -= 1
            self.concealed += 1
            return None
        play = self._play
        available = self._high // self.frame_samples - play
        if not self._playing:
            first = self._first_data_at_or_after(play)
            if first < 0:
                if self._ever_played:
                    self.concealed += 1
                return None
            if first > play:
                # Skip a silence-suppression gap or frames lost while we waited.
                available -= first - play
                self._play = play = first
            elif self._underrun_at == play:
                # The stream resumed exactly where it stopped: delay jitter, not silence.
                self._stable = 0
                if self.depth < self.max_depth:
                    self.depth += 1
            self._underrun_at = None
            if available < self.depth:
                if self._ever_played:
                    self.concealed += 1
                return None
            self._playing = True
        elif available <= 0:
            self._playing = False
            self._underrun_at = play
            self.underruns += 1
            self.concealed += 1
            return None
        if self._trim and available > self.depth:
            # Shrink the delay by one frame.
            self._trim = False
            self.dropped += 1
            play += 1
        self._play = play + 1
        self._ever_played = True
        self._stable += 1
        if self._stable >= self.shrink_after:
            self._stable = 0
            if self.depth > self.min_depth:
                self.depth -= 1
                self._trim = True
        index = play & self._cap_mask
        if self._frame_of[index] != play:
            self.lost += 1
            self.concealed += 1
            return None
        mask = self._mask[index]
        slot = self._slots[index]
        self._frame_of[index] = -1
        self._slots[index] = None
        if mask == self._full:
            self.played += 1
            return slot if isinstance(slot, bytes) else bytes(slot or b"")
        return self._fill_partial(slot, mask)

    def _fill_partial(self, slot: bytes | bytearray | None, mask: int) -> bytes:
        self.partial += 1
        self.played += 1
        frame = bytearray(slot or bytes(self.frame_bytes))
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
