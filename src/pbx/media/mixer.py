"""Mixing as a gain matrix: what each channel hears is ``clip(G @ pcm)``.

Theory of operation: ``pcm`` is the ``(N, 160)`` block of what every channel
*says* this tick (row = channel).  ``G[sink, src]`` is the gain from ``src`` to
``sink`` — PJMEDIA's ``conf_connect_port(src, sink, level)`` written as a
matrix — so a two-party call, an N-party conference (everyone but self), a
supervisor listening, whispering or barging are all one product with different
``G``.  The channels never change when a role changes; only ``G`` does.

``G`` is block-diagonal (bridges are small and disjoint), so it is never stored
dense.  A :class:`MixPlan` keeps only its non-zero entries, grouped by sink
fan-in (how many sources a sink hears): for the ``K`` sinks hearing ``k``
sources each, one gather ``pcm[srcs]`` of shape ``(K, k, 160)`` and one sum
over the middle axis mix them all — a batched product over equal-size blocks
without multiplying by the zeros.  At unity gain the sums run in ``int32`` and
are exact; other gains (float32 values) run in ``float64``, where the products
and sums are exact, and are rounded half-to-even.  The caller adds
prompt audio to the same ``int32`` accumulator and saturates once to
``[-32768, 32767]``.  ``benchmarks/bench_tick.py`` compares this with a dense
product and with batched matmuls over equal-size bridges.

Roles (contact-center terms) decide which entries of a bridge's block are 1:

* ``PARTICIPANT`` hears every other member who may be heard; heard by all.
* ``LISTEN`` (supervisor monitor) hears all; heard by none.
* ``WHISPER`` (coach) hears all; heard only by the designated agent.
* ``BARGE`` hears all; heard by all.

A muted member is heard by none but still hears; a deaf one (a party on hold, who
hears music only) hears none but may still be heard.  Echo (a channel hearing
itself, for line tests) is a diagonal entry.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import define, field, frozen

from pbx.errors import InvalidStateError, LocalProtocolError

__all__ = ["Bridge", "FanIn", "Member", "MixPlan", "Mixer", "Role", "mix_dense"]

Pcm = npt.NDArray[np.int16]


class Role(enum.Enum):
    """What a bridge member hears and who hears it."""

    PARTICIPANT = "participant"
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


@define
class Member:
    """One channel's place in a bridge."""

    #: Channel (engine row) of this member.
    channel: int
    #: What this member hears and who hears it.
    role: Role = Role.PARTICIPANT
    #: Heard by nobody while set; still hears.
    muted: bool = False
    #: For ``WHISPER``: the one channel that hears this member.
    whisper_to: int | None = None
    #: Gain applied to what this member says (1.0 = unchanged).
    volume: float = 1.0
    #: Hears nobody while set (on hold: the player's music only); may still be heard.
    deaf: bool = False


def _heard_by(src: Member, sink: Member) -> bool:
    if src.channel == sink.channel or src.muted or sink.deaf:
        return False
    if src.role in (Role.PARTICIPANT, Role.BARGE):
        return True
    if src.role is Role.WHISPER:
        return src.whisper_to == sink.channel
    return False  # LISTEN


@define
class Bridge:
    """A set of channels that hear each other according to their roles."""

    bridge_id: int
    members: dict[int, Member] = field(factory=dict)
    #: ``edges()`` as computed after the last change (the mixer clears it).
    _edges: list[tuple[int, int, float]] | None = field(default=None, eq=False, repr=False)

    def edges(self) -> list[tuple[int, int, float]]:
        """The non-zero entries ``(sink, src, gain)`` of this bridge's block of G."""
        if self._edges is None:
            members = list(self.members.values())
            self._edges = [
                (sink.channel, src.channel, src.volume)
                for sink in members
                for src in members
                if _heard_by(src, sink)
            ]
        return self._edges

    def changed(self) -> None:
        """A member joined, left or changed: compute the edges again when asked."""
        self._edges = None


@frozen
class FanIn:
    """Sinks that each hear the same number ``k`` of sources, as ``(K, k)`` arrays."""

    #: Sink rows, shape (K,).
    sinks: npt.NDArray[np.intp]
    #: Source rows per sink, shape (K, k).
    srcs: npt.NDArray[np.intp]
    #: Gain per source, shape (K, k, 1) float32; None when every gain is exactly 1.
    gains: npt.NDArray[np.float32] | None


