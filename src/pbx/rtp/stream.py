"""One RTP media channel of a call leg, sans-I/O (RFC 3550, RFC 3551, RFC 4733, RFC 4961).

Theory of operation
-------------------
:class:`RtpStream` is the composite of this package for one media channel: bytes and the
time they arrived come in (:meth:`RtpStream.receive`, :meth:`RtpStream.receive_rtcp`),
frames go out once per tick (:meth:`RtpStream.pop_frame`), payloads to send become
datagrams (:meth:`RtpStream.packetize`), RTCP is built when due, and DTMF digits and
remote BYEs come out of :meth:`RtpStream.next_event`. It never raises on received bytes:
malformed packets, packets from the wrong source and unknown payload types are counted
and dropped.

The parts: the receive side is the stream's own (its steady state reads the stream's
attributes inline, one packet at a time) and feeds a
:class:`~pbx.rtp.jitter.JitterBuffer` and a
:class:`~pbx.rtp.dtmf.TelephoneEventReceiver`; the send side is an
:class:`~pbx.rtp.sender.RtpSender`, the RTCP side an
:class:`~pbx.rtp.reports.RtcpReporter`. ``local_ssrc``, ``cname``, ``clock_rate`` and
``frame_samples`` are fixed when the stream is built and handed to the parts;
``payload_type``, ``telephone_event_pt`` (a re-INVITE) and ``remote_addr`` (latching, a
re-INVITE) may change, and reach every part that uses them.

Receive path: parse → symmetric-RTP latching (RFC 4961 style: with ``latching`` on, the
first valid packet fixes ``remote_addr``; later packets from another address are dropped
as ``wrong_source`` unless they bring a new SSRC after ``relatch_idle`` seconds of
silence from the latched source) → source validation → RFC 3550 A.1 sequence validation
→ the audio payload type goes to the A.8 jitter estimate and the jitter buffer, the
telephone-event payload type to the telephone-event receiver.

Source validation (RFC 3550 §8.2, A.1), so that packets injected from the stream's own
remote address cannot take its playout over: the first source is taken at once (after
``min_sequential`` packets). Once a source is valid, a packet with another SSRC starts
that SSRC's *probation*: it is kept aside, and only :data:`~pbx.rtp.seq.MIN_SEQUENTIAL`
packets of it in sequence, with no packet of the current source between them, switch
the stream to it (new receive state, jitter buffer reset, the kept packets played; for
a new address after ``relatch_idle``, the relatch happens then). The current source's
packets keep flowing meanwhile, and a stranger's lone packets change nothing. A packet
of the current SSRC whose sequence number jumps beyond ``MAX_DROPOUT`` / ``MAX_MISORDER``
is kept aside too and played only when the very next packet continues from it (the
sender restarted its sequence); one that leaps ahead by more than ``MAX_MISORDER`` but
less than ``MAX_DROPOUT`` is played, but moves the highest sequence number only when the
next packet continues it (:mod:`pbx.rtp.seq`); the jitter buffer likewise waits for a
second packet before it follows a timestamp jump beyond its ring. The steady state (same
SSRC, next sequence number) takes the same inlined path as before, with no extra test.
``unvalidated`` counts the packets kept aside and not (or not yet) played.

RTCP latching: reports go to the RTP peer's address with port + 1, or to the RTP address
itself with rtcp-mux (RFC 5761), and never anywhere else; once RTP has latched, RTCP
from any address other than the RTP peer's (its RTP port or port + 1) is dropped as
``wrong_source``, so a third party can neither redirect our reports nor inject a BYE.

Send path (:mod:`pbx.rtp.sender`): :meth:`RtpStream.packetize` builds the next datagram
with one header pack (sequence number + 1, timestamp + one frame, marker on the first
packet after start or after :meth:`RtpStream.silence`). After :meth:`RtpStream.send_dtmf`
the following ticks carry telephone-event packets instead of audio, all with the
timestamp of the tick the event started on.

RTCP (RFC 3550 §6, :mod:`pbx.rtp.reports`): :meth:`RtpStream.rtcp_due` /
:meth:`RtpStream.build_rtcp` send an SR when we sent media since the last report,
otherwise an RR, followed by an SDES CNAME, at the interval of Appendix A.7 (5 s
minimum, 2.5 s before the first report, randomised by 0.5–1.5 with the ``rng`` given,
divided by e − 3/2). Received SRs give LSR/DLSR for our report blocks; report blocks
about us give the round-trip time (§6.4.1).
"""

