"""CSV lead import: E.164 numbers, extra columns as data, every problem by row, all or nothing."""

from __future__ import annotations

import pytest

from pbx.dialer.leads import ImportReport, RowError, import_leads, normalise_phone


def load(text: str, dnc: set[str] | None = None, existing: set[str] | None = None) -> ImportReport:
    return import_leads(
        text, "reminders", default_region="US", dnc=dnc or set(), existing_numbers=existing or set()
    )


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("(212) 555-0199", "US", "+12125550199"),
        ("212.555.0199", "US", "+12125550199"),
        ("+1 212 555 0199", "RU", "+12125550199"),
        ("8 (495) 123-45-67", "RU", "+74951234567"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_numbers_are_normalised_to_e164(text: str, region: str, e164: str) -> None:
    assert normalise_phone(text, region) == e164


def test_a_good_list_becomes_leads_with_their_data() -> None:
    report = load(
        "phone,name,lang,amount,due,tz,account\n"
        "(212) 555-0199,Ann,en,120.50,2025-03-31,,A-1\n"
        "+74951234567,Иван,ru,3000,2025-04-01,Europe/Moscow,A-2\n"
    )
    assert report.ok and report.rows == 2
    ann, ivan = report.leads
    assert ann.phone == "+12125550199"
    assert ann.id == "reminders:+12125550199"
    assert ann.campaign == "reminders"
    assert ann.tz is None
    assert ann.data == {
        "name": "Ann",
        "lang": "en",
        "amount": "120.50",
        "due": "2025-03-31",
        "account": "A-1",
    }
    assert ivan.tz == "Europe/Moscow"
    assert ivan.data["name"] == "Иван"


def test_header_case_spaces_and_excel_bom_are_tolerated() -> None:
    report = load("\ufeff Phone , Name\n2125550199,Bob\n")
    assert report.ok
    assert report.leads[0].data == {"name": "Bob"}


def test_missing_phone_column_is_reported_on_the_header_row() -> None:
    report = load("name,amount\nAnn,10\n")
    assert not report.ok and report.leads == ()
    assert report.errors == (RowError(1, "phone", "missing column"),)


def test_every_bad_row_is_reported_and_nothing_is_accepted() -> None:
    text = (
        "phone,name,amount,due,tz,lang\n"  # line 1
        "2125550199,Ann,10,2025-03-31,,en\n"  # 2: fine
        "12345,Bad,,,,\n"  # 3: not a valid number
        "(212) 555-0199,Dup,,,,\n"  # 4: duplicate of row 2
        "+12125550100,Dnc,,,,\n"  # 5: on the DNC list
        "+12125550101,Old,,,,\n"  # 6: already in the campaign
        "+12125550102,Amt,ten,,,\n"  # 7: bad amount
        "+12125550103,Due,,31/03/2025,,\n"  # 8: bad date
        "+12125550104,Tz,,,Mars/Base,\n"  # 9: bad zone
        ",Empty,,,,\n"  # 10: empty phone
        "hello,Word,,,,\n"  # 11: not a number at all
        "+12125550105,Lang,,,,english please\n"  # 12: bad language code
    )
    report = load(text, dnc={"+12125550100"}, existing={"+12125550101"})
    assert report.leads == ()
    assert not report.ok
    assert report.rows == 11
    got = [(e.row, e.field, e.problem) for e in report.errors]
    assert got == [
        (3, "phone", "is not a valid number (read in region US)"),
        (4, "phone", "duplicate of row 2"),
        (5, "phone", "is on a do-not-call list"),
        (6, "phone", "already in the campaign"),
        (7, "amount", "is not a number like 120.50"),
        (8, "due", "is not a date like 2025-03-31"),
        (9, "tz", "is not a known time zone"),
        (10, "phone", "is empty"),
        (11, "phone", "is not a phone number"),
        (12, "lang", "is not a language code like en or ru"),
    ]
    assert str(report.errors[1]) == "row 4: phone ('+12125550199'): duplicate of row 2"


def test_row_numbers_are_file_lines_even_across_blank_lines() -> None:
    report = load("phone\n2125550199\n\n\n12\n")
    assert [e.row for e in report.errors] == [5]


def test_a_row_with_too_many_cells_is_an_error() -> None:
    report = load("phone,name\n2125550199,Ann,extra\n")
    assert report.errors == (RowError(2, "row", "has 3 cells for 2"),)


def test_empty_file_and_duplicate_columns() -> None:
    assert load("").errors == (RowError(1, "phone", "no header row"),)
    assert load("phone,phone\n1\n").errors == (RowError(1, "phone", "column appears twice"),)