@frozen
class MixPlan:
    """The non-zero entries of G, grouped by how many sources each sink hears.

    Grouping by fan-in turns the sparse product into a few dense batched sums:
    for the sinks that hear ``k`` sources, ``pcm[srcs]`` is ``(K, k, 160)`` and
    one ``sum(axis=1)`` mixes them all (two-party calls: ``k = 1``, a copy).
    """

    groups: tuple[FanIn, ...]
    #: For :meth:`copy_into`, per output length: each row's one source, and the rows
    #: that hear nobody.
    _copy_index: dict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] = field(
        factory=dict, eq=False, repr=False
    )

    @property
    def unity(self) -> bool:
        """True when every gain is exactly 1 (integer path, no rounding)."""
        return all(g.gains is None for g in self.groups)

    @classmethod
    def from_edges(cls, edges: list[tuple[int, int, float]]) -> MixPlan:
        """Build a plan from ``(sink, src, gain)`` triples (any order, no duplicates)."""
        if not edges:
            return cls(())
        table = np.array(edges, dtype=np.float64)
        sink_all = table[:, 0].astype(np.intp)
        src_all = table[:, 1].astype(np.intp)
        order = np.lexsort((src_all, sink_all))  # by sink, then by source
        sink_all, src_all = sink_all[order], src_all[order]
        gain_all = table[order, 2].astype(np.float32)
        sinks, starts, fan_in = np.unique(sink_all, return_index=True, return_counts=True)
        groups = []
        for k in np.unique(fan_in).tolist():
            chosen = fan_in == k
            index = starts[chosen][:, None] + np.arange(k)  # (K, k) edges of each sink
            gains = gain_all[index]
            groups.append(
                FanIn(
                    sinks[chosen],
                    src_all[index],
                    None if np.all(gains == 1.0) else gains.reshape(len(index), k, 1),
                )
            )
        return cls(tuple(groups))

    @property
    def copy_only(self) -> bool:
        """True when every sink hears exactly one source at unity gain (no sums)."""
        return all(g.gains is None and g.srcs.shape[1] == 1 for g in self.groups)

    def copy_into(self, rows: npt.NDArray[Any], out: npt.NDArray[Any], fill: int = 0) -> None:
        """For a :attr:`copy_only` plan: ``out[sink] = rows[src]``, other rows ``fill``.

        Works on any row type: pcm, or the codes of one codec (bit-transparent
        forwarding of a two-party call).
        """
        n = len(out)
        index = self._copy_index.get(n)
        if index is None:
            src = np.full(n, -1, dtype=np.intp)
            for group in self.groups:
                keep = group.sinks < n
                src[group.sinks[keep]] = group.srcs[keep, 0]
            unfed = np.flatnonzero(src < 0)
            src[unfed] = 0
            index = self._copy_index[n] = (src, unfed)
        src, unfed = index
        # One gather for every row (mode="wrap" writes straight into ``out``).
        rows.take(src, axis=0, out=out, mode="wrap")
        if len(unfed):
            out[unfed] = fill

    def mix_into(self, pcm: Pcm, acc: npt.NDArray[np.int32]) -> None:
        """Write what each sink hears into ``acc`` (int32, un-saturated).

        Rows of ``acc`` that are not sinks are set to 0.  ``pcm`` is ``(N, 160)``
        int16; ``acc`` is ``(N, 160)`` int32 or larger in the first dimension.
        """
        acc[:] = 0
        for group in self.groups:
            k = group.srcs.shape[1]
            if group.gains is None:
                if k == 1:  # one source per sink (two-party calls): a copy
                    acc[group.sinks] = pcm.take(group.srcs[:, 0], axis=0)
                    continue
                # One gather per source column, accumulated in int32: faster than
                # a casting sum over axis 1 of the (K, k, 160) gather.
                mixed = pcm.take(group.srcs[:, 0], axis=0).astype(np.int32)
                for j in range(1, k):
                    mixed += pcm.take(group.srcs[:, j], axis=0)
                acc[group.sinks] = mixed
            else:
                scaled = pcm[group.srcs].astype(np.float64) * group.gains
                summed = np.rint(scaled.sum(axis=1))
                np.clip(summed, -(2**31), 2**31 - 1, out=summed)
                acc[group.sinks] = summed.astype(np.int32)


def mix_dense(gain: npt.NDArray[np.floating], pcm: Pcm) -> Pcm:
    """Reference mix ``clip(rint(G @ pcm))`` with a dense ``G[sink, src]``."""
    out = np.rint(gain.astype(np.float64) @ pcm.astype(np.float64))
    return np.clip(out, -32768, 32767).astype(np.int16)


