"""The registry of audio codecs the media engine can decode and encode.

Theory of operation: a codec is a frozen value naming its RTP payload type
(RFC 3551 §6, Table 4: PCMU is static type 0, PCMA static type 8), its encoding
name as it appears in SDP ``a=rtpmap``, the code of digital silence used to fill
a missing frame, and the two array functions of :mod:`pbx.media.g711`.  The
engine groups channels by codec and calls ``decode``/``encode`` once per group
per tick over that group's rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from attrs import frozen

from pbx.errors import ConfigError
from pbx.media import g711

__all__ = ["CODECS", "PCMA", "PCMU", "Codec", "codec_by_name", "codec_by_payload_type"]

Decoder = Callable[[npt.NDArray[np.uint8], npt.NDArray[np.int16] | None], npt.NDArray[np.int16]]
Encoder = Callable[[npt.NDArray[np.int16], npt.NDArray[np.uint8] | None], npt.NDArray[np.uint8]]


@frozen
class Codec:
    """One narrowband audio codec at 8 kHz with 1 byte per sample."""

    #: Encoding name as in SDP ``a=rtpmap`` (RFC 4566 §6), e.g. ``"PCMU"``.
    name: str
    #: Static RTP payload type (RFC 3551 §6).
    payload_type: int
    #: Code that decodes to linear 0; fills a frame that did not arrive.
    silence: int
    #: Codes (uint8, any shape) to int16 samples; ``out`` optional.
    decode: Decoder
    #: int16 samples (any shape) to codes; ``out`` optional.
    encode: Encoder
    #: Sampling rate in Hz (RFC 3551 §4.5.14).
    clock_rate: int = 8000


# RFC 3551 §4.5.14 (PCMA and PCMU), static payload types from Table 4.
PCMU = Codec("PCMU", 0, g711.ULAW_SILENCE, g711.ulaw_decode, g711.ulaw_encode)
PCMA = Codec("PCMA", 8, g711.ALAW_SILENCE, g711.alaw_decode, g711.alaw_encode)

#: Every codec the engine supports, by encoding name.
CODECS: dict[str, Codec] = {c.name: c for c in (PCMU, PCMA)}
_BY_PT: dict[int, Codec] = {c.payload_type: c for c in CODECS.values()}


def codec_by_name(name: str) -> Codec:
    """The codec whose SDP encoding name is ``name`` (case-insensitive)."""
    try:
        return CODECS[name.upper()]
    except KeyError:
        raise ConfigError(
            f"codec '{name}' is not supported (supported: {', '.join(CODECS)})"
        ) from None


def codec_by_payload_type(payload_type: int) -> Codec:
    """The codec with static RTP payload type ``payload_type``."""
    try:
        return _BY_PT[payload_type]
    except KeyError:
        raise ConfigError(f"payload type {payload_type} is not a supported codec") from None