from __future__ import annotations

import math
import random
import struct
from collections import deque
from collections.abc import Callable

import structlog
from attrs import frozen

from pbx.errors import ConfigError
from pbx.loglimit import LogLimiter
from pbx.rtp.bank import RtpBank
from pbx.rtp.dtmf import DtmfDigit, TelephoneEventReceiver
from pbx.rtp.jitter import JitterBuffer
from pbx.rtp.packet import RtpError, RtpPacket
from pbx.rtp.reports import (
    IP_UDP_OVERHEAD,
    RTCP_COMPENSATION,
    RTCP_MIN_TIME,
    RTCP_RCVR_BW_FRACTION,
    RTCP_SENDER_BW_FRACTION,
    RtcpReporter,
    rtcp_interval,
)
from pbx.rtp.rtcp import (
    RtcpBye,
    RtcpError,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpReportBlock,
    RtcpSenderReport,
    build_compound,
    parse_rtcp,
)
from pbx.rtp.sender import RtpSender
from pbx.rtp.seq import MIN_SEQUENTIAL, RTP_SEQ_MOD
from pbx.rtp.stats import ReceiverStats

__all__ = [
    "IP_UDP_OVERHEAD",
    "RTCP_COMPENSATION",
    "RTCP_MIN_TIME",
    "RTCP_RCVR_BW_FRACTION",
    "RTCP_SENDER_BW_FRACTION",
    "Addr",
    "RemoteBye",
    "RtpStream",
    "RtpStreamStats",
    "rtcp_interval",
]

_HEADER = struct.Struct("!BBHII")
_unpack_header = _HEADER.unpack_from

log = structlog.get_logger(__name__)
_log_limit = LogLimiter()
"""A sender can change SSRC at will: those lines are rate-limited, every stream together."""

Addr = tuple[str, int]

_Held = tuple[bytes, int, int, int, int, float]
"""A packet kept aside: payload, second header byte, sequence number, timestamp, datagram
size, arrival time."""


@frozen
class RemoteBye:
    """The remote source left the session with an RTCP BYE (RFC 3550 §6.6)."""

    ssrc: int
    reason: str | None = None


@frozen
class RtpStreamStats:
    """A snapshot of an :class:`RtpStream`'s counters."""

    packets_sent: int
    bytes_sent: int
    packets_received: int
    bytes_received: int
    lost: int
    """Cumulative packets lost per RFC 3550 A.3 (expected − received)."""
    jitter_ms: float
    """RFC 3550 A.8 interarrival jitter in milliseconds."""
    late: int
    duplicates: int
    concealed: int
    malformed: int
    wrong_source: int
    unknown_payload_type: int
    round_trip_time: float | None
    """Seconds, from the last report block about us carrying LSR/DLSR (§6.4.1)."""
    unvalidated: int = 0
    """Packets kept aside and not played: a new SSRC's probation that did not (yet) pass,
    or a sequence jump the next packet did not (yet) confirm (RFC 3550 §8.2, A.1)."""


class _Probation:
    """A new SSRC proving itself (RFC 3550 §8.2): the packets it sent in sequence so far."""

    __slots__ = ("ssrc", "addr", "mark", "next_seq", "held")

    def __init__(self, ssrc: int, addr: Addr, mark: int) -> None:
        self.ssrc = ssrc
        self.addr = addr
        self.mark = mark
        """The stream's ``packets_received`` when it started: a packet of the current
        source in between breaks the run."""
        self.next_seq = -1
        self.held: list[_Held] = []