@define
class Mixer:
    """Bridges, roles, mute and echo, compiled into one :class:`MixPlan` on change."""

    bridges: dict[int, Bridge] = field(factory=dict)
    _bridge_of: dict[int, int] = field(factory=dict)
    _echo: set[int] = field(factory=set)
    _next_id: int = 1
    _plan: MixPlan | None = None

    # -- membership ---------------------------------------------------------------
    def create_bridge(self) -> int:
        """Create an empty bridge and return its id."""
        bridge_id = self._next_id
        self._next_id += 1
        self.bridges[bridge_id] = Bridge(bridge_id)
        return bridge_id

    def destroy_bridge(self, bridge_id: int) -> None:
        """Remove a bridge and every membership in it."""
        bridge = self._bridge(bridge_id)
        for ch in bridge.members:
            del self._bridge_of[ch]
        del self.bridges[bridge_id]
        self._plan = None

    def join(
        self,
        bridge_id: int,
        channel: int,
        role: Role = Role.PARTICIPANT,
        *,
        whisper_to: int | None = None,
        muted: bool = False,
        volume: float = 1.0,
    ) -> None:
        """Add ``channel`` to a bridge with ``role`` (a channel is in one bridge at most)."""
        bridge = self._bridge(bridge_id)
        current = self._bridge_of.get(channel)
        if current is not None:
            raise InvalidStateError(f"channel {channel} is already in bridge {current}")
        _check_role(role, whisper_to)
        bridge.members[channel] = Member(channel, role, muted, whisper_to, volume)
        bridge.changed()
        self._bridge_of[channel] = bridge_id
        self._plan = None

    def leave(self, channel: int) -> None:
        """Take ``channel`` out of its bridge (no-op when it is in none)."""
        bridge_id = self._bridge_of.pop(channel, None)
        if bridge_id is not None:
            bridge = self.bridges[bridge_id]
            del bridge.members[channel]
            bridge.changed()
            self._plan = None

    def set_role(self, channel: int, role: Role, *, whisper_to: int | None = None) -> None:
        """Change what ``channel`` hears and who hears it; only G changes."""
        _check_role(role, whisper_to)
        member = self.member(channel)
        member.role = role
        member.whisper_to = whisper_to
        self._member_changed(channel)

    def set_muted(self, channel: int, muted: bool) -> None:
        """Mute (heard by none) or unmute ``channel`` in its bridge."""
        self.member(channel).muted = muted
        self._member_changed(channel)

    def set_deaf(self, channel: int, deaf: bool) -> None:
        """Make ``channel`` hear nobody in its bridge (on hold), or hear again."""
        self.member(channel).deaf = deaf
        self._member_changed(channel)

    def set_echo(self, channel: int, on: bool) -> None:
        """Let ``channel`` hear itself (a line test), independent of bridges."""
        if on == (channel in self._echo):
            return
        if on:
            self._echo.add(channel)
        else:
            self._echo.discard(channel)
        self._plan = None

    def forget(self, channel: int) -> None:
        """Drop every reference to ``channel`` (it is being removed from the engine)."""
        self.leave(channel)
        self.set_echo(channel, False)

    def _member_changed(self, channel: int) -> None:
        self.bridges[self._bridge_of[channel]].changed()
        self._plan = None

    def bridge_of(self, channel: int) -> int | None:
        """The bridge ``channel`` is in, or None."""
        return self._bridge_of.get(channel)

    def member(self, channel: int) -> Member:
        """The membership of ``channel``; raises when it is in no bridge."""
        bridge_id = self._bridge_of.get(channel)
        if bridge_id is None:
            raise InvalidStateError(f"channel {channel} is not in a bridge")
        return self.bridges[bridge_id].members[channel]

    # -- the matrix ---------------------------------------------------------------
    def edges(self) -> list[tuple[int, int, float]]:
        """Every non-zero ``(sink, src, gain)`` of G."""
        edges = [e for bridge in self.bridges.values() for e in bridge.edges()]
        edges.extend((ch, ch, 1.0) for ch in self._echo)
        return edges

    def plan(self) -> MixPlan:
        """The compiled plan; rebuilt only after a membership, role, mute or echo change."""
        if self._plan is None:
            self._plan = MixPlan.from_edges(self.edges())
        return self._plan

    def gain_matrix(self, n: int) -> npt.NDArray[np.float32]:
        """G as a dense ``(n, n)`` matrix, ``G[sink, src]`` (for tests and inspection)."""
        gain = np.zeros((n, n), dtype=np.float32)
        for sink, src, g in self.edges():
            gain[sink, src] += g
        return gain

    def mix(self, pcm: Pcm, acc: npt.NDArray[np.int32] | None = None) -> Pcm:
        """What every channel hears: ``clip(G @ pcm)`` as int16 ``(N, 160)``."""
        if acc is None:
            acc = np.empty(pcm.shape, dtype=np.int32)
        self.plan().mix_into(pcm, acc)
        return np.clip(acc, -32768, 32767).astype(np.int16)

    def _bridge(self, bridge_id: int) -> Bridge:
        try:
            return self.bridges[bridge_id]
        except KeyError:
            raise InvalidStateError(f"bridge {bridge_id} does not exist") from None


def _check_role(role: Role, whisper_to: int | None) -> None:
    if role is Role.WHISPER and whisper_to is None:
        raise LocalProtocolError("a WHISPER member needs whisper_to (the agent's channel)")
    if role is not Role.WHISPER and whisper_to is not None:
        raise LocalProtocolError(f"whisper_to is only meaningful for WHISPER, not {role.name}")
