from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.errors import InvalidStateError
from pbx.rtp.dtmf import DtmfDigit
from pbx.rtp.packet import RtpPacket
from pbx.rtp.rtcp import (
    RtcpBye,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    parse_rtcp,
)
from pbx.rtp.stream import RTCP_COMPENSATION, RemoteBye, RtpStream

from .helpers import event, load, rtp

A = ("127.0.0.1", 40000)
B = ("127.0.0.1", 50000)
OTHER = ("127.0.0.1", 60000)
NTP_EPOCH = 3_900_000_000.0


def stream(ssrc: int = 0xA, **kwargs: object) -> RtpStream:
    options: dict[str, object] = {
        "initial_seq": 100,
        "initial_ts": 1000,
        "cname": f"s{ssrc}@pbx",
        "rng": random.Random(ssrc),
    }
    options.update(kwargs)
    return RtpStream(ssrc, 0, **options)  # type: ignore[arg-type]


def audio(n: int) -> bytes:
    return n.to_bytes(2, "big") * 80


def test_first_packet_latches_and_other_sources_are_dropped_rfc4961() -> None:
    s = stream(remote_addr=("192.0.2.10", 7000))  # what the SDP said, behind a NAT
    s.receive(rtp(1, 0, audio(1)), A, 0.0)
    assert s.remote_addr == A
    s.receive(rtp(2, 160, audio(2)), OTHER, 0.01)
    assert s.wrong_source == 1
    assert s.remote_addr == A
    assert s.packets_received == 1
    assert s.pop_frame() == audio(1)


def test_new_ssrc_from_new_address_relatches_only_after_idle() -> None:
    s = stream(relatch_idle=1.0)
    s.receive(rtp(1, 0, ssrc=1), A, 0.0)
    s.receive(rtp(500, 0, ssrc=2), B, 0.5)  # too soon
    assert s.remote_addr == A and s.wrong_source == 1
    s.receive(rtp(2, 160, ssrc=1), B, 2.0)  # idle enough but the same SSRC
    assert s.remote_addr == A and s.wrong_source == 2
    s.receive(rtp(500, 0, audio(7), ssrc=2), B, 2.1)
    assert s.remote_addr == A  # on probation (RFC 3550 §8.2)
    s.receive(rtp(501, 160, audio(8), ssrc=2), B, 2.12)
    assert s.remote_addr == B
    assert s.remote_ssrc == 2
    assert [s.pop_frame(), s.pop_frame()] == [audio(7), audio(8)]


def test_latching_off_accepts_any_source_and_keeps_the_sdp_address() -> None:
    s = stream(remote_addr=B, latching=False)
    s.receive(rtp(1, 0), A, 0.0)
    s.receive(rtp(2, 160), OTHER, 0.02)
    assert s.remote_addr == B and s.wrong_source == 0 and s.packets_received == 2


def test_set_remote_relatches_after_reinvite() -> None:
    s = stream()
    s.receive(rtp(1, 0), A, 0.0)
    s.set_remote(B)
    s.receive(rtp(2, 160), OTHER, 0.02)
    assert s.remote_addr == OTHER


def test_malformed_and_unknown_payload_types_are_counted_not_raised() -> None:
    s = stream()
    s.receive(b"\x00" * 5, A, 0.0)
    s.receive(b"\x40" + bytes(20), A, 0.0)
    assert s.malformed == 2
    s.receive(rtp(1, 0, b"\x00", pt=13), A, 0.0)  # comfort noise
    assert s.unknown_payload_type == 1
    s.receive(rtp(2, 160, audio(2)), A, 0.02)
    assert s.pop_frame() == audio(2)
    assert s.stats().lost == 0  # the CN packet counted in the sequence space


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=20))
def test_random_bytes_never_raise(datagrams: list[bytes]) -> None:
    s = stream(rtcp_mux=True)
    for i, data in enumerate(datagrams):
        s.receive(data, A, i * 0.02)
        s.pop_frame()
    while s.next_event() is not None:
        pass


