"""Digest authentication: RFC 2617 / RFC 7616 vectors, nonces, verification, parsing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st

from pbx.errors import ConfigError, LocalProtocolError, ProtocolError
from pbx.sip.auth import (
    AuthError,
    AuthParseError,
    AuthResult,
    Challenge,
    Credentials,
    DigestAuthenticator,
    NonceManager,
    NonceStatus,
    _params,
    _scan,
    answer_challenge,
    digest_response,
    ha1,
    response_from_ha1,
)

# RFC 2617 §3.5
RFC2617_CHALLENGE = """Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41\""""
RFC2617_AUTHORIZATION = """Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41\""""
# RFC 7616 §3.9.1
RFC7616_CHALLENGE = """Digest
    realm="http-auth@example.org",
    qop="auth, auth-int",
    algorithm=SHA-256,
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""""
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc2617_3_5_md5_response() -> None:
    response = digest_response(
        "MD5",
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        1,
        "0a4f113b",
        "auth",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_rfc2617_3_5_parse_challenge_and_answer_it() -> None:
    challenge = Challenge.parse(RFC2617_CHALLENGE)
    assert challenge == Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    creds = answer_challenge(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    assert creds == Credentials.parse(RFC2617_AUTHORIZATION)
    assert str(creds) == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )


def test_rfc7616_3_9_1_sha256_and_md5_responses() -> None:
    challenge = Challenge.parse(RFC7616_CHALLENGE)
    assert challenge.algorithm == "SHA-256"
    assert challenge.qop == ("auth", "auth-int")
    creds = answer_challenge(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce=RFC7616_CNONCE,
    )
    assert creds.response == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert (creds.algorithm, creds.qop, creds.nc) == ("SHA-256", "auth", 1)
    md5 = digest_response(
        "MD5",
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        challenge.nonce,
        1,
        RFC7616_CNONCE,
        "auth",
    )
    assert md5 == "8ca523f5e9506fed4657c9700eebdbec"


def _md5(text: str | bytes) -> str:
    return hashlib.md5(text.encode() if isinstance(text, str) else text).hexdigest()


def test_rfc2069_response_without_qop() -> None:
    expected = _md5(f"{_md5('u:r:p')}:n:{_md5('REGISTER:sip:r')}")
    assert digest_response("MD5", "u", "r", "p", "REGISTER", "sip:r", "n", None, None, None) == (
        expected
    )
    creds = answer_challenge(
        Challenge(realm="r", nonce="n"),
        username="u",
        password="p",
        method="REGISTER",
        uri="sip:r",
        cnonce="ignored",
    )
    assert (creds.response, creds.qop, creds.nc, creds.cnonce) == (expected, None, None, None)


def test_auth_int_hashes_the_body_rfc7616_3_4_3() -> None:
    body = b"v=0\r\n"
    ha2 = _md5(f"INVITE:sip:bob@b:{_md5(body)}")
    expected = _md5(f"{_md5('u:r:p')}:n:0000000a:c:auth-int:{ha2}")
    assert digest_response(
        "MD5", "u", "r", "p", "INVITE", "sip:bob@b", "n", 10, "c", "auth-int", body
    ) == (expected)
    creds = answer_challenge(
        Challenge(realm="r", nonce="n", qop=("auth-int",)),
        username="u",
        password="p",
        method="INVITE",
        uri="sip:bob@b",
        cnonce="c",
        nc=10,
        body=body,
    )
    assert (creds.qop, creds.response) == ("auth-int", expected)


def test_sess_algorithm_rfc7616_3_4_2() -> None:
    key = _md5(f"{_md5('u:r:p')}:n:c")
    expected = _md5(f"{key}:n:00000001:c:auth:{_md5('GET:/')}")
    assert digest_response("MD5-sess", "u", "r", "p", "GET", "/", "n", 1, "c", "auth") == expected


def test_ha1_stored_instead_of_password() -> None:
    assert ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == _md5(
        "Mufasa:testrealm@host.com:Circle Of Life"
    )
    stored = ha1("Mufasa", "http-auth@example.org", "Circle of Life", "SHA-256")
    assert len(stored) == 64
    assert (
        response_from_ha1(
            "SHA-256",
            stored.upper(),
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            1,
            RFC7616_CNONCE,
            "auth",
        )
        == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_unsupported_algorithm_and_qop() -> None:
    with pytest.raises(AuthError, match="^Digest algorithm SHA-1 is not supported$"):
        ha1("u", "r", "p", "SHA-1")
    with pytest.raises(AuthError, match="^Digest algorithm SHA-1 is not supported$"):
        answer_challenge(
            Challenge(realm="r", nonce="n", algorithm="SHA-1"),
            username="u",
            password="p",
            method="GET",
            uri="/",
            cnonce="c",
        )
    with pytest.raises(AuthError, match="^Digest challenge offers no supported qop$"):
        answer_challenge(
            Challenge(realm="r", nonce="n", qop=("auth-conf",)),
            username="u",
            password="p",
            method="GET",
            uri="/",
            cnonce="c",
        )
    with pytest.raises(LocalProtocolError, match="needs nc and cnonce"):
        digest_response("MD5", "u", "r", "p", "GET", "/", "n", None, None, "auth")


# -- nonces ---------------------------------------------------------------------------------


def test_nonce_is_valid_then_stale_after_lifetime() -> None:
    nonces = NonceManager(secret=b"k" * 32, lifetime=300.0)
    nonce = nonces.issue(1000.0)
    assert nonces.check(nonce, None, 1000.0) is NonceStatus.VALID
    assert nonces.check(nonce, None, 1300.0) is NonceStatus.VALID
    assert nonces.check(nonce, None, 1300.5) is NonceStatus.STALE
    assert nonces.issued_at(nonce) == 1000.0


def test_nonces_issued_at_the_same_time_differ() -> None:
    nonces = NonceManager(secret=b"k")
    assert nonces.issue(5.0) != nonces.issue(5.0)


def test_forged_nonces_are_invalid() -> None:
    nonces = NonceManager(secret=b"k" * 32)
    nonce = nonces.issue(10.0)
    flipped = nonce[:-1] + ("0" if nonce[-1] != "0" else "1")
    assert nonces.check(flipped, 1, 10.0) is NonceStatus.INVALID
    assert NonceManager(secret=b"other").check(nonce, 1, 10.0) is NonceStatus.INVALID
    # The issue time is signed: moving it forward breaks the MAC.
    later = f"{int(nonce[:16], 16) + 1000:016x}" + nonce[16:]
    assert nonces.check(later, 1, 10.0) is NonceStatus.INVALID
    for junk in ("", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "zz" * 28, nonce.upper(), "é" * 56):
        assert nonces.check(junk, 1, 10.0) is NonceStatus.INVALID


def test_replayed_nonce_count_rfc7616_5_4() -> None:
    nonces = NonceManager(secret=b"k")
    nonce = nonces.issue(0.0)
    assert nonces.check(nonce, 1, 1.0) is NonceStatus.VALID
    assert nonces.check(nonce, 1, 2.0) is NonceStatus.REPLAY
    assert nonces.check(nonce, 3, 3.0) is NonceStatus.VALID
    assert nonces.check(nonce, 2, 4.0) is NonceStatus.REPLAY
    assert nonces.check(nonce, 4, 5.0) is NonceStatus.VALID
    other = nonces.issue(0.0)
    assert nonces.check(other, 1, 5.0) is NonceStatus.VALID


def test_stale_wins_over_replay_and_memory_is_pruned() -> None:
    nonces = NonceManager(secret=b"k", lifetime=60.0)
    for i in range(50):
        assert nonces.check(nonces.issue(float(i)), 1, float(i)) is NonceStatus.VALID
    assert nonces.tracked == 50
    nonces.issue(100.0)  # forgets nonces issued before 40 s
    assert nonces.tracked == 10
    old = nonces.issue(0.0)
    assert nonces.check(old, 1, 10.0) is NonceStatus.VALID
    assert nonces.check(old, 1, 61.0) is NonceStatus.STALE
    assert nonces.check(nonces.issue(200.0), None, 200.0) is NonceStatus.VALID
    assert nonces.tracked == 0


def test_nonce_manager_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"NonceManager\.secret"):
        NonceManager(secret=b"")
    with pytest.raises(ConfigError, match=r"NonceManager\.lifetime"):
        NonceManager(secret=b"k", lifetime=0)


# -- server side ----------------------------------------------------------------------------

PASSWORDS = {"alice": "wonderland", "bob": "builder"}
REALM = "pbx.example.com"


def authenticator(**kwargs: Any) -> DigestAuthenticator:
    return DigestAuthenticator(
        realm=REALM,
        lookup=PASSWORDS.get,
        nonces=NonceManager(secret=b"s" * 32, lifetime=300.0),
        **kwargs,
    )


def client_answer(
    value: str,
    *,
    username: str = "alice",
    password: str = "wonderland",
    nc: int = 1,
    method: str = "REGISTER",
) -> str:
    creds = answer_challenge(
        Challenge.parse(value),
        username=username,
        password=password,
        method=method,
        uri=f"sip:{REALM}",
        cnonce="0a4f113b",
        nc=nc,
    )
    return str(creds)


def test_challenges_offer_sha256_first_rfc8760_2_4() -> None:
    values = authenticator(opaque="op").challenges(now=0.0)
    sha, md5 = (Challenge.parse(v) for v in values)
    assert (sha.algorithm, md5.algorithm) == ("SHA-256", "MD5")
    assert sha.nonce == md5.nonce
    assert (sha.realm, sha.qop, sha.opaque, sha.stale) == (REALM, ("auth",), "op", False)
    assert values[0].startswith(f'Digest realm="{REALM}", nonce="')
    assert values[0].endswith('opaque="op", algorithm=SHA-256, qop="auth"')
    stale = Challenge.parse(authenticator().challenges(now=0.0, stale=True)[1])
    assert stale.stale


@pytest.mark.parametrize("index", [0, 1])
def test_client_answer_verifies(index: int) -> None:
    auth = authenticator(opaque="op")
    value = client_answer(auth.challenges(now=0.0)[index])
    assert auth.verify(value, "REGISTER", now=1.0) == AuthResult(
        ok=True, username="alice", stale=False, reason="authenticated"
    )


def test_wrong_password_fails() -> None:
    auth = authenticator()
    value = client_answer(auth.challenges(now=0.0)[0], password="rabbit")
    assert auth.verify(value, "REGISTER", now=1.0) == AuthResult(
        ok=False, username="alice", stale=False, reason="the response is wrong"
    )


def test_wrong_method_fails() -> None:
    auth = authenticator()
    value = client_answer(auth.challenges(now=0.0)[0], method="INVITE")
    assert auth.verify(value, "REGISTER", now=1.0).reason == "the response is wrong"


def test_stale_nonce_asks_for_a_new_challenge() -> None:
    auth = authenticator()
    value = client_answer(auth.challenges(now=0.0)[0])
    result = auth.verify(value, "REGISTER", now=301.0)
    assert result == AuthResult(ok=False, username="alice", stale=True, reason="the nonce is stale")
    # A stale nonce with a wrong password is not "stale": the client must not retry blindly.
    bad = client_answer(auth.challenges(now=0.0)[0], password="x")
    assert auth.verify(bad, "REGISTER", now=301.0).stale is False


def test_replayed_request_is_refused_and_next_count_accepted() -> None:
    auth = authenticator()
    challenge = auth.challenges(now=0.0)[0]
    first = client_answer(challenge)
    assert auth.verify(first, "REGISTER", now=1.0).ok
    replay = auth.verify(first, "REGISTER", now=2.0)
    assert (replay.ok, replay.reason) == (False, "the nonce count was already used")
    assert auth.verify(client_answer(challenge, nc=2), "REGISTER", now=3.0).ok


def test_wrong_response_does_not_burn_nonce_counts() -> None:
    auth = authenticator()
    challenge = auth.challenges(now=0.0)[0]
    assert not auth.verify(client_answer(challenge, password="x", nc=9), "REGISTER", 1.0).ok
    assert auth.verify(client_answer(challenge, nc=1), "REGISTER", 2.0).ok


def test_forged_nonce_fails() -> None:
    auth = authenticator()
    other = DigestAuthenticator(REALM, PASSWORDS.get, NonceManager(secret=b"attacker"))
    value = client_answer(other.challenges(now=0.0)[0])
    assert auth.verify(value, "REGISTER", now=1.0).reason == "the nonce is not ours"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"username": "mallory"}, "the username is unknown"),
        ({"realm": "other.example.com"}, "the realm is not ours"),
        ({"algorithm": "SHA-512-256"}, "the algorithm was not offered"),
        ({"uri": None}, "the credentials have no uri"),
        ({"qop": None}, "the credentials have no qop"),
        ({"qop": "auth-int"}, "the qop was not offered"),
        ({"cnonce": None}, "qop=auth requires nc and cnonce"),
        ({"nc": None}, "qop=auth requires nc and cnonce"),
        ({"opaque": "changed"}, "the opaque value is not ours"),
    ],
)
def test_verify_rules(change: dict[str, Any], reason: str) -> None:
    auth = authenticator(opaque="op", allow_rfc2069=False)
    creds = Credentials.parse(client_answer(auth.challenges(now=0.0)[0]))
    result = auth.verify(str(evolve(creds, **change)), "REGISTER", now=1.0)
    assert (result.ok, result.reason, result.stale) == (False, reason, False)


def test_rfc2069_credentials_without_qop_are_accepted_when_allowed() -> None:
    """RFC 2617 §3.2.2: qop is optional for RFC 2069 clients (pyVoIP sends none)."""
    auth = authenticator()
    (challenge, *_) = auth.challenges(now=0.0)
    c = Challenge.parse(challenge)
    response = digest_response(
        c.algorithm,
        "alice",
        REALM,
        "wonderland",
        "REGISTER",
        "sip:example.com",
        c.nonce,
        None,
        None,
        None,
    )
    value = (
        f'Digest username="alice", realm="{REALM}", nonce="{c.nonce}", '
        f'uri="sip:example.com", response="{response}", algorithm={c.algorithm or "MD5"}'
    )
    assert auth.verify(value, "REGISTER", now=1.0).ok
    wrong = value.replace(response, "0" * len(response))
    assert auth.verify(wrong, "REGISTER", now=1.0).reason == "the response is wrong"
    strict = authenticator(allow_rfc2069=False)
    assert strict.verify(value, "REGISTER", now=1.0).reason == "the credentials have no qop"


def test_verify_with_stored_ha1() -> None:
    stored = {"alice": ha1("alice", REALM, "wonderland", "SHA-256")}
    auth = DigestAuthenticator(
        REALM,
        stored.get,
        NonceManager(secret=b"s"),
        algorithms=("SHA-256",),
        lookup_gives_ha1=True,
    )
    (challenge,) = auth.challenges(now=0.0)
    assert auth.verify(client_answer(challenge), "REGISTER", now=1.0).ok
    assert not auth.verify(client_answer(challenge, password="x"), "REGISTER", now=1.0).ok


def test_authenticator_config_errors() -> None:
    with pytest.raises(ConfigError, match="an HA1 lookup serves exactly one algorithm"):
        authenticator(lookup_gives_ha1=True)
    with pytest.raises(ConfigError, match="SHA-1 is not supported"):
        authenticator(algorithms=("SHA-1",))
    with pytest.raises(ConfigError, match="must not be empty"):
        authenticator(algorithms=())


def test_malformed_authorization_raises_400() -> None:
    with pytest.raises(AuthParseError) as info:
        authenticator().verify('Digest username="alice', "REGISTER", now=0.0)
    assert info.value.status_hint == 400
    assert isinstance(info.value, ProtocolError)


# -- parsing --------------------------------------------------------------------------------


def test_parse_is_lenient_about_case_spacing_and_quoting() -> None:
    creds = Credentials.parse(
        'digest USERNAME = "a\\"b" ,realm="r",nonce=n, , response="ABC", nc="0000000F", '
        'qop="auth", cnonce=c, userhash=false, x-extra="v"'
    )
    assert creds.username == 'a"b'
    assert (creds.nonce, creds.response, creds.nc, creds.qop, creds.cnonce) == (
        "n",
        "ABC",
        15,
        "auth",
        "c",
    )
    assert creds.extra == (("userhash", "false", False), ("x-extra", "v", True))
    assert str(creds) == (
        'Digest username="a\\"b", realm="r", nonce="n", response="ABC", cnonce="c", '
        'qop=auth, nc=0000000f, userhash=false, x-extra="v"'
    )


def test_challenge_keeps_unknown_params_and_stale_flag() -> None:
    challenge = Challenge.parse(
        'Digest realm="r", nonce="n", stale=TRUE, charset=UTF-8, domain="sip:a sip:b"'
    )
    assert challenge.stale
    assert challenge.domain == "sip:a sip:b"
    assert challenge.extra == (("charset", "UTF-8", False),)
    assert Challenge.parse(str(challenge)) == challenge
    assert not Challenge.parse('Digest realm="r", nonce="n", stale=false').stale


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("", "Digest challenge is empty"),
        ('Basic realm="r"', "authentication scheme is not Digest"),
        ('Digest realm="r", nonce', "Digest parameter is not of the form <name>=<value>"),
        ('Digest realm="r", ="n"', "Digest parameter is not of the form <name>=<value>"),
        ('Digest realm="r", nonce="n', "Digest parameter has an unterminated quoted string"),
        ('Digest realm="r", nonce=', "Digest parameter nonce has no value"),
        ('Digest realm="r" nonce="n"', "Digest parameters are not separated by commas"),
        ('Digest realm="r", REALM="s", nonce="n"', "Digest parameter realm appears twice"),
        ('Digest nonce="n"', "Digest challenge is missing the realm parameter"),
        ('Digest realm="r"', "Digest challenge is missing the nonce parameter"),
    ],
)
def test_challenge_parse_errors(value: str, sentence: str) -> None:
    with pytest.raises(AuthParseError) as info:
        Challenge.parse(value)
    assert str(info.value) == sentence
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("   ", "Digest credentials are empty"),
        (
            'Digest realm="r", nonce="n", response="x"',
            "Digest credentials are missing the username parameter",
        ),
        (
            'Digest username="u", nonce="n", response="x"',
            "Digest credentials are missing the realm parameter",
        ),
        (
            'Digest username="u", realm="r", response="x"',
            "Digest credentials are missing the nonce parameter",
        ),
        (
            'Digest username="u", realm="r", nonce="n"',
            "Digest credentials are missing the response parameter",
        ),
        (
            'Digest username="u", realm="r", nonce="n", response="x", nc=1',
            "Digest nc is not eight hexadecimal digits",
        ),
        (
            'Digest username="u", realm="r", nonce="n", response="x", nc=0000000g',
            "Digest nc is not eight hexadecimal digits",
        ),
    ],
)
def test_credentials_parse_errors(value: str, sentence: str) -> None:
    with pytest.raises(AuthParseError) as info:
        Credentials.parse(value)
    assert str(info.value) == sentence


_TOKEN_ALPHABET = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_tokens = st.text(_TOKEN_ALPHABET, min_size=1, max_size=12)
_texts = st.text(st.characters(codec="utf-8"), max_size=16)
_KNOWN = {"realm", "nonce", "algorithm", "qop", "opaque", "stale", "domain", "username"}
_KNOWN |= {"uri", "response", "cnonce", "nc"}


@st.composite
def _extras(draw: st.DrawFn) -> tuple[tuple[str, str, bool], ...]:
    names = draw(
        st.lists(
            _tokens.filter(lambda n: n.lower() not in _KNOWN),
            max_size=3,
            unique_by=str.lower,
        )
    )
    out = []
    for name in names:
        quoted = draw(st.booleans())
        value = draw(_texts if quoted else _tokens)
        out.append((name, value, quoted))
    return tuple(out)


_challenges = st.builds(
    Challenge,
    realm=_texts,
    nonce=_texts,
    algorithm=st.none() | st.sampled_from(["MD5", "SHA-256", "MD5-sess"]),
    qop=st.lists(_tokens.filter(lambda t: "," not in t), max_size=2).map(tuple),
    opaque=st.none() | _texts,
    stale=st.booleans(),
    domain=st.none() | _texts,
    extra=_extras(),
)
_credentials = st.builds(
    Credentials,
    username=_texts,
    realm=_texts,
    nonce=_texts,
    response=_texts,
    uri=st.none() | _texts,
    algorithm=st.none() | _tokens,
    cnonce=st.none() | _texts,
    opaque=st.none() | _texts,
    qop=st.none() | _tokens,
    nc=st.none() | st.integers(0, 0xFFFFFFFF),
    extra=_extras(),
)


@given(_challenges)
def test_challenge_round_trip(challenge: Challenge) -> None:
    assert Challenge.parse(str(challenge)) == challenge


@given(_credentials)
def test_credentials_round_trip(creds: Credentials) -> None:
    assert Credentials.parse(str(creds)) == creds


@given(st.text(max_size=120))
def test_parse_of_arbitrary_text_raises_only_auth_parse_error(value: str) -> None:
    for parse in (Challenge.parse, Credentials.parse):
        try:
            parse("Digest " + value)
        except AuthParseError:
            pass


def _scanned(value: str) -> dict[str, tuple[str, str, bool]] | str:
    out: dict[str, tuple[str, str, bool]] = {}
    try:
        for param in _scan(value, "x"):
            if param[0].lower() in out:
                return f"Digest parameter {param[0].lower()} appears twice"
            out[param[0].lower()] = param
    except AuthParseError as exc:
        return str(exc)
    return out


@given(st.text('ab=,"\\ \t\r\n!', max_size=40))
def test_fast_parameter_reader_agrees_with_the_scanner(tail: str) -> None:
    value = "Digest " + tail
    try:
        fast: dict[str, tuple[str, str, bool]] | str = _params(value, "x")
    except AuthParseError as exc:
        fast = str(exc)
    assert fast == _scanned(value)
