"""Every fragment the say helpers can produce ships as a prompt of the example."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pbx.ivr.say import say_value

PROMPTS = Path(__file__).resolve().parents[2] / "examples" / "prompts"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_dates_numbers_and_amounts_have_all_their_fragments(lang: str) -> None:
    wanted: set[str] = set()
    day = dt.date(2024, 1, 1)
    while day.year < 2025:
        wanted.update(say_value("date", day, lang))
        day += dt.timedelta(days=1)
    for year in range(1990, 2100):  # every year's ordinal (Russian says it as one)
        wanted.update(say_value("date", dt.date(year, 1, 1), lang))
    for n in [*range(0, 1000), 1000, 2001, 12345, 999999]:
        wanted.update(say_value("number", n, lang))
    for amount in ("0.01", "1.00", "2.02", "5.05", "21.21", "42.50", "1000.99"):
        wanted.update(say_value("amount", amount, lang))
    missing = sorted(n for n in wanted if not (PROMPTS / lang / f"{n}.wav").is_file())
    assert missing == []
