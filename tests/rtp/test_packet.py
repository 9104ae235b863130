from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.errors import ProtocolError
from pbx.rtp.packet import RtpError, RtpPacket, build_rtp_header

from .helpers import load


def test_plain_pcmu_packet_fields_and_round_trip() -> None:
    data = load("rtp_pcmu.bin")
    packet = RtpPacket.parse(data)
    assert packet.payload_type == 0
    assert packet.marker is True
    assert packet.sequence_number == 4660
    assert packet.timestamp == 0xDEADBEEF
    assert packet.ssrc == 0x12345678
    assert packet.csrc == ()
    assert packet.extension is None and packet.extension_profile is None
    assert packet.padding == 0
    assert packet.payload == b"\xff" * 160
    assert bytes(packet) == data
    assert repr(packet) == (
        "RtpPacket(payload_type=0, sequence_number=4660, timestamp=3735928559, "
        "ssrc=0x12345678, marker=True, payload=160 bytes)"
    )


def test_csrc_extension_and_padding_round_trip_5_1_and_5_3_1() -> None:
    data = load("rtp_csrc_ext_padding.bin")
    packet = RtpPacket.parse(data)
    assert packet.payload_type == 8
    assert packet.marker is False
    assert packet.sequence_number == 65535
    assert packet.timestamp == 1
    assert packet.ssrc == 0xCAFEBABE
    assert packet.csrc == (0x11111111, 0x22222222)
    assert packet.extension_profile == 0xBEDE
    assert packet.extension == bytes([0x10, 0xAA, 0, 0, 0x21, 0xBB, 0xCC, 0])
    assert packet.padding == 4
    assert packet.payload == bytes(range(20))
    assert bytes(packet) == data


def test_build_rtp_header_matches_struct_layout() -> None:
    header = build_rtp_header(0, 70000, 2**32 + 5, 0xA1B2C3D4, marker=True)
    assert header == bytes.fromhex("8080") + struct.pack("!HII", 70000 - 65536, 5, 0xA1B2C3D4)
    assert build_rtp_header(101, 1, 2, 3) == bytes.fromhex(
        "8065000100000002 00000003".replace(" ", "")
    )


def test_packet_equality_compares_every_field() -> None:
    a = RtpPacket(0, 1, 2, 3, b"x")
    assert a == RtpPacket(0, 1, 2, 3, b"x")
    assert a != RtpPacket(0, 1, 2, 3, b"x", marker=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet is truncated"),
        (b"\x80\x00" + bytes(9), "RTP packet is truncated"),
        (b"\x40\x00" + bytes(10), "RTP version is not 2"),
        (b"\xc0\x00" + bytes(10), "RTP version is not 2"),
        (b"\x81\x00" + bytes(10) + b"\x00\x00", "RTP packet is truncated"),
        (b"\x90\x00" + bytes(10) + b"\xbe\xde", "RTP extension is truncated"),
        (b"\x90\x00" + bytes(10) + b"\xbe\xde\x00\x02" + bytes(7), "RTP extension is truncated"),
        (b"\xa0\x00" + bytes(10), "RTP padding length is invalid"),
        (b"\xa0\x00" + bytes(10) + b"\x01\x02\x00", "RTP padding length is invalid"),
        (b"\xa0\x00" + bytes(10) + b"\x01\x02\x04", "RTP padding length is invalid"),
    ],
)
def test_malformed_packets_raise_one_exact_sentence(data: bytes, message: str) -> None:
    with pytest.raises(RtpError) as info:
        RtpPacket.parse(data)
    assert str(info.value) == message
    assert isinstance(info.value, ProtocolError) and isinstance(info.value, ValueError)


def test_padding_may_cover_the_whole_payload() -> None:
    packet = RtpPacket.parse(b"\xa0\x00" + bytes(10) + b"\x00\x00\x03")
    assert packet.payload == b"" and packet.padding == 3


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    padding=st.integers(0, 255),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension_profile=st.integers(0, 0xFFFF),
    extension=st.none() | st.binary(max_size=40).map(lambda b: b[: len(b) - len(b) % 4]),
)


@given(packets)
def test_any_packet_round_trips(packet: RtpPacket) -> None:
    if packet.extension is None:
        packet.extension_profile = None
    data = bytes(packet)
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data


@given(st.binary(max_size=100))
def test_random_bytes_parse_or_raise_rtp_error_only(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        return
    assert len(bytes(packet)) == len(data)
