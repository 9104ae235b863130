"""Packets injected into a stream from its own remote address (RFC 3550 §8.2, A.1).

A stranger SSRC must prove itself with MIN_SEQUENTIAL packets in sequence before the
stream switches to it; a wild sequence number of the current SSRC is played only when the
next packet continues it; RTCP follows the RTP peer, not whoever sends RTCP.
"""

from __future__ import annotations

import random

from pbx.rtp.rtcp import RtcpBye, RtcpReceiverReport, build_compound
from pbx.rtp.seq import MAX_DROPOUT, MAX_MISORDER, MIN_SEQUENTIAL
from pbx.rtp.stream import RemoteBye, RtpStream

from .helpers import rtp

PEER = ("127.0.0.1", 40000)
PEER_RTCP = ("127.0.0.1", 40001)
THIRD = ("127.0.0.1", 40100)
REAL = 0x5EED
NTP_EPOCH = 3_900_000_000.0


def stream(**kwargs: object) -> RtpStream:
    options: dict[str, object] = {
        "initial_seq": 100,
        "initial_ts": 1000,
        "cname": "s@pbx",
        "rng": random.Random(1),
    }
    options.update(kwargs)
    return RtpStream(0xA, 0, **options)  # type: ignore[arg-type]


def audio(n: int) -> bytes:
    """A frame that says which frame it is."""
    return (n & 0xFFFF).to_bytes(2, "big") * 80


def real(n: int, start_seq: int = 20000, start_ts: int = 800_000) -> bytes:
    return rtp(start_seq + n, start_ts + 160 * n, audio(n), ssrc=REAL)


def test_min_sequential_is_two() -> None:
    assert MIN_SEQUENTIAL == 2


def test_stranger_ssrc_single_packets_interleaved_change_nothing_8_2() -> None:
    s = stream()
    rng = random.Random(7)
    played = []
    for n in range(200):
        s.receive(real(n), PEER, 0.02 * n)
        # A different stranger each time, or the same one with a random sequence number.
        ssrc = rng.getrandbits(32) if n % 2 else 0xBAD
        stranger = rtp(rng.getrandbits(16), rng.getrandbits(32), b"\x00" * 160, ssrc=ssrc)
        s.receive(stranger, PEER, 0.02 * n + 0.005)
        played.append(s.pop_frame())
    assert played == [audio(n) for n in range(200)]
    assert s.remote_ssrc == REAL and s.remote_addr == PEER
    stats = s.stats()
    assert stats.packets_received == 200 and stats.lost == 0 and stats.concealed == 0
    assert stats.unvalidated == 200  # each stranger's packet kept aside, none played
    assert s.jitter_buffer.resyncs == 0


def test_stranger_in_sequence_but_interleaved_with_the_real_stream_never_takes_over() -> None:
    s = stream()
    played = []
    for n in range(100):
        s.receive(real(n), PEER, 0.02 * n)
        s.receive(rtp(3000 + n, 160 * n, b"\x00" * 160, ssrc=0xBAD), PEER, 0.02 * n + 0.01)
        played.append(s.pop_frame())
    assert played == [audio(n) for n in range(100)]
    assert s.remote_ssrc == REAL


def test_restarted_phone_with_a_new_ssrc_takes_over_after_probation_8_2() -> None:
    s = stream()
    played = []
    for n in range(20):
        s.receive(real(n), PEER, 0.02 * n)
        played.append(s.pop_frame())
    # The phone restarts its stream: new SSRC, sequence number and timestamp.
    restarted = [rtp(7 + k, 99 + 160 * k, audio(1000 + k), ssrc=0xC0FFEE) for k in range(20)]
    s.receive(restarted[0], PEER, 0.4)
    assert s.remote_ssrc == REAL  # one packet proves nothing
    played.append(s.pop_frame())
    for k in range(1, 20):
        s.receive(restarted[k], PEER, 0.4 + 0.02 * k)
        assert s.remote_ssrc == 0xC0FFEE
        played.append(s.pop_frame())
    played.append(s.pop_frame())
    frames = [f for f in played if f is not None]
    assert frames == [audio(n) for n in range(20)] + [audio(1000 + k) for k in range(20)]
    stats = s.stats()
    assert stats.unvalidated == 0 and stats.lost == 0 and stats.packets_received == 40


