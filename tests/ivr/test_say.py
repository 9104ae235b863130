"""Spoken amounts and dates, and the fragment lists the validator checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.errors import LocalProtocolError
from pbx.ivr.say import say_fragments, say_value


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("42.50", "digits/40 digits/2 dollars digits/50 cents"),
        ("1.01", "digits/1 dollar digits/1 cent"),
        ("0.99", "digits/90 digits/9 cents"),
        ("0", "digits/0 dollars"),
        ("-3", "digits/minus digits/3 dollars"),
        ("1000", "digits/1 digits/thousand dollars"),
    ],
)
def test_amount_en(amount: str, words: str) -> None:
    assert say_value("amount", amount, "en") == words.split()


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("1.01", "digits/1 rouble digits/1f kopeck"),  # один рубль одна копейка
        ("2.02", "digits/2 roubles-i digits/2f kopecks-i"),  # два рубля две копейки
        ("5.05", "digits/5 roubles digits/5 kopecks"),
        ("11.11", "digits/11 roubles digits/11 kopecks"),
        ("21.22", "digits/20 digits/1 rouble digits/20 digits/2f kopecks-i"),
        ("42.50", "digits/40 digits/2 roubles-i digits/50 kopecks"),
    ],
)
def test_amount_ru_plurals_and_genders(amount: str, words: str) -> None:
    assert say_value("amount", amount, "ru") == words.split()


def test_explicit_currency_and_dates() -> None:
    assert say_value("amount", "3", "ru", currency="USD") == ["digits/3", "dollars"]
    assert say_value("date", "2024-12-01", "en") == [
        "months/december",
        "ordinals/1",  # first
        "digits/2",
        "digits/thousand",
        "digits/20",
        "digits/4",
    ]
    assert say_value("date", "2026-11-28", "en")[:3] == [
        "months/november",
        "digits/20",
        "ordinals/8",  # twenty eighth
    ]
    assert say_value("date", "2030-01-31", "ru") == [
        "digits/30",
        "ordinals/1",  # тридцать первого
        "months/january",  # января
        "digits/2f",
        "digits/thousands-i",
        "ordinals/30",  # две тысячи тридцатого
        "year-gen",  # года
    ]
    assert say_value("date", "2000-05-09", "ru") == [
        "ordinals/9",
        "months/may",
        "digits/2f",
        "digits/thousands-i",
        "year-gen",  # a year ending in 00 is said as a number
    ]
    assert say_value("date", "2019-05-20", "en")[:2] == ["months/may", "ordinals/20"]


def test_unspeakable_values() -> None:
    with pytest.raises(LocalProtocolError, match="cannot say 'abc' as an amount"):
        say_value("amount", "abc", "en")
    with pytest.raises(LocalProtocolError, match="cannot say '2024-02-30' as a date"):
        say_value("date", "2024-02-30", "en")
    with pytest.raises(LocalProtocolError, match="cannot say values of kind 'time'"):
        say_value("time", "1", "en")
    with pytest.raises(LocalProtocolError, match="cannot say amounts in currency 'EUR'"):
        say_value("amount", "1", "en", currency="EUR")


@given(
    st.decimals(min_value=-999_999, max_value=999_999, places=2, allow_nan=False),
    st.sampled_from(["en", "ru"]),
)
def test_every_fragment_said_is_one_the_validator_checks(amount: object, lang: str) -> None:
    assert set(say_value("amount", amount, lang)) <= say_fragments("amount", lang)


@given(st.dates(), st.sampled_from(["en", "ru"]))
def test_every_date_fragment_is_checked(day: object, lang: str) -> None:
    assert set(say_value("date", day, lang)) <= say_fragments("date", lang)