def test_new_ssrc_on_same_address_resets_the_receive_state_after_probation_8_2() -> None:
    s = stream()
    s.receive(rtp(1000, 5000, audio(1), ssrc=1), A, 0.0)
    assert s.pop_frame() == audio(1)
    s.receive(rtp(7, 99, audio(2), ssrc=2), A, 0.02)
    assert s.remote_ssrc == 1
    s.receive(rtp(8, 259, audio(3), ssrc=2), A, 0.04)
    assert s.remote_ssrc == 2
    assert [s.pop_frame(), s.pop_frame()] == [audio(2), audio(3)]


def test_packetize_increments_sequence_and_timestamp_and_marks_the_first() -> None:
    s = stream(ssrc=0xBEEF)
    first = RtpPacket.parse(s.packetize(audio(0)))
    second = RtpPacket.parse(s.packetize(audio(1)))
    assert (first.sequence_number, first.timestamp, first.marker) == (100, 1000, True)
    assert (second.sequence_number, second.timestamp, second.marker) == (101, 1160, False)
    assert first.ssrc == 0xBEEF and second.payload == audio(1)
    s.silence(ticks=3)
    third = RtpPacket.parse(s.packetize(audio(5)))
    assert (third.sequence_number, third.timestamp, third.marker) == (102, 1000 + 160 * 5, True)
    assert s.packets_sent == 3 and s.bytes_sent == 3 * 172


def test_sequence_wraps_when_sending() -> None:
    s = stream(initial_seq=65535, initial_ts=2**32 - 160)
    a = RtpPacket.parse(s.packetize(b""))
    b = RtpPacket.parse(s.packetize(b""))
    assert (a.sequence_number, b.sequence_number) == (65535, 0)
    assert (a.timestamp, b.timestamp) == (2**32 - 160, 0)


def test_send_dtmf_replaces_audio_for_the_event_ticks_rfc4733() -> None:
    s = stream()
    s.packetize(audio(0))
    s.send_dtmf("4", duration_ms=100)
    assert s.sending_dtmf
    packets = [RtpPacket.parse(s.packetize(audio(n))) for n in range(1, 9)]
    events, after = packets[:7], packets[7]
    assert all(p.payload_type == 101 for p in events)
    assert {p.timestamp for p in events} == {1160}
    assert [p.marker for p in events] == [True] + [False] * 6
    assert [p.sequence_number for p in packets] == list(range(101, 109))
    assert (after.payload_type, after.timestamp, after.payload) == (0, 1160 + 7 * 160, audio(8))
    assert not s.sending_dtmf


def test_send_dtmf_without_telephone_event_is_an_error() -> None:
    s = stream(telephone_event_pt=None)
    with pytest.raises(InvalidStateError):
        s.send_dtmf("1")


def test_digit_string_between_two_streams_with_audio() -> None:
    alice, bob = stream(0xA), stream(0xB)
    for digit in "31#*0":
        alice.send_dtmf(digit)
    digits = []
    for tick in range(80):
        bob.receive(alice.packetize(audio(tick)), A, tick * 0.02)
        bob.pop_frame()
        while (ev := bob.next_event()) is not None:
            digits.append(ev)
    assert "".join(d.digit for d in digits) == "31#*0"
    assert all(isinstance(d, DtmfDigit) and d.duration_ms == 100 for d in digits)


def test_rfc4733_packet_sipp_style_goes_to_events_not_audio() -> None:
    s = stream()
    for i in range(3):
        s.receive(rtp(10 + i, 800, event(1, i == 2, 10, 160 * (i + 1)), pt=101), A, 0.02 * i)
    s.receive(rtp(12, 800, event(1, True, 10, 480), pt=101), A, 0.06)  # retransmitted end
    assert s.next_event() == DtmfDigit("1", 60, 10, 800)
    assert s.next_event() is None
    assert s.pop_frame() is None


