"""The receive state of many jitter buffers in arrays: one call pops a tick's frames.

Theory of operation
-------------------
A :class:`~pbx.rtp.jitter.JitterBuffer` keeps its frames in a byte ring and the state
its steady state touches in small integer arrays. Bound to a row of a
:class:`JitterBank` (:meth:`JitterBuffer.bind <pbx.rtp.jitter.JitterBuffer.bind>`),
those arrays are views of the bank's: ``state`` ``(rows, 8)`` (one cache line per
buffer, for the packets that write it one by one), ``done`` ``(rows, capacity)`` (per
slot the number of the whole frame it holds, else −1), ``ring``
``(rows, capacity · frame_bytes)``. Packets
still enter one at a time (:meth:`JitterBuffer.put`, on the shell's read path), but the
media engine takes one frame of every bound buffer per tick with
:meth:`JitterBank.pop_into`: the steady-state branch of :meth:`JitterBuffer.pop`
(playing, nothing to stretch or trim, the next frame whole and in place, no depth
change due) evaluated for all rows as array comparisons, the frames
of the rows that take it gathered straight into the engine's payload block, and their
play position, stable count and played counter advanced together. The rows that do
not take it are returned for the engine to call their buffer's :meth:`pop`, which runs
the other branches (buffering, loss, underrun, stretch, trim, shrink) on the same
arrays — so a buffer behaves the same bound or not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pbx.rtp.jitter import (
    PLAY,
    PLAYED,
    PLAYING,
    SHRINK,
    STABLE,
    STATE_FIELDS,
    STRETCH,
    TRIM,
    JitterBuffer,
)

assert (PLAY, STABLE, PLAYED) == (0, 1, 2)  # advanced together as one slice

__all__ = ["JitterBank"]


class JitterBank:
    """Rows of jitter-buffer state (frames, play position, slot flags) in arrays."""

    def __init__(
        self, capacity: int = 64, slots: int = 64, frame_samples: int = 160, frame_bytes: int = 160
    ) -> None:
        self.rows = 0
        self.slots = slots
        """Ring slots per buffer: only buffers of this ``capacity`` bind."""
        self.frame_samples = frame_samples
        self.frame_bytes = frame_bytes
        self.state = np.zeros((0, STATE_FIELDS), dtype=np.int64)
        self.done = np.zeros((0, slots), dtype=np.int64)
        self.ring = np.zeros((0, slots * frame_bytes), dtype=np.uint8)
        self._bound: dict[int, JitterBuffer] = {}
        self._base = np.zeros(0, dtype=np.int64)
        self.grow(capacity)

    def accepts(self, buffer: JitterBuffer) -> bool:
        """Whether ``buffer`` has this bank's frame size and ring capacity."""
        return (
            buffer.capacity == self.slots
            and buffer.frame_samples == self.frame_samples
            and buffer.frame_bytes == self.frame_bytes
        )

    def grow(self, rows: int) -> None:
        """Make room for ``rows`` rows, keeping the rows there are."""
        old = self.rows
        if rows <= old:
            return
        state = np.zeros((rows, STATE_FIELDS), dtype=np.int64)
        state[:old] = self.state
        self.state = state
        for name, fill in (("done", -1), ("ring", 0)):
            arr = getattr(self, name)
            grown = np.full((rows,) + arr.shape[1:], fill, dtype=arr.dtype)
            grown[:old] = arr
            setattr(self, name, grown)
        self.rows = rows
        self._base = np.arange(rows, dtype=np.int64) * self.slots
        for buffer in self._bound.values():
            buffer.rebind()

    def load(
        self,
        row: int,
        state: npt.NDArray[np.int64],
        done: npt.NDArray[np.int64],
        ring: npt.NDArray[np.uint8],
    ) -> None:
        """Copy a buffer's arrays into ``row`` (the buffer is binding to it)."""
        self.state[row] = state
        self.done[row] = done
        self.ring[row] = ring

    def attach(self, row: int, buffer: JitterBuffer) -> None:
        """Bind ``buffer`` to ``row`` (its state moves into the bank; the bank grows).

        A buffer bound elsewhere is detached there first, and a buffer bound to ``row``
        before is detached from it.
        """
        if buffer.bank is not None:
            buffer.bank.detach(buffer.bank_row)
        if row in self._bound:
            self.detach(row)
        if row >= self.rows:
            self.grow(max(row + 1, 2 * self.rows))
        buffer.bind(self, row)
        self._bound[row] = buffer

    def detach(self, row: int) -> None:
        """Unbind the buffer of ``row`` (its state moves back into the buffer)."""
        buffer = self._bound.pop(row, None)
        if buffer is not None and buffer.bank is self and buffer.bank_row == row:
            buffer.unbind()

    def pop_into(
        self, rows: npt.NDArray[np.intp] | slice, out: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.bool_]:
        """The steady-state pop of every buffer in ``rows``; which rows took it.

        ``rows`` are bank rows (an index array, or a slice of consecutive rows); the frame
        of each row that took the steady-state branch is written to the same row of
        ``out`` (``(≥ rows, frame_bytes)`` uint8). The others are untouched: call their
        buffer's :meth:`~pbx.rtp.jitter.JitterBuffer.pop`.
        """
        state = self.state[rows]  # a view for a slice, a copy for an index array
        play = state[:, PLAY]
        flat = self._base[rows] + (play & (self.slots - 1))
        ok = self.done.reshape(-1).take(flat) == play
        ok &= state[:, PLAYING] != 0
        ok &= (state[:, STRETCH] | state[:, TRIM]) == 0
        ok &= state[:, STABLE] + 1 < state[:, SHRINK]
        ring = self.ring.reshape(-1, self.frame_bytes)
        if isinstance(rows, slice) and ok.all():  # the usual tick: views, no index arrays
            ring.take(flat, axis=0, out=out[rows], mode="wrap")
            state[:, PLAY : PLAYED + 1] += 1  # play position, stable count, frames played
        else:
            every = np.arange(rows.start or 0, rows.stop) if isinstance(rows, slice) else rows
            took = every[ok]
            out[took] = ring.take(flat[ok], axis=0, mode="wrap")
            self.state[took, PLAY : PLAYED + 1] += 1
        return ok
