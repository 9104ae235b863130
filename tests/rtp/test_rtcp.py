from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.rtp.rtcp import (
    RtcpBye,
    RtcpError,
    RtcpReceiverReport,
    RtcpReportBlock,
    RtcpSdes,
    RtcpSenderReport,
    RtcpUnknown,
    SdesChunk,
    build_compound,
    is_rtcp,
    ntp_from_seconds,
    ntp_from_unix,
    ntp_middle32,
    ntp_to_seconds,
    parse_rtcp,
)

from .helpers import load, rtp


def test_sender_report_with_block_and_sdes_6_4_1() -> None:
    data = load("rtcp_sr.bin")
    sr, sdes = parse_rtcp(data)
    assert sr == RtcpSenderReport(
        ssrc=0x12345678,
        ntp_timestamp=(3913056000 << 32) | 0x80000000,
        rtp_timestamp=160000,
        packet_count=1000,
        octet_count=160000,
        reports=(
            RtcpReportBlock(
                ssrc=0xCAFEBABE,
                fraction_lost=25,
                packets_lost=7,
                highest_sequence=0x00010005,
                jitter=42,
                lsr=0x12345678,
                dlsr=0x00020000,
            ),
        ),
    )
    assert sdes == RtcpSdes((SdesChunk(0x12345678, ((1, b"alice@192.0.2.1"),)),))
    assert sdes.chunks[0].cname == "alice@192.0.2.1"
    assert build_compound([sr, sdes]) == data


def test_receiver_report_sdes_and_bye_with_reason_6_6() -> None:
    data = load("rtcp_rr_sdes_bye.bin")
    rr, sdes, bye = parse_rtcp(data)
    assert rr == RtcpReceiverReport(0xCAFEBABE)
    assert isinstance(sdes, RtcpSdes) and sdes.chunks[0].cname == "bob"
    assert bye == RtcpBye((0xCAFEBABE,), b"hangup")
    assert b"".join(bytes(p) for p in (rr, sdes, bye)) == data


def test_negative_cumulative_loss_and_unknown_app_packet_kept_raw() -> None:
    data = load("rtcp_rr_app.bin")
    rr, app = parse_rtcp(data)
    assert isinstance(rr, RtcpReceiverReport)
    assert rr.reports[0].packets_lost == -3
    assert rr.reports[0].highest_sequence == 0x0002FFFF
    assert app == RtcpUnknown(204, 5, bytes.fromhex("cafebabe") + b"PBX1data")
    assert build_compound([rr, app]) == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTCP packet is truncated"),
        (b"\x80\xc9\x00", "RTCP packet is truncated"),
        (b"\x40\xc9\x00\x01" + bytes(4), "RTCP version is not 2"),
        (b"\x80\xc9\x00\x02" + bytes(4), "RTCP packet length is invalid"),
        (b"\x81\xc9\x00\x01" + bytes(4), "RTCP receiver report length is invalid"),
        (b"\x80\xc8\x00\x01" + bytes(4), "RTCP sender report length is invalid"),
        (b"\xa0\xc9\x00\x01" + bytes(3) + b"\x05", "RTCP padding length is invalid"),
        (b"\xa0\xc9\x00\x01" + bytes(4), "RTCP padding length is invalid"),
        (b"\x81\xca\x00\x01" + bytes(2) + b"\x01\x05", "RTCP SDES chunk is truncated"),
        (b"\x81\xca\x00\x01\x00\x00\x00\x01", "RTCP SDES chunk is truncated"),
        (b"\x82\xcb\x00\x01" + bytes(4), "RTCP BYE length is invalid"),
        (b"\x81\xcb\x00\x02" + bytes(4) + b"\x09abc", "RTCP BYE length is invalid"),
    ],
)
def test_malformed_rtcp_raises_one_exact_sentence(data: bytes, message: str) -> None:
    with pytest.raises(RtcpError) as info:
        parse_rtcp(data)
    assert str(info.value) == message


def test_padding_is_stripped_6_4_1() -> None:
    rr = bytes(RtcpReceiverReport(7))
    padded = bytes([rr[0] | 0x20, rr[1], 0, 2]) + rr[4:] + b"\x00\x00\x00\x04"
    assert parse_rtcp(padded) == [RtcpReceiverReport(7)]


def test_is_rtcp_by_payload_type_range_rfc5761() -> None:
    assert is_rtcp(load("rtcp_sr.bin"))
    assert is_rtcp(load("rtcp_rr_app.bin"))
    assert not is_rtcp(rtp(1, 2, pt=0))
    assert not is_rtcp(rtp(1, 2, pt=101, marker=True))
    assert not is_rtcp(rtp(1, 2, pt=96))
    assert is_rtcp(b"\x80\xdf")  # 223, the top of the range
    assert not is_rtcp(b"\x80")


def test_ntp_conversions() -> None:
    ntp = ntp_from_unix(0.5)
    assert ntp == (2208988800 << 32) | 0x80000000
    assert ntp_to_seconds(ntp) == 2208988800.5
    assert ntp_middle32(ntp) == ((2208988800 & 0xFFFF) << 16) | 0x8000
    assert ntp_from_seconds(1.25) == (1 << 32) | (1 << 30)


blocks = st.builds(
    RtcpReportBlock,
    ssrc=st.integers(0, 2**32 - 1),
    fraction_lost=st.integers(0, 255),
    packets_lost=st.integers(-(2**23), 2**23 - 1),
    highest_sequence=st.integers(0, 2**32 - 1),
    jitter=st.integers(0, 2**32 - 1),
    lsr=st.integers(0, 2**32 - 1),
    dlsr=st.integers(0, 2**32 - 1),
)
words = st.binary(max_size=16).map(lambda b: b[: len(b) - len(b) % 4])
rtcp_packets = st.one_of(
    st.builds(
        RtcpSenderReport,
        ssrc=st.integers(0, 2**32 - 1),
        ntp_timestamp=st.integers(0, 2**64 - 1),
        rtp_timestamp=st.integers(0, 2**32 - 1),
        packet_count=st.integers(0, 2**32 - 1),
        octet_count=st.integers(0, 2**32 - 1),
        reports=st.lists(blocks, max_size=3).map(tuple),
        extension=words,
    ),
    st.builds(
        RtcpReceiverReport,
        ssrc=st.integers(0, 2**32 - 1),
        reports=st.lists(blocks, max_size=3).map(tuple),
        extension=words,
    ),
    st.builds(
        RtcpSdes,
        chunks=st.lists(
            st.builds(
                SdesChunk,
                ssrc=st.integers(0, 2**32 - 1),
                items=st.lists(
                    st.tuples(st.integers(1, 8), st.binary(max_size=30)), max_size=3
                ).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(
        RtcpBye,
        sources=st.lists(st.integers(0, 2**32 - 1), max_size=4).map(tuple),
        reason=st.none() | st.binary(max_size=40),
    ),
    st.builds(RtcpUnknown, packet_type=st.integers(204, 210), count=st.integers(0, 31), body=words),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_any_compound_packet_round_trips(packets: list) -> None:  # type: ignore[type-arg]
    data = build_compound(packets)
    assert parse_rtcp(data) == packets
    assert build_compound(parse_rtcp(data)) == data


@given(st.binary(max_size=80))
def test_random_bytes_raise_only_rtcp_error(data: bytes) -> None:
    try:
        parse_rtcp(data)
    except RtcpError:
        pass
