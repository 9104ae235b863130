"""Campaign settings: validation with the key named, and the ``[campaigns.NAME]`` table."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from pbx.dialer.campaign import CampaignConfig, Mode, OnMachine, RetryRule, campaign_from_dict
from pbx.errors import ConfigError

from .helpers import campaign

EXAMPLE = """
[campaigns.reminders]
mode = "agentless"
trunk = "sim"
caller_id = "5550100"
script = "reminder"
max_lines = 30
on_machine = "leave_message"
dnc = ["internal"]
starts_at = 2025-03-03T09:00:00Z

[campaigns.reminders.hours]
start = "09:30"
end = 19:00:00
days = ["mon", "tue", "wed", "thu", "fri", "sat"]

[campaigns.reminders.retry.busy]
max_attempts = 5
delay = 300

[campaigns.sales-out]
mode = "predictive"
trunk = "sim"
caller_id = "5550100"
queue = "sales"
agents = ["2001", "2002", "2003", "2004", "2005"]
priority = -1
max_abandon_rate = 0.03
"""


def parse(name: str, text: str = EXAMPLE) -> CampaignConfig:
    table = tomllib.loads(text)["campaigns"][name]
    return campaign_from_dict(name, table, f"callcenter.toml: campaigns.{name}")


def test_example_campaigns_parse() -> None:
    reminders = parse("reminders")
    assert reminders.mode is Mode.AGENTLESS
    assert reminders.on_machine is OnMachine.LEAVE_MESSAGE
    assert reminders.calling_hours.start == dt.time(9, 30)
    assert reminders.calling_hours.end == dt.time(19, 0)
    assert reminders.calling_hours.days == frozenset(range(6))
    assert reminders.retry.busy == RetryRule(5, 300.0)
    assert reminders.retry.no_answer == RetryRule(3, 3600.0)  # the default
    assert reminders.dnc_lists == ("internal",)
    assert reminders.starts_at == dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC).timestamp()
    sales = parse("sales-out")
    assert sales.mode is Mode.PREDICTIVE
    assert sales.agents == ("2001", "2002", "2003", "2004", "2005")
    assert sales.priority == -1
    assert sales.ring_timeout >= 15


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("ring_timeout = 10", "ring_timeout: must be at least 15 s"),
        ('mode = "robocall"', "mode: expected one of preview,"),
        (
            'max_lines = "ten"',
            "max_lines: expected a number, got 'ten'",
        ),
        (
            "max_abandon_rate = 0.05",
            "max_abandon_rate: must be above 0 and at most 0.03",
        ),
        ("colour = 1", "colour: unknown key"),
        (
            "[campaigns.x.retry.busy]\ndelay = -1",
            "retry.busy.delay: expected seconds >= 0",
        ),
        (
            "[campaigns.x.retry.busy]\nmax_attempts = 0",
            "retry.busy.max_attempts: must be",
        ),
        ('[campaigns.x.hours]\nstart = "9am"', "hours.start: expected a local time"),
        ('[campaigns.x.hours]\ndays = ["funday"]', "hours.days: unknown day 'funday'"),
        ('[campaigns.x.hours]\nstart = "21:00"', "hours: start must be before end"),
        ('default_region = "XX"', "default_region: unknown region 'XX'"),
        ('default_tz = "Mars/Olympus"', "default_tz: unknown time zone"),
    ],
)
def test_bad_settings_name_file_key_and_problem(extra: str, message: str) -> None:
    base = '[campaigns.x]\nmode = "predictive"\ntrunk = "sim"\ncaller_id = "1"\nqueue = "sales"\n'
    if extra.startswith("mode"):
        base = base.replace('mode = "predictive"\n', "")
    with pytest.raises(ConfigError) as e:
        parse("x", base + extra)
    assert str(e.value).startswith(f"callcenter.toml: campaigns.x: {message}")


def test_missing_mode_and_mode_requirements() -> None:
    with pytest.raises(ConfigError, match=r"^w: mode: missing$"):
        campaign_from_dict("x", {"trunk": "sim", "caller_id": "1"}, "w")
    with pytest.raises(ConfigError, match="queue: a predictive campaign needs the queue"):
        campaign_from_dict("x", {"mode": "predictive", "trunk": "t", "caller_id": "1"}, "w")
    with pytest.raises(ConfigError, match="script: an agentless campaign needs the IVR script"):
        campaign_from_dict("x", {"mode": "agentless", "trunk": "t", "caller_id": "1"}, "w")


def test_short_ring_needs_explicit_permission() -> None:
    with pytest.raises(ConfigError, match="^campaign 'c': ring_timeout: must be at least 15 s"):
        campaign(ring_timeout=12.0)
    assert campaign(ring_timeout=12.0, allow_short_ring=True).ring_timeout == 12.0


def test_defaults_follow_the_rules() -> None:
    c = campaign()
    assert c.max_abandon_rate == 0.03
    assert c.ring_timeout >= 15.0
    assert c.retry.abandoned.delay >= 72 * 3600
