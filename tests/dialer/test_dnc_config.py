"""Do-not-call lists from the configuration: ``[dnc.lists]`` files and inline lists,
the errors naming file, key and row, and a dialer built the application's way."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pbx.config import AppConfig, config_from_dict, load_config
from pbx.dialer import actions as act
from pbx.dialer import events as ev
from pbx.dialer.compliance import DncRegistry
from pbx.dialer.dialer import Dialer
from pbx.dialer.dnc import read_dnc_csv
from pbx.dialer.leads import LeadState
from pbx.errors import ConfigError

from .helpers import LONDON, MONDAY_NOON_UTC, MOSCOW, NY, dialled, of, run_timers, start

BASE = """
[trunks.sim]
host = "127.0.0.1"

[queues.sales]

[campaigns.out]
mode = "progressive"
trunk = "sim"
caller_id = "5550100"
queue = "sales"
{campaign}

[campaigns.out.hours]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""


def write(
    tmp_path: Path, dnc: str, campaign: str = "", files: dict[str, str] | None = None
) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "callcenter.toml"
    path.write_text(BASE.format(campaign=campaign) + dnc, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def app_dialer(config: AppConfig) -> Dialer:
    """The dialer as :class:`~pbx.app.Application` builds it, on a fixed wall clock."""
    return Dialer(
        config.campaigns.values(),
        wall=lambda now: MONDAY_NOON_UTC + now,
        dnc=DncRegistry(config.dnc),
    )


# ---------------------------------------------------------------------- parsing


def test_file_and_inline_lists_are_read_as_e164(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dnc.lists]\nglobal = "lists/global.csv"\n'
        'internal = ["+7 495 123-45-67", "(212) 555-0123"]\n',
        campaign='dnc = ["internal"]',
        files={"lists/global.csv": "number,name\n+44 20 7946 0958,Ann\n\n212-555-0100,Bob\n"},
    )
    config = load_config(path)
    assert config.dnc == {
        "global": (LONDON, "+12125550100"),
        "internal": (MOSCOW, NY),
    }
    assert config.campaigns["out"].dnc_lists == ("internal",)


def test_a_file_without_header_is_one_number_per_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dnc.lists]\nglobal = "dnc.csv"\n',
        files={"dnc.csv": "+12125550123\n+74951234567\n+12125550123\n"},
    )
    assert load_config(path).dnc == {"global": (NY, MOSCOW)}


def test_a_phone_column_is_found_anywhere_in_the_header() -> None:
    numbers, errors = read_dnc_csv("id,Phone\n1,+12125550123\n2,+74951234567\n", "US")
    assert (numbers, errors) == ((NY, MOSCOW), ())


def test_national_numbers_are_read_in_the_campaigns_region(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dnc.lists]\nuk = ["020 7946 0958"]\n',
        campaign='dnc = ["uk"]\ndefault_region = "GB"',
    )
    assert load_config(path).dnc == {"uk": (LONDON,)}


def test_dnc_default_region_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[dnc]\ndefault_region = "RU"\n[dnc.lists]\nglobal = ["495 123 45 67"]\n'
    )
    assert load_config(path).dnc == {"global": (MOSCOW,)}


def test_no_dnc_table_means_no_lists(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).dnc == {}


# ---------------------------------------------------------------------- errors


def test_an_unknown_list_names_the_campaign_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[dnc.lists]\ninternal = ["+12125550123"]\n', campaign='dnc = ["nope"]')
    assert refusal(path) == (
        f"{path}: campaigns.out.dnc: unknown do-not-call list 'nope' "
        "(do-not-call lists: global, internal)"
    )


def test_the_global_list_may_be_named_without_being_defined(tmp_path: Path) -> None:
    path = write(tmp_path, "", campaign='dnc = ["global"]')
    assert load_config(path).campaigns["out"].dnc_lists == ("global",)


def test_a_bad_row_names_the_file_and_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dnc.lists]\nglobal = "dnc.csv"\n',
        files={"dnc.csv": "phone\n+12125550123\n12345\nnot a number\n"},
    )
    file = tmp_path / "dnc.csv"
    assert refusal(path) == (
        f"{path}: dnc.lists.global: file '{file}' row 3: phone ('12345'): "
        "is not a valid number (read in region US) (and 1 more bad rows)"
    )


def test_an_empty_cell_in_the_number_column_is_an_error() -> None:
    numbers, errors = read_dnc_csv("name,number\nAnn,\nBob,+12125550123\n", "US")
    assert numbers == (NY,)
    assert [str(e) for e in errors] == ["row 2: number: is empty"]


