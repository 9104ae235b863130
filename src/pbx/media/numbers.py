"""Numbers and digits as sequences of prompt names ("say" helpers for IVR).

Theory of operation: a number is spoken by concatenating short recorded
fragments named as in the common telephony prompt sets (``digits/1``,
``digits/20``, ``digits/hundred``, ``digits/thousand``).  English composes
``1234`` as *1 thousand 2 hundred 30 4*.  Russian needs grammatical gender
for 1 and 2 (*один/одна/одно*, *два/две*), whole-hundred words (*двести*,
``digits/200``) and the plural form of *тысяча* chosen by the last two digits
(1 → *тысяча*, 2–4 → *тысячи*, 5–20 and 0 → *тысяч*; 11–14 are always *тысяч*).
"""

from __future__ import annotations

from typing import Literal

from pbx.errors import LocalProtocolError

__all__ = ["plural_ru", "say_digits", "say_number"]

Gender = Literal["m", "f", "n"]
_DIGIT_NAMES = {"*": "digits/star", "#": "digits/pound"}


def say_digits(digits: str) -> list[str]:
    """One prompt per character: ``"12#"`` → ``["digits/1", "digits/2", "digits/pound"]``."""
    out = []
    for ch in digits:
        if ch.isdigit():
            out.append(f"digits/{ch}")
        elif ch in _DIGIT_NAMES:
            out.append(_DIGIT_NAMES[ch])
        else:
            raise LocalProtocolError(f"cannot say digit {ch!r}")
    return out


def say_number(number: int, lang: str = "en", gender: Gender = "m") -> list[str]:
    """Prompt names that speak ``number`` in ``lang`` (``"en"`` or ``"ru"``).

    ``gender`` selects the Russian form of 1 and 2 for the counted noun
    (``"f"`` for *минута*, ``"n"`` for *место*); English ignores it.
    English covers 0–999,999,999 and Russian 0–999,999; a minus sign is
    spoken as ``digits/minus``.
    """
    if number < 0:
        return ["digits/minus", *say_number(-number, lang, gender)]
    if lang == "en":
        return _say_en(number)
    if lang == "ru":
        return _say_ru(number, gender)
    raise LocalProtocolError(f"cannot say numbers in language {lang!r} (supported: en, ru)")


def _en_below_1000(n: int) -> list[str]:
    out: list[str] = []
    if n >= 100:
        out += [f"digits/{n // 100}", "digits/hundred"]
        n %= 100
    if n >= 20:
        out.append(f"digits/{n // 10 * 10}")
        n %= 10
    if n:
        out.append(f"digits/{n}")
    return out


def _say_en(number: int) -> list[str]:
    if number >= 1_000_000_000:
        raise LocalProtocolError(f"cannot say {number} in en (limit 999,999,999)")
    if number == 0:
        return ["digits/0"]
    out: list[str] = []
    millions, rest = divmod(number, 1_000_000)
    thousands, units = divmod(rest, 1000)
    if millions:
        out += [*_en_below_1000(millions), "digits/million"]
    if thousands:
        out += [*_en_below_1000(thousands), "digits/thousand"]
    out += _en_below_1000(units)
    return out


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for ``n``: *1 минута*, *2 минуты*, *5 минут*, *11 минут*."""
    n = abs(n)
    if 11 <= n % 100 <= 14:
        return many
    if n % 10 == 1:
        return one
    if 2 <= n % 10 <= 4:
        return few
    return many


def _ru_below_1000(n: int, gender: Gender) -> list[str]:
    out: list[str] = []
    if n >= 100:
        out.append(f"digits/{n // 100 * 100}")  # сто, двести, триста, ... девятьсот
        n %= 100
    if 10 <= n <= 19:
        out.append(f"digits/{n}")
        return out
    if n >= 20:
        out.append(f"digits/{n // 10 * 10}")
        n %= 10
    if n == 1:
        out.append({"m": "digits/1", "f": "digits/1f", "n": "digits/1n"}[gender])
    elif n == 2:
        out.append("digits/2f" if gender == "f" else "digits/2")
    elif n:
        out.append(f"digits/{n}")
    return out


def _say_ru(number: int, gender: Gender) -> list[str]:
    if number >= 1_000_000:
        raise LocalProtocolError(f"cannot say {number} in ru (limit 999,999)")
    if number == 0:
        return ["digits/0"]
    thousands, units = divmod(number, 1000)
    out: list[str] = []
    if thousands:
        # тысяча is feminine: одна тысяча, две тысячи, пять тысяч.
        out += _ru_below_1000(thousands, "f")
        out.append(
            plural_ru(thousands, "digits/thousand", "digits/thousands-i", "digits/thousands")
        )
    out += _ru_below_1000(units, gender)
    return out
