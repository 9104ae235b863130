"""The send state of many RTP streams in arrays: one call builds a tick's datagrams.

Theory of operation
-------------------
An :class:`RtpBank` holds, per row (a media engine channel), what RFC 3550 §5.1 needs
to build the next audio packet of a stream: SSRC, payload type, sequence number,
timestamp and the marker bit, with the sender counters RTCP reports carry (§6.4.1:
packets and payload octets sent, and whether we sent since the last report). A
:class:`~pbx.rtp.stream.RtpStream` bound to a row (:meth:`RtpStream.bind_bank
<pbx.rtp.stream.RtpStream.bind_bank>`) keeps its send state here instead of in its
own attributes, so :meth:`RtpBank.packetize` can build every ordinary datagram of a
tick with a handful of array operations and no Python call per stream. The datagrams
live in one ``(rows, 12 + payload)`` byte block kept from tick to tick: version and
SSRC are written when a stream binds, and the sequence number and timestamp *are*
big-endian views of their header columns (``seq``, ``timestamp``), so a tick writes
the payloads and the payload-type/marker byte, takes the rows as datagrams, and adds
one packet and one frame to the two columns in place.

Rows the bank must not build are flagged ``scalar``: a stream with RFC 4733
telephone-event packets queued sets its flag, and the engine then calls that stream's
own :meth:`~pbx.rtp.stream.RtpStream.packetize` (which reads and writes the same row).
The ``events`` flags are the receive side's counterpart: a stream raises its flag when
a DTMF digit or a remote BYE is waiting, so the engine asks only those streams for
their events; ``address_version`` changes whenever a bound stream's remote address
does, so the engine reads the addresses again only then.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

__all__ = ["HEADER_BYTES", "RtpBank"]

HEADER_BYTES = 12
"""The fixed RTP header, without CSRC or extension (RFC 3550 §5.1)."""


class RtpBank:
    """Per-row RTP send state (SSRC, PT, sequence, timestamp, marker, counters) in arrays."""

    def __init__(self, capacity: int = 64, payload_bytes: int = 160) -> None:
        self.capacity = 0
        self.payload_bytes = payload_bytes
        self.width = HEADER_BYTES + payload_bytes
        #: One datagram as a numpy void scalar, so ``tolist()`` of a block gives bytes.
        self._datagram = np.dtype((np.void, self.width))
        self.block = np.zeros((0, self.width), dtype=np.uint8)
        """Each row's next datagram: header fields kept in place, payload per tick."""
        self.seq = self.block[:, 2:4].view(">u2")[:, 0]
        """The sequence number of the next packet: a view of the block's header column."""
        self.timestamp = self.block[:, 4:8].view(">u4")[:, 0]
        """The timestamp of the next packet: a view of the block's header column."""
        self.payload_type = np.zeros(0, dtype=np.uint8)
        self.frame_samples = np.zeros(0, dtype=np.uint32)
        self.marker = np.zeros(0, dtype=np.bool_)
        self.packets = np.zeros(0, dtype=np.int64)
        self.octets = np.zeros(0, dtype=np.int64)
        """Payload octets sent (RFC 3550 §6.4.1 sender's octet count)."""
        self.bytes = np.zeros(0, dtype=np.int64)
        """Datagram bytes sent, headers included."""
        self.sent_since_report = np.zeros(0, dtype=np.bool_)
        self.scalar = np.zeros(0, dtype=np.bool_)
        """The row's stream builds its own next packet (telephone-events queued)."""
        self.events = np.zeros(0, dtype=np.bool_)
        """The row's stream has DTMF digits or a remote BYE waiting."""
        self.address_version = 0
        """Counts changes of a bound stream's remote address (latching, re-INVITE), so a
        caller can keep the list of addresses between ticks."""
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` rows, keeping the rows there are."""
        old = self.capacity
        if capacity <= old:
            return
        block = np.zeros((capacity, self.width), dtype=np.uint8)
        block[:old] = self.block
        block[old:, 0] = 0x80  # version 2, no padding, no extension, no CSRC
        self.block = block
        self.seq = block[:, 2:4].view(">u2")[:, 0]
        self.timestamp = block[:, 4:8].view(">u4")[:, 0]
        for name in (
            "payload_type",
            "frame_samples",
            "marker",
            "packets",
            "octets",
            "bytes",
            "sent_since_report",
            "scalar",
            "events",
        ):
            arr = getattr(self, name)
            grown = np.zeros((capacity,) + arr.shape[1:], dtype=arr.dtype)
            grown[:old] = arr
            setattr(self, name, grown)
        self.capacity = capacity

    def load(
        self,
        row: int,
        *,
        ssrc: int,
        payload_type: int,
        seq: int,
        timestamp: int,
        frame_samples: int,
        marker: bool,
        packets: int,
        octets: int,
        bytes_sent: int,
        sent_since_report: bool,
        scalar: bool,
        events: bool,
    ) -> None:
        """Set every field of ``row`` (a stream binding to it)."""
        self.block[row, 8:12] = np.frombuffer((ssrc & 0xFFFFFFFF).to_bytes(4, "big"), np.uint8)
        self.payload_type[row] = payload_type
        self.seq[row] = seq & 0xFFFF
        self.timestamp[row] = timestamp & 0xFFFFFFFF
        self.frame_samples[row] = frame_samples
        self.marker[row] = marker
        self.packets[row] = packets
        self.octets[row] = octets
        self.bytes[row] = bytes_sent
        self.sent_since_report[row] = sent_since_report
        self.scalar[row] = scalar
        self.events[row] = events

    def packetize(
        self, rows: npt.NDArray[np.intp] | slice, payloads: npt.NDArray[np.uint8]
    ) -> list[bytes]:
        """One RTP datagram per row of ``rows`` carrying the matching row of ``payloads``.

        ``payloads`` is ``(n, payload_bytes)`` uint8; ``rows`` an index array or a slice
        of n rows. Each row's sequence number and timestamp advance by one packet and one
        frame, its marker is cleared and its counters count the packet.
        """
        block = self.block
        marker = self.marker[rows]
        b1 = self.payload_type[rows]
        if marker.any():
            b1 = b1 | np.left_shift(marker, 7, dtype=np.uint8)
            self.marker[rows] = False
        if isinstance(rows, slice):
            out = block[rows]
            out[:, HEADER_BYTES:] = payloads
            out[:, 1] = b1
        else:
            out = block.take(rows, axis=0)
            out[:, HEADER_BYTES:] = payloads
            out[:, 1] = b1
        datagrams = out.view(self._datagram).ravel().tolist()
        self.seq[rows] += np.uint16(1)  # wraps at 16 bits
        self.timestamp[rows] += self.frame_samples[rows]  # wraps at 32 bits
        self.packets[rows] += 1
        self.octets[rows] += self.payload_bytes
        self.bytes[rows] += self.width
        self.sent_since_report[rows] = True
        return cast(list[bytes], datagrams)
