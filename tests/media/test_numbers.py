"""Numbers and digits as prompt sequences, English and Russian."""

from __future__ import annotations

import pytest

from pbx.errors import LocalProtocolError
from pbx.media.numbers import plural_ru, say_digits, say_number


def test_say_digits() -> None:
    assert say_digits("1234") == ["digits/1", "digits/2", "digits/3", "digits/4"]
    assert say_digits("0*#") == ["digits/0", "digits/star", "digits/pound"]
    with pytest.raises(LocalProtocolError, match="cannot say digit 'x'"):
        say_digits("1x")


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "0"),
        (7, "7"),
        (19, "19"),
        (34, "30 4"),
        (100, "1 hundred"),
        (1234, "1 thousand 2 hundred 30 4"),
        (20_015, "20 thousand 15"),
        (1_000_001, "1 million 1"),
        (999_999_999, "9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9"),
    ],
)
def test_say_number_en(n: int, words: str) -> None:
    assert say_number(n) == ["digits/" + w for w in words.split()]


@pytest.mark.parametrize(
    ("n", "gender", "words"),
    [
        (0, "m", "0"),
        (1, "m", "1"),
        (1, "f", "1f"),
        (1, "n", "1n"),
        (2, "f", "2f"),
        (2, "n", "2"),
        (12, "f", "12"),
        (21, "f", "20 1f"),
        (200, "m", "200"),
        (1000, "m", "1f thousand"),
        (2000, "m", "2f thousands-i"),
        (4000, "m", "4 thousands-i"),
        (5000, "m", "5 thousands"),
        (11_000, "m", "11 thousands"),
        (21_000, "m", "20 1f thousand"),
        (22_000, "m", "20 2f thousands-i"),
        (1234, "m", "1f thousand 200 30 4"),
        (999_999, "m", "900 90 9 thousands 900 90 9"),
    ],
)
def test_say_number_ru(n: int, gender: str, words: str) -> None:
    assert say_number(n, "ru", gender) == ["digits/" + w for w in words.split()]  # type: ignore[arg-type]


def test_ru_covers_0_to_999999_with_known_fragments() -> None:
    allowed = {f"digits/{i}" for i in range(20)} | {f"digits/{i * 10}" for i in range(2, 10)}
    allowed |= {f"digits/{i * 100}" for i in range(1, 10)}
    allowed |= {"digits/1f", "digits/1n", "digits/2f"}
    allowed |= {"digits/thousand", "digits/thousands-i", "digits/thousands"}
    for n in range(0, 1_000_000, 997):
        assert set(say_number(n, "ru")) <= allowed


def test_plural_ru() -> None:
    forms = [plural_ru(n, "one", "few", "many") for n in (1, 2, 5, 11, 14, 21, 22, 25, 111, 101)]
    assert forms == ["one", "few", "many", "many", "many", "one", "few", "many", "many", "one"]


def test_limits() -> None:
    assert say_number(-5) == ["digits/minus", "digits/5"]
    with pytest.raises(LocalProtocolError, match="limit 999,999"):
        say_number(1_000_000, "ru")
    with pytest.raises(LocalProtocolError, match="language 'de'"):
        say_number(1, "de")
