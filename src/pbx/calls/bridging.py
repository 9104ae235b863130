"""Bridges: which legs hear which, through the mixer of the media engine.

Media is always anchored: two legs talk through a two-party bridge (both
``PARTICIPANT``), and a third leg — a supervisor — may join a pair's bridge with a role
(listen, whisper to one side, barge). Leaving a two-party bridge takes the peer out
with it and destroys the bridge; a joined third leg leaves alone, and the bridge goes
with its last member. A party put on hold by its phone makes its peer hear music.
"""

from __future__ import annotations

import structlog
from attrs import define

from pbx.calls.model import CallError, Leg
from pbx.media.engine import MediaEngine
from pbx.media.mixer import Role
from pbx.media.prompts import PlayItem

log = structlog.get_logger(__name__)


@define
class Bridges:
    """Two-party bridges and joined roles over the legs of a call manager."""

    engine: MediaEngine
    legs: dict[str, Leg]
    """The manager's live legs (shared, not copied)."""

    def bridge(self, a: Leg, b: Leg) -> None:
        """Connect the media of two legs both ways (a two-party bridge)."""
        if a.channel is None or b.channel is None:
            raise CallError("both legs need media to be bridged")
        for leg in (a, b):
            self.unbridge(leg)
            assert leg.channel is not None
            self.engine.stop_playback(leg.channel)
        bridge = self.engine.bridge_create()
        self.engine.bridge_join(bridge, a.channel, Role.PARTICIPANT)
        self.engine.bridge_join(bridge, b.channel, Role.PARTICIPANT)
        a.bridge = b.bridge = bridge
        a.peer, b.peer = b.id, a.id
        log.info("call_bridged", a=a.id, b=b.id, bridge=bridge)

    def unbridge(self, leg: Leg) -> None:
        """Take ``leg`` out of its bridge (and its two-party peer with it)."""
        if leg.bridge is None:
            return
        bridge = leg.bridge
        peer = self.legs.get(leg.peer or "")
        if leg.channel is not None:
            self.engine.bridge_leave(leg.channel)
        leg.bridge = None
        leg.peer = None
        if peer is None or peer.bridge != bridge:
            # A leg that joined another pair's bridge (a supervisor): the pair talks on;
            # the bridge goes with its last member.
            left = self.engine.mixer.bridges.get(bridge)
            if left is not None and not left.members:
                self.engine.bridge_destroy(bridge)
            return
        if peer.channel is not None:
            self.engine.bridge_leave(peer.channel)
        peer.bridge = None
        peer.peer = None
        self.engine.bridge_destroy(bridge)

    def join(self, leg: Leg, bridge: int, role: Role, whisper_to: Leg | None) -> None:
        """Put ``leg`` into an existing bridge with a role."""
        if leg.channel is None:
            raise CallError(f"leg {leg.id} has no media")
        self.engine.bridge_join(
            bridge, leg.channel, role, whisper_to=whisper_to.channel if whisper_to else None
        )
        leg.bridge = bridge

    def set_role(self, leg: Leg, role: Role, whisper_to: Leg | None) -> None:
        """Change the role of ``leg`` in the bridge it joined."""
        if leg.channel is None:
            raise CallError(f"leg {leg.id} has no media")
        self.engine.bridge_set_role(
            leg.channel, role, whisper_to=whisper_to.channel if whisper_to else None
        )

    def remote_hold(self, leg: Leg, held: bool, now: float, moh: list[PlayItem]) -> None:
        """The phone on ``leg`` put its party on hold (or took it off): MOH to the peer."""
        leg.held = held
        peer = self.legs.get(leg.peer or "")
        if held:
            leg.hold_started = now
            if peer is not None and peer.channel is not None:
                self.engine.play(peer.channel, moh, loop=True)
                self.engine.bridge_deafen(peer.channel, True)
        else:
            if leg.hold_started is not None:
                leg.hold_seconds += now - leg.hold_started
                leg.hold_started = None
            if peer is not None and peer.channel is not None:
                self.engine.stop_playback(peer.channel)
                self.engine.bridge_deafen(peer.channel, False)
        log.info("call_hold" if held else "call_resume", call=leg.call, leg=leg.id)
