"""SIP timer values (RFC 3261 §17.1.1.1, Table 4; RFC 6026 Timers L and M).

``TimerConfig`` holds T1, T2 and T4; every lettered timer derives from them. Over a
reliable transport (TCP, TLS) the retransmission timers A, E, G are not used and the
wait timers D, I, J, K are zero (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
"""

from __future__ import annotations

from attrs import frozen


@frozen
class TimerConfig:
    """T1, T2, T4 in seconds; defaults are the RFC's."""

    t1: float = 0.5
    """RTT estimate (500 ms)."""
    t2: float = 4.0
    """Maximum retransmit interval for non-INVITE requests and INVITE responses (4 s)."""
    t4: float = 5.0
    """Maximum duration a message remains in the network (5 s)."""

    @property
    def b(self) -> float:
        """Timer B: INVITE transaction timeout, 64·T1."""
        return 64 * self.t1

    @property
    def f(self) -> float:
        """Timer F: non-INVITE transaction timeout, 64·T1."""
        return 64 * self.t1

    @property
    def h(self) -> float:
        """Timer H: wait time for ACK receipt, 64·T1."""
        return 64 * self.t1

    @property
    def d(self) -> float:
        """Timer D: wait time for response retransmits, > 32 s for UDP."""
        return max(32.0, 64 * self.t1)

    @property
    def l(self) -> float:  # noqa: E743 - the RFC's name
        """Timer L (RFC 6026): wait time for accepted INVITE request retransmits, 64·T1."""
        return 64 * self.t1

    @property
    def m(self) -> float:
        """Timer M (RFC 6026): wait time for retransmission of 2xx to INVITE, 64·T1."""
        return 64 * self.t1
