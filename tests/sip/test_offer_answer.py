"""RFC 3264 offer/answer for G.711 with telephone-events: offers, answers, holds, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.errors import LocalProtocolError, ProtocolError
from pbx.sip.offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    LocalMedia,
    NegotiatedMedia,
    OfferAnswerError,
    accept_answer,
    build_offer,
    bump_version,
    negotiate_answer,
)
from pbx.sip.sdp import MediaDescription, SessionDescription

DATA = Path(__file__).parent / "data"
ALICE = LocalMedia("192.0.2.10", 4000)
BOB = LocalMedia("198.51.100.20", 5000)


def load(name: str) -> SessionDescription:
    return SessionDescription.parse((DATA / name).read_bytes())


def offer_with(media_lines: str, session: str = "") -> SessionDescription:
    text = (
        "v=0\no=peer 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\n"
        + session
        + media_lines
    )
    return SessionDescription.parse(text)


def answer_to(
    offer: SessionDescription, **kwargs: Any
) -> tuple[SessionDescription, NegotiatedMedia]:
    return negotiate_answer(offer, BOB, session_id=9, session_version=9, **kwargs)


def test_build_offer_writes_g711_and_telephone_event_rfc3264_5() -> None:
    offer = build_offer(ALICE, session_id=42, session_version=1)
    assert bytes(offer) == (
        b"v=0\r\n"
        b"o=- 42 1 IN IP4 192.0.2.10\r\n"
        b"s=-\r\n"
        b"c=IN IP4 192.0.2.10\r\n"
        b"t=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0 8 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-16\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )
    assert SessionDescription.parse(bytes(offer)) == offer


def test_build_offer_follows_preference_ipv6_and_direction() -> None:
    local = LocalMedia("2001:db8::10", 6000, prefer=("PCMA",))
    offer = build_offer(local, (PCMU, PCMA), session_id=1, session_version=2, direction="sendonly")
    (audio,) = offer.media
    assert offer.connection is not None
    assert str(offer.connection) == "IN IP6 2001:db8::10"
    assert str(offer.origin) == "- 1 2 IN IP6 2001:db8::10"
    assert audio.formats == ["8", "0"]
    assert audio.direction(offer) == "sendonly"
    assert audio.fmtp == {}


def test_build_offer_refuses_misuse() -> None:
    with pytest.raises(LocalProtocolError, match="unknown SDP direction 'hold'"):
        build_offer(ALICE, session_id=1, session_version=1, direction="hold")
    with pytest.raises(LocalProtocolError, match="an offer needs at least one audio codec"):
        build_offer(ALICE, (TELEPHONE_EVENT,), session_id=1, session_version=1)


def test_rfc3264_example_answer_accepts_audio_rejects_video_6() -> None:
    offer = load("sdp_rfc3264_offer.sdp")
    answer, media = answer_to(offer)
    audio, video = answer.media
    assert (audio.port, audio.formats) == (5000, ["0"])
    assert audio.rtpmap == {0: ("PCMU", 8000, 1)}
    assert audio.direction(answer) == "sendrecv"
    # RFC 3264 §6: rejected stream keeps its place, port 0, formats echoed.
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        ["31", "32"],
    )
    assert video.attributes == []
    assert str(answer.origin) == "- 9 9 IN IP4 198.51.100.20"
    assert media == NegotiatedMedia(
        remote_address="host.atlanta.example.com",
        remote_port=49170,
        payload_type=0,
        codec="PCMU",
        clock_rate=8000,
        telephone_event=None,
        ptime=20,
        direction="sendrecv",
        remote_hold=False,
    )
    assert media.sends and media.receives


def test_deskphone_offer_picks_first_offered_common_codec_and_echoes_event_type() -> None:
    offer = load("sdp_deskphone_offer.sdp")  # G722 PCMA PCMU G729 te/96, ptime 30
    answer, media = answer_to(offer)
    (audio,) = answer.media
    assert audio.formats == ["8", "96"]
    assert audio.fmtp == {96: "0-15"}  # intersection of offered 0-15 and our 0-16
    assert audio.ptime == 30
    assert (media.codec, media.payload_type, media.telephone_event, media.ptime) == (
        "PCMA",
        8,
        96,
        30,
    )
    assert media.remote_address == "192.0.2.10"
    assert media.remote_port == 16384


def test_prefer_picks_our_first_codec_the_peer_offered() -> None:
    offer = load("sdp_deskphone_offer.sdp")
    _, media = answer_to(offer, prefer=("PCMU", "PCMA"))
    assert media.codec == "PCMU"
    _, media = negotiate_answer(
        offer, LocalMedia("198.51.100.20", 5000, prefer=("PCMU",)), session_id=1, session_version=1
    )
    assert media.codec == "PCMU"


def test_supported_limits_the_codecs() -> None:
    offer = offer_with("m=audio 7000 RTP/AVP 0 8\n")
    _, media = answer_to(offer, supported=(PCMA,))
    assert (media.codec, media.payload_type, media.telephone_event) == ("PCMA", 8, None)


def test_case_insensitive_encoding_names_rfc4566_6() -> None:
    offer = offer_with(
        "m=audio 7000 RTP/AVP 97 98\na=rtpmap:97 pcma/8000\na=rtpmap:98 TELEPHONE-EVENT/8000\n"
    )
    _, media = answer_to(offer)
    assert (media.codec, media.payload_type, media.telephone_event) == ("PCMA", 97, 98)


def test_pcmu_at_other_clock_rate_is_not_common() -> None:
    offer = offer_with("m=audio 7000 RTP/AVP 97\na=rtpmap:97 PCMU/16000\n")
    with pytest.raises(OfferAnswerError, match="^no common codec in the offer$"):
        answer_to(offer)


def test_no_common_codec_is_488() -> None:
    offer = offer_with("m=audio 7000 RTP/AVP 18 9\n")
    with pytest.raises(OfferAnswerError) as info:
        answer_to(offer)
    assert str(info.value) == "no common codec in the offer"
    assert info.value.status_hint == 488
    assert isinstance(info.value, ProtocolError)


def test_webrtc_offer_with_savpf_is_rejected_488() -> None:
    with pytest.raises(OfferAnswerError, match="^no common codec in the offer$"):
        answer_to(load("sdp_webrtc_offer.sdp"))


def test_secure_stream_rejected_and_plain_audio_accepted() -> None:
    offer = offer_with(
        "m=audio 7000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\n"
        "m=audio 7002 RTP/AVP 0 8\n"
        "m=audio 7004 RTP/AVP 0\n"
        "m=video 7006 RTP/AVP 31\n"
    )
    answer, media = answer_to(offer)
    assert [(m.port, m.proto, m.formats) for m in answer.media] == [
        (0, "RTP/SAVP", ["0"]),
        (5000, "RTP/AVP", ["0"]),
        (0, "RTP/AVP", ["0"]),
        (0, "RTP/AVP", ["31"]),
    ]
    assert media.remote_port == 7002


def test_disabled_stream_in_offer_stays_disabled() -> None:
    offer = offer_with("m=audio 0 RTP/AVP 0\nm=audio 7002 RTP/AVP 8\n")
    answer, media = answer_to(offer)
    assert [m.port for m in answer.media] == [0, 5000]
    assert media.codec == "PCMA"


def test_audio_without_connection_address_is_not_accepted() -> None:
    offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n"
        "m=audio 7002 RTP/AVP 0\r\nc=IN IP4 203.0.113.9\r\n"
    )
    answer, media = answer_to(offer)
    assert [m.port for m in answer.media] == [0, 5000]
    assert media.remote_address == "203.0.113.9"


def test_offer_without_telephone_event_gets_none() -> None:
    _, media = answer_to(offer_with("m=audio 7000 RTP/AVP 0\n"))
    assert media.telephone_event is None


def test_telephone_event_fmtp_intersection_rfc4733_7_1_1() -> None:
    offer = offer_with(
        "m=audio 7000 RTP/AVP 0 100\na=rtpmap:100 telephone-event/8000\na=fmtp:100 0-11,16,32-40\n"
    )
    answer, media = answer_to(offer)
    assert answer.media[0].fmtp == {100: "0-11,16"}
    assert media.telephone_event == 100


def test_telephone_event_without_common_events_is_dropped() -> None:
    offer = offer_with(
        "m=audio 7000 RTP/AVP 0 100\na=rtpmap:100 telephone-event/8000\na=fmtp:100 32-40\n"
    )
    answer, media = answer_to(offer)
    assert answer.media[0].formats == ["0"]
    assert media.telephone_event is None


@pytest.mark.parametrize(("offered", "used"), [(10, 10), (20, 20), (30, 30), (40, 20), (None, 20)])
def test_ptime_accepts_10_20_30(offered: int | None, used: int) -> None:
    line = f"a=ptime:{offered}\n" if offered else ""
    answer, media = answer_to(offer_with("m=audio 7000 RTP/AVP 0\n" + line))
    assert media.ptime == used
    assert answer.media[0].ptime == used


@pytest.mark.parametrize(
    ("offered", "hold", "answered", "sends", "receives", "remote_hold"),
    [
        ("sendrecv", False, "sendrecv", True, True, False),
        ("sendonly", False, "recvonly", False, True, True),
        ("recvonly", False, "sendonly", True, False, False),
        ("inactive", False, "inactive", False, False, True),
        ("sendrecv", True, "sendonly", True, False, False),
        ("sendonly", True, "inactive", False, False, True),
        ("recvonly", True, "sendonly", True, False, False),
        ("inactive", True, "inactive", False, False, True),
    ],
)
def test_answer_direction_mirrors_offer_rfc3264_6_1_and_hold_8_4(
    offered: str, hold: bool, answered: str, sends: bool, receives: bool, remote_hold: bool
) -> None:
    offer = offer_with(f"m=audio 7000 RTP/AVP 0\na={offered}\n")
    answer, media = answer_to(offer, hold=hold)
    assert answer.media[0].direction(answer) == answered
    assert media.direction == answered
    assert (media.sends, media.receives, media.remote_hold) == (sends, receives, remote_hold)


def test_session_level_direction_in_offer_is_mirrored() -> None:
    offer = load("sdp_ipv6_sendonly.sdp")
    answer, media = answer_to(offer)
    assert answer.media[0].direction(answer) == "recvonly"
    assert media.remote_address == "2001:db8::2"
    assert media.remote_hold


def test_rfc2543_hold_offer_means_we_do_not_send() -> None:
    answer, media = answer_to(load("sdp_rfc2543_hold.sdp"))
    assert answer.media[0].direction(answer) == "recvonly"
    assert media.remote_hold
    assert not media.sends
    assert media.receives


# -- UAC side -------------------------------------------------------------------------------


def test_offer_answer_round_between_two_peers() -> None:
    offer = build_offer(ALICE, session_id=1, session_version=1)
    answer, at_bob = negotiate_answer(offer, BOB, session_id=2, session_version=1)
    at_alice = accept_answer(offer, answer)
    assert at_alice == NegotiatedMedia(
        remote_address="198.51.100.20",
        remote_port=5000,
        payload_type=0,
        codec="PCMU",
        clock_rate=8000,
        telephone_event=101,
        ptime=20,
        direction="sendrecv",
        remote_hold=False,
    )
    assert (at_bob.remote_address, at_bob.remote_port) == ("192.0.2.10", 4000)


@given(
    offered=st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]),
    hold=st.booleans(),
    prefer=st.sampled_from([None, ("PCMA",), ("PCMU", "PCMA")]),
)
def test_both_sides_agree_on_who_sends(
    offered: str, hold: bool, prefer: tuple[str, ...] | None
) -> None:
    offer = build_offer(ALICE, session_id=1, session_version=1, direction=offered)
    answer, at_bob = negotiate_answer(
        offer, BOB, prefer=prefer, session_id=2, session_version=1, hold=hold
    )
    at_alice = accept_answer(offer, answer)
    assert at_alice.sends == at_bob.receives
    assert at_alice.receives == at_bob.sends
    assert (at_alice.codec, at_alice.payload_type) == (at_bob.codec, at_bob.payload_type)
    assert at_alice.remote_hold == (hold and offered in ("sendrecv", "sendonly"))
    assert at_bob.remote_hold == (offered in ("sendonly", "inactive"))


def test_accept_answer_uses_the_answerers_payload_types() -> None:
    offer = build_offer(ALICE, session_id=1, session_version=1)
    answer = offer_with(
        "m=audio 9000 RTP/AVP 8 96\na=rtpmap:8 PCMA/8000\na=rtpmap:96 telephone-event/8000\n"
        "a=ptime:30\n"
    )
    media = accept_answer(offer, answer)
    assert (media.codec, media.payload_type, media.telephone_event, media.ptime) == (
        "PCMA",
        8,
        96,
        30,
    )
    assert (media.remote_address, media.remote_port) == ("203.0.113.1", 9000)


def test_accept_answer_with_zero_address_is_remote_hold() -> None:
    offer = build_offer(ALICE, session_id=1, session_version=1)
    answer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n"
    )
    media = accept_answer(offer, answer)
    assert media.remote_hold
    assert media.direction == "recvonly"


@pytest.mark.parametrize(
    ("answer_media", "sentence"),
    [
        ("", "the answer does not have one m= line per offered stream"),
        (
            "m=audio 9000 RTP/AVP 0\nm=audio 9002 RTP/AVP 0\n",
            "the answer does not have one m= line per offered stream",
        ),
        ("m=video 9000 RTP/AVP 31\n", "the answer changes the media type of an offered stream"),
        ("m=audio 9000 RTP/SAVP 0\n", "the answer changes the transport of an offered stream"),
        ("m=audio 9000 RTP/AVP 18\n", "the answer accepts no codec we offered"),
        ("m=audio 0 RTP/AVP 0\n", "no common codec in the answer"),
    ],
)
def test_accept_answer_errors_are_488(answer_media: str, sentence: str) -> None:
    offer = build_offer(ALICE, (PCMU, PCMA), session_id=1, session_version=1)
    with pytest.raises(OfferAnswerError) as info:
        accept_answer(offer, offer_with(answer_media))
    assert str(info.value) == sentence
    assert info.value.status_hint == 488


def test_accept_answer_refuses_a_codec_we_did_not_offer() -> None:
    offer = build_offer(ALICE, (PCMU, TELEPHONE_EVENT), session_id=1, session_version=1)
    with pytest.raises(OfferAnswerError, match="^the answer accepts no codec we offered$"):
        accept_answer(offer, offer_with("m=audio 9000 RTP/AVP 8\n"))


def test_accept_answer_needs_a_connection_address() -> None:
    offer = build_offer(ALICE, session_id=1, session_version=1)
    answer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n"
    )
    with pytest.raises(OfferAnswerError, match="^the answer has no connection address$"):
        accept_answer(offer, answer)


def test_bump_version_for_reinvite_rfc3264_8() -> None:
    offer = build_offer(ALICE, session_id=7, session_version=3)
    again = bump_version(offer)
    assert again.origin.sess_version == 4
    assert again.origin.sess_id == 7
    assert offer.origin.sess_version == 3
    again.media[0].set_direction("sendonly")
    assert offer.media[0].direction(offer) == "sendrecv"
    assert isinstance(again.media[0], MediaDescription)