def test_a_missing_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[dnc.lists]\nglobal = "missing.csv"\n')
    missing = tmp_path / "missing.csv"
    assert refusal(path) == f"{path}: dnc.lists.global: no such file '{missing}'"


def test_a_bad_inline_number_names_its_index(tmp_path: Path) -> None:
    path = write(tmp_path, '[dnc.lists]\nglobal = ["+12125550123", "555"]\n')
    assert refusal(path) == (
        f"{path}: dnc.lists.global[1]: '555' is not a valid number (read in region US)"
    )


def test_an_inline_entry_must_be_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, "[dnc.lists]\nglobal = [12125550123]\n")
    assert refusal(path) == f"{path}: dnc.lists.global[0]: expected a phone number, got 12125550123"


def test_a_list_of_campaigns_in_different_regions_needs_country_codes(tmp_path: Path) -> None:
    text = BASE.format(campaign='default_region = "GB"') + (
        '\n[campaigns.us]\nmode = "progressive"\ntrunk = "sim"\ncaller_id = "5550100"\n'
        'queue = "sales"\n\n[dnc.lists]\nglobal = ["+12125550123", "2125550100"]\n'
    )
    data = tomllib.loads(text)
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, "cc.toml")
    assert str(info.value) == (
        "cc.toml: dnc.lists.global[1]: '2125550100' needs its country code (+...): "
        "no default region applies here"
    )


@pytest.mark.parametrize(
    ("dnc", "message"),
    [
        ("[dnc]\ncolour = 1\n", "dnc.colour: unknown key"),
        ('[dnc]\ndefault_region = "XX"\n', "dnc.default_region: unknown region 'XX'"),
        ("[dnc.lists]\nglobal = 3\n", "dnc.lists.global: expected str/list, got 3"),
        ('[dnc.lists]\nglobal = ""\n', "dnc.lists.global: expected a CSV file or a list"),
    ],
)
def test_bad_dnc_tables_name_the_key(tmp_path: Path, dnc: str, message: str) -> None:
    path = write(tmp_path, dnc)
    assert refusal(path).startswith(f"{path}: {message}")


# ---------------------------------------------------------------------- the dialer


def test_the_apps_dialer_never_dials_a_listed_lead(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dnc.lists]\nglobal = "dnc.csv"\ninternal = ["(212) 555-0123"]\n',
        campaign='dnc = ["internal"]',
        files={"dnc.csv": "number\n+74951234567\n"},
    )
    d = app_dialer(load_config(path))
    out = start(d, "out", [NY, MOSCOW, LONDON], agents=3)
    out += run_timers(d, 600.0)
    assert dialled(out) == [LONDON]
    for phone in (NY, MOSCOW):
        lead = d.lead(f"out:{phone}")
        assert lead is not None and lead.state is LeadState.DONE and lead.disposition == "dnc"
        assert lead.attempts == ()


def test_a_list_not_named_by_the_campaign_does_not_apply(tmp_path: Path) -> None:
    path = write(tmp_path, '[dnc.lists]\nother = ["+12125550123"]\n')
    d = app_dialer(load_config(path))
    assert dialled(start(d, "out", [NY], agents=1)) == [NY]


def test_a_number_listed_while_running_is_not_dialled(tmp_path: Path) -> None:
    path = write(tmp_path, "[dnc.lists]\ninternal = []\n", campaign='dnc = ["internal"]')
    d = app_dialer(load_config(path))
    out = start(d, "out", [NY, MOSCOW], agents=1)
    assert dialled(out) == [NY]  # one agent: the second lead waits
    assert d.handle(ev.DncAdded("internal", (MOSCOW,)), 5.0) == []
    out = d.handle(ev.AttemptFailed("out:+12125550123#1", 486), 10.0)
    out += run_timers(d, 4000.0)
    assert MOSCOW not in dialled(out)
    lead = d.lead(f"out:{MOSCOW}")
    assert lead is not None and lead.state is LeadState.DONE and lead.disposition == "dnc"
    assert lead.attempts == ()
    assert any(c.lead.id == f"out:{MOSCOW}" for c in of(act.LeadChanged, out))


def test_the_import_check_sees_the_configured_lists(tmp_path: Path) -> None:
    path = write(tmp_path, '[dnc.lists]\nglobal = ["+12125550123"]\n')
    d = app_dialer(load_config(path))
    view = d.dnc.view(load_config(path).campaigns["out"].dnc_lists)
    assert NY in view and MOSCOW not in view
