"""Header fields: case-insensitive multi-map, compact forms, typed views (RFC 3261 §7.3, §20)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.sip.errors import SipParseError
from pbx.sip.headers import CSeq, Headers, Via, canonical_key, display_name, params_of


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("v", "via"),
        ("V", "via"),
        ("ViA", "via"),
        ("i", "call-id"),
        ("Call-ID", "call-id"),
        ("m", "contact"),
        ("l", "content-length"),
        ("c", "content-type"),
        ("f", "from"),
        ("t", "to"),
        ("k", "supported"),
        ("s", "subject"),
        ("e", "content-encoding"),
        ("o", "event"),
        ("r", "refer-to"),
        ("X-Custom", "x-custom"),
    ],
)
def test_compact_forms_and_case_map_to_one_key_7_3_3(name: str, key: str) -> None:
    assert canonical_key(name) == key


def test_display_names_of_fields_we_write() -> None:
    assert display_name("call-id") == "Call-ID"
    assert display_name("i") == "Call-ID"
    assert display_name("cseq") == "CSeq"
    assert display_name("www-authenticate") == "WWW-Authenticate"
    assert display_name("x-my-header") == "X-My-Header"


def test_headers_multimap_keeps_order_and_spelling() -> None:
    h = Headers([("v", "SIP/2.0/UDP a"), ("To", "<sip:b@c>"), ("VIA", "SIP/2.0/TCP b")])
    assert h.get("via") == "SIP/2.0/UDP a"
    assert h.get_all("Via") == ["SIP/2.0/UDP a", "SIP/2.0/TCP b"]
    assert "t" in h and "from" not in h and 5 not in h
    assert h.get("from", "none") == "none"
    h.set("to", "<sip:x@y>")
    assert list(h) == [("v", "SIP/2.0/UDP a"), ("To", "<sip:x@y>"), ("VIA", "SIP/2.0/TCP b")]
    h.prepend("Via", "SIP/2.0/UDP top")
    assert h.via()[0].host == "top"
    assert h.pop_first_value("via") == "SIP/2.0/UDP top"
    h.remove("V")
    assert h.get_all("via") == []
    h.set("max-forwards", "70")
    assert list(h)[-1] == ("Max-Forwards", "70")
    assert len(h) == 2 and len(h.copy()) == 2


def test_comma_separated_values_equal_repeated_fields_7_3_1() -> None:
    one = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2")])
    two = Headers(
        [("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("v", "SIP/2.0/TCP b;branch=z9hG4bK2")]
    )
    assert one.via() == two.via()
    assert [v.branch for v in one.via()] == ["z9hG4bK1", "z9hG4bK2"]
    contacts = Headers([("Contact", '"Doe, J" <sip:a@x>, <sip:b@y>'), ("m", "<sip:c@z>")])
    assert [str(c.uri) for c in contacts.name_addrs("contact")] == ["sip:a@x", "sip:b@y", "sip:c@z"]
    assert Headers([("Allow", "INVITE, ACK"), ("Allow", "BYE")]).tokens("allow") == [
        "INVITE",
        "ACK",
        "BYE",
    ]


def test_pop_first_value_of_a_comma_separated_field() -> None:
    h = Headers([("Route", "<sip:p1;lr>, <sip:p2;lr>")])
    assert h.pop_first_value("route") == "<sip:p1;lr>"
    assert h.get("route") == "<sip:p2;lr>"
    assert h.pop_first_value("route") == "<sip:p2;lr>"
    assert h.pop_first_value("route") is None


def test_typed_views_are_cached_until_the_fields_change() -> None:
    h = Headers([("From", "<sip:a@b>;tag=1"), ("CSeq", "1 INVITE")])
    first = h.name_addr("from")
    assert h.name_addr("f") is first
    h.set("from", "<sip:a@b>;tag=2")
    assert h.name_addr("from").tag == "2"
    assert h.name_addr("to") is None
    assert h.cseq() is h.cseq()


VIAS = [
    # value, transport, host, port, branch, received, rport, wants_rport, maddr
    ("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds", "UDP", "pc33.atlanta.com", None)
    + ("z9hG4bK776asdhds", None, None, False, None),
    ("SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd", "UDP")
    + ("192.0.2.1", 5060, "z9hG4bK77asjd", "192.0.2.207", None, False, None),
    ("SIP/2.0/UDP 10.0.0.1:5062;rport;branch=z9hG4bKa", "UDP", "10.0.0.1", 5062, "z9hG4bKa")
    + (None, None, True, None),
    ("SIP/2.0/UDP 10.0.0.1;rport=61000;received=198.51.100.7;branch=z9hG4bKb", "UDP")
    + ("10.0.0.1", None, "z9hG4bKb", "198.51.100.7", 61000, True, None),
    ("SIP / 2.0 / TCP   spindle.example.com : 5070 ; branch = z9hG4bK9ikj8", "TCP")
    + ("spindle.example.com", 5070, "z9hG4bK9ikj8", None, None, False, None),
    ("SIP/2.0/tls [2001:db8::9]:5061;maddr=239.255.255.1;ttl=16", "TLS", "[2001:db8::9]", 5061)
    + (None, None, None, False, "239.255.255.1"),
    ("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf", "WSS", "df7jal23ls0d.invalid")
    + (None, "z9hG4bKasudf", None, None, False, None),
]


@pytest.mark.parametrize(
    ("value", "transport", "host", "port", "branch", "received", "rport", "wants", "maddr"),
    VIAS,
)
def test_via_20_42(
    value: str,
    transport: str,
    host: str,
    port: int | None,
    branch: str | None,
    received: str | None,
    rport: int | None,
    wants: bool,
    maddr: str | None,
) -> None:
    via = Via.parse(value)
    assert (via.transport, via.host, via.port) == (transport, host, port)
    assert (via.branch, via.received, via.rport, via.wants_rport, via.maddr) == (
        branch,
        received,
        rport,
        wants,
        maddr,
    )
    assert via.sent_by == (host.strip("[]"), port)
    assert Via.parse(str(via)) == via


def test_via_with_param_and_other_protocol_versions() -> None:
    via = Via.parse("SIP/2.0/UDP h;rport;branch=z9hG4bKx").with_param("rport", "5060")
    assert str(via) == "SIP/2.0/UDP h;rport=5060;branch=z9hG4bKx"
    assert Via.parse("SIP/7.0/UDP c.example.com").protocol == "SIP/7.0"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("SIP/2.0 host", "invalid Via 'SIP/2.0 host'"),
        ("SIP/2.0/U:DP host", "invalid Via sent-protocol 'SIP/2.0/U:DP'"),
        ("SIP/2.0/UDP", "invalid Via 'SIP/2.0/UDP'"),
        ("SIP/2.0/UDP host:99999", "invalid Via sent-by 'host:99999'"),
        ("SIP/2.0/UDP 192.0.2.15;;", "invalid Via parameter: invalid parameter name ''"),
        ("SIP/2.0/UDP a b", "invalid Via 'SIP/2.0/UDP a b'"),
    ],
)
def test_invalid_via_raises_one_sentence(value: str, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        Via.parse(value)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("value", "seq", "method"),
    [
        ("4711 INVITE", 4711, "INVITE"),
        ("0009\t INVITE", 9, "INVITE"),
        ("4294967295 BYE", 2**32 - 1, "BYE"),
    ],
)
def test_cseq_20_16(value: str, seq: int, method: str) -> None:
    assert CSeq.parse(value) == CSeq(seq, method)
    assert str(CSeq(seq, method)) == f"{seq} {method}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("4294967296 INVITE", "invalid CSeq number '4294967296'"),  # §8.1.1.5: < 2**31 used
        ("36893488147419103232 REGISTER", "invalid CSeq number '36893488147419103232'"),
        ("-1 INVITE", "invalid CSeq number '-1'"),
        ("１ INVITE", "invalid CSeq number '１'"),
        ("1", "invalid CSeq '1'"),
        ("1 INVITE extra", "invalid CSeq '1 INVITE extra'"),
        ("1 IN;VITE", "invalid CSeq method 'IN;VITE'"),
    ],
)
def test_cseq_limits(value: str, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        CSeq.parse(value)
    assert info.value.reason == reason


def test_int_values_and_params_of() -> None:
    h = Headers([("Max-Forwards", "0068"), ("Expires", "1" + "0" * 20), ("l", " 12 ")])
    assert h.int_value("max-forwards") == 68
    assert h.int_value("content-length") == 12
    assert h.int_value("min-expires") is None
    with pytest.raises(SipParseError) as info:
        h.int_value("expires")
    assert info.value.reason == "invalid Expires value '100000000000000000000'"
    assert params_of("application/sdp ; charset=utf-8") == (
        "application/sdp",
        (("charset", "utf-8"),),
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Via", "v", "To", "t", "X-A", "x-a", "Contact", "m"]),
            st.text(alphabet="abc ,;<>", max_size=8),
        ),
        max_size=8,
    )
)
def test_lookups_agree_with_a_plain_scan(items: list[tuple[str, str]]) -> None:
    h = Headers(items)
    for name in ("via", "to", "x-a", "contact"):
        expected = [v for n, v in items if canonical_key(n) == name]
        assert h.get_all(name) == expected
        assert h.get(name) == (expected[0] if expected else None)


@given(
    st.sampled_from(["UDP", "tcp", "TLS", "WS"]),
    st.sampled_from(["h.example.com", "192.0.2.1", "[2001:db8::1]", "a..b", "-x"]),
    st.one_of(st.none(), st.integers(0, 99999)),
    st.lists(
        st.tuples(
            st.sampled_from(["branch", "rport", "received", "x"]),
            st.one_of(st.none(), st.sampled_from(["z9hG4bK1", "5060", '"q;v"', "1.2.3.4"])),
        ),
        max_size=3,
    ),
    st.sampled_from(["", " ", "  \t"]),
)
def test_via_fast_and_careful_paths_agree(
    transport: str, host: str, port: int | None, params: list[tuple[str, str | None]], lws: str
) -> None:
    tail = f"{host}" + ("" if port is None else f"{lws}:{lws}{port}")
    tail += "".join(f"{lws};{k}" if v is None else f";{k}{lws}={lws}{v}" for k, v in params)

    def outcome(text: str) -> object:
        try:
            via = Via.parse(text)
        except SipParseError as exc:
            return exc.reason.split(" ")[:2]
        return (via.transport, via.host, via.port, via.params)

    # A lower-case protocol name skips the single-regex path.
    assert outcome(f"SIP/2.0/{transport} {tail}") == outcome(f"sip/2.0/{transport} {tail}")
