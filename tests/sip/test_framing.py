"""Content-Length framing on TCP/TLS streams (RFC 3261 §18.3) and CRLF keep-alives (RFC 5626)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.sip.errors import SipParseError
from pbx.sip.framing import PING, PONG, StreamFramer
from pbx.sip.message import parse_message


def message(n: int, body: bytes = b"", length_name: bytes = b"Content-Length") -> bytes:
    return (
        b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK" + str(n).encode() + b"\r\n"
        b"To: <sip:a@127.0.0.1>\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\n"
        b"Call-ID: "
        + str(n).encode()
        + b"@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
        + length_name
        + b": "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


M1 = message(1, b"hello")
M2 = message(2, b"", b"l")
M3 = message(3, b"\r\n\r\nbody with blank lines\r\n\r\n")


def test_several_messages_in_one_chunk() -> None:
    framer = StreamFramer()
    assert framer.feed(M1 + M2 + M3) == [M1, M2, M3]
    assert framer.buffered == 0
    assert parse_message(M3, stream=True).body == b"\r\n\r\nbody with blank lines\r\n\r\n"


def test_byte_by_byte_feeding() -> None:
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(len(M1 + M3)):
        out += framer.feed((M1 + M3)[i : i + 1])
    assert out == [M1, M3]


@given(st.lists(st.integers(1, 200), max_size=30))
def test_any_chunking_yields_the_same_messages(cuts: list[int]) -> None:
    stream = M1 + PING + M2 + b"\r\n" + M3
    framer = StreamFramer()
    out: list[bytes] = []
    pos = 0
    for cut in cuts:
        out += framer.feed(stream[pos : pos + cut])
        pos += cut
    out += framer.feed(stream[pos:])
    assert out == [M1, M2, M3]
    assert framer.take_pings() == 1


def test_double_crlf_ping_is_counted_for_a_single_crlf_pong_rfc_5626_3_5_1() -> None:
    framer = StreamFramer()
    assert framer.feed(PING + PING) == []
    assert framer.pings == 2
    assert framer.take_pings() == 2 and framer.pings == 0
    assert PONG == b"\r\n"
    assert framer.feed(b"\r\n") == []  # a pong (or a half ping): nothing to answer yet
    assert framer.feed(b"\r\n") == []
    assert framer.take_pings() == 1
    assert framer.feed(b"\r\n" + M1) == [M1]  # a pong before a message is dropped
    assert framer.take_pings() == 0


def test_missing_content_length_on_a_stream_closes_the_connection_18_3() -> None:
    data = M1.replace(b"Content-Length: 5\r\n", b"")
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(data)
    assert info.value.reason == "missing Content-Length header on a stream transport"
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (b"Content-Length: -999", "invalid Content-Length value on a stream transport"),
        (b"Content-Length: five", "invalid Content-Length value on a stream transport"),
        (b"Content-Length: 5\r\nl: 6", "more than one Content-Length header"),
    ],
)
def test_bad_content_length_on_a_stream(field: bytes, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(M1.replace(b"Content-Length: 5", field))
    assert info.value.reason == reason


def test_oversize_header_or_body_is_513() -> None:
    with pytest.raises(SipParseError) as info:
        StreamFramer(max_size=1000).feed(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"x" * 2000)
    assert (info.value.reason, info.value.status_hint) == (
        "message header is larger than 64 KiB",
        513,
    )
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(message(1, b"").replace(b"Content-Length: 0", b"Content-Length: 70000"))
    assert (info.value.reason, info.value.status_hint) == ("message is larger than 64 KiB", 513)


def test_a_partial_message_waits_for_its_body() -> None:
    framer = StreamFramer()
    assert framer.feed(M1[:-2]) == []
    assert framer.buffered == len(M1) - 2
    assert framer.feed(M1[-2:] + M2[:10]) == [M1]
    assert framer.buffered == 10
