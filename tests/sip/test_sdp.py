"""RFC 4566 session descriptions: fixture round trips, fields, views, hold, exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.errors import LocalProtocolError, ProtocolError
from pbx.sip.sdp import (
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpParseError,
    SessionDescription,
    Timing,
)

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p.name for p in DATA.glob("sdp_*.sdp"))


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse(text: str) -> SessionDescription:
    return SessionDescription.parse(text.replace("\n", "\r\n"))


def test_fixtures_are_present() -> None:
    assert len(FIXTURES) == 7


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_round_trips_byte_for_byte(name: str) -> None:
    data = load(name)
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data
    assert str(sd) == data.decode()
    assert SessionDescription.parse(bytes(sd)) == sd


def test_rfc4566_example_fields_5() -> None:
    sd = SessionDescription.parse(load("sdp_rfc4566_example.sdp"))
    assert sd.version == 0
    assert sd.origin == Origin("jdoe", 2890844526, 2890842807, "IN", "IP4", "10.47.16.5")
    assert sd.session_name == "SDP Seminar"
    assert sd.connection == Connection("224.2.17.12", "IP4", "IN", ttl=127)
    assert sd.timing == [Timing(2873397496, 2873404696)]
    assert sd.attributes == [("recvonly", None)]
    assert [t for t, _ in sd.other_lines] == ["i", "u", "e"]
    assert sd.other_lines[2] == ("e", "j.doe@example.com (Jane Doe)")
    audio, video = sd.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        49170,
        "RTP/AVP",
        ["0"],
    )
    assert (video.media, video.port, video.formats) == ("video", 51372, ["99"])
    assert video.rtpmap == {99: RtpMap("h263-1998", 90000, None)}
    # The session-level recvonly applies to both streams (RFC 4566 §6).
    assert audio.direction(sd) == "recvonly"
    assert audio.direction() == "sendrecv"
    assert audio.connection_address(sd) == "224.2.17.12"


def test_deskphone_offer_views() -> None:
    sd = SessionDescription.parse(load("sdp_deskphone_offer.sdp"))
    (audio,) = sd.media
    assert sd.bandwidths == [Bandwidth("AS", 84)]
    assert audio.bandwidths == [Bandwidth("TIAS", 64000)]
    assert audio.formats == ["9", "8", "0", "18", "96"]
    assert audio.rtpmap == {
        9: RtpMap("G722", 8000, 1),
        8: RtpMap("PCMA", 8000, 1),
        0: RtpMap("PCMU", 8000, 1),
        18: RtpMap("G729", 8000, 1),
        96: RtpMap("telephone-event", 8000, 1),
    }
    assert audio.fmtp == {18: "annexb=no", 96: "0-15"}
    assert audio.ptime == 30
    assert audio.attribute("rtcp") == "16385 IN IP4 192.0.2.10"
    assert audio.attribute("maxptime") == "150"
    assert audio.has_attribute("sendrecv")
    assert audio.direction(sd) == "sendrecv"
    assert not audio.is_hold(sd)
    assert sd.attribute("X-nat") == "0"


def test_static_payload_types_known_without_rtpmap_rfc3551_6() -> None:
    sd = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0 8 13 97\n"
    )
    assert sd.media[0].rtpmap == {
        0: RtpMap("PCMU", 8000, 1),
        8: RtpMap("PCMA", 8000, 1),
        13: RtpMap("CN", 8000, 1),
    }


def test_rtpmap_overrides_static_table_and_reads_channels() -> None:
    media = MediaDescription(
        "audio",
        4000,
        "RTP/AVP",
        ["0", "111", "112", "113"],
        attributes=[
            ("rtpmap", "0 PCMU/8000"),
            ("rtpmap", "111 opus/48000/2"),
            ("rtpmap", "112 broken"),
            ("rtpmap", "x11 L16/8000"),
        ],
    )
    assert media.rtpmap == {0: RtpMap("PCMU", 8000, 1), 111: RtpMap("opus", 48000, 2)}


def test_static_types_ignored_for_non_rtp_protocols() -> None:
    media = MediaDescription("image", 5000, "udptl", ["t38"])
    assert media.rtpmap == {}
    assert MediaDescription("audio", 5000, "udp", ["0"]).rtpmap == {}


@pytest.mark.parametrize(
    ("value", "expected"), [("20", 20), ("30", 30), ("20.0", 20), ("abc", None), ("0", None)]
)
def test_ptime_values(value: str, expected: int | None) -> None:
    media = MediaDescription("audio", 4000, "RTP/AVP", ["0"], attributes=[("ptime", value)])
    assert media.ptime == expected


def test_ptime_absent_is_none() -> None:
    assert MediaDescription("audio", 4000, "RTP/AVP", ["0"]).ptime is None


def test_ipv6_session_level_sendonly_is_hold() -> None:
    sd = SessionDescription.parse(load("sdp_ipv6_sendonly.sdp"))
    (audio,) = sd.media
    assert sd.origin.addrtype == "IP6"
    assert sd.connection == Connection("2001:db8::2", "IP6")
    assert audio.connection_address(sd) == "2001:db8::2"
    assert audio.direction(sd) == "sendonly"
    assert audio.is_hold(sd)
    assert audio.rtpmap[8] == RtpMap("PCMA", 8000, 1)
    assert audio.fmtp == {101: "0-16"}


def test_rfc2543_hold_by_zero_address() -> None:
    sd = SessionDescription.parse(load("sdp_rfc2543_hold.sdp"))
    (audio,) = sd.media
    assert audio.direction(sd) == "sendrecv"
    assert audio.connection_address(sd) == "0.0.0.0"
    assert audio.is_hold(sd)


@pytest.mark.parametrize(
    ("direction", "hold"),
    [("sendrecv", False), ("recvonly", False), ("sendonly", True), ("inactive", True)],
)
def test_hold_follows_direction_rfc3264_8_4(direction: str, hold: bool) -> None:
    sd = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        f"m=audio 4000 RTP/AVP 0\na={direction}\n"
    )
    assert sd.media[0].direction(sd) == direction
    assert sd.media[0].is_hold(sd) is hold


def test_media_level_direction_beats_session_level() -> None:
    sd = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=inactive\n"
        "m=audio 4000 RTP/AVP 0\na=sendrecv\nm=audio 4002 RTP/AVP 0\n"
    )
    first, second = sd.media
    assert first.direction(sd) == "sendrecv"
    assert second.direction(sd) == "inactive"


def test_media_level_connection_beats_session_level() -> None:
    sd = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0\nc=IN IP4 198.51.100.9\nm=audio 4002 RTP/AVP 0\n"
    )
    first, second = sd.media
    assert first.connection_address(sd) == "198.51.100.9"
    assert second.connection_address(sd) == "192.0.2.1"
    assert MediaDescription("audio", 1, "RTP/AVP").connection_address() is None


def test_set_direction_replaces_the_attribute() -> None:
    media = MediaDescription(
        "audio", 4000, "RTP/AVP", ["0"], attributes=[("sendonly", None), ("ptime", "20")]
    )
    media.set_direction("inactive")
    assert media.attributes == [("ptime", "20"), ("inactive", None)]
    with pytest.raises(LocalProtocolError, match="unknown SDP direction 'hold'"):
        media.set_direction("hold")


def test_unknown_and_extension_lines_keep_their_places() -> None:
    sd = SessionDescription.parse(load("sdp_unknown_lines.sdp"))
    assert sd.other_lines == [
        ("p", "+1 617 555-6011"),
        ("z", "2882844526 -1h 2898848070 0"),
        ("k", "prompt"),
        ("y", "kept-at-session-level"),
    ]
    assert sd.timing == [Timing(0, 0, ("604800 3600 0 90000",))]
    (audio,) = sd.media
    assert audio.port == 5004
    assert audio.port_count == 2
    assert audio.connection == Connection("233.252.0.1", "IP4", ttl=127, num=2)
    assert audio.other_lines == [
        ("i", "main audio"),
        ("c", "IN IP4 233.252.0.3/127/2"),
        ("k", "prompt"),
        ("x", "kept-at-media-level"),
    ]
    assert audio.attributes == [("quality", "10"), ("recvonly", None)]


def test_ipv6_multicast_connection_has_count_not_ttl() -> None:
    sd = parse("v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP6 ff15::101/3\nt=0 0\n")
    assert sd.connection == Connection("ff15::101", "IP6", num=3)
    assert str(sd.connection) == "IN IP6 ff15::101/3"


def test_lf_line_ends_and_blank_lines_are_accepted_and_written_back_with_crlf() -> None:
    text = "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\n\nt=0 0\nm=audio 0 RTP/AVP 0\n"
    sd = SessionDescription.parse(text)
    assert sd.media[0].port == 0
    assert bytes(sd) == text.replace("\n\n", "\n").replace("\n", "\r\n").encode()


def test_extra_blanks_in_fields_are_tolerated() -> None:
    sd = parse(
        "v=0\no=-  1 1 IN IP4 192.0.2.1 \ns=-\nc=IN IP4  192.0.2.1\nt=0 0 \nb=AS:64 \n"
        "m=audio 4000 RTP/AVP 0 8 \n"
    )
    assert sd.origin == Origin("-", 1, 1, "IN", "IP4", "192.0.2.1")
    assert sd.connection == Connection("192.0.2.1")
    assert sd.media[0].formats == ["0", "8"]
    assert str(sd).splitlines()[1] == "o=- 1 1 IN IP4 192.0.2.1"


def test_non_utf8_bytes_round_trip() -> None:
    data = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=caf\xe9\r\nt=0 0\r\na=charset:ISO-8859-1\r\n"
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data


def test_property_attribute_and_empty_value_differ() -> None:
    sd = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=flag\na=empty:\n")
    assert sd.attributes == [("flag", None), ("empty", "")]
    assert str(sd).endswith("a=flag\r\na=empty:\r\n")


def test_built_description_serializes_in_grammar_order() -> None:
    sd = SessionDescription(
        origin=Origin("-", 5, 6, address="192.0.2.1"),
        connection=Connection.for_address("192.0.2.1"),
        media=[
            MediaDescription(
                "audio",
                4000,
                "RTP/AVP",
                ["0"],
                attributes=[("rtpmap", "0 PCMU/8000"), ("sendrecv", None)],
            )
        ],
    )
    assert str(sd) == (
        "v=0\r\no=- 5 6 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
    assert Connection.for_address("2001:db8::1") == Connection("2001:db8::1", "IP6")


def test_copy_is_deep() -> None:
    sd = SessionDescription.parse(load("sdp_deskphone_offer.sdp"))
    clone = sd.copy()
    clone.media[0].attributes.clear()
    assert sd.media[0].attributes != []
    assert clone != sd


HEAD = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n"


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", "SDP is missing the v= line"),
        ("o=- 1 1 IN IP4 192.0.2.1\nv=0\n", "SDP is missing the v= line"),
        ("v=0\nvo\n", "SDP line 2 is not of the form <type>=<value>"),
        ("v=0\n\nX=1\n", "SDP line 3 is not of the form <type>=<value>"),
        ("v=x\n", "SDP v= line has an invalid version"),
        ("v=0\ns=-\n", "SDP is missing the o= line"),
        ("v=0\no=- 1 1 IN IP4\ns=-\n", "SDP o= line does not have six fields"),
        ("v=0\no=- a 1 IN IP4 h\ns=-\n", "SDP o= line has an invalid session id"),
        ("v=0\no=- 1 b IN IP4 h\ns=-\n", "SDP o= line has an invalid session version"),
        ("v=0\no=- 1 1 IN IP4 h\nt=0 0\n", "SDP is missing the s= line"),
        ("v=0\no=- 1 1 IN IP4 h\n", "SDP is missing the s= line"),
        ("v=0\no=- 1 1 IN IP4\n", "SDP o= line does not have six fields"),
        (HEAD + "c=IN IP4\n", "SDP c= line does not have three fields"),
        (HEAD + "c=IN IP4 224.2.1.1/x\n", "SDP c= line has an invalid address"),
        (HEAD + "c=IN IP6 ff15::1/1/2\n", "SDP c= line has an invalid address"),
        (HEAD + "c=IN IP4 h\nc=IN IP4 h\n", "SDP has more than one session-level c= line"),
        (HEAD + "b=AS64\n", "SDP b= line is not of the form <bwtype>:<bandwidth>"),
        (HEAD + "b=AS:lots\n", "SDP b= line is not of the form <bwtype>:<bandwidth>"),
        (HEAD + "t=0\n", "SDP t= line does not have two fields"),
        (HEAD + "t=now 0\n", "SDP t= line has an invalid time"),
        (HEAD + "r=7d 1h 0\n", "SDP r= line is not preceded by a t= line"),
        (HEAD + "a=:x\n", "SDP a= line has an empty attribute name"),
        (HEAD + "o=- 1 1 IN IP4 h\n", "SDP has a second o= line"),
        (
            HEAD + "m=audio 4000\n",
            "SDP m= line is not of the form <media> <port> <proto> <fmt> ...",
        ),
        (HEAD + "m=audio 70000 RTP/AVP 0\n", "SDP m= line has an invalid port"),
        (HEAD + "m=audio -1 RTP/AVP 0\n", "SDP m= line has an invalid port"),
        (HEAD + "m=audio 4000/0 RTP/AVP 0\n", "SDP m= line has an invalid number of ports"),
        (HEAD + "m=audio 4000 RTP/AVP 0\nt=0 0\n", "SDP t= line is not allowed in a media section"),
    ],
)
def test_parse_errors_are_exact_sentences(text: str, sentence: str) -> None:
    with pytest.raises(SdpParseError) as info:
        SessionDescription.parse(text)
    assert str(info.value) == sentence
    assert info.value.status_hint == 400
    assert isinstance(info.value, ProtocolError)


# -- properties -----------------------------------------------------------------------------

_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n"), max_size=12
)
_word = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="/"),
    min_size=1,
    max_size=10,
)
_number = st.integers(min_value=0, max_value=2**64)
_attr_name = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n:"),
    min_size=1,
    max_size=10,
)
_attributes = st.lists(st.tuples(_attr_name, st.none() | _text), max_size=4)
_connections = st.builds(
    Connection,
    address=_word,
    addrtype=st.sampled_from(["IP4", "IP6"]),
    nettype=st.just("IN"),
)
_bandwidths = st.lists(
    st.builds(Bandwidth, st.sampled_from(["AS", "CT", "TIAS", "RR"]), _number), max_size=2
)
_SESSION_ORDER = "iuepzkdfghjlnqwxy"
_MEDIA_ORDER = "ikdfghjlnqwxy"


def _other_lines(order: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    lines = st.lists(st.tuples(st.sampled_from(order), _text), max_size=4)
    # Serialization puts known letters at their grammar place, unknown letters before a=.
    known = set(order) & set("iuepzk")

    def place(line: tuple[str, str]) -> int:
        return order.index(line[0]) if line[0] in known else len(order)

    return lines.map(lambda items: sorted(items, key=place))


_media = st.builds(
    MediaDescription,
    media=st.sampled_from(["audio", "video", "application", "image"]),
    port=st.integers(0, 65535),
    proto=st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udptl"]),
    formats=st.lists(_word, max_size=4),
    port_count=st.none() | st.integers(1, 4),
    connection=st.none() | _connections,
    bandwidths=_bandwidths,
    attributes=_attributes,
    other_lines=_other_lines(_MEDIA_ORDER),
)
_sessions = st.builds(
    SessionDescription,
    origin=st.builds(Origin, _word, _number, _number, st.just("IN"), st.just("IP4"), _word),
    session_name=_text,
    connection=st.none() | _connections,
    bandwidths=_bandwidths,
    timing=st.lists(
        st.builds(Timing, _number, _number, st.lists(_text, max_size=2).map(tuple)), max_size=2
    ),
    attributes=_attributes,
    media=st.lists(_media, max_size=3),
    other_lines=_other_lines(_SESSION_ORDER),
)


@given(_sessions)
def test_built_description_survives_serialize_then_parse(sd: SessionDescription) -> None:
    again = SessionDescription.parse(bytes(sd))
    assert again == sd
    assert bytes(again) == bytes(sd)


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_parse_of_arbitrary_input_raises_only_sdp_parse_error(data: bytes | str) -> None:
    try:
        sd = SessionDescription.parse(data)
    except SdpParseError as exc:
        assert str(exc).startswith("SDP ")
    else:
        assert SessionDescription.parse(bytes(sd)) == sd


@given(
    st.lists(
        st.sampled_from(
            HEAD.splitlines()
            + [
                "t=0 0",
                "m=audio 1 RTP/AVP 0",
                "a=sendonly",
                "c=IN IP4 1.2.3.4",
                "b=AS:1",
                "k=x",
                "r=1 2",
            ]
        ),
        max_size=12,
    )
)
def test_parse_of_shuffled_lines_raises_only_sdp_parse_error(lines: list[str]) -> None:
    try:
        sd = SessionDescription.parse("\r\n".join(lines))
    except SdpParseError:
        return
    assert SessionDescription.parse(bytes(sd)) == sd
