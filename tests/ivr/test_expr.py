"""The IVR expression language: comparisons, logic, membership; no calls, no attributes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.ivr import IvrExpressionError, evaluate, parse_expr, truth

DATA: dict[str, object] = {
    "lang": "ru",
    "menu": "1",
    "balance": "42.50",
    "attempts": 2,
    "vip": True,
    "caller": "5551234",
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("lang == 'ru'", True),
        ('lang == "en"', False),
        ("lang != 'en'", True),
        ("attempts < 3", True),
        ("attempts >= 3", False),
        ("balance > 100", False),  # a string that spells a number compares as a number
        ("balance >= 42.5", True),
        ("balance == 42.5", True),
        ("menu == 1", True),
        ("menu in ['1', '2']", True),
        ("menu in [2, 3]", False),
        ("menu not in ['1']", False),
        ("'555' in caller", True),
        ("vip and attempts < 3", True),
        ("not vip or lang == 'en'", False),
        ("not (vip and lang == 'en')", True),
        ("unknown == none", True),
        ("unknown < 3", False),  # no ordering with none: false, never an error
        ("lang < 5", False),
        ("true", True),
        ("vip == true and (menu == '1' or menu == '2') and not unknown", True),
    ],
)
def test_evaluates(source: str, value: bool) -> None:
    assert truth(parse_expr(source), DATA) is value


def test_values() -> None:
    assert evaluate(parse_expr("balance"), DATA) == "42.50"
    assert evaluate(parse_expr("-3"), {}) == -3
    assert evaluate(parse_expr("[1, 'a', none]"), {}) == [1, "a", None]
    assert evaluate(parse_expr(r"'it\'s'"), {}) == "it's"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("caller.upper", "attribute access is not allowed (column 7)"),
        ("__class__.__mro__", "attribute access is not allowed (column 10)"),
        ("len(caller)", "function calls are not allowed ('len' at column 1)"),
        ("__import__('os')", "function calls are not allowed ('__import__' at column 1)"),
        ("caller[0]", "subscripts are not allowed ('caller' at column 1)"),
        ("attempts + 1", "unexpected character '+' at column 10"),
        ("lang ==", "expected a value at the end"),
        ("lang == 'ru' lang", "unexpected 'lang' at column 14"),
        ("(lang == 'ru'", "expected ')' at the end"),
        ("", "expression is empty"),
        ("a == == b", "expected a value at column 6, found '=='"),
        ("lambda: 1", "unexpected character ':' at column 7"),
    ],
)
def test_rejects(source: str, message: str) -> None:
    with pytest.raises(IvrExpressionError) as info:
        parse_expr(source)
    assert str(info.value) == message


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_the_declared_error(source: str) -> None:
    try:
        tree = parse_expr(source)
    except IvrExpressionError:
        return
    evaluate(tree, DATA)  # whatever parses evaluates without an exception
