"""RFC 3261 §25 grammar pieces: tokens, quoted strings, list splitting, generic parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.sip.grammar import (
    format_params,
    get_param,
    has_param,
    is_token,
    parse_params,
    quote,
    remove_param,
    set_param,
    split_quoted,
    unquote,
)

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INVITE", True),
        ("!interesting-Method0123456789_*+`.%indeed'~", True),
        ("", False),
        ("IN VITE", False),
        ("a;b", False),
        ('a"b', False),
        ("a:b", False),
        ("ü", False),
    ],
)
def test_token_is_the_rfc_3261_25_1_character_set(text: str, expected: bool) -> None:
    assert is_token(text) is expected


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        ('"Doe, John" <sip:j@x>, <sip:k@y>', ['"Doe, John" <sip:j@x>', "<sip:k@y>"]),
        ("<sip:a@x;p=1,2>, <sip:b@y>", ["<sip:a@x;p=1,2>", "<sip:b@y>"]),
        ('"a \\" , b" <sip:x>', ['"a \\" , b" <sip:x>']),
        ("single", ["single"]),
        (";;,,;;,;", [";;", "", ";;", ";"]),
    ],
)
def test_split_quoted_splits_outside_quotes_and_angle_brackets(
    value: str, parts: list[str]
) -> None:
    assert split_quoted(value, ",") == parts


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"unterminated, <sip:x>', "unterminated quoted string"),
        ('"ends with backslash\\"', "unterminated quoted string"),
        ("<sip:x, y", "unterminated '<' in value"),
    ],
)
def test_split_quoted_rejects_unterminated_groups(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_quoted(value, ",")


def test_split_quoted_rejects_a_long_unterminated_quote_quickly() -> None:
    with pytest.raises(ValueError):
        split_quoted("a" * 50_000 + '"', ",")


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ("", ()),
        (";tag=abc", (("tag", "abc"),)),
        ("tag=abc", (("tag", "abc"),)),
        (";lr;transport=UDP", (("lr", None), ("transport", "UDP"))),
        ("  ;  tag  =  1918181833n", (("tag", "1918181833n"),)),  # wsinv: LWS around ; and =
        (';x="a;b";y', (("x", '"a;b"'), ("y", None))),
        (";received=[2001:db8::1]", (("received", "[2001:db8::1]"),)),
        (";empty=", (("empty", ""),)),
    ],
)
def test_parse_params_keeps_names_and_values_as_written(
    text: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    assert parse_params(text) == params


@pytest.mark.parametrize("text", [";;", ";=x", ";a b=c", ';"q"=1', ";a;;b"])
def test_parse_params_rejects_empty_or_invalid_names(text: str) -> None:
    with pytest.raises(ValueError, match="invalid parameter name"):
        parse_params(text)


def test_param_helpers_are_case_insensitive_and_return_copies() -> None:
    params = parse_params(';Tag=x;LR;q="0.5"')
    assert get_param(params, "tag") == "x"
    assert get_param(params, "lr") == ""
    assert get_param(params, "q") == "0.5"
    assert get_param(params, "missing") is None
    assert has_param(params, "lR")
    assert set_param(params, "TAG", "y") == (("Tag", "y"), ("LR", None), ("q", '"0.5"'))
    assert set_param(params, "expires", "60")[-1] == ("expires", "60")
    assert remove_param(params, "lr") == (("Tag", "x"), ("q", '"0.5"'))
    assert format_params(params) == ';Tag=x;LR;q="0.5"'


@pytest.mark.parametrize(
    ("quoted", "text"),
    [
        ('"J Rosenberg \\\\\\""', 'J Rosenberg \\"'),
        ('"Quoted string \\"\\""', 'Quoted string ""'),
        ('"plain"', "plain"),
        ("token", "token"),
    ],
)
def test_unquote_expands_quoted_pairs(quoted: str, text: str) -> None:
    assert unquote(quoted) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_quote_then_unquote_is_the_identity(text: str) -> None:
    assert unquote(quote(text)) == text
    assert split_quoted(quote(text) + ", x", ",") == [quote(text).strip(" \t"), "x"]


@given(
    st.lists(
        st.tuples(tokens, st.one_of(st.none(), tokens, tokens.map(quote))),
        max_size=6,
    )
)
def test_params_round_trip_through_text(pairs: list[tuple[str, str | None]]) -> None:
    params = tuple(pairs)
    assert parse_params(format_params(params)) == params