def test_first_rtcp_after_half_the_minimum_interval_a_7() -> None:
    s = stream()
    assert s.get_timer() is None
    assert not s.rtcp_due(100.0)
    deadline = s.get_timer()
    assert deadline is not None
    assert 100 + 2.5 * 0.5 / RTCP_COMPENSATION <= deadline <= 100 + 2.5 * 1.5 / RTCP_COMPENSATION
    assert not s.rtcp_due(deadline - 0.001)
    assert s.rtcp_due(deadline)
    s.build_rtcp(deadline, NTP_EPOCH)
    nxt = s.get_timer()
    assert nxt is not None
    assert deadline + 5 * 0.5 / RTCP_COMPENSATION <= nxt <= deadline + 5 * 1.5 / RTCP_COMPENSATION


def test_receiver_only_sends_rr_with_block_and_cname() -> None:
    s = stream()
    for n in (1, 2, 4):
        s.receive(rtp(n, 160 * n, ssrc=0x77), A, 0.02 * n)
    rr, sdes = parse_rtcp(s.build_rtcp(1.0, NTP_EPOCH))
    assert isinstance(rr, RtcpReceiverReport) and rr.ssrc == 0xA
    (block,) = rr.reports
    assert (block.ssrc, block.highest_sequence, block.packets_lost) == (0x77, 4, 1)
    assert block.fraction_lost == 256 // 4
    assert isinstance(sdes, RtcpSdes) and sdes.chunks[0].cname == "s10@pbx"
    assert s.rtcp_addr == ("127.0.0.1", 40001)


def test_sender_report_and_round_trip_time_6_4_1() -> None:
    alice, bob = stream(0xA), stream(0xB)
    for tick in range(50):
        bob.receive(alice.packetize(audio(tick)), A, tick * 0.02)
        alice.receive(bob.packetize(audio(tick)), B, tick * 0.02 + 0.001)
    sr_bytes = alice.build_rtcp(10.0, NTP_EPOCH + 10.0)
    sr = parse_rtcp(sr_bytes)[0]
    assert isinstance(sr, RtcpSenderReport)
    assert (sr.packet_count, sr.octet_count) == (50, 50 * 160)
    assert sr.rtp_timestamp == 1000 + 50 * 160
    bob.receive_rtcp(sr_bytes, ("127.0.0.1", 40001), 10.05)
    report = bob.build_rtcp(10.55, NTP_EPOCH + 10.55)
    block = parse_rtcp(report)[0].reports[0]  # type: ignore[union-attr]
    assert block.ssrc == 0xA and block.dlsr == 32768
    alice.receive_rtcp(report, ("127.0.0.1", 50001), 10.6)
    assert alice.round_trip_time == pytest.approx(0.1)
    assert alice.stats().round_trip_time == pytest.approx(0.1)


def test_bye_becomes_remote_bye_event() -> None:
    alice, bob = stream(0xA), stream(0xB)
    bob.receive(alice.packetize(audio(0)), A, 0.0)
    data = alice.build_bye(1.0, NTP_EPOCH, reason="hangup")
    assert isinstance(parse_rtcp(data)[-1], RtcpBye)
    bob.receive_rtcp(data, ("127.0.0.1", 40001), 1.0)
    assert bob.next_event() == RemoteBye(0xA, "hangup")
    assert alice.get_timer() is None


def test_rtcp_mux_routes_rtcp_arriving_on_the_rtp_port_rfc5761() -> None:
    s = stream(rtcp_mux=True)
    s.receive(rtp(1, 0, ssrc=0x12345678), A, 0.0)
    s.receive(load("rtcp_sr.bin"), A, 1.0)
    assert s.rtcp_received == 1 and s.malformed == 0
    assert s.rtcp_addr == A
    block = parse_rtcp(s.build_rtcp(1.5, NTP_EPOCH))[0].reports[0]  # type: ignore[union-attr]
    assert block.lsr == 0x7F008000 and block.dlsr == 32768


