from __future__ import annotations

from pathlib import Path

import pytest

from pbx.errors import LocalProtocolError
from pbx.rtp.dtmf import (
    DtmfDigit,
    TelephoneEventPayload,
    TelephoneEventReceiver,
    TelephoneEventSender,
    event_code,
)
from pbx.rtp.packet import RtpPacket
from tests.conftest import need_peer

from .helpers import event, read_pcap_udp_payloads

SIPP_PCAPS = Path("/usr/share/sip-tester")


def feed(rx: TelephoneEventReceiver, packets: list[tuple[int, bytes, bool]], t0: float = 0.0):
    """Feed (timestamp, payload, marker) packets 20 ms apart; return every digit reported."""
    digits: list[DtmfDigit] = []
    for i, (ts, payload, marker) in enumerate(packets):
        digits += rx.receive(payload, ts, marker, t0 + 0.02 * i)
    return digits


def test_digit_reported_once_on_end_and_retransmitted_ends_ignored_2_5_1_4() -> None:
    rx = TelephoneEventReceiver()
    packets = [
        (1000, event(5, False, 10, 160), True),
        (1000, event(5, False, 10, 320), False),
        (1000, event(5, False, 10, 480), False),
        (1000, event(5, True, 10, 800), False),
        (1000, event(5, True, 10, 800), False),
        (1000, event(5, True, 10, 800), False),
    ]
    assert feed(rx, packets) == [DtmfDigit("5", 100, 10, 1000)]
    assert rx.current is None


def test_lost_start_packet_still_starts_the_event_2_6() -> None:
    rx = TelephoneEventReceiver()
    packets = [
        (4000, event(11, False, 7, 480), False),  # start and first update lost
        (4000, event(11, True, 7, 640), False),
        (4000, event(11, True, 7, 640), False),
    ]
    assert feed(rx, packets) == [DtmfDigit("#", 80, 7, 4000)]


def test_only_end_packets_arrive() -> None:
    rx = TelephoneEventReceiver()
    packets = [(50, event(0, True, 10, 1600), False)] * 3
    assert feed(rx, packets) == [DtmfDigit("0", 200, 10, 50)]


def test_back_to_back_same_digit_is_two_digits_by_timestamp() -> None:
    rx = TelephoneEventReceiver()
    packets = []
    for ts in (8000, 9600):
        packets += [
            (ts, event(1, False, 10, 160), True),
            (ts, event(1, True, 10, 800), False),
            (ts, event(1, True, 10, 800), False),
            (ts, event(1, True, 10, 800), False),
        ]
    assert feed(rx, packets) == [DtmfDigit("1", 100, 10, 8000), DtmfDigit("1", 100, 10, 9600)]


def test_all_end_packets_lost_reported_on_next_event_or_timeout() -> None:
    rx = TelephoneEventReceiver(timeout=0.5)
    digits = feed(
        rx, [(100, event(2, False, 10, 160), True), (100, event(2, False, 10, 320), False)]
    )
    assert digits == []
    assert rx.current == "2"
    digits = rx.receive(event(3, False, 10, 160), 2000, True, 0.1)
    assert digits == [DtmfDigit("2", 40, 10, 100)]
    assert rx.get_timer() == pytest.approx(0.6)
    assert rx.handle_timer(0.59) == []
    assert rx.handle_timer(0.6) == [DtmfDigit("3", 20, 10, 2000)]
    assert rx.get_timer() is None


def test_late_update_after_end_is_ignored() -> None:
    rx = TelephoneEventReceiver()
    assert feed(rx, [(7, event(9, True, 10, 800), False)]) == [DtmfDigit("9", 100, 10, 7)]
    assert rx.receive(event(9, False, 10, 640), 7, False, 1.0) == []
    assert rx.current is None


def test_long_event_segments_are_one_digit_2_5_1_3() -> None:
    rx = TelephoneEventReceiver()
    assert rx.receive(event(10, False, 10, 0xFFFF), 0, True, 0.0) == []
    assert rx.receive(event(10, False, 10, 800), 0xFFFF, False, 0.02) == []
    digits = rx.receive(event(10, True, 10, 1600), 0xFFFF, False, 0.04)
    assert digits == [DtmfDigit("*", (0xFFFF + 1600) * 1000 // 8000, 10, 0xFFFF)]


def test_flash_and_letters_and_malformed_and_unknown_events() -> None:
    rx = TelephoneEventReceiver()
    assert rx.receive(event(16, True, 0, 160), 1, True, 0.0)[0].digit == "!"
    assert rx.receive(event(15, True, 0, 160), 2, True, 0.0)[0].digit == "D"
    assert rx.receive(b"\x01\x80", 3, True, 0.0) == []
    assert rx.malformed == 1
    assert rx.receive(event(70, True, 0, 160), 4, True, 0.0) == []  # a tone, not a digit
    assert rx.ignored == 1


def test_sender_packets_for_100_ms_digit_2_5_1() -> None:
    packets = TelephoneEventSender().packets("7", duration_ms=100, volume=10)
    decoded = [TelephoneEventPayload.parse(p.payload) for p in packets]
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert [(d.event, d.end, d.volume, d.duration) for d in decoded] == [
        (7, False, 10, 160),
        (7, False, 10, 320),
        (7, False, 10, 480),
        (7, False, 10, 640),
        (7, True, 10, 800),
        (7, True, 10, 800),
        (7, True, 10, 800),
    ]


def test_sender_rejects_bad_digits_and_durations() -> None:
    sender = TelephoneEventSender()
    with pytest.raises(LocalProtocolError, match="'x' is not a DTMF digit"):
        sender.packets("x")
    with pytest.raises(LocalProtocolError):
        sender.packets("1", duration_ms=9000)
    assert event_code("flash") == 16 and event_code("a") == 12


def test_sender_to_receiver_round_trip_of_a_digit_string() -> None:
    sender = TelephoneEventSender()
    rx = TelephoneEventReceiver()
    got = []
    ts = 0
    now = 0.0
    for digit in "0123456789*#ABCD!":
        for packet in sender.packets(digit, duration_ms=120):
            got += rx.receive(packet.payload, ts, packet.marker, now)
            now += 0.02
        ts += 160 * 10
    assert "".join(d.digit for d in got) == "0123456789*#ABCD!"
    assert {d.duration_ms for d in got} == {120}


@pytest.mark.parametrize(("name", "digit"), [("dtmf_2833_1", "1"), ("dtmf_2833_9", "9")])
def test_sipp_rfc2833_pcap_gives_one_digit(name: str, digit: str) -> None:
    need_peer("sipp")  # its pcaps come with it; under CI=true their absence fails
    rx = TelephoneEventReceiver()
    got = []
    for when, datagram in read_pcap_udp_payloads(SIPP_PCAPS / f"{name}.pcap"):
        packet = RtpPacket.parse(datagram)
        assert packet.payload_type == 101
        got += rx.receive(packet.payload, packet.timestamp, packet.marker, when)
    assert [(d.digit, d.duration_ms) for d in got] == [(digit, 280)]
