"""RFC 4475 SIP torture test messages, byte for byte, through parse_message + check().

The fixtures in ``data/rfc4475`` are the 49 messages of RFC 4475 written out with CRLF
line ends, ``<allOneLine>`` blocks joined and ``<hex>`` bytes decoded (every
Content-Length matches its body). Each test names the section of RFC 4475 and, for the
messages the RFC leaves to a later layer (§3.2, §3.3), asserts what the parser hands up
so that layer can answer with the code the RFC names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.sip.errors import SipParseError
from pbx.sip.message import Request, Response, error_response_for, parse_message
from pbx.sip.uri import AbsoluteUri, SipUri

DATA = Path(__file__).parent / "data" / "rfc4475"


def load(name: str) -> bytes:
    return (DATA / f"{name}.sip").read_bytes()


def parsed(name: str) -> Request | Response:
    msg = parse_message(load(name))
    msg.check()
    return msg


def request(name: str) -> Request:
    msg = parsed(name)
    assert isinstance(msg, Request)
    return msg


def sip_uri(uri: object) -> SipUri:
    assert isinstance(uri, SipUri)
    return uri


def test_all_49_messages_are_present() -> None:
    assert len(list(DATA.glob("*.sip"))) == 49


VALID = [
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
    "semiuri", "transports", "mpart01", "unreason", "noreason",
    "badbranch", "unkscm", "novelsc", "unksm2", "bext01", "invut", "regaut01", "bcast",
    "zeromf", "cparam01", "cparam02", "regescrt", "sdp01", "inv2543",
]  # fmt: skip


@pytest.mark.parametrize("name", VALID)
def test_valid_message_survives_a_round_trip(name: str) -> None:
    msg = parsed(name)
    again = parse_message(bytes(msg))
    again.check()
    assert again.start_line() == msg.start_line()
    assert again.body == msg.body
    assert again.vias == msg.vias
    assert again.from_ == msg.from_
    assert again.to == msg.to
    assert again.call_id == msg.call_id
    assert again.cseq == msg.cseq
    assert bytes(again) == bytes(msg)


# -- §3.1.1 valid messages -------------------------------------------------------------


def test_wsinv_short_tortuous_invite_3_1_1_1() -> None:
    msg = request("wsinv")
    uri = sip_uri(msg.uri)
    assert (msg.method, uri.user, uri.host) == ("INVITE", "vivekg", "chair-dnrc.example.com")
    assert uri.params == (("unknownparam", None),)
    assert msg.to.tag == "1918181833n"
    assert sip_uri(msg.to.uri).user == "vivekg"
    assert msg.from_.display == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68
    assert (msg.cseq.seq, msg.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("subject") == ""
    assert msg.headers.get("NewFangledHeader") == ("newfangled value continued newfangled value")
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    route = msg.route[0]
    assert sip_uri(route.uri).params == (
        ("lr", None),
        ("unknownwith", "value"),
        ("unknown-no-value", None),
    )
    (contact,) = msg.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert msg.content_type == "application/sdp"
    assert len(msg.body) == 150


def test_intmeth_wide_range_of_valid_characters_3_1_1_2() -> None:
    msg = request("intmeth")
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = sip_uri(msg.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert msg.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.param("fromParam''~+*_!.-%") == "работающий"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.cseq.seq == 139122385
    assert msg.max_forwards == 255
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01_escaped_characters_compare_unescaped_3_1_1_3() -> None:
    msg = request("esc01")
    uri = sip_uri(msg.uri)
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.user_unescaped == "sips:user@example.com"
    assert sip_uri(msg.to.uri).user_unescaped == "user"
    assert sip_uri(msg.from_.uri).user_unescaped == "I have spaces"
    contact = sip_uri(msg.contacts[0].uri)
    assert contact.user_unescaped == "caller"
    assert contact.params == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    # "value%41" is the value after unescaping, so it equals "value%2541", not "valueA".
    assert SipUri.parse("sip:caller@host5.example.net;lr;name=value%2541").equivalent(contact)
    assert not SipUri.parse("sip:caller@host5.example.net;lr;name=valueA").equivalent(contact)


def test_escnull_keeps_distinct_users_with_nul_3_1_1_4() -> None:
    msg = request("escnull")
    assert sip_uri(msg.to.uri).user_unescaped == "null-\x00-null"
    first, second = (sip_uri(c.uri) for c in msg.contacts)
    assert (first.user_unescaped, second.user_unescaped) == ("\x00", "\x00\x00")
    assert not first.equivalent(second)
    assert msg.body == b""


def test_esc02_percent_is_not_an_escape_outside_uris_3_1_1_5() -> None:
    msg = request("esc02")
    assert msg.method == "RE%47IST%45R"
    assert msg.to.display == "%Z%45"
    assert [sip_uri(c.uri).user for c in msg.contacts] == ["alias1", "alias3"]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert msg.top_via.branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp_no_lws_between_display_name_and_laquot_3_1_1_6() -> None:
    msg = request("lwsdisp")
    assert msg.from_.display == "caller"
    assert msg.from_.tag == "323"


def test_longreq_long_values_in_header_fields_3_1_1_7() -> None:
    msg = request("longreq")
    assert len(msg.vias) == 34
    assert [v.host for v in msg.vias[:33]] == [f"sip{n}.example.com" for n in range(33, 0, -1)]
    assert msg.vias[33].received == "192.0.2.5"
    assert msg.vias[33].branch == "very" + "long" * 50 + "branchvalue"
    assert msg.to.display is not None and msg.to.display.endswith(" proportion")
    assert sip_uri(msg.to.uri).port == 6000
    assert msg.from_.tag == "12" + "982" * 50 + "424"
    assert msg.call_id == "longreq.one" + "really" * 20 + "longcallid"
    assert len(msg.body) == 150


def test_dblreq_extra_octets_after_the_body_are_ignored_3_1_1_8() -> None:
    msg = request("dblreq")
    assert msg.method == "REGISTER"
    assert msg.body == b""
    assert b"INVITE" not in bytes(msg)


def test_semiuri_semicolon_in_the_user_part_3_1_1_9() -> None:
    uri = sip_uri(request("semiuri").uri)
    assert uri.user == "user;par=u%40example.net"
    assert uri.user_unescaped == "user;par=u@example.net"
    assert (uri.host, uri.params) == ("example.com", ())
    assert request("semiuri").headers.values("accept")[-1] == "message/sipfrag"


def test_transports_all_via_transports_3_1_1_10() -> None:
    msg = request("transports")
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert msg.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01_multipart_body_with_nul_octets_3_1_1_11() -> None:
    msg = request("mpart01")
    assert len(msg.body) == 553
    assert b"\x00" in msg.body
    assert msg.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert msg.content_type == "multipart/mixed"
    assert msg.top_via.wants_rport


def test_unreason_utf8_reason_phrase_3_1_1_12() -> None:
    msg = parsed("unreason")
    assert isinstance(msg, Response)
    assert msg.status == 200
    assert msg.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


def test_noreason_empty_reason_phrase_3_1_1_13() -> None:
    msg = parsed("noreason")
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (100, "")
    assert msg.to.tag == "902jndnke3"


# -- §3.1.2 invalid messages -------------------------------------------------------------

INVALID = [
    # (name, status_hint, exact reason)
    ("badinv01", 400, "invalid Via parameter: invalid parameter name ''"),  # 3.1.2.1
    ("clerr", 400, "Content-Length is larger than the body"),  # 3.1.2.2
    ("ncl", 400, "invalid Content-Length value '-999'"),  # 3.1.2.3
    ("scalar02", 400, "invalid CSeq number '36893488147419103232'"),  # 3.1.2.4
    ("scalarlg", 400, "invalid CSeq number '9292394834772304023312'"),  # 3.1.2.5
    ("quotbal", 400, "invalid To header: unterminated quoted display name"),  # 3.1.2.6
    ("ltgtruri", 400, "invalid Request-URI: invalid URI '<sip:user@example.com>'"),  # 3.1.2.7
    ("lwsruri", 400, "invalid request line 'INVITE sip:user@example.com; lr SIP/2.0'"),
    ("lwsstart", 400, "invalid request line 'INVITE  sip:user@example.com  SIP/2.0'"),
    ("trws", 400, "invalid request line 'OPTIONS sip:remote-target@example.com SIP/2.0  '"),
    ("escruri", 400, "Request-URI must not contain headers"),  # 3.1.2.11
    ("baddate", 400, "invalid Date header 'Fri, 01 Jan 2010 16:00:00 EST'"),  # 3.1.2.12
    (
        "regbadct",
        400,
        "invalid Contact header: invalid addr-spec "
        "'sip:user@example.com?Route=%3Csip:sip.example.com%3E'",
    ),  # 3.1.2.13
    ("badaspec", 400, "invalid To header: invalid URI ' sip:t.watson@example.org '"),
    ("baddn", 400, "invalid From header: invalid display name 'Bell, Alexander'"),  # 3.1.2.15
    ("badvers", 505, "unsupported SIP version 'SIP/7.0'"),  # 3.1.2.16
    ("mismatch01", 400, "CSeq method does not match the request method"),  # 3.1.2.17
    ("mismatch02", 501, "CSeq method does not match the request method"),  # 3.1.2.18
    ("bigcode", 400, "invalid status code '4294967301'"),  # 3.1.2.19
    # §3.3 messages the parser itself must reject
    ("insuf", 400, "missing To header"),  # 3.3.1
    ("multi01", 400, "more than one To header"),  # 3.3.8
    ("mcl01", 400, "more than one Content-Length header"),  # 3.3.9
]


@pytest.mark.parametrize(("name", "status", "reason"), INVALID)
def test_invalid_message_is_rejected_with_the_status_the_rfc_names(
    name: str, status: int, reason: str
) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load(name)).check()
    assert info.value.reason == reason
    assert info.value.status_hint == status
    assert info.value.start_line is not None
    assert info.value.fields


def test_mismatch02_is_answered_501_not_implemented_3_1_2_18() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("mismatch02"))
    response = error_response_for(info.value)
    assert response is not None
    assert response.status == 501
    assert response.headers.get("call-id") == "mismatch02.dj0234sxdfl3"
    assert response.top_via.branch == "z9hG4bKkdjuw"


def test_badvers_is_answered_505_3_1_2_16() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("badvers"))
    response = error_response_for(info.value)
    assert response is not None
    assert response.status == 505


def test_badinv01_cannot_be_answered_without_a_valid_via_3_1_2_1() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("badinv01")).check()
    assert error_response_for(info.value) is None


def test_responses_with_errors_are_not_answered_3_1_2_5() -> None:
    for name in ("scalarlg", "bigcode"):
        with pytest.raises(SipParseError) as info:
            parse_message(load(name))
        assert not info.value.is_request
        assert error_response_for(info.value) is None


def test_clerr_on_a_stream_is_missing_bytes_not_an_error_3_1_2_2() -> None:
    from pbx.sip.framing import StreamFramer

    framer = StreamFramer()
    assert framer.feed(load("clerr")) == []  # waits for the 9999 octets announced
    assert framer.buffered == len(load("clerr"))


# -- §3.2 transaction layer ----------------------------------------------------------------


def test_badbranch_parses_and_leaves_the_branch_to_the_transaction_layer_3_2_1() -> None:
    # The magic cookie with no identifier: the transaction layer answers 400 or falls
    # back to RFC 2543 matching; the parser must not break.
    assert request("badbranch").top_via.branch == "z9hG4bK"


# -- §3.3 application layer: parsed; the UA answers with the code named ------------------


def test_unkscm_unknown_request_uri_scheme_is_answered_416_3_3_2() -> None:
    uri = request("unkscm").uri
    assert isinstance(uri, AbsoluteUri)
    assert (uri.scheme, uri.rest) == ("nobodyknowsthisscheme", "totallyopaquecontent")
    with pytest.raises(SipParseError) as info:
        SipUri.parse(str(uri))
    assert info.value.status_hint == 416


def test_novelsc_known_but_atypical_scheme_is_answered_416_3_3_3() -> None:
    uri = request("novelsc").uri
    assert isinstance(uri, AbsoluteUri)
    assert (uri.scheme, uri.rest) == ("soap.beep", "//192.0.2.103:3002")


def test_unksm2_other_schemes_in_header_fields_parse_3_3_4() -> None:
    # A registrar answers 400 (the To of a REGISTER must be a SIP URI); a proxy forwards.
    msg = request("unksm2")
    assert msg.to.uri == AbsoluteUri("isbn", "2983792873")
    assert msg.from_.uri == AbsoluteUri("http", "//www.example.com")
    assert msg.contacts[0].uri == AbsoluteUri("name", "John_Smith")


def test_bext01_unknown_extensions_are_answered_420_3_3_5() -> None:
    msg = request("bext01")
    assert msg.header_tokens("require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert msg.header_tokens("proxy-require") == [
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    ]


def test_invut_unknown_content_type_is_answered_415_3_3_6() -> None:
    msg = request("invut")
    assert msg.content_type == "application/unknownformat"
    assert msg.body == b'<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n'


def test_regaut01_unknown_authorization_scheme_is_answered_401_3_3_7() -> None:
    value = request("regaut01").headers.get("authorization")
    assert value == "NoOneKnowsThisScheme opaque-data=here"


def test_bcast_broadcast_via_in_a_response_parses_3_3_10() -> None:
    msg = parsed("bcast")
    assert [v.host for v in msg.vias] == ["192.0.2.198", "255.255.255.255"]


def test_zeromf_max_forwards_zero_3_3_11() -> None:
    # A proxy answers 483; a UAS answers the OPTIONS as usual.
    assert request("zeromf").max_forwards == 0


def test_cparam01_bare_contact_parameter_belongs_to_the_header_3_3_12() -> None:
    (contact,) = request("cparam01").contacts
    assert contact.params == (("unknownparam", None),)
    assert sip_uri(contact.uri).params == ()
    assert not contact.bracketed


def test_cparam02_bracketed_contact_parameter_belongs_to_the_uri_3_3_13() -> None:
    (contact,) = request("cparam02").contacts
    assert contact.params == ()
    assert sip_uri(contact.uri).params == (("unknownparam", None),)


def test_regescrt_escaped_headers_in_a_bracketed_contact_3_3_14() -> None:
    (contact,) = request("regescrt").contacts
    assert sip_uri(contact.uri).headers == "Route=%3Csip:sip.example.com%3E"


def test_sdp01_unacceptable_accept_is_answered_406_3_3_15() -> None:
    msg = request("sdp01")
    assert msg.headers.values("accept") == ["text/nobodyKnowsThis"]
    assert msg.content_type == "application/sdp"


def test_inv2543_rfc_2543_invite_without_branch_or_length_3_4_1() -> None:
    msg = request("inv2543")
    assert msg.top_via.branch is None
    assert msg.max_forwards is None
    assert msg.from_.tag is None
    assert msg.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    assert len(msg.body) == 105
