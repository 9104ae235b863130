"""The RTCP half of one RTP stream: when to report, what to report, what came back (RFC 3550 §6).

Theory of operation
-------------------
An :class:`RtcpReporter` keeps what RTCP needs of a stream beyond its RTP state:

* when: the transmission interval of Appendix A.7 (:func:`rtcp_interval`): RTCP gets
  5% of the session bandwidth, a quarter of it for senders when they are at most a
  quarter of the members; at least 5 s (2.5 s before the first report), randomised by
  0.5–1.5 with the ``rng`` given so that members do not synchronise (§6.2), divided by
  e − 3/2 to compensate timer reconsideration; the average report size counts the
  IP and UDP headers. The stream says how many members and senders there are, and
  whether it sent since the last report, each time it schedules one;
* what: an SR when the stream sent media since the last report, otherwise an RR, with
  the reception report block the stream gives, followed by an SDES CNAME (§6.1,
  §6.4, §6.5.1); the SR's sender info comes from the stream's
  :class:`~pbx.rtp.sender.RtpSender`;
* what came back: report blocks about our SSRC give the loss and jitter the peer sees
  and, when they carry LSR, the round-trip time A − LSR − DLSR (§6.4.1), A being the
  local time we sent the SR whose middle NTP bits the LSR echoes (the last eight SRs
  are remembered).

After our BYE (§6.6) no further report is due. Nothing here reads a clock: every time
is a ``now`` argument.
"""

from __future__ import annotations

import math
import random
from collections import deque

from pbx.rtp.rtcp import (
    SDES_CNAME,
    RtcpBye,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpReportBlock,
    RtcpSdes,
    RtcpSenderReport,
    SdesChunk,
    ntp_from_seconds,
    ntp_middle32,
)
from pbx.rtp.sender import RtpSender

__all__ = [
    "IP_UDP_OVERHEAD",
    "RTCP_COMPENSATION",
    "RTCP_MIN_TIME",
    "RTCP_RCVR_BW_FRACTION",
    "RTCP_SENDER_BW_FRACTION",
    "RtcpReporter",
    "rtcp_interval",
]

RTCP_MIN_TIME = 5.0
"""RFC 3550 §6.2: the minimum interval between RTCP reports, in seconds."""
RTCP_SENDER_BW_FRACTION = 0.25
RTCP_RCVR_BW_FRACTION = 0.75
RTCP_COMPENSATION = math.e - 1.5
"""RFC 3550 A.7: compensates the "timer reconsideration" bias towards shorter intervals."""
IP_UDP_OVERHEAD = 28


def rtcp_interval(
    members: int,
    senders: int,
    rtcp_bw: float,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    rng: random.Random,
) -> float:
    """RFC 3550 A.7 ``rtcp_interval``: seconds until the next RTCP report."""
    rtcp_min_time = RTCP_MIN_TIME / 2 if initial else RTCP_MIN_TIME
    n = members
    if senders <= members * RTCP_SENDER_BW_FRACTION:
        if we_sent:
            rtcp_bw *= RTCP_SENDER_BW_FRACTION
            n = senders
        else:
            rtcp_bw *= RTCP_RCVR_BW_FRACTION
            n -= senders
    t = avg_rtcp_size * n / rtcp_bw
    if t < rtcp_min_time:
        t = rtcp_min_time
    # Randomise to [0.5, 1.5] of the interval to avoid synchronisation (§6.2).
    t *= rng.random() + 0.5
    return t / RTCP_COMPENSATION