def test_rtcp_mux_takes_a_report_shorter_than_an_rtp_header() -> None:
    s = stream(rtcp_mux=True)
    s.receive(rtp(1, 0, ssrc=0x12345678), A, 0.0)
    empty_rr = struct.pack("!BBHI", 0x80, 201, 1, 0x12345678)  # RR, no report blocks: 8 bytes
    s.receive(empty_rr, A, 1.0)
    assert s.rtcp_received == 1 and s.malformed == 0
    s.receive(b"\x80\x00\x00", A, 1.1)  # neither RTP nor RTCP
    assert s.malformed == 1


def test_malformed_rtcp_is_counted() -> None:
    s = stream()
    s.receive_rtcp(b"\x80\xc9\x00\x09", A, 0.0)
    assert s.malformed_rtcp == 1


def test_stats_snapshot_counts_loss_jitter_late_and_duplicates() -> None:
    s = stream()
    s.receive(rtp(1, 0, audio(1)), A, 0.000)
    assert s.pop_frame() == audio(1)
    s.receive(rtp(3, 320, audio(3)), A, 0.040)
    assert s.pop_frame() is None  # frame 2 missing
    s.receive(rtp(3, 320, audio(3)), A, 0.041)  # duplicate
    s.receive(rtp(2, 160, audio(2)), A, 0.045)  # late
    stats = s.stats()
    assert stats.packets_received == 4
    assert stats.bytes_received == 4 * 172
    assert stats.duplicates == 1 and stats.late == 1
    assert stats.lost == -1  # A.3: the duplicate offsets the count
    assert stats.jitter_ms > 0


rtp_like = st.builds(
    lambda seq, ts, pt, marker, ssrc, payload: rtp(
        seq, ts, payload, pt=pt, ssrc=ssrc, marker=marker
    ),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from([0, 101, 13, 96]),
    st.booleans(),
    st.sampled_from([1, 2]),
    st.binary(max_size=400),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(rtp_like, st.sampled_from([A, B])), max_size=40))
def test_well_formed_packets_in_any_order_never_raise(datagrams: list) -> None:  # type: ignore[type-arg]
    s = stream(relatch_idle=0.0)
    now = 0.0
    for data, addr in datagrams:
        s.receive(data, addr, now)
        frame = s.pop_frame()
        assert frame is None or len(frame) == 160
        s.packetize(audio(0))
        s.handle_timer(now)
        now += 0.02
    while s.next_event() is not None:
        pass
    parse_rtcp(s.build_rtcp(now, NTP_EPOCH))


def test_timer_starts_with_media_and_datagrams_to_send_emits_due_rtcp() -> None:
    s = stream(ntp_offset=NTP_EPOCH)
    assert s.datagrams_to_send(0.0) == []  # no remote address yet
    s.receive(rtp(1, 0), A, 50.0)
    deadline = s.get_timer()
    assert deadline is not None and 50.0 < deadline < 50.0 + 2.5 * 1.5 / RTCP_COMPENSATION + 1e-9
    assert s.datagrams_to_send(deadline - 0.01) == []
    s.packetize(audio(0))
    ((data, addr),) = s.datagrams_to_send(deadline)
    assert addr == ("127.0.0.1", 40001)
    sr = parse_rtcp(data)[0]
    assert isinstance(sr, RtcpSenderReport)
    assert sr.ntp_timestamp >> 32 == int(NTP_EPOCH + deadline)
    assert s.datagrams_to_send(deadline) == []  # rescheduled


def test_dtmf_without_end_is_reported_at_the_timer() -> None:
    s = stream()
    s.receive(rtp(1, 800, event(6, False, 10, 160), pt=101, marker=True), A, 10.0)
    assert s.next_event() is None
    deadline = s.get_timer()
    assert deadline == pytest.approx(10.5)
    s.handle_timer(10.5)
    assert s.next_event() == DtmfDigit("6", 20, 10, 800)
