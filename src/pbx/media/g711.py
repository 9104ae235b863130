"""G.711 μ-law and A-law by table lookup over whole arrays.

Theory of operation: G.711 maps each 8-bit code to one 16-bit linear sample, and
each 16-bit linear sample to one code, so both directions are pure table
lookups.  The tables are built once at import with the segment arithmetic of the
ITU-T G.711 reference (the same arithmetic as the classic Sun ``g711.c`` and
CPython's ``audioop``), so every result is bit-exact with ``audioop.ulaw2lin``,
``lin2ulaw``, ``alaw2lin`` and ``lin2alaw``:

* decode: a 256-entry ``int16`` table indexed by the code;
* encode: a 65,536-entry ``uint8`` table indexed by the sample's bit pattern
  (the ``int16`` array viewed as ``uint16``), so no branch runs per sample.

``ndarray.take(x, out=..., mode="wrap")`` is used instead of fancy indexing: it is
faster and writes straight into a preallocated frame block (the default
``mode="raise"`` buffers ``out``; indices here are always in range).  The
functions take arrays of any shape, so the media engine decodes its whole
``(N, 160)`` block of payloads in one call per codec.

Decoding large blocks is bounded by turning each uint8 index into a machine
word, so it looks codes up in pairs: the codes viewed as ``uint16`` index a
65,536-entry ``uint32`` table holding both samples, which halves the lookups
and doubles the rate (on par with ``audioop`` over one buffer).

Transcoding between the laws goes through linear (decode, then encode) and is
folded into two further 256-entry tables.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "ALAW_TO_ULAW",
    "ALAW_SILENCE",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "ULAW_SILENCE",
    "ULAW_TO_ALAW",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]

Codes = npt.NDArray[np.uint8]
Pcm = npt.NDArray[np.int16]

# ITU-T G.711 §2 (μ-law): bias 0x84 added to the magnitude before the segment search,
# magnitude clipped at 8159 in the 14-bit domain.
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
# ITU-T G.711 §3 (A-law): 13-bit domain, segment ends.
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)

#: The code of digital silence (linear 0) in each law.
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


def _build_ulaw_decode() -> Pcm:
    # G.711 μ-law expansion: codes are transmitted inverted.
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = ((u & 0x0F) << 3) + _ULAW_BIAS
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> Pcm:
    # G.711 A-law expansion: even bits are inverted (XOR 0x55).
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _build_ulaw_encode() -> Codes:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    val = pcm >> 2  # 16-bit to the 14-bit domain of G.711 μ-law
    mask = np.where(val < 0, 0x7F, 0xFF)
    val = np.minimum(np.abs(val), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, val, side="left")
    code = (seg << 4) | ((val >> (seg + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _build_alaw_encode() -> Codes:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    val = pcm >> 3  # 16-bit to the 13-bit domain of G.711 A-law
    mask = np.where(val >= 0, 0xD5, 0x55)
    val = np.where(val >= 0, val, -val - 1)
    seg = np.searchsorted(_ALAW_SEG_END, val, side="left")
    shift = np.where(seg < 2, 1, seg)
    code = (np.minimum(seg, 7) << 4) | ((val >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


#: code -> linear sample, 256 entries.
ULAW_DECODE: Pcm = _build_ulaw_decode()
ALAW_DECODE: Pcm = _build_alaw_decode()
#: uint16 bit pattern of a linear sample -> code, 65,536 entries.
ULAW_ENCODE: Codes = _build_ulaw_encode()
ALAW_ENCODE: Codes = _build_alaw_encode()
#: Transcoding through linear: code in one law -> code in the other.
ULAW_TO_ALAW: Codes = ALAW_ENCODE.take(ULAW_DECODE.view(np.uint16))
ALAW_TO_ULAW: Codes = ULAW_ENCODE.take(ALAW_DECODE.view(np.uint16))


def _pair_table(table: Pcm) -> npt.NDArray[np.uint32]:
    # Index = two codes as a native uint16; value = their two samples as a native uint32.
    first, second = np.arange(65536) & 0xFF, np.arange(65536) >> 8
    if sys.byteorder == "big":
        first, second = second, first
    return np.frombuffer(
        np.stack([table[first], table[second]], axis=1).tobytes(), dtype=np.uint32
    ).copy()


_ULAW_PAIRS = _pair_table(ULAW_DECODE)
_ALAW_PAIRS = _pair_table(ALAW_DECODE)
_PAIR_MIN_SIZE = 2048  # below this one lookup per code is cheaper than the view set-up
for _table in (ULAW_DECODE, ALAW_DECODE, ULAW_ENCODE, ALAW_ENCODE, ULAW_TO_ALAW, ALAW_TO_ULAW):
    _table.flags.writeable = False


def _lookup(table: npt.NDArray[Any], index: npt.NDArray[Any], out: Any) -> Any:
    if out is None:
        return table.take(index)
    return table.take(index, out=out, mode="wrap")


def _decode(table: Pcm, pairs: npt.NDArray[np.uint32], codes: Codes, out: Pcm | None) -> Pcm:
    if (
        codes.size >= _PAIR_MIN_SIZE
        and codes.shape[-1] % 2 == 0
        and codes.flags.c_contiguous
        and (out is None or (out.flags.c_contiguous and out.shape == codes.shape))
    ):
        if out is None:
            out = np.empty(codes.shape, dtype=np.int16)
        pairs.take(codes.view(np.uint16), out=out.view(np.uint32), mode="wrap")
        return out
    return _lookup(table, codes, out)


def ulaw_decode(codes: Codes, out: Pcm | None = None) -> Pcm:
    """Expand μ-law codes (``uint8``, any shape) to linear ``int16`` samples."""
    return _decode(ULAW_DECODE, _ULAW_PAIRS, codes, out)


def alaw_decode(codes: Codes, out: Pcm | None = None) -> Pcm:
    """Expand A-law codes (``uint8``, any shape) to linear ``int16`` samples."""
    return _decode(ALAW_DECODE, _ALAW_PAIRS, codes, out)


def ulaw_encode(pcm: Pcm, out: Codes | None = None) -> Codes:
    """Compress linear ``int16`` samples (any shape) to μ-law codes."""
    return _lookup(ULAW_ENCODE, pcm.view(np.uint16), out)


def alaw_encode(pcm: Pcm, out: Codes | None = None) -> Codes:
    """Compress linear ``int16`` samples (any shape) to A-law codes."""
    return _lookup(ALAW_ENCODE, pcm.view(np.uint16), out)


def ulaw_to_alaw(codes: Codes, out: Codes | None = None) -> Codes:
    """Transcode μ-law (PCMU) codes to A-law (PCMA) codes."""
    return _lookup(ULAW_TO_ALAW, codes, out)


def alaw_to_ulaw(codes: Codes, out: Codes | None = None) -> Codes:
    """Transcode A-law (PCMA) codes to μ-law (PCMU) codes."""
    return _lookup(ALAW_TO_ULAW, codes, out)
