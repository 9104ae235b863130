"""Reception statistics for one remote source (RFC 3550 §6.4.1, Appendices A.3 and A.8).

Theory of operation
-------------------
:class:`ReceiverStats` holds the :class:`~pbx.rtp.seq.SequenceTracker` of one SSRC and
everything a reception report block needs:

* expected / received / cumulative lost (A.3), and the fraction lost since the previous
  report, computed from the ``expected_prior`` / ``received_prior`` snapshot taken each
  time :meth:`ReceiverStats.report_block` builds a block;
* interarrival jitter (A.8): the arrival time ``now`` (seconds, passed in) is converted to
  timestamp units with the clock rate, the transit time difference ``D`` between two
  consecutive packets is computed on wrapped timestamps, and
  ``J += (|D| - J) / 16``;
* LSR and DLSR: :meth:`ReceiverStats.on_sender_report` keeps the middle 32 bits of the
  SR's NTP timestamp and the local arrival time, and the block carries the delay since it
  in 1/65536 s.

Nothing here reads a clock: every time is a ``now`` argument.
"""

from __future__ import annotations

from pbx.rtp.rtcp import RtcpReportBlock, ntp_middle32
from pbx.rtp.seq import MIN_SEQUENTIAL, SequenceTracker


class ReceiverStats:
    """Receive-side statistics of one remote SSRC, enough to build its report block."""

    __slots__ = (
        "ssrc",
        "clock_rate",
        "seq",
        "expected_prior",
        "received_prior",
        "jitter",
        "_transit",
        "last_sr_ntp",
        "last_sr_arrival",
        "octets",
        "last_arrival",
    )

    def __init__(
        self, ssrc: int, first_seq: int, clock_rate: int, min_sequential: int = MIN_SEQUENTIAL
    ) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.seq = SequenceTracker(first_seq, min_sequential)
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        """Interarrival jitter in timestamp units (A.8), as a float."""
        self._transit: float | None = None
        self.last_sr_ntp = 0
        """Middle 32 bits of the NTP timestamp of the last SR from this source (LSR)."""
        self.last_sr_arrival = 0.0
        self.octets = 0
        self.last_arrival: float | None = None

    @property
    def received(self) -> int:
        """Packets received from this source, duplicates included (A.1 ``received``)."""
        return self.seq.received

    @property
    def expected(self) -> int:
        """Packets expected (A.3): extended highest sequence - base + 1."""
        return self.seq.expected if self.seq.valid else 0

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3), clamped to the signed 24-bit field of a report."""
        lost = self.expected - self.seq.received
        return max(-0x800000, min(0x7FFFFF, lost))

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter in milliseconds."""
        return self.jitter * 1000.0 / self.clock_rate

    def update_jitter(self, timestamp: int, now: float) -> None:
        """RFC 3550 A.8: fold one data packet's arrival at ``now`` (seconds) into the jitter."""
        # Transit = arrival (in timestamp units) - RTP timestamp; only differences matter,
        # so the timestamp is taken as a signed 32-bit value to survive wrap-around.
        transit = now * self.clock_rate - timestamp
        previous = self._transit
        self._transit = transit
        if previous is None:
            return
        d = transit - previous
        # A 32-bit timestamp wrap shows up as a jump of 2**32 in transit; fold it back.
        if d > 2147483648.0:
            d -= 4294967296.0
        elif d < -2147483648.0:
            d += 4294967296.0
        if d < 0:
            d = -d
        self.jitter += (d - self.jitter) / 16.0

    def on_sender_report(self, ntp_timestamp: int, now: float) -> None:
        """Remember an SR's NTP time and local arrival for LSR/DLSR (RFC 3550 §6.4.1)."""
        self.last_sr_ntp = ntp_middle32(ntp_timestamp)
        self.last_sr_arrival = now

    def fraction_lost(self) -> int:
        """A.3: fraction lost since the last call, in 1/256, and take a new snapshot."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received = self.seq.received
        received_interval = received - self.received_prior
        self.received_prior = received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            # Nothing expected (or the sender restarted its sequence and the count went
            # back): nothing to report as lost.
            return 0
        # Every packet of the interval lost is 256/256: the 8-bit field tops out at 255.
        return min(255, (lost_interval << 8) // expected_interval)

    def report_block(self, now: float) -> RtcpReportBlock:
        """Build this source's reception report block at ``now`` (RFC 3550 §6.4.1)."""
        dlsr = 0
        if self.last_sr_ntp:
            dlsr = max(0, int((now - self.last_sr_arrival) * 65536.0))
        return RtcpReportBlock(
            ssrc=self.ssrc,
            fraction_lost=self.fraction_lost(),
            packets_lost=self.lost,
            highest_sequence=self.seq.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=self.last_sr_ntp,
            dlsr=dlsr & 0xFFFFFFFF,
        )