class RtcpReporter:
    """One stream's RTCP schedule, the reports it builds and what the peer reports back."""

    __slots__ = (
        "ssrc",
        "cname",
        "rtcp_bw",
        "rng",
        "next_report",
        "initial",
        "bye_sent",
        "avg_rtcp_size",
        "reports_sent",
        "round_trip_time",
        "remote_fraction_lost",
        "remote_packets_lost",
        "remote_jitter",
        "_sr_sent",
    )

    def __init__(
        self,
        ssrc: int,
        cname: str,
        *,
        session_bandwidth: int,
        rng: random.Random | None = None,
    ) -> None:
        self.ssrc = ssrc & 0xFFFFFFFF
        self.cname = cname
        self.rtcp_bw = session_bandwidth * 0.05 / 8
        """RFC 3550 §6.2: RTCP gets 5% of the session bandwidth, in octets per second."""
        self.rng = rng if rng is not None else random.Random(ssrc)
        """Randomises the intervals (§6.2); by default seeded with the SSRC, so a stream's
        schedule is the same from run to run."""
        self.next_report: float | None = None
        """When the next report is due; None before the schedule starts and after BYE."""
        self.initial = True
        """No report sent yet: the interval's minimum is halved (A.7)."""
        self.bye_sent = False
        self.avg_rtcp_size = 100.0
        self.reports_sent = 0
        self.round_trip_time: float | None = None
        """Seconds, from the last report block about us carrying LSR/DLSR (§6.4.1)."""
        self.remote_fraction_lost = 0
        """Fraction lost (in 1/256) the remote last reported about our stream."""
        self.remote_packets_lost = 0
        self.remote_jitter = 0
        self._sr_sent: deque[tuple[int, float]] = deque(maxlen=8)
        """(middle 32 bits of the NTP timestamp, local send time) of the last SRs."""

    def schedule(self, now: float, *, members: int, senders: int, we_sent: bool) -> None:
        """Set the next report's time from ``now`` (RFC 3550 A.7)."""
        interval = rtcp_interval(
            members,
            senders,
            self.rtcp_bw,
            we_sent,
            self.avg_rtcp_size,
            self.initial,
            self.rng,
        )
        self.next_report = now + interval

    def on_report_blocks(self, blocks: tuple[RtcpReportBlock, ...], now: float) -> None:
        """Take the report blocks of a received SR or RR: ours give loss, jitter and RTT."""
        for block in blocks:
            if block.ssrc != self.ssrc:
                continue
            self.remote_fraction_lost = block.fraction_lost
            self.remote_packets_lost = block.packets_lost
            self.remote_jitter = block.jitter
            if block.lsr:
                for lsr, sent_at in self._sr_sent:
                    if lsr == block.lsr:
                        # RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in our own clock.
                        self.round_trip_time = max(0.0, now - sent_at - block.dlsr / 65536.0)
                        break

    def report(
        self,
        now: float,
        ntp_time: float,
        blocks: tuple[RtcpReportBlock, ...],
        sender: RtpSender,
    ) -> list[RtcpPacket]:
        """The SR (``sender`` sent since the last report) or RR, then the SDES CNAME.

        ``ntp_time`` is the wallclock in seconds since 1900; ``sender``'s state must be
        current (pulled from its bank row).
        """
        report: RtcpPacket
        if sender.sent_since_report:
            ntp = ntp_from_seconds(ntp_time)
            # RFC 3550 §6.4.1: the RTP timestamp of the same instant; the next frame's
            # timestamp is within one tick of it.
            report = RtcpSenderReport(
                self.ssrc, ntp, sender.timestamp, sender.packets_sent, sender.octets_sent, blocks
            )
            self._sr_sent.append((ntp_middle32(ntp), now))
        else:
            report = RtcpReceiverReport(self.ssrc, blocks)
        sdes = RtcpSdes((SdesChunk(self.ssrc, ((SDES_CNAME, self.cname.encode()),)),))
        return [report, sdes]

    def bye(self, reason: str | None) -> RtcpBye:
        """The BYE for our SSRC (RFC 3550 §6.6)."""
        return RtcpBye((self.ssrc,), reason.encode() if reason else None)

    def sent(self, size: int) -> None:
        """A compound report of ``size`` bytes went out (A.7: the average counts the
        lower-layer headers); the caller schedules the next."""
        self.reports_sent += 1
        self.avg_rtcp_size += (size + IP_UDP_OVERHEAD - self.avg_rtcp_size) / 16
        self.initial = False

    def stop(self) -> None:
        """Our BYE went out: no report is due any more."""
        self.next_report = None
        self.bye_sent = True
