"""Opus for a browser leg: its packets to and from the engine's PCMU, one by one.

The engine mixes 8 kHz G.711 frames. A browser whose offer has no G.711 is answered with
Opus (RFC 7587), and its audio is transcoded at the edge of the media shell, where SRTP
is also undone, so the engine sees a PCMU stream like any desk phone's:

* **to the engine** — each Opus payload is decoded by libopus (PyAV, 48 kHz mono),
  brought down to 8 kHz by libswresample (soxr's streaming converter holds 100 ms and
  more before its first output at its good qualities; swresample gives each 20 ms
  packet's 160 samples after a 2 ms start), μ-law encoded and sent on as PCMU packets
  (payload type 0) of 160 samples with 8 kHz timestamps. A timestamp gap (lost packets)
  becomes silence of its length so the timing holds; a packet older than the last one
  (late, duplicated) is dropped.
* **to the browser** — each PCMU packet of the engine is decoded and encoded by
  libopus at 8 kHz (its narrowband mode), 20 ms a packet, sent as the browser's Opus
  payload type with the timestamp at Opus's 48 kHz clock (×6).
* RFC 4733 telephone events pass both ways with the same payload type (the browser's
  ``telephone-event/48000``), their timestamps and durations scaled by 6.

No I/O and no clock: the shell (:mod:`pbx.net.webrtc`) calls :meth:`OpusTranscoder.to_engine`
and :meth:`OpusTranscoder.to_browser` per packet.
"""

from __future__ import annotations

import fractions
import struct

import numpy as np
from av import AudioFrame, AudioResampler, CodecContext
from av.packet import Packet

from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.rtp.packet import RtpError, RtpPacket, build_rtp_header

__all__ = ["ENGINE_PAYLOAD_TYPE", "OpusTranscoder"]

ENGINE_PAYLOAD_TYPE = 0
"""PCMU: what the engine sends and receives on an Opus leg."""
SCALE = 6
"""Opus's 48 kHz RTP clock over the engine's 8 kHz."""
FRAME = 160
"""Samples of one engine frame (20 ms at 8 kHz)."""
MAX_GAP = 8000
"""The longest gap (1 s at 8 kHz) filled with silence; a longer one restarts the timing."""
BITRATE = 24_000
"""Opus's bit rate towards the browser, narrowband speech (RFC 7587 §3.1.1 suggests
8–12 kbit/s for narrowband speech; 24 keeps G.711's quality with room to spare)."""