def test_random_sequence_numbers_of_the_same_ssrc_and_address_drop_no_real_frame_a_1() -> None:
    s = stream()
    rng = random.Random(3)
    played = []
    for n in range(500):
        s.receive(real(n), PEER, 0.02 * n)
        seq = rng.getrandbits(16)
        # Half with a random timestamp, half with the real packet's: same SSRC, same address.
        ts = rng.getrandbits(32) if n % 2 else 800_000 + 160 * n
        s.receive(rtp(seq, ts, b"\x00" * 160, ssrc=REAL), PEER, 0.02 * n + 0.005)
        played.append(s.pop_frame())
    assert played == [audio(n) for n in range(500)]
    assert s.remote_ssrc == REAL
    assert s.jitter_buffer.resyncs == 0


def test_injected_jumps_inside_the_dropout_window_lose_no_real_frame() -> None:
    s = stream()
    played = []
    for n in range(60):
        s.receive(real(n), PEER, 0.02 * n)
        if n % 10 == 5:  # ahead by a few hundred, beyond MAX_MISORDER, within MAX_DROPOUT
            jump = 20000 + n + MAX_MISORDER + 50 * n
            assert jump - 20000 - n < MAX_DROPOUT
            s.receive(rtp(jump, 12345, b"\x00" * 160, ssrc=REAL), PEER, 0.02 * n + 0.005)
        played.append(s.pop_frame())
    played.append(s.pop_frame())
    assert [f for f in played if f is not None] == [audio(n) for n in range(60)]


def test_sender_restarting_its_sequence_is_followed_and_loses_nothing_a_1() -> None:
    s = stream()
    played = []
    for n in range(10):
        s.receive(real(n), PEER, 0.02 * n)
        played.append(s.pop_frame())
    # Same SSRC, sequence numbers and timestamps start over elsewhere.
    for k in range(10):
        s.receive(
            rtp(50000 + k, 7_000_000 + 160 * k, audio(500 + k), ssrc=REAL), PEER, 0.2 + 0.02 * k
        )
        played.append(s.pop_frame())
    played.append(s.pop_frame())
    frames = [f for f in played if f is not None]
    assert frames == [audio(n) for n in range(10)] + [audio(500 + k) for k in range(10)]
    assert s.stats().unvalidated == 0 and s.jitter_buffer.resyncs == 1


def rtcp_rr(ssrc: int) -> bytes:
    return build_compound([RtcpReceiverReport(ssrc, ())])


def test_rtcp_from_a_third_address_does_not_redirect_our_rtcp() -> None:
    s = stream(ntp_offset=NTP_EPOCH)
    for n in range(5):
        s.receive(real(n), PEER, 0.02 * n)
        s.packetize(audio(n))
    assert s.rtcp_addr == PEER_RTCP
    s.receive_rtcp(rtcp_rr(0xBAD), THIRD, 0.2)
    s.receive_rtcp(build_compound([RtcpBye((REAL,), b"bye")]), THIRD, 0.21)
    assert s.rtcp_addr == PEER_RTCP
    assert s.rtcp_received == 0 and s.wrong_source == 2
    assert s.next_event() is None  # nobody else can say the peer left
    deadline = s.get_timer()
    assert deadline is not None
    ((_, addr),) = s.datagrams_to_send(deadline)
    assert addr == PEER_RTCP
    s.receive_rtcp(rtcp_rr(REAL), PEER_RTCP, 5.0)  # the peer's own RTCP port
    s.receive_rtcp(rtcp_rr(REAL), PEER, 5.1)  # or its RTP port
    assert s.rtcp_received == 2 and s.rtcp_addr == PEER_RTCP


def test_rtcp_before_rtp_latches_nothing_and_rtcp_follows_the_latched_rtp() -> None:
    s = stream(remote_addr=("192.0.2.1", 7000))  # what the SDP said
    s.receive_rtcp(rtcp_rr(REAL), THIRD, 0.0)
    assert s.rtcp_received == 1 and s.rtcp_addr == ("192.0.2.1", 7001)
    s.receive(real(0), PEER, 0.1)  # symmetric RTP latches the address RTP comes from
    assert s.rtcp_addr == PEER_RTCP


def test_rtcp_mux_reports_go_to_the_rtp_address_only() -> None:
    s = stream(rtcp_mux=True)
    s.receive(real(0), PEER, 0.0)
    s.receive(rtcp_rr(0xBAD), THIRD, 0.1)
    assert s.rtcp_addr == PEER and s.rtcp_received == 0
    s.receive(rtcp_rr(REAL), PEER, 0.2)
    assert s.rtcp_received == 1


def test_peer_bye_still_reported() -> None:
    s = stream()
    s.receive(real(0), PEER, 0.0)
    s.receive_rtcp(build_compound([RtcpBye((REAL,), None)]), PEER_RTCP, 1.0)
    assert s.next_event() == RemoteBye(REAL, None)
