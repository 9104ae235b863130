"""Sequence number and timestamp wrap arithmetic (RFC 3550 §5.1, Appendix A.1).

Theory of operation
-------------------
RTP sequence numbers are 16 bits and timestamps 32 bits; both wrap. Comparisons are done
on the signed difference modulo 2**16 or 2**32 (:func:`seq_diff`, :func:`ts_diff`), which
is right as long as the two values are less than half the space apart.

:class:`SequenceTracker` is Appendix A.1's ``update_seq`` for one source: a new source is
on *probation* until ``min_sequential`` packets arrive in sequence; afterwards a packet
within ``MAX_DROPOUT`` ahead advances the highest sequence number (counting a cycle when
it wraps), one within ``MAX_MISORDER`` behind is a late or duplicate packet, and anything
else is a jump: the tracker waits for the next packet to confirm it (``bad_seq``) and then
restarts, incrementing :attr:`SequenceTracker.generation` so the caller knows extended
sequence numbers started over. :meth:`SequenceTracker.update` returns the packet's
*extended* sequence number (cycles · 2**16 + seq), or -1 when the packet is not valid yet.

Departures from A.1's reference code, all against packets injected into a stream from
its own source address (a stray must never be able to push the real packets out):

* a *leap* ahead by more than ``MAX_MISORDER`` (but less than ``MAX_DROPOUT``) is valid
  and returned, but moves the highest sequence number only when the packet right after
  it continues from it (a burst of loss, not a stray): otherwise a single stray would
  make every real packet after it look like a jump back;
* a jump is confirmed only by the packet that arrives *right after* it (A.1 keeps
  ``bad_seq`` armed while the old sequence goes on, so a stray and a later stray that
  happens to continue it would restart the sequence);
* the packet that made a confirmed jump becomes the first of the new sequence, extended
  number ``ext − 1`` of the confirming packet's ``ext``, so a caller that kept it can
  still play it.

"Right after" means that no valid packet came in between: the tracker notes
:attr:`SequenceTracker.received` at the leap or jump, so the in-order path (which only
advances ``max_seq`` and ``received``, and which a caller may inline) costs nothing more.
"""

from __future__ import annotations

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between two 16-bit sequence numbers, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_lt(a: int, b: int) -> bool:
    """True when sequence number ``a`` comes before ``b`` (modulo 2**16)."""
    return seq_diff(a, b) < 0


def ts_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between two 32-bit RTP timestamps."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def ts_lt(a: int, b: int) -> bool:
    """True when timestamp ``a`` comes before ``b`` (modulo 2**32)."""
    return ts_diff(a, b) < 0


class SequenceTracker:
    """RFC 3550 A.1 source validation and extended highest sequence number for one SSRC."""

    __slots__ = (
        "min_sequential",
        "base_seq",
        "max_seq",
        "bad_seq",
        "bad_received",
        "leap",
        "leap_received",
        "cycles",
        "received",
        "probation",
        "generation",
    )

    def __init__(self, first_seq: int, min_sequential: int = MIN_SEQUENTIAL) -> None:
        self.min_sequential = min_sequential
        self.generation = 0
        self._init_seq(first_seq)
        # A.1: a new source starts on probation, one behind its first packet.
        self.max_seq = (first_seq - 1) & 0xFFFF
        self.probation = min_sequential
        self.generation = 0

    def _init_seq(self, seq: int) -> None:
        # RFC 3550 A.1 init_seq()
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1  # so seq == bad_seq is false
        self.bad_received = -1
        self.leap = -1  # no leap waiting for its next packet
        self.leap_received = -1
        self.cycles = 0
        self.received = 0
        self.probation = 0
        self.generation += 1

    @property
    def extended_max(self) -> int:
        """Extended highest sequence number received: cycles · 2**16 + max_seq."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the base (A.3): extended_max - base_seq + 1."""
        return self.cycles + self.max_seq - self.base_seq + 1

    @property
    def valid(self) -> bool:
        """True once the source has left probation."""
        return self.probation == 0

    def update(self, seq: int) -> int:
        """RFC 3550 A.1 ``update_seq``: the extended sequence number of ``seq``; < 0 if invalid."""
        max_seq = self.max_seq
        udelta = (seq - max_seq) & 0xFFFF
        if self.probation:
            # Source is not valid until min_sequential packets in sequence are received.
            if seq == (max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return self.cycles + seq
            else:
                self.probation = self.min_sequential - 1
                self.max_seq = seq
            return -1
        leap = self.leap
        if (
            leap >= 0
            and self.received == self.leap_received
            and 0 < (seq - leap) & 0xFFFF < MAX_DROPOUT
        ):
            # The packet right after a leap continues it: packets were lost, the highest
            # sequence number moves on (at most 2·MAX_DROPOUT ahead: still ahead).
            self.leap = -1
            if seq < max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
            self.received += 1
            return self.cycles + seq
        if udelta < MAX_DROPOUT:
            if udelta > MAX_MISORDER:
                # A leap: valid, but the highest sequence number waits for the next packet.
                self.received += 1
                self.leap = seq
                self.leap_received = self.received
                return self.cycles + seq + (RTP_SEQ_MOD if seq < max_seq else 0)
            # In order, with a permissible gap.
            if seq < max_seq:
                self.cycles += RTP_SEQ_MOD  # sequence number wrapped: count another cycle
            self.max_seq = seq
            self.received += 1
            return self.cycles + seq
        if udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # The sequence number made a very large jump.
            if seq == self.bad_seq and self.received == self.bad_received:
                # Two sequential packets, nothing received between them: assume the other
                # side restarted without telling us. The jump's packet opens the new
                # sequence, one before this one.
                self._init_seq((seq - 1) & 0xFFFF)
                if seq < self.max_seq:
                    self.cycles += RTP_SEQ_MOD  # the restart crossed a wrap
                self.max_seq = seq
                self.received += 2
                return self.cycles + seq
            # RFC 3550 A.1 bad_seq: only the very next packet can confirm this jump.
            self.bad_seq = (seq + 1) & 0xFFFF
            self.bad_received = self.received
            return -1
        # Duplicate or reordered packet, within MAX_MISORDER behind.
        self.received += 1
        return self.cycles + max_seq + udelta - RTP_SEQ_MOD
