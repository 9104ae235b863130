"""SIP, SIPS and other URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.sip.errors import SipParseError
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri, UriError, parse_name_addrs, parse_uri

URIS = [
    # text, scheme, user, password, host, port, params, headers
    ("sip:alice@atlanta.com", "sip", "alice", None, "atlanta.com", None, (), None),
    ("sips:bob@biloxi.com:5061", "sips", "bob", None, "biloxi.com", 5061, (), None),
    (
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sip",
        "alice",
        "secretword",
        "atlanta.com",
        None,
        (("transport", "tcp"),),
        None,
    ),
    (
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sips",
        "alice",
        None,
        "atlanta.com",
        None,
        (),
        "subject=project%20x&priority=urgent",
    ),
    (
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sip",
        "+1-212-555-1212",
        "1234",
        "gateway.com",
        None,
        (("user", "phone"),),
        None,
    ),
    ("sip:192.0.2.4", "sip", None, None, "192.0.2.4", None, (), None),
    ("sip:[2001:db8::10]:5070", "sip", None, None, "[2001:db8::10]", 5070, (), None),
    (
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip",
        None,
        None,
        "atlanta.com",
        None,
        (("method", "REGISTER"),),
        "to=alice%40atlanta.com",
    ),
    ("sip:alice;day=tuesday@atlanta.com", "sip", "alice;day=tuesday", None, "atlanta.com")
    + (None, (), None),
    ("sip:%61lice@atlanta.com;maddr=239.255.255.1;ttl=15;lr", "sip", "%61lice", None)
    + ("atlanta.com", None, (("maddr", "239.255.255.1"), ("ttl", "15"), ("lr", None)), None),
]


@pytest.mark.parametrize(
    ("text", "scheme", "user", "password", "host", "port", "params", "headers"), URIS
)
def test_sip_uri_parses_into_its_parts_and_writes_back_as_written(
    text: str,
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: tuple[tuple[str, str | None], ...],
    headers: str | None,
) -> None:
    uri = SipUri.parse(text)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        scheme,
        user,
        password,
        host,
        port,
    )
    assert (uri.params, uri.headers) == (params, headers)
    assert str(uri) == text


def test_sip_uri_helpers() -> None:
    uri = SipUri.parse("SIPS:%61lice@[2001:DB8::1];Transport=TLS;lr")
    assert uri.scheme == "sips" and uri.secure
    assert uri.host_bare == "2001:db8::1"
    assert uri.user_unescaped == "alice"
    assert uri.transport == "tls"
    assert uri.param("LR") == ""
    assert uri.default_port() == 5061
    assert SipUri.parse("sip:h").default_port() == 5060
    assert str(uri.with_param("transport", "tcp")) == "sips:%61lice@[2001:DB8::1];Transport=tcp;lr"
    assert SipUri.parse("sip:a@h?x=1").without_headers().headers is None


def test_tel_and_other_schemes_are_kept_opaque() -> None:
    tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert tel == AbsoluteUri("tel", "+1-201-555-0123;phone-context=example.com")
    assert isinstance(tel, AbsoluteUri) and tel.user == "+1-201-555-0123"
    assert str(tel) == "tel:+1-201-555-0123;phone-context=example.com"
    assert parse_uri("HTTP://www.example.com") == AbsoluteUri("http", "//www.example.com")
    assert AbsoluteUri("tel", "+1").equivalent(parse_uri("tel:+1"))


def test_a_non_sip_uri_where_sip_is_required_hints_416() -> None:
    with pytest.raises(UriError) as info:
        SipUri.parse("tel:+15551234")
    assert info.value.status_hint == 416
    assert info.value.reason == "URI scheme 'tel' is not sip or sips"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("alice@atlanta.com", "invalid URI 'alice@atlanta.com'"),
        ("sip:", "invalid URI 'sip:'"),
        ("sip:alice@", "URI 'sip:alice@' has an invalid host or port"),
        ("sip:alice@atlanta.com:70000", "URI 'sip:alice@atlanta.com:70000' has an invalid port"),
        ("sip:alice@at lanta.com", "invalid URI 'sip:alice@at lanta.com'"),
        ("sip:[::1", "URI 'sip:[::1' has an invalid host or port"),
        ("sip:a@h;=x", "URI 'sip:a@h;=x': invalid parameter name ''"),
        ("sip:<a@h>", "invalid URI 'sip:<a@h>'"),
    ],
)
def test_invalid_uris_raise_one_sentence(text: str, reason: str) -> None:
    with pytest.raises(UriError) as info:
        parse_uri(text)
    assert info.value.reason.startswith(reason)
    assert isinstance(info.value, SipParseError)


# RFC 3261 §19.1.4, the two lists of examples.
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=off"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    # transport values are case-insensitive (Sippy gets this one wrong).
    ("sip:uas@127.0.0.1:5060;transport=UDP", "sip:uas@127.0.0.1:5060;transport=udp"),
    ("sip:[2001:DB8::1]", "sip:[2001:db8::1]"),
]
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ("sip:alice:a@atlanta.com", "sip:alice:b@atlanta.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_uris_19_1_4(a: str, b: str) -> None:
    assert parse_uri(a).equivalent(parse_uri(b))
    assert parse_uri(b).equivalent(parse_uri(a))


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_not_equivalent_uris_19_1_4(a: str, b: str) -> None:
    assert not parse_uri(a).equivalent(parse_uri(b))
    assert not parse_uri(b).equivalent(parse_uri(a))


def test_a_sip_uri_is_never_equivalent_to_another_scheme() -> None:
    assert not parse_uri("sip:a@b").equivalent(parse_uri("tel:+1"))
    assert not parse_uri("tel:+1").equivalent(parse_uri("sip:a@b"))


NAME_ADDRS = [
    # text, display (unquoted), uri, params, bracketed
    ('"Alice" <sip:alice@atlanta.com>;tag=1928301774', "Alice", "sip:alice@atlanta.com")
    + ((("tag", "1928301774"),), True),
    ("Bob <sips:bob@biloxi.com>", "Bob", "sips:bob@biloxi.com", (), True),
    ("A. G. Bell <sip:agb@bell-telephone.com> ;tag=a48s", "A. G. Bell")
    + ("sip:agb@bell-telephone.com", (("tag", "a48s"),), True),
    ("<sip:carol@chicago.com;transport=tcp>;expires=60", None)
    + ("sip:carol@chicago.com;transport=tcp", (("expires", "60"),), True),
    # addr-spec: the parameters belong to the header field, not the URI (§20.10)
    ("sip:carol@chicago.com;tag=887s", None, "sip:carol@chicago.com", (("tag", "887s"),), False),
    ("sip:+12125551212@server.phone2net.com;tag=887s", None)
    + ("sip:+12125551212@server.phone2net.com", (("tag", "887s"),), False),
    ('"Mr. Watson" <mailto:watson@bell-telephone.com> ;q=0.1', "Mr. Watson")
    + ("mailto:watson@bell-telephone.com", (("q", "0.1"),), True),
    ('"\\"quoted\\" name" <tel:+1555>', '"quoted" name', "tel:+1555", (), True),
    ('<sip:a@[::1]:5070>;+sip.instance="<urn:uuid:1-2>";reg-id=1', None)
    + ("sip:a@[::1]:5070", (("+sip.instance", '"<urn:uuid:1-2>"'), ("reg-id", "1")), True),
]


@pytest.mark.parametrize(("text", "display", "uri", "params", "bracketed"), NAME_ADDRS)
def test_name_addr_and_addr_spec_20_10(
    text: str,
    display: str | None,
    uri: str,
    params: tuple[tuple[str, str | None], ...],
    bracketed: bool,
) -> None:
    value = NameAddr.parse(text)
    assert value.display == display
    assert str(value.uri) == uri
    assert value.params == params
    assert value.bracketed is bracketed
    assert NameAddr.parse(str(value)) == value


def test_name_addr_parameters_and_tag() -> None:
    value = NameAddr.parse("<sip:a@b>;TAG=x;q=0.7")
    assert value.tag == "x"
    assert value.param("q") == "0.7"
    assert value.with_param("tag", "y").tag == "y"
    built = NameAddr.of("sip:2001@pbx", 'Alice "A"', tag="x")
    assert str(built) == '"Alice \\"A\\"" <sip:2001@pbx>;tag=x'
    assert NameAddr.parse(str(built)).display == 'Alice "A"'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated quoted display name"),
        ("Bell, Alexander <sip:a.g.bell@example.com>", "invalid display name 'Bell, Alexander'"),
        ("< sip:t.watson@example.org >", "invalid URI ' sip:t.watson@example.org '"),
        ("sip:user@example.com?Route=x", "invalid addr-spec 'sip:user@example.com?Route=x'"),
        ('"A" sip:a@b', "display name must be followed by <URI>"),
        ("<sip:a@b", "'<' without '>' in name-addr"),
        ("<sip:a@b> junk", "unexpected text 'junk' after URI"),
        ("<sip:a@b>;;", "invalid parameter name ''"),
    ],
)
def test_invalid_name_addrs(text: str, reason: str) -> None:
    with pytest.raises(UriError) as info:
        NameAddr.parse(text)
    assert info.value.reason == reason


def test_parse_name_addrs_splits_a_list_outside_quotes() -> None:
    values = parse_name_addrs('"Doe, J" <sip:j@x>, <sip:k@y;a=1,2>;q=0.5 , sip:z@w')
    assert [str(v.uri) for v in values] == ["sip:j@x", "sip:k@y;a=1,2", "sip:z@w"]
    assert values[0].display == "Doe, J"
    with pytest.raises(UriError):
        parse_name_addrs('"unterminated, <sip:a@b>')


hosts = st.sampled_from(
    ["atlanta.com", "example.org", "192.0.2.1", "[2001:db8::1]", "h-1.example.com"]
)
users = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()&=+$,;?/", min_size=1, max_size=10
)
param_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-.!*_+", min_size=1, max_size=8)
param_values = st.one_of(
    st.none(), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=8)
)


@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.one_of(st.none(), users),
    password=st.one_of(st.none(), st.text(alphabet="abc123&=+$,", max_size=6)),
    host=hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    params=st.lists(st.tuples(param_names, param_values), max_size=4),
    headers=st.one_of(st.none(), st.sampled_from(["subject=hi", "a=1&b=%20"])),
)
def test_generated_sip_uris_round_trip(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: list[tuple[str, str | None]],
    headers: str | None,
) -> None:
    uri = SipUri(scheme, user, password if user else None, host, port, tuple(params), headers)
    again = parse_uri(str(uri))
    assert again == uri
    assert again.equivalent(uri)
    quoted = NameAddr(uri, '"Display"', (("tag", "t1"),), True)
    assert NameAddr.parse(str(quoted)) == quoted


@given(st.text(max_size=60))
def test_random_text_only_raises_uri_errors(text: str) -> None:
    for parse in (parse_uri, NameAddr.parse, parse_name_addrs):
        try:
            parse(text)
        except UriError:
            pass


uri_texts = st.builds(
    lambda user, host, port, params, headers: (
        "sip:"
        + (f"{user}@" if user else "")
        + host
        + (f":{port}" if port is not None else "")
        + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)
        + (f"?{headers}" if headers else "")
    ),
    st.one_of(st.none(), users),
    hosts,
    st.one_of(st.none(), st.integers(0, 99999)),
    st.lists(st.tuples(param_names, param_values), max_size=3),
    st.one_of(st.none(), st.sampled_from(["a=1", "x=%20&y"])),
)


def _outcome(parse: object, text: str) -> object:
    try:
        return parse(text)  # type: ignore[operator]
    except UriError as exc:
        return type(exc)


@given(uri_texts, st.one_of(st.none(), st.sampled_from(['"Bob B"', "Bob", ""])))
def test_fast_and_careful_paths_agree(text: str, display: str | None) -> None:
    # An upper-case scheme skips the single-regex path; both must reach the same result.
    assert _outcome(parse_uri, text) == _outcome(parse_uri, "SIP" + text[3:])
    if display is None:
        if ";" not in text and "?" not in text:  # else not a valid addr-spec (§20.10)
            slow = _outcome(NameAddr.parse, "SIP" + text[3:] + " ")
            assert _outcome(NameAddr.parse, text) == slow
    else:
        name_addr = f"{display} <{text}>;tag=x"
        assert _outcome(NameAddr.parse, name_addr) == _outcome(
            NameAddr.parse, f"{display} <SIP{text[3:]}>;tag=x"
        )
