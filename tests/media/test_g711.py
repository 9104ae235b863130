"""G.711 tables against the ITU reference as implemented by CPython's audioop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.errors import ConfigError
from pbx.media import g711
from pbx.media.codecs import PCMA, PCMU, codec_by_name, codec_by_payload_type

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def test_ulaw_encode_is_bit_exact_for_all_65536_inputs() -> None:
    ref = np.frombuffer(audioop.lin2ulaw(ALL_PCM.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(g711.ulaw_encode(ALL_PCM), ref)


def test_alaw_encode_is_bit_exact_for_all_65536_inputs() -> None:
    ref = np.frombuffer(audioop.lin2alaw(ALL_PCM.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(g711.alaw_encode(ALL_PCM), ref)


def test_ulaw_decode_is_bit_exact_for_all_256_codes() -> None:
    ref = np.frombuffer(audioop.ulaw2lin(ALL_CODES.tobytes(), 2), dtype=np.int16)
    assert np.array_equal(g711.ulaw_decode(ALL_CODES), ref)


def test_alaw_decode_is_bit_exact_for_all_256_codes() -> None:
    ref = np.frombuffer(audioop.alaw2lin(ALL_CODES.tobytes(), 2), dtype=np.int16)
    assert np.array_equal(g711.alaw_decode(ALL_CODES), ref)


def test_full_scale_clip_cases() -> None:
    extremes = np.array([-32768, -32767, 32767, 32636, -32636], dtype=np.int16)
    assert g711.ulaw_encode(extremes).tolist() == list(audioop.lin2ulaw(extremes.tobytes(), 2))
    assert g711.ulaw_encode(extremes)[0] == 0x00  # most negative code
    assert g711.alaw_encode(extremes)[2] == 0xAA  # most positive A-law code


def test_silence_codes_decode_to_zero() -> None:
    assert g711.ulaw_decode(np.array([g711.ULAW_SILENCE], dtype=np.uint8))[0] == 0
    assert g711.alaw_decode(np.array([g711.ALAW_SILENCE], dtype=np.uint8))[0] == 8  # A-law has no 0
    assert g711.ulaw_encode(np.zeros(1, np.int16))[0] == g711.ULAW_SILENCE
    assert g711.alaw_encode(np.zeros(1, np.int16))[0] == g711.ALAW_SILENCE


def test_batch_of_frames_with_out_matches_flat() -> None:
    rng = np.random.default_rng(1)
    block = rng.integers(-32768, 32768, size=(50, 160)).astype(np.int16)
    out = np.empty((50, 160), dtype=np.uint8)
    res = g711.ulaw_encode(block, out=out)
    assert res is out
    assert np.array_equal(out.ravel(), g711.ulaw_encode(block.ravel()))
    pcm = np.empty((50, 160), dtype=np.int16)
    g711.ulaw_decode(out, out=pcm)
    assert np.array_equal(pcm.ravel(), g711.ulaw_decode(out.ravel()))


def test_encode_accepts_non_contiguous_views() -> None:
    rng = np.random.default_rng(2)
    block = rng.integers(-32768, 32768, size=(10, 320)).astype(np.int16)
    view = block[:, ::2]
    assert np.array_equal(g711.alaw_encode(view), g711.alaw_encode(view.copy()))


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_decode_then_encode_is_identity_on_codes(law: str) -> None:
    dec, enc = getattr(g711, f"{law}_decode"), getattr(g711, f"{law}_encode")
    codes = enc(dec(ALL_CODES))
    if law == "ulaw":
        # μ-law has two zeros (0x7F and 0xFF); both decode to 0 and encode to 0xFF.
        expected = ALL_CODES.copy()
        expected[0x7F] = 0xFF
        assert np.array_equal(codes, expected)
    else:
        assert np.array_equal(codes, ALL_CODES)


def test_transcoding_goes_through_linear() -> None:
    assert np.array_equal(
        g711.ulaw_to_alaw(ALL_CODES), g711.alaw_encode(g711.ulaw_decode(ALL_CODES))
    )
    assert np.array_equal(
        g711.alaw_to_ulaw(ALL_CODES), g711.ulaw_encode(g711.alaw_decode(ALL_CODES))
    )
    ref = audioop.lin2ulaw(audioop.alaw2lin(ALL_CODES.tobytes(), 2), 2)
    assert g711.alaw_to_ulaw(ALL_CODES).tobytes() == ref


@given(st.binary(min_size=1, max_size=400))
def test_ulaw_roundtrip_bytes_match_audioop(data: bytes) -> None:
    codes = np.frombuffer(data, dtype=np.uint8)
    assert g711.ulaw_decode(codes).tobytes() == audioop.ulaw2lin(data, 2)


def test_codec_registry() -> None:
    assert codec_by_name("pcmu") is PCMU
    assert codec_by_payload_type(8) is PCMA
    assert PCMU.payload_type == 0 and PCMA.name == "PCMA"
    with pytest.raises(ConfigError, match="codec 'G729' is not supported"):
        codec_by_name("G729")
    with pytest.raises(ConfigError, match="payload type 18 is not a supported codec"):
        codec_by_payload_type(18)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_paired_lookup_covers_every_pair_of_codes(law: str) -> None:
    # Large blocks decode two codes per lookup; every (first, second) pair must match.
    pairs = np.stack(np.meshgrid(ALL_CODES, ALL_CODES, indexing="ij"), axis=-1).reshape(256, 512)
    ref = getattr(audioop, f"{law}2lin")(pairs.tobytes(), 2)
    decode = getattr(g711, f"{law}_decode")
    assert decode(pairs).tobytes() == ref
    out = np.empty((256, 512), dtype=np.int16)
    assert decode(pairs, out=out) is out and out.tobytes() == ref
    odd = np.ascontiguousarray(pairs[:, 1:])  # odd width: one lookup per code
    assert decode(pairs[:, 1:]).tobytes() == getattr(audioop, f"{law}2lin")(odd.tobytes(), 2)
