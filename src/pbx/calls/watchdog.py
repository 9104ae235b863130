"""The media watchdog: a zombie call (its BYE lost, its phone gone) ends.

Every few seconds each answered leg's received packet count (RTP and RTCP) is compared
with the last look; a leg that should be sending (it did not put the call on hold, we
did not either, RFC 3264 §8.4) and has sent nothing for ``timeout`` seconds is due to be
hung up with a BYE — and its peer with it, as any B2BUA hang-up.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import define, field

from pbx.calls.model import Leg, LegState


@define
class MediaWatchdog:
    """Finds answered legs whose media stopped; sans-I/O (``now`` in, legs out)."""

    timeout: float
    """Seconds of silence on the wire before a leg is given up (0: never)."""
    deadline: float | None = field(init=False, default=None)
    """When to look next (None: no answered leg to watch)."""

    def arm(self, now: float) -> None:
        """An answered leg exists: look within a few seconds."""
        if self.timeout > 0 and self.deadline is None:
            self.deadline = now + min(5.0, self.timeout / 4)

    def silent(self, legs: Iterable[Leg], now: float) -> list[Leg]:
        """Look at every leg; return those to hang up, and re-arm while any is answered."""
        self.deadline = None
        answered = False
        silent: list[Leg] = []
        for leg in legs:
            stream = leg.stream
            if leg.state is not LegState.ANSWERED or stream is None:
                continue
            answered = True
            seen = stream.packets_received + stream.rtcp_received
            media = leg.media
            expected = not (
                leg.held
                or leg.on_hold_by_us
                or media is None
                or media.direction not in ("sendrecv", "recvonly")
            )
            if seen != leg.media_seen or not expected:
                leg.media_seen = seen
                leg.media_seen_at = now
            elif now - leg.media_seen_at >= self.timeout:
                silent.append(leg)
        if answered:
            self.arm(now)
        return silent