class RtpStream:
    """One media channel's RTP and RTCP, sans-I/O: bytes and ``now`` in, frames and bytes out."""

    def __init__(
        self,
        local_ssrc: int,
        payload_type: int,
        *,
        clock_rate: int = 8000,
        telephone_event_pt: int | None = 101,
        remote_addr: Addr | None = None,
        latching: bool = True,
        initial_seq: int,
        initial_ts: int,
        cname: str,
        rng: random.Random | None = None,
        rtcp_mux: bool = False,
        frame_samples: int | None = None,
        bytes_per_sample: int = 1,
        jitter_min_depth: int = 1,
        jitter_max_depth: int = 10,
        relatch_idle: float = 1.0,
        min_sequential: int = 1,
        session_bandwidth: int = 80_000,
        inter_digit_ms: int = 60,
        ntp_offset: float = 0.0,
    ) -> None:
        _check_payload_types(payload_type, telephone_event_pt)
        self.local_ssrc = local_ssrc & 0xFFFFFFFF
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples or clock_rate // 50
        self.cname = cname
        self.latching = latching
        self.rtcp_mux = rtcp_mux
        self.relatch_idle = relatch_idle
        self.min_sequential = min_sequential
        self.ntp_offset = ntp_offset
        """NTP wallclock minus ``now`` (s since 1900), for SRs from :meth:`datagrams_to_send`."""
        self._payload_type = payload_type
        self._telephone_event_pt = telephone_event_pt
        self._remote_addr = remote_addr
        # The bank row bound to (bind_bank): the stream's events flag and address version.
        self._bank: RtpBank | None = None
        self._row = 0
        self._jitter = JitterBuffer(
            frame_samples=self.frame_samples,
            bytes_per_sample=bytes_per_sample,
            min_depth=jitter_min_depth,
            max_depth=jitter_max_depth,
        )
        self._dtmf_in = TelephoneEventReceiver(clock_rate)
        self._sender = RtpSender(
            self.local_ssrc,
            payload_type,
            telephone_event_pt,
            clock_rate=clock_rate,
            frame_samples=self.frame_samples,
            initial_seq=initial_seq,
            initial_ts=initial_ts,
            inter_digit_ms=inter_digit_ms,
        )
        self._rtcp = RtcpReporter(local_ssrc, cname, session_bandwidth=session_bandwidth, rng=rng)
        self._events: deque[DtmfDigit | RemoteBye] = deque()
        # Receive state.
        self._latched = False
        self._stats: ReceiverStats | None = None
        self._probation: _Probation | None = None
        self._jumped: _Held | None = None
        self._generation = 0
        self._last_received: float | None = None
        # What came in.
        self.packets_received = 0
        self.bytes_received = 0
        self.malformed = 0
        self.wrong_source = 0
        self.unknown_payload_type = 0
        self.unvalidated = 0
        self.rtcp_received = 0
        self.malformed_rtcp = 0

    # ----------------------------------------------------------- negotiated

    @property
    def payload_type(self) -> int:
        """The audio payload type, sent and expected (RFC 3551 §6; a re-INVITE may
        change it, and :meth:`bind_bank` then hands it to the bank row)."""
        return self._payload_type

    @payload_type.setter
    def payload_type(self, payload_type: int) -> None:
        self._payload_type = payload_type
        self._sender.payload_type = payload_type

    @property
    def telephone_event_pt(self) -> int | None:
        """The RFC 4733 telephone-event payload type, or None when none was negotiated."""
        return self._telephone_event_pt

    @telephone_event_pt.setter
    def telephone_event_pt(self, payload_type: int | None) -> None:
        self._telephone_event_pt = payload_type
        self._sender.telephone_event_pt = payload_type

    # ------------------------------------------------------------------ receive

    @property
    def remote_ssrc(self) -> int | None:
        """The SSRC of the source being received, or None before the first packet."""
        return self._stats.ssrc if self._stats is not None else None

    @property
    def remote_addr(self) -> Addr | None:
        """Where RTP goes: from the SDP, then wherever the media comes from (latching)."""
        return self._remote_addr

    @remote_addr.setter
    def remote_addr(self, addr: Addr | None) -> None:
        self._remote_addr = addr
        if self._bank is not None:
            self._bank.address_version += 1

    @property
    def frame_source(self) -> Callable[[], bytes | None]:
        """The callable :meth:`pop_frame` calls (the jitter buffer's ``pop``), for a
        caller that pops every tick and wants one call less per frame."""
        return self._jitter.pop

    @property
    def rtcp_addr(self) -> Addr | None:
        """Where to send RTCP: the RTP address with rtcp-mux, else its port + 1.

        The RTP address is the SDP's, then the latched one: RTCP follows RTP, never the
        address RTCP happens to come from (RFC 3550 §11, RFC 5761).
        """
        remote = self._remote_addr
        if remote is None or self.rtcp_mux:
            return remote
        return (remote[0], remote[1] + 1)

    def set_remote(self, addr: Addr | None) -> None:
        """Point the stream at a new remote address (after a re-INVITE) and latch again."""
        self.remote_addr = addr
        self._latched = False
        self._probation = None

    def receive(self, data: bytes, addr: Addr, now: float) -> None:
        """Take one datagram received on the RTP port at ``now``; never raises."""
        # The common case first, without a call per step: a plain RTP version 2 header
        # (no padding, extension, CSRC or marker) with the audio payload type, from the
        # latched address and source, carrying the next sequence number (RFC 3550 A.1's
        # in-order branch). Everything else takes the general path below.
        header: tuple[int, int, int, int, int] | None
        try:
            b0, b1, seq, ts, ssrc = header = _unpack_header(data)
        except struct.error:
            header = None  # too short for RTP; with rtcp-mux it may still be RTCP
        else:
            stats = self._stats
            if (
                b0 == 0x80
                and b1 == self._payload_type
                and stats is not None
                and ssrc == stats.ssrc
                and addr == self._remote_addr
                and self._latched
            ):
                tracker = stats.seq
                if seq == (tracker.max_seq + 1) & 0xFFFF and not tracker.probation:
                    if not seq:
                        tracker.cycles += RTP_SEQ_MOD  # the sequence number wrapped
                    tracker.max_seq = seq
                    tracker.received += 1
                    self._last_received = now
                    self.packets_received += 1
                    self.bytes_received += len(data)
                    stats.update_jitter(ts, now)  # RFC 3550 A.8
                    self._jitter.put(data[12:], tracker.cycles + seq, ts, now)
                    return
        self._receive_general(data, addr, now, header)

    def _receive_general(
        self,
        data: bytes,
        addr: Addr,
        now: float,
        header: tuple[int, int, int, int, int] | None,
    ) -> None:
        if self.rtcp_mux and len(data) > 1 and 64 <= (data[1] & 0x7F) <= 95:
            self.receive_rtcp(data, addr, now)  # RFC 5761 §4
            return
        if header is None:
            self.malformed += 1
            return
        b0, b1, seq, ts, ssrc = header
        if b0 == 0x80:
            # The common case, parsed here without building an RtpPacket (RFC 3550 §5.1).
            payload = data[12:]
        else:
            try:
                payload = RtpPacket.parse(data).payload
            except RtpError:
                self.malformed += 1
                return
        stats = self._stats
        if addr != self._remote_addr and self.latching:
            if self._latched:
                if (
                    stats is not None
                    and ssrc != stats.ssrc
                    and self._last_received is not None
                    and now - self._last_received >= self.relatch_idle
                ):
                    # A new source at a new address once the latched one fell silent:
                    # it relatches only after its probation (RFC 3550 §8.2).
                    self._on_probation(payload, b1, seq, ts, ssrc, len(data), addr, now)
                else:
                    self.wrong_source += 1
                return
            # RFC 4961 symmetric RTP: send back to where the media comes from.
            self.remote_addr = addr
            self._latched = True
        elif not self._latched and self.latching:
            self._latched = True
        if stats is None or ssrc != stats.ssrc:
            if stats is not None and stats.seq.valid:
                # RFC 3550 §8.2: another SSRC while ours is valid must prove itself first.
                self._on_probation(payload, b1, seq, ts, ssrc, len(data), addr, now)
                return
            stats = self._new_source(ssrc, seq, self.min_sequential, now)
        self._accept(stats, (payload, b1, seq, ts, len(data), now))

    def _on_probation(
        self,
        payload: bytes,
        b1: int,
        seq: int,
        ts: int,
        ssrc: int,
        size: int,
        addr: Addr,
        now: float,
    ) -> None:
        """Keep a new source's packet; switch to the source once it has proven itself."""
        # RFC 3550 §8.2 / A.1 probation: MIN_SEQUENTIAL packets in sequence, from one
        # address, with no packet of the current source between them.
        run = self._probation
        if (
            run is None
            or run.ssrc != ssrc
            or run.addr != addr
            or run.next_seq != seq
            or run.mark != self.packets_received
        ):
            self._probation = run = _Probation(ssrc, addr, self.packets_received)
        run.held.append((payload, b1, seq, ts, size, now))
        run.next_seq = (seq + 1) & 0xFFFF
        self.unvalidated += 1
        if len(run.held) < MIN_SEQUENTIAL:
            return
        self._probation = None
        self.unvalidated -= len(run.held)
        if addr != self._remote_addr and self.latching:
            self.remote_addr = addr  # RFC 4961: the proven source's address
        stats = self._new_source(ssrc, run.held[0][2], 1, now)
        for held in run.held:
            self._accept(stats, held)

    def _accept(self, stats: ReceiverStats, packet: _Held) -> None:
        """RFC 3550 A.1 sequence validation of a packet of the current source, then play it."""
        payload, b1, seq, ts, size, now = packet
        tracker = stats.seq
        ext_seq = tracker.update(seq)  # RFC 3550 A.1
        if ext_seq < 0:
            if tracker.valid:
                # RFC 3550 A.1 bad_seq: a jump waits for the next packet to continue it.
                self.unvalidated += 1  # a jump it replaces stays unplayed
                self._jumped = packet
            return
        if tracker.generation != self._generation:
            # The source restarted its sequence numbers: extended numbers start again.
            # The timeline is the timestamps', which the jitter buffer follows itself.
            self._generation = tracker.generation
            self._jitter.restart_sequence()
            jumped = self._jumped
            if jumped is not None and jumped[2] == (seq - 1) & 0xFFFF:
                self._jumped = None
                self.unvalidated -= 1
                self._play(stats, jumped, ext_seq - 1)  # the jump's own packet
        self._play(stats, packet, ext_seq)

    def _play(self, stats: ReceiverStats, packet: _Held, ext_seq: int) -> None:
        payload, b1, _, ts, size, now = packet
        self._last_received = now
        rtcp = self._rtcp
        if rtcp.next_report is None and not rtcp.bye_sent:
            self._schedule_rtcp(now)  # RFC 3550 §6.2: the first report once media flows
        self.packets_received += 1
        self.bytes_received += size
        pt = b1 & 0x7F
        if pt == self._payload_type:
            stats.update_jitter(ts, now)  # RFC 3550 A.8
            self._jitter.put(payload, ext_seq, ts, now)
        elif pt == self._telephone_event_pt:
            self._events.extend(self._dtmf_in.receive(payload, ts, b1 > 0x7F, now))
            self._flag_events()
        else:
            self.unknown_payload_type += 1

    def _new_source(self, ssrc: int, seq: int, min_sequential: int, now: float) -> ReceiverStats:
        if self._stats is not None:
            _log_limit.log(log.info, "rtp_new_source", now, old_ssrc=self._stats.ssrc, ssrc=ssrc)
            self._events.extend(self._dtmf_in.handle_timer(math.inf))
            self._dtmf_in = TelephoneEventReceiver(self.clock_rate)
            self._flag_events()
        stats = ReceiverStats(ssrc, seq, self.clock_rate, min_sequential)
        self._stats = stats
        self._generation = stats.seq.generation
        self._jumped = None
        self._jitter.reset()
        return stats

    def pop_frame(self) -> bytes | None:
        """One frame's payload to play this tick, or None (a gap to conceal, or nothing yet)."""
        return self._jitter.pop()

    @property
    def jitter_buffer(self) -> JitterBuffer:
        """The receive jitter buffer (its counters and current depth)."""
        return self._jitter

    def next_event(self) -> DtmfDigit | RemoteBye | None:
        """The next DTMF digit or remote BYE, or None."""
        return self._events.popleft() if self._events else None

    def _flag_events(self) -> None:
        if self._events and self._bank is not None:
            self._bank.events[self._row] = True

    # --------------------------------------------------------------- the bank

    def bind_bank(self, bank: RtpBank, row: int) -> None:
        """Keep the send state in ``row`` of ``bank`` from now on.

        The engine then builds this stream's ordinary audio packets together with every
        other bound stream's (:meth:`RtpBank.packetize <pbx.rtp.bank.RtpBank.packetize>`);
        :meth:`packetize`, :meth:`silence`, :meth:`send_dtmf`, RTCP and :meth:`stats`
        read and write the same row. Binding again (to the same row) refreshes the
        payload type after it changed.
        """
        self._sender.bind(bank, row, events=bool(self._events))
        self._bank = bank
        self._row = row
        bank.address_version += 1

    def unbind_bank(self) -> None:
        """Take the send state back from the bank (the channel is going away)."""
        self._sender.unbind()
        self._bank = None

    # --------------------------------------------------------------------- send

    def packetize(self, payload: bytes) -> bytes:
        """The RTP datagram for this tick: ``payload`` as audio, or a pending DTMF packet."""
        return self._sender.packetize(payload)

    def silence(self, ticks: int = 1) -> None:
        """Advance the timestamp over ``ticks`` frames not sent; the next packet is marked."""
        self._sender.silence(ticks)

    def send_dtmf(self, digit: str, duration_ms: int = 100, volume: int = 10) -> None:
        """Queue one digit: the following :meth:`packetize` calls emit its RFC 4733 packets."""
        self._sender.send_dtmf(digit, duration_ms, volume)

    @property
    def sending_dtmf(self) -> bool:
        """True while queued telephone-event packets remain."""
        return self._sender.sending_dtmf

    # --------------------------------------------------------------------- RTCP

    def receive_rtcp(self, data: bytes, addr: Addr, now: float) -> None:
        """Take one RTCP datagram at ``now``; never raises."""
        try:
            packets = parse_rtcp(data)
        except RtcpError:
            self.malformed_rtcp += 1
            return
        remote = self._remote_addr
        if (
            self.latching
            and self._latched
            and remote is not None
            and not (addr[0] == remote[0] and 0 <= addr[1] - remote[1] <= 1)
        ):
            # RTCP latching: only the RTP peer speaks for the session (RFC 3550 §11).
            self.wrong_source += 1
            return
        self.rtcp_received += 1
        stats = self._stats
        for packet in packets:
            if isinstance(packet, RtcpSenderReport):
                if stats is not None and packet.ssrc == stats.ssrc:
                    stats.on_sender_report(packet.ntp_timestamp, now)
                self._rtcp.on_report_blocks(packet.reports, now)
            elif isinstance(packet, RtcpReceiverReport):
                self._rtcp.on_report_blocks(packet.reports, now)
            elif isinstance(packet, RtcpBye):
                self._on_bye(packet)

    def _on_bye(self, packet: RtcpBye) -> None:
        """The source we receive (or, before the first packet, any) left (RFC 3550 §6.6)."""
        stats = self._stats
        if stats is None or stats.ssrc in packet.sources:
            ssrc = stats.ssrc if stats is not None else packet.sources[0] if packet.sources else 0
            reason = packet.reason.decode("utf-8", "replace") if packet.reason else None
            self._events.append(RemoteBye(ssrc, reason))
            self._flag_events()

    def _schedule_rtcp(self, now: float) -> None:
        sender = self._sender
        sender.pull()
        remote_sending = (
            self._last_received is not None and now - self._last_received < 2 * RTCP_MIN_TIME
        )
        self._rtcp.schedule(
            now,
            members=2 if self._stats is not None else 1,
            senders=int(sender.sent_since_report or sender.packets_sent > 0) + int(remote_sending),
            we_sent=sender.sent_since_report,
        )

    def rtcp_due(self, now: float) -> bool:
        """True when an RTCP report should be built now; the first call starts the timer.

        The timer also starts on the first packet received.
        """
        rtcp = self._rtcp
        if rtcp.bye_sent:
            return False
        if rtcp.next_report is None:
            self._schedule_rtcp(now)
            return False
        return now >= rtcp.next_report

    def get_timer(self) -> float | None:
        """The earliest deadline: the next RTCP report or a DTMF event without its end."""
        deadlines = [
            t for t in (self._rtcp.next_report, self._dtmf_in.get_timer()) if t is not None
        ]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Report a DTMF event whose end packets were all lost (RFC 4733 §2.5.1.4).

        RTCP reports that are due come out of :meth:`datagrams_to_send`.
        """
        self._events.extend(self._dtmf_in.handle_timer(now))
        self._flag_events()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        """The RTCP report, if one is due and the remote RTCP address is known.

        The SR's wallclock is ``now + ntp_offset``; audio leaves through :meth:`packetize`.
        """
        addr = self.rtcp_addr
        if addr is None or not self.rtcp_due(now):
            return []
        return [(self.build_rtcp(now, now + self.ntp_offset), addr)]

    def _report_packets(self, now: float, ntp_time: float) -> list[RtcpPacket]:
        self._sender.pull()
        blocks: tuple[RtcpReportBlock, ...] = ()
        if self._stats is not None and self._stats.seq.valid:
            blocks = (self._stats.report_block(now),)
        return self._rtcp.report(now, ntp_time, blocks, self._sender)

    def build_rtcp(self, now: float, ntp_time: float) -> bytes:
        """Build the compound report (SR or RR, then SDES CNAME) and schedule the next one.

        ``ntp_time`` is the wallclock in seconds since 1900 (Unix time + 2208988800).
        """
        data = build_compound(self._report_packets(now, ntp_time))
        self._after_rtcp(now, len(data))
        return data

    def build_bye(self, now: float, ntp_time: float, reason: str | None = None) -> bytes:
        """Build the compound report ending with a BYE for our SSRC (RFC 3550 §6.6)."""
        packets = self._report_packets(now, ntp_time)
        packets.append(self._rtcp.bye(reason))
        data = build_compound(packets)
        self._after_rtcp(now, len(data))
        self._rtcp.stop()
        return data

    def _after_rtcp(self, now: float, size: int) -> None:
        self._rtcp.sent(size)
        self._schedule_rtcp(now)
        self._sender.report_sent()

    # ----------------------------------------------------------------- counters

    @property
    def packets_sent(self) -> int:
        """RTP packets sent; while bound to a bank row, as of the stream's last look at
        the row (its own packet, a report, :meth:`stats`)."""
        return self._sender.packets_sent

    @property
    def bytes_sent(self) -> int:
        """Datagram bytes sent, headers included (bound: like :attr:`packets_sent`)."""
        return self._sender.bytes_sent

    @property
    def rtcp_sent(self) -> int:
        """RTCP compound packets built (reports and the BYE)."""
        return self._rtcp.reports_sent

    @property
    def round_trip_time(self) -> float | None:
        """Seconds, from the last report block about us carrying LSR/DLSR (§6.4.1)."""
        return self._rtcp.round_trip_time

    @property
    def remote_fraction_lost(self) -> int:
        """Fraction lost (in 1/256) the remote last reported about our stream."""
        return self._rtcp.remote_fraction_lost

    @property
    def remote_packets_lost(self) -> int:
        """Cumulative packets lost the remote last reported about our stream."""
        return self._rtcp.remote_packets_lost

    @property
    def remote_jitter(self) -> int:
        """Interarrival jitter (timestamp units) the remote last reported about our stream."""
        return self._rtcp.remote_jitter

    def stats(self) -> RtpStreamStats:
        """A snapshot of the counters."""
        sender = self._sender
        sender.pull()
        receiver = self._stats
        return RtpStreamStats(
            packets_sent=sender.packets_sent,
            bytes_sent=sender.bytes_sent,
            packets_received=self.packets_received,
            bytes_received=self.bytes_received,
            lost=receiver.lost if receiver is not None else 0,
            jitter_ms=receiver.jitter_ms if receiver is not None else 0.0,
            late=self._jitter.late,
            duplicates=self._jitter.duplicates,
            concealed=self._jitter.concealed,
            malformed=self.malformed,
            wrong_source=self.wrong_source,
            unknown_payload_type=self.unknown_payload_type,
            round_trip_time=self._rtcp.round_trip_time,
            unvalidated=self.unvalidated,
        )


def _check_payload_types(payload_type: int, telephone_event_pt: int | None) -> None:
    """RFC 3551 §3: a payload type is seven bits."""
    if not 0 <= payload_type <= 127:
        raise ConfigError(f"rtp.payload_type: must be 0 to 127, got {payload_type}")
    if telephone_event_pt is not None and not 0 <= telephone_event_pt <= 127:
        raise ConfigError(f"rtp.telephone_event_pt: must be 0 to 127, got {telephone_event_pt}")
