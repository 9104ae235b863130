"""The media engine's row layout: which rows are live and how the tick treats them.

A :class:`Layout` is derived from the engine's channel table (streams, codecs, and
the per-row flags) by :func:`build_layout`, and rebuilt only when channels come,
go or change; the tick reads its row lists instead of looking at each channel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from attrs import frozen

from pbx.media.codecs import Codec

if TYPE_CHECKING:
    from pbx.media.engine import MediaStream

__all__ = ["Layout", "build_layout"]


@frozen
class Layout:
    """Row lists derived from the channel table; rebuilt only when channels change."""

    rows_list: list[int]
    streams: list[MediaStream]
    #: What each stream's ``pop_frame`` calls (``frame_source``), or ``pop_frame``.
    pops: list[Callable[[], bytes | None]]
    #: Every stream keeps its send state in the engine's RtpBank.
    all_banked: bool
    #: Indexes (into ``streams``) of the streams that do not.
    unbanked: list[int]
    #: Rows are exactly 0..n-1, so the output block is a slice.
    contiguous: bool
    #: Indexes (into ``streams``) of the streams whose jitter buffers are in the
    #: engine's JitterBank (None: none are), and their rows for
    #: :meth:`JitterBank.pop_into` (a slice when they are all the rows, 0..n-1).
    jitter_at: npt.NDArray[np.intp] | None
    jitter_rows: npt.NDArray[np.intp] | slice
    rows: npt.NDArray[np.intp]
    by_codec: list[tuple[Codec, npt.NDArray[np.intp]]]
    dtmf_rows: npt.NDArray[np.intp]
    #: ``dtmf_rows`` as a slice when they are consecutive (no gather needed).
    dtmf_span: slice | None
    talk_rows: npt.NDArray[np.intp]


def build_layout(
    streams_by_row: Sequence[MediaStream | None],
    codecs: Sequence[Codec | None],
    high: int,
    dtmf_on: npt.NDArray[np.bool_],
    talk_on: npt.NDArray[np.bool_],
    banked: npt.NDArray[np.bool_],
    jbanked: npt.NDArray[np.bool_],
) -> Layout:
    """The layout of rows ``0..high-1``: a row is live when it has a stream.

    ``dtmf_on``, ``talk_on``, ``banked`` (send state in the RtpBank) and
    ``jbanked`` (jitter buffer in the JitterBank) are the engine's per-row flags.
    """
    rows_list = [ch for ch in range(high) if streams_by_row[ch] is not None]
    streams = [s for s in streams_by_row[:high] if s is not None]
    rows = np.array(rows_list, dtype=np.intp)
    groups: dict[str, tuple[Codec, list[int]]] = {}
    for ch in rows_list:
        codec = codecs[ch]
        assert codec is not None
        groups.setdefault(codec.name, (codec, []))[1].append(ch)
    by_codec = [(codec, np.array(chs, dtype=np.intp)) for codec, chs in groups.values()]
    dtmf_rows = rows[dtmf_on[rows]] if len(rows) else rows
    dtmf_span = None
    if len(dtmf_rows) and dtmf_rows[-1] - dtmf_rows[0] == len(dtmf_rows) - 1:
        dtmf_span = slice(int(dtmf_rows[0]), int(dtmf_rows[-1]) + 1)  # rows are sorted
    row_banked = banked[rows] if len(rows) else np.zeros(0, dtype=np.bool_)
    contiguous = rows_list == list(range(len(rows_list)))
    row_jbanked = jbanked[rows] if len(rows) else np.zeros(0, dtype=np.bool_)
    jitter_at: npt.NDArray[np.intp] | None = None
    jitter_rows: npt.NDArray[np.intp] | slice = rows[:0]
    if row_jbanked.any():
        jitter_at = np.flatnonzero(row_jbanked)
        every = len(jitter_at) == len(rows)
        jitter_rows = slice(0, len(rows)) if every and contiguous else rows[jitter_at]
    return Layout(
        rows_list=rows_list,
        streams=streams,
        pops=[getattr(s, "frame_source", None) or s.pop_frame for s in streams],
        all_banked=bool(row_banked.all()),
        unbanked=np.flatnonzero(~row_banked).tolist(),
        contiguous=contiguous,
        jitter_at=jitter_at,
        jitter_rows=jitter_rows,
        rows=rows,
        by_codec=by_codec,
        dtmf_rows=dtmf_rows,
        dtmf_span=dtmf_span,
        talk_rows=rows[talk_on[rows]] if len(rows) else rows,
    )
