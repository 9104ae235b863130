"""Spoken values for ``say`` nodes: digits, numbers, amounts of money and dates.

Theory of operation: :mod:`pbx.media.numbers` turns a number into fragment names
(``digits/20``, ``digits/thousand``); this module adds the words around numbers
that an IVR needs — the currency units with their singular and plural forms (Russian
has three: *1 рубль, 2 рубля, 5 рублей*; *копейка* is feminine: *одна копейка, две
копейки*) and month names — and lists every fragment a kind of value can produce, so
a graph's validator can check that each of them has a prompt before a call ever hears
silence.  Names returned here have no language prefix; the runner adds ``"{lang}/"``.
Dates are spoken the way people say them: *March eighth, two thousand twenty four*
(month, the day as an ordinal, the year as a number) and *восьмого марта две тысячи
двадцать четвёртого года* (the day and the year's last number as genitive ordinals, the
month in the genitive, then *года*). Ordinals above twenty are composed from the tens'
cardinal and a unit ordinal (*twenty first*, *двадцать первого*), so a language needs
the ordinals of 1–19 and of the tens it uses (``ordinals/N``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from attrs import frozen

from pbx.errors import LocalProtocolError
from pbx.media.numbers import Gender, plural_ru, say_digits, say_number

__all__ = [
    "CURRENCIES",
    "DEFAULT_CURRENCY",
    "MONTHS",
    "SAY_KINDS",
    "Currency",
    "say_fragments",
    "say_value",
]

#: What a ``say`` node can speak.
SAY_KINDS = ("digits", "number", "amount", "date")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


@frozen
class Currency:
    """Prompt names of a currency's units: (one, few, many) forms and grammatical gender."""

    major: tuple[str, str, str]
    minor: tuple[str, str, str]
    major_gender: Gender = "m"
    minor_gender: Gender = "m"


CURRENCIES: dict[str, Currency] = {
    "USD": Currency(("dollar", "dollars", "dollars"), ("cent", "cents", "cents")),
    "RUB": Currency(
        ("rouble", "roubles-i", "roubles"), ("kopeck", "kopecks-i", "kopecks"), "m", "f"
    ),
}
#: The currency an ``amount`` is spoken in when the node names none.
DEFAULT_CURRENCY = {"en": "USD", "ru": "RUB"}


def _unit(n: int, forms: tuple[str, str, str], lang: str) -> str:
    if lang == "ru":
        return plural_ru(n, *forms)
    return forms[0] if n == 1 else forms[2]


def _amount(value: object, lang: str, currency: str | None) -> list[str]:
    code = currency or DEFAULT_CURRENCY.get(lang, "USD")
    unit = CURRENCIES.get(code)
    if unit is None:
        raise LocalProtocolError(f"cannot say amounts in currency {code!r}")
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise LocalProtocolError(f"cannot say {value!r} as an amount") from None
    out: list[str] = []
    if amount < 0:
        out.append("digits/minus")
        amount = -amount
    major = int(amount)
    minor = int((amount - major) * 100)
    if major or not minor:
        out += say_number(major, lang, unit.major_gender)
        out.append(_unit(major, unit.major, lang))
    if minor:
        out += say_number(minor, lang, unit.minor_gender)
        out.append(_unit(minor, unit.minor, lang))
    return out


def _date(value: object, lang: str) -> list[str]:
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            raise LocalProtocolError(f"cannot say {value!r} as a date (YYYY-MM-DD)") from None
    month = f"months/{MONTHS[day.month - 1]}"
    if lang == "ru":
        return [*_ordinal(day.day), month, *_year_ru(day.year)]
    return [month, *_ordinal(day.day), *say_number(day.year, lang)]


def _ordinal(n: int) -> list[str]:
    """1–99 as an ordinal: one fragment up to 19 and for whole tens, else tens + unit."""
    if n < 20 or n % 10 == 0:
        return [f"ordinals/{n}"]
    return [f"digits/{n - n % 10}", f"ordinals/{n % 10}"]


def _year_ru(year: int) -> list[str]:
    """A Russian year in the genitive: the last number ordinal, then *года* (2024 →
    *две тысячи двадцать четвёртого года*); a year ending in 00 is said as a number."""
    last = year % 100
    if last == 0:
        return [*say_number(year, "ru"), "year-gen"]
    head = say_number(year - last, "ru") if year > last else []
    return [*head, *_ordinal(last), "year-gen"]


def say_value(
    kind: str,
    value: object,
    lang: str,
    *,
    currency: str | None = None,
    gender: Gender = "m",
) -> list[str]:
    """Fragment names speaking ``value`` as ``kind`` (see :data:`SAY_KINDS`) in ``lang``."""
    if kind == "digits":
        return say_digits(str(value))
    if kind == "number":
        try:
            number = int(Decimal(str(value)))
        except InvalidOperation:
            raise LocalProtocolError(f"cannot say {value!r} as a number") from None
        return say_number(number, lang, gender)
    if kind == "amount":
        return _amount(value, lang, currency)
    if kind == "date":
        return _date(value, lang)
    raise LocalProtocolError(f"cannot say values of kind {kind!r}")


def _number_fragments(lang: str) -> set[str]:
    names = {f"digits/{n}" for n in range(20)} | {f"digits/{n}" for n in range(20, 100, 10)}
    names |= {"digits/minus", "digits/thousand"}
    if lang == "ru":
        names |= {f"digits/{n}" for n in range(100, 1000, 100)}
        names |= {"digits/1f", "digits/1n", "digits/2f", "digits/thousands-i", "digits/thousands"}
    else:
        names |= {"digits/hundred", "digits/million"}
    return names


def say_fragments(kind: str, lang: str, currency: str | None = None) -> set[str]:
    """Every fragment name ``say_value(kind, …, lang)`` can produce (for validation)."""
    if kind == "digits":
        return {f"digits/{d}" for d in range(10)} | {"digits/star", "digits/pound"}
    if kind == "number":
        return _number_fragments(lang)
    if kind == "amount":
        unit = CURRENCIES[currency or DEFAULT_CURRENCY.get(lang, "USD")]
        return _number_fragments(lang) | set(unit.major) | set(unit.minor)
    if kind == "date":
        names = _number_fragments(lang) | {f"months/{m}" for m in MONTHS}
        names |= {f"ordinals/{n}" for n in range(1, 20)}
        if lang == "ru":
            return names | {f"ordinals/{n}" for n in range(20, 100, 10)} | {"year-gen"}
        return names | {"ordinals/20", "ordinals/30"}
    raise LocalProtocolError(f"cannot say values of kind {kind!r}")