class OpusTranscoder:
    """One Opus leg's decoder, encoder and resampler, and its RTP timing."""

    def __init__(self, opus_payload_type: int, event_payload_type: int | None) -> None:
        self.opus_pt = opus_payload_type
        self.event_pt = event_payload_type
        self._decoder = CodecContext.create("libopus", "r")
        self._decoder.sample_rate = 48000
        self._decoder.layout = "mono"
        self._decoder.format = "s16"
        self._down = AudioResampler(format="s16", layout="mono", rate=8000)
        encoder = CodecContext.create("libopus", "w")
        encoder.sample_rate = 8000
        encoder.layout = "mono"
        encoder.format = "s16"
        encoder.bit_rate = BITRATE
        encoder.time_base = fractions.Fraction(1, 8000)
        encoder.options = {"application": "voip"}
        self._encoder = encoder
        self._encoded = 0
        self._pending = np.zeros(0, dtype=np.int16)
        """8 kHz samples decoded, not yet sent on as a whole frame."""
        self._priming = True
        """The next packet is the first after a (re)start: pad it to whole frames."""
        self._next_ts48: int | None = None
        """Where the browser's next packet should start (its last end), 48 kHz."""
        self._out_ts = 0
        self._out_seq = 0
        self._marker = True
        self.decode_errors = 0
        self.encode_errors = 0

    # -- browser → engine ------------------------------------------------------------------
    def to_engine(self, data: bytes) -> list[bytes]:
        """The PCMU packets (zero or more) one packet of the browser becomes."""
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return []
        if packet.payload_type == self.event_pt:
            return [self._event_to_engine(packet)]
        if packet.payload_type != self.opus_pt or not packet.payload:
            return []
        ts48 = packet.timestamp
        if self._next_ts48 is None:
            self._restart(ts48, packet.sequence_number)
        else:
            ahead = (ts48 - self._next_ts48) & 0xFFFFFFFF
            if ahead >= 0x80000000:
                return []  # older than what we have: late or duplicated
            gap = ahead // SCALE
            if gap > MAX_GAP:
                self._restart(ts48, packet.sequence_number)
            elif gap:
                self._pending = np.concatenate([self._pending, np.zeros(gap, np.int16)])
        try:
            decoded = self._decoder.decode(Packet(packet.payload))
        except Exception:  # a payload libopus cannot read: this packet only
            self.decode_errors += 1
            return []
        samples48 = 0
        parts = [self._pending]
        for frame in decoded:
            samples48 += frame.samples
            for down in self._down.resample(frame):
                parts.append(down.to_ndarray().reshape(-1).astype(np.int16, copy=False))
        self._next_ts48 = (ts48 + samples48) & 0xFFFFFFFF
        pending = np.concatenate(parts)
        if self._priming:
            # The resampler's first output after a (re)start is short of a frame
            # (144 of 160 samples): pad its front so this packet's audio goes on now
            # instead of waiting 20 ms for the next packet in every frame after.
            short = -len(pending) % FRAME
            if short:
                pending = np.concatenate([np.zeros(short, np.int16), pending])
            self._priming = False
        whole = len(pending) - len(pending) % FRAME
        self._pending = pending[whole:]
        out = []
        for start in range(0, whole, FRAME):
            codes = ulaw_encode(pending[start : start + FRAME])
            header = build_rtp_header(
                ENGINE_PAYLOAD_TYPE, self._out_seq, self._out_ts, packet.ssrc, self._marker
            )
            out.append(header + codes.tobytes())
            self._marker = False
            self._out_seq += 1
            self._out_ts += FRAME
        return out

    def _restart(self, ts48: int, seq: int) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
        self._priming = True
        self._out_ts = ts48 // SCALE
        self._out_seq = seq
        self._marker = True

    def _event_to_engine(self, packet: RtpPacket) -> bytes:
        payload = _scale_duration(packet.payload, 1 / SCALE)
        header = build_rtp_header(
            packet.payload_type,
            self._out_seq,
            packet.timestamp // SCALE,
            packet.ssrc,
            packet.marker,
        )
        self._out_seq += 1
        return header + payload

    # -- engine → browser ------------------------------------------------------------------
    def to_browser(self, data: bytes) -> bytes | None:
        """The browser's packet for one packet of the engine (None: nothing to send)."""
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            return None
        b1 = data[1]
        pt = b1 & 0x7F
        seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
        offset = 12 + 4 * (data[0] & 0x0F)
        payload = data[offset:]
        if pt == self.event_pt and self.event_pt is not None:
            header = build_rtp_header(pt, seq, ts * SCALE, ssrc, bool(b1 & 0x80))
            return header + _scale_duration(payload, SCALE)
        if pt != ENGINE_PAYLOAD_TYPE or not payload:
            return None
        pcm = ulaw_decode(np.frombuffer(payload, dtype=np.uint8))
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        frame.pts = self._encoded
        self._encoded += len(pcm)
        try:
            packets = self._encoder.encode(frame)
        except Exception:
            self.encode_errors += 1
            return None
        if not packets:
            return None
        body = b"".join(bytes(p) for p in packets[:1])
        return build_rtp_header(self.opus_pt, seq, ts * SCALE, ssrc, bool(b1 & 0x80)) + body


def _scale_duration(payload: bytes, factor: float) -> bytes:
    """An RFC 4733 event payload with its duration (octets 2–3) scaled by ``factor``."""
    if len(payload) < 4:
        return payload
    (duration,) = struct.unpack_from("!H", payload, 2)
    scaled = min(0xFFFF, int(duration * factor))
    return payload[:2] + struct.pack("!H", scaled) + payload[4:]
