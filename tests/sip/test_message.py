"""SIP requests and responses: parse, check, serialize, build (RFC 3261 §7, §8, §18, §20)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx.sip.errors import SipParseError
from pbx.sip.headers import Headers
from pbx.sip.message import (
    MAX_MESSAGE_SIZE,
    Request,
    Response,
    build_response,
    error_response_for,
    parse_message,
)
from pbx.sip.uri import NameAddr, SipUri

INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)

RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
    b"To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


REGISTER = (
    b"REGISTER sips:ss2.biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\r\n"
    b"To: Bob <sips:bob@biloxi.example.com>\r\n"
    b"Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sips:bob@client.biloxi.example.com>;expires=3600, <sip:bob@192.0.2.9>;q=0.1\r\n"
    b"Expires: 7200\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

UNAUTHORIZED = (
    b"SIP/2.0 401 Unauthorized\r\n"
    b"Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7"
    b";received=192.0.2.201\r\n"
    b"From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\r\n"
    b"To: Bob <sips:bob@biloxi.example.com>;tag=1410948204\r\n"
    b"Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b'WWW-Authenticate: Digest realm="atlanta.example.com", qop="auth",'
    b' nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5\r\n'
    b"Content-Length: 0\r\n"
    b"\r\n"
)

BYE = (
    b"BYE sip:alice@pc33.atlanta.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\r\n"
    b"Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
    b"To: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 231 BYE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def with_field(data: bytes, field: bytes, after: bytes = b"Max-Forwards: 70\r\n") -> bytes:
    return data.replace(after, after + field, 1)


@pytest.mark.parametrize("data", [INVITE, RINGING, REGISTER, UNAUTHORIZED, BYE])
def test_message_round_trips_byte_for_byte(data: bytes) -> None:
    msg = parse_message(data)
    msg.check()
    assert bytes(msg) == data


def test_list_fields_split_and_single_value_fields_keep_their_commas() -> None:
    reg = parse_message(REGISTER)
    reg.check()
    assert [c.param("expires") for c in reg.contacts] == ["3600", None]
    assert reg.contacts[1].param("q") == "0.1"
    assert reg.expires == 7200
    challenge = parse_message(UNAUTHORIZED).headers.get("www-authenticate")
    assert challenge is not None and challenge.endswith("stale=FALSE, algorithm=MD5")
    bye = parse_message(BYE)
    assert [str(r.uri) for r in bye.route] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]


def test_request_fields() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, str(msg.uri)) == ("INVITE", "sip:bob@biloxi.com")
    assert msg.start_line() == "INVITE sip:bob@biloxi.com SIP/2.0"
    assert msg.top_via.branch == "z9hG4bK776asdhds" and msg.top_via.wants_rport
    assert (msg.from_tag, msg.to_tag) == ("1928301774", None)
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.com"
    assert (msg.cseq.seq, msg.cseq.method) == (314159, "INVITE")
    assert msg.max_forwards == 70 and msg.expires is None
    assert [str(c.uri) for c in msg.contacts] == ["sip:alice@pc33.atlanta.com"]
    assert msg.content_type == "application/sdp"
    assert msg.body == b"v=0\n"
    assert repr(msg) == "<Request INVITE sip:bob@biloxi.com>"


def test_response_fields() -> None:
    msg = parse_message(RINGING)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.provisional, msg.success) == (180, "Ringing", True, False)
    assert [v.host for v in msg.vias] == ["server10.biloxi.com", "pc33.atlanta.com"]
    assert msg.vias[1].received == "192.0.2.1"
    assert msg.to_tag == "a6c85cf"
    assert repr(msg) == "<Response 180 Ringing>"


def test_folded_compact_and_oddly_cased_fields_7_3() -> None:
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\n"
        b"v: SIP/2.0/UDP h1;branch=z9hG4bK1,\r\n SIP/2.0/TCP h2;branch=z9hG4bK2\r\n"
        b"VIA   :   SIP/2.0/UDP h3;branch=z9hG4bK3\r\n"
        b"t: <sip:a@b>\r\nf: <sip:c@d>;tag=9\r\ni: x@y\r\n"
        b"cseq: 0009\r\n\tOPTIONS\r\n"
        b"Subject: folded\r\n   across\r\n\t lines\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_message(data)
    msg.check()
    assert [v.host for v in msg.vias] == ["h1", "h2", "h3"]
    assert msg.call_id == "x@y"
    assert msg.cseq.seq == 9
    assert msg.headers.get("subject") == "folded across lines"


def test_leading_crlfs_before_the_start_line_are_ignored_7_5() -> None:
    assert parse_message(b"\r\n\r\n" + INVITE).method == "INVITE"  # type: ignore[union-attr]


def test_line_feeds_alone_are_accepted() -> None:
    msg = parse_message(INVITE.replace(b"\r\n", b"\n"))
    msg.check()
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.com"


def test_a_shorter_body_than_content_length_is_rejected_18_3() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(INVITE[:-1])
    assert (info.value.reason, info.value.status_hint) == (
        "Content-Length is larger than the body",
        400,
    )


def test_octets_beyond_content_length_are_discarded_18_3() -> None:
    assert parse_message(INVITE + b"garbage").body == b"v=0\n"


def test_missing_content_length_takes_the_rest_of_a_datagram_but_not_a_stream() -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"")
    assert parse_message(data).body == b"v=0\n"
    with pytest.raises(SipParseError) as info:
        parse_message(data, stream=True)
    assert info.value.reason == "missing Content-Length header on a stream transport"


def test_a_message_over_64_kib_is_answered_513() -> None:
    big = INVITE.replace(b"Content-Length: 4", b"Content-Length: 70000") + b"x" * 70_000
    with pytest.raises(SipParseError) as info:
        parse_message(big)
    assert (info.value.reason, info.value.status_hint) == ("message is larger than 64 KiB", 513)
    assert len(big) > MAX_MESSAGE_SIZE


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (b"To", "missing To header"),
        (b"From", "missing From header"),
        (b"CSeq", "missing CSeq header"),
        (b"Call-ID", "missing Call-ID header"),
        (b"Via", "missing Via header"),
    ],
)
def test_missing_mandatory_field_8_1_1(field: bytes, reason: str) -> None:
    lines = [ln for ln in INVITE.split(b"\r\n") if not ln.startswith(field + b":")]
    with pytest.raises(SipParseError) as info:
        parse_message(b"\r\n".join(lines))
    assert info.value.reason == reason
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    ("data", "reason", "status"),
    [
        (
            INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1),
            "unsupported SIP version 'SIP/3.0'",
            505,
        ),
        (INVITE.replace(b"SIP/2.0\r\n", b"HTTP/1.1\r\n", 1), "invalid request line", 400),
        (INVITE.replace(b"INVITE sip", b"INV<ITE sip", 1), "invalid method 'INV<ITE'", 400),
        (INVITE.replace(b"sip:bob@biloxi.com SIP", b"sip:bob@biloxi.com?x=y SIP", 1), None, 400),
        (RINGING.replace(b"180", b"18", 1), "invalid status code '18'", 400),
        (RINGING.replace(b"SIP/2.0 180", b"SIP/1.0 180", 1), "unsupported SIP version", 505),
        (with_field(INVITE, b"Max-Forwards: 69\r\n"), "more than one Max-Forwards header", 400),
        (with_field(INVITE, b"Content-Length: five\r\n"), None, 400),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), None, 400),
        (with_field(INVITE, b"Bad Name: x\r\n"), "header line 'Bad Name: x' has no", 400),
        (with_field(INVITE, b"NoColon\r\n"), "header line 'NoColon' has no", 400),
        (b" INVITE sip:a@b SIP/2.0\r\n\r\n", None, 400),
        (b"\r\n\r\n", "message is empty", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: x", "message has no empty line", 400),
    ],
)
def test_malformed_messages_raise_one_sentence(
    data: bytes, reason: str | None, status: int
) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data).check()
    if reason is not None:
        assert info.value.reason.startswith(reason)
    assert info.value.status_hint == status


def test_check_reports_bad_fields_with_the_message_attached() -> None:
    msg = parse_message(INVITE.replace(b"To: Bob <sip:bob@biloxi.com>", b'To: "Bob <sip:b@c>'))
    with pytest.raises(SipParseError) as info:
        msg.check()
    assert info.value.reason == "invalid To header: unterminated quoted display name"
    assert info.value.start_line == "INVITE sip:bob@biloxi.com SIP/2.0"
    assert info.value.fields is not None and ("Call-ID", msg.call_id) in info.value.fields


def test_contact_star_10_2_2() -> None:
    data = INVITE.replace(b"Contact: <sip:alice@pc33.atlanta.com>", b"Contact: *")
    msg = parse_message(data)
    msg.check()
    assert msg.contact_star and msg.contacts == []


def test_error_response_for_echoes_the_fields_of_the_bad_request_8_2() -> None:
    bad = INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 99999999999 INVITE")
    with pytest.raises(SipParseError) as info:
        parse_message(bad)
    response = error_response_for(info.value)
    assert response is not None
    assert response.status == 400
    assert response.reason == "Bad Request (invalid CSeq number '99999999999')"
    assert response.top_via.branch == "z9hG4bK776asdhds"
    assert response.headers.get("from") == "Alice <sip:alice@atlanta.com>;tag=1928301774"
    assert response.headers.get("to") == "Bob <sip:bob@biloxi.com>"
    assert response.headers.get("call-id") == "a84b4c76e66710@pc33.atlanta.com"
    assert response.headers.get("cseq") == "99999999999 INVITE"
    reparsed = parse_message(bytes(response).replace(b"99999999999", b"1"))
    assert isinstance(reparsed, Response)


def test_no_error_response_to_a_bad_response_or_without_via() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(RINGING.replace(b"CSeq: 314159", b"CSeq: x"))
    assert error_response_for(info.value) is None
    with pytest.raises(SipParseError) as info:
        parse_message(b"INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n")
    assert error_response_for(info.value) is None


def test_build_response_8_2_6() -> None:
    req = parse_message(with_field(INVITE, b"Timestamp: 54\r\nRecord-Route: <sip:p1;lr>\r\n"))
    assert isinstance(req, Request)
    ok = build_response(req, 200, to_tag="a6c85cf", extra=[("Contact", "<sip:bob@192.0.2.4>")])
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.to_tag == "a6c85cf"
    assert ok.headers.get_all("via") == req.headers.get_all("via")
    assert ok.headers.get("from") == req.headers.get("from")
    assert ok.call_id == req.call_id and ok.cseq == req.cseq
    assert ok.headers.get("record-route") == "<sip:p1;lr>"
    assert ok.headers.get("timestamp") is None
    trying = build_response(req, 100, to_tag="ignored")
    assert trying.to_tag is None  # §8.2.6.2: 100 Trying carries no To tag
    assert trying.headers.get("timestamp") == "54"  # §8.2.6.1
    assert trying.headers.get("record-route") is None
    again = parse_message(bytes(ok))
    again.check()
    assert again.to_tag == "a6c85cf"


def test_build_response_keeps_an_existing_to_tag() -> None:
    req = parse_message(
        INVITE.replace(b"<sip:bob@biloxi.com>\r\n", b"<sip:bob@biloxi.com>;tag=x\r\n")
    )
    assert isinstance(req, Request)
    assert build_response(req, 200, to_tag="y").to_tag == "x"


def test_serialization_always_writes_a_matching_content_length() -> None:
    msg = parse_message(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    data = bytes(msg)
    assert b"Content-Length: 31\r\n" in data
    built = Request("OPTIONS", SipUri.parse("sip:a@b"), Headers([("Via", "SIP/2.0/UDP h")]))
    assert bytes(built).endswith(b"Content-Length: 0\r\n\r\n")


# -- properties ------------------------------------------------------------------------

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=10)
methods = st.one_of(
    st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"]), tokens
)
hosts = st.sampled_from(["biloxi.com", "192.0.2.4", "[2001:db8::4]", "h.example.org"])
users = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()%&=+$,", max_size=8)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30
).map(lambda s: s.strip(" \t\u00a0\u1680\u2000\u200a\u202f\u205f\u3000\x85") or "x")


@given(
    method=methods,
    user=users,
    host=hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    branch=tokens,
    tag=tokens,
    seq=st.integers(0, 2**32 - 1),
    display=st.one_of(st.none(), values),
    extra=st.lists(st.tuples(tokens.map(lambda t: "X-" + t), values), max_size=4),
    body=st.binary(max_size=40),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_generated_requests_round_trip(
    method: str,
    user: str,
    host: str,
    port: int | None,
    branch: str,
    tag: str,
    seq: int,
    display: str | None,
    extra: list[tuple[str, str]],
    body: bytes,
) -> None:
    uri = SipUri("sip", user or None, None, host, port)
    from_ = NameAddr.of(SipUri("sip", "alice", None, "atlanta.com"), display, tag=tag)
    fields = [
        ("Via", f"SIP/2.0/UDP {host};branch=z9hG4bK{branch};rport"),
        ("Max-Forwards", "70"),
        ("From", str(from_)),
        ("To", f"<{uri}>"),
        ("Call-ID", f"{branch}@{host}"),
        ("CSeq", f"{seq} {method}"),
        *extra,
    ]
    msg = Request(method, uri, Headers(fields), body)
    again = parse_message(bytes(msg))
    again.check()
    assert isinstance(again, Request)
    assert (again.method, again.uri, again.body) == (method, uri, body)
    assert again.from_ == from_
    assert again.from_.display == display
    assert again.cseq.seq == seq
    assert again.top_via.branch == f"z9hG4bK{branch}"
    assert [again.headers.get(n) for n, _ in extra] == [
        next(v for n2, v in extra if n2.lower() == n.lower()) for n, _ in extra
    ]
    assert bytes(again) == bytes(msg)


def _only_parse_errors(data: bytes) -> None:
    try:
        msg = parse_message(data)
        msg.check()
        msg.to_tag, msg.from_tag, msg.cseq, msg.contacts, msg.route, msg.record_route  # noqa: B018
        bytes(msg)
    except SipParseError as exc:
        assert exc.reason
        response = error_response_for(exc)
        if response is not None:
            bytes(response)


@given(st.binary(max_size=300))
def test_random_bytes_only_raise_sip_parse_errors(data: bytes) -> None:
    _only_parse_errors(data)


@given(
    base=st.sampled_from([INVITE, RINGING]),
    edits=st.lists(
        st.tuples(st.integers(0, 600), st.integers(0, 4), st.binary(max_size=4)), max_size=6
    ),
)
def test_mutated_messages_only_raise_sip_parse_errors(
    base: bytes, edits: list[tuple[int, int, bytes]]
) -> None:
    data = bytearray(base)
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data[pos : pos + cut] = insert
    _only_parse_errors(bytes(data))


@given(st.text(alphabet=' \t\r\n:;,<>"\\@=?%aZ09/.[]-', max_size=120))
def test_separator_soup_only_raises_sip_parse_errors(text: str) -> None:
    head = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>\r\n"
    head += "Call-ID: x\r\nCSeq: 1 INVITE\r\n"
    for name in ("Via", "To", "From", "Contact", "CSeq", "Max-Forwards", "Date"):
        _only_parse_errors((head + f"{name}: {text}\r\n\r\n").encode("utf-8", "surrogateescape"))
