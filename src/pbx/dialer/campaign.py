"""Outbound campaigns: what to dial, when, how hard, and what to do with the answers.

Theory of operation
-------------------
A :class:`CampaignConfig` is a frozen, validated value: building one with a bad setting
raises :class:`~pbx.errors.ConfigError` naming the campaign, the key and the problem
(``campaign 'reminders': ring_timeout: must be at least 15 s ...``).
:func:`campaign_from_dict` reads one ``[campaigns.NAME]`` TOML table into it, refusing
unknown keys and values of the wrong type, with messages of the form
``WHERE: KEY: PROBLEM`` (``callcenter.toml: campaigns.reminders: retry.busy.delay:
expected seconds >= 0, got -1``).

The mode picks how leads become calls (see :mod:`pbx.dialer.pacing`):

* ``preview``: a lead is offered to a ready agent, who dials it or skips it;
* ``progressive``: one call per ready agent that no call already covers;
* ``predictive``: calls ahead of agents becoming free, under :attr:`max_abandon_rate`;
* ``agentless``: calls fill :attr:`max_lines`; a person hears :attr:`script` (an IVR).

Calling hours are local times in each lead's own zone (:mod:`pbx.dialer.compliance`).
Retry rules are per outcome: after an attempt ending in ``busy``, ``no_answer``,
``machine``, ``failed``, ``abandoned`` or ``interrupted`` (the call was in progress when
the process stopped) the lead is dialled again ``delay`` seconds later while it has had
fewer than ``max_attempts`` attempts in all; otherwise its final disposition is the
outcome.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from attrs import field, frozen

from pbx.errors import ConfigError

MIN_RING_TIMEOUT = 15.0
"""Seconds a call must ring before it is given up (US 47 CFR 64.1200(a)(6): 15 s or four
rings; Ofcom's statement of policy likewise): shorter rings inflate answer rates."""

ABANDON_LIMIT = 0.03
"""The regulators' ceiling on abandoned calls: 3 % of live-answered calls (FCC per
campaign per 30 days, Ofcom per campaign per 24 hours)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in calling-hours settings, Monday first (``datetime.weekday()`` order)."""


class Mode(enum.Enum):
    """How a campaign turns leads into calls."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"
    AGENTLESS = "agentless"


class OnMachine(enum.Enum):
    """What to do when answering-machine detection says ``machine``."""

    LEAVE_MESSAGE = "leave_message"
    """Wait for the greeting's end (beep or silence), then play the message."""
    HANGUP = "hangup"


@frozen
class CallingHours:
    """When leads may be called, in each lead's local time: ``start`` ≤ time < ``end``."""

    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(20, 0)
    days: frozenset[int] = frozenset(range(5))
    """Weekdays allowed, 0 = Monday … 6 = Sunday."""


@frozen
class RetryRule:
    """When to dial a lead again after an attempt with one outcome."""

    max_attempts: int
    """The lead is dialled again only while it has had fewer attempts than this in all."""
    delay: float
    """Seconds from the end of the attempt to the next one."""


@frozen
class RetryRules:
    """One :class:`RetryRule` per retryable outcome."""

    busy: RetryRule = RetryRule(3, 600.0)
    no_answer: RetryRule = RetryRule(3, 3600.0)
    """Also for people who hang up before an agent takes the call."""
    machine: RetryRule = RetryRule(2, 7200.0)
    """Applies when no message is left (``on_machine = hangup``)."""
    failed: RetryRule = RetryRule(2, 1800.0)
    abandoned: RetryRule = RetryRule(2, 72 * 3600.0)
    interrupted: RetryRule = RetryRule(3, 72 * 3600.0)
    """An attempt found in progress after a restart: it may have reached a person whose
    call was then cut, so by default it waits as long as an abandoned call."""

    def for_outcome(self, outcome: str) -> RetryRule | None:
        """The rule for ``outcome``, or ``None`` if that outcome is never retried."""
        rule = getattr(self, outcome, None)
        return rule if isinstance(rule, RetryRule) else None


RETRY_OUTCOMES = ("busy", "no_answer", "machine", "failed", "abandoned", "interrupted")

DEFAULT_CONFIRM_DIGITS: Mapping[str, str] = {"1": "confirmed", "0": "operator", "9": "operator"}


@frozen
class CampaignConfig:
    """One outbound campaign; invalid settings raise :class:`~pbx.errors.ConfigError`."""

    name: str
    mode: Mode
    trunk: str
    """The outbound trunk calls go out through."""
    caller_id: str
    calling_hours: CallingHours = field(factory=CallingHours)
    retry: RetryRules = field(factory=RetryRules)
    dnc_lists: tuple[str, ...] = ()
    """Do-not-call lists checked besides the global one (at import and at dial time)."""
    max_abandon_rate: float = ABANDON_LIMIT
    max_lines: int = 30
    """Concurrent calls of the campaign at most (ringing, talking or playing)."""
    ring_timeout: float = 20.0
    allow_short_ring: bool = False
    """Allow a ring timeout under 15 s (regulators flag such campaigns)."""
    queue: str | None = None
    """The ACD queue answered calls are handed to (progressive and predictive)."""
    agents: tuple[str, ...] = ()
    """The agents who work the campaign (the shell reports their availability)."""
    priority: int = 0
    """Blending: the ACD priority of answered calls against inbound callers (priority 0);
    above 0 they go ahead of waiting inbound callers, below 0 after them."""
    script: str | None = None
    """The IVR a person hears in an agentless campaign."""
    amd: bool = True
    """Run answering-machine detection on answered calls."""
    on_machine: OnMachine = OnMachine.HANGUP
    machine_message: str | None = None
    """What to leave on a machine (a prompt or an IVR); the script in agentless mode."""
    abandon_message: str = "dialer-abandon"
    """The recorded message a person hears when no agent is free (the FCC's rule)."""
    wrap_up: float = 0.0
    """Seconds of after-call work given to an agent after an outbound call."""
    dispositions: tuple[str, ...] = ()
    """The codes an agent may give a lead after a call (any code when empty); the code
    becomes the lead's final disposition, or with a callback time its next attempt."""
    starts_at: float | None = None
    """Epoch seconds at which the campaign starts by itself."""
    stops_at: float | None = None
    """Epoch seconds at which the campaign stops by itself."""
    default_region: str = "US"
    """ISO 3166 region for lead numbers written without a country code."""
    default_tz: str = "UTC"
    """The zone of a lead whose number's region has no known zone and no ``tz`` column."""
    confirm_digits: Mapping[str, str] = field(factory=lambda: dict(DEFAULT_CONFIRM_DIGITS))
    """Agentless: the digit a person pressed → the lead's disposition."""
    amd_false_positive_rate: float = 0.02
    """The measured share of people that AMD classifies as machines: Ofcom counts that
    share of ``machine`` verdicts as abandoned calls."""
    preview_timeout: float | None = None
    """Preview: seconds after which an offer no agent decided on is dialled."""
    preview_skip_delay: float = 3600.0
    """Preview: seconds before a skipped lead is offered again."""
    expected_answer_rate: float = 0.3
    """The share of dials reaching a person assumed until enough were measured."""
    expected_handle_time: float = 180.0
    """Seconds of handle time assumed until enough calls were measured."""

    def __attrs_post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise CampaignConfigError(f"campaign {self.name!r}", *problem)

    @property
    def uses_agents(self) -> bool:
        """Whether answered calls go to agents (every mode but agentless)."""
        return self.mode is not Mode.AGENTLESS


class CampaignConfigError(ConfigError):
    """A campaign setting is invalid; ``key`` names it and ``problem`` says why."""

    def __init__(self, where: str, key: str, problem: str) -> None:
        super().__init__(f"{where}: {key}: {problem}")
        self.key = key
        self.problem = problem


def _problem(c: CampaignConfig) -> tuple[str, str] | None:
    """The first invalid setting as ``(key, problem)``, or ``None``."""
    if not c.name:
        return "name", "must not be empty"
    if not c.trunk:
        return "trunk", "missing"
    if not c.caller_id:
        return "caller_id", "missing"
    if not 0.0 < c.max_abandon_rate <= ABANDON_LIMIT:
        return "max_abandon_rate", f"must be above 0 and at most {ABANDON_LIMIT}"
    if c.max_lines < 1:
        return "max_lines", "must be at least 1"
    if not c.ring_timeout > 0:
        return "ring_timeout", "must be positive"
    if c.ring_timeout < MIN_RING_TIMEOUT and not c.allow_short_ring:
        return "ring_timeout", (
            f"must be at least {MIN_RING_TIMEOUT:g} s (set allow_short_ring to ring shorter)"
        )
    if c.uses_agents and c.mode is not Mode.PREVIEW and not c.queue:
        return "queue", f"a {c.mode.value} campaign needs the queue its answered calls join"
    if c.mode is Mode.AGENTLESS and not c.script:
        return "script", "an agentless campaign needs the IVR script people hear"
    if c.on_machine is OnMachine.LEAVE_MESSAGE and not (c.machine_message or c.script):
        return "machine_message", "leaving messages on machines needs a message"
    hours = c.calling_hours
    if not hours.start < hours.end:
        return "hours", "start must be before end (local time, same day)"
    if not hours.days or not hours.days <= frozenset(range(7)):
        return "hours.days", "expected one or more of " + ", ".join(WEEKDAYS)
    for outcome in RETRY_OUTCOMES:
        rule = getattr(c.retry, outcome)
        if rule.max_attempts < 1:
            return f"retry.{outcome}.max_attempts", "must be at least 1"
        if not rule.delay >= 0:
            return f"retry.{outcome}.delay", "must be seconds >= 0"
    for key in ("wrap_up", "preview_skip_delay"):
        if not getattr(c, key) >= 0:
            return key, "must be seconds >= 0"
    if c.preview_timeout is not None and not c.preview_timeout > 0:
        return "preview_timeout", "must be positive"
    if c.starts_at is not None and c.stops_at is not None and c.stops_at <= c.starts_at:
        return "stops_at", "must be after starts_at"
    if c.default_region not in phonenumbers.SUPPORTED_REGIONS:
        return "default_region", f"unknown region {c.default_region!r} (ISO 3166, e.g. US)"
    if not _zone_ok(c.default_tz):
        return "default_tz", f"unknown time zone {c.default_tz!r}"
    if not 0.0 <= c.amd_false_positive_rate < 1.0:
        return "amd_false_positive_rate", "must be at least 0 and below 1"
    if not 0.0 < c.expected_answer_rate <= 1.0:
        return "expected_answer_rate", "must be above 0 and at most 1"
    if not c.expected_handle_time > 0:
        return "expected_handle_time", "must be positive"
    for digit in c.confirm_digits:
        if len(digit) != 1 or digit not in "0123456789*#":
            return "confirm_digits", f"{digit!r} is not one DTMF digit"
    return None


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---------------------------------------------------------------------- TOML


class _Table:
    """Typed reads from one TOML table; every problem raises with ``where: key: …``."""

    def __init__(self, where: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.where = where
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.key(key)}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"expected {_kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(key, f"expected {_kind_name(kinds)}, got {value!r}")
        return value

    def seconds(self, key: str, default: float | None) -> float | None:
        value = self.get(key, (int, float), default)
        if value is None:
            return None
        if not math.isfinite(value) or value < 0:
            raise self.fail(key, f"expected seconds >= 0, got {value!r}")
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of names, got {value!r}")
        return tuple(value)

    def sub(self, key: str) -> _Table:
        return _Table(self.where, self.get(key, dict, {}), f"{self.key(key)}.")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "a table"})
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def campaign_from_dict(name: str, table: Mapping[str, Any], where: str) -> CampaignConfig:
    """Read one ``[campaigns.NAME]`` table; raise :class:`ConfigError` ``where: key: …``."""
    t = _Table(where, table)
    mode = _enum(t, "mode", Mode, None)
    assert isinstance(mode, Mode)
    on_machine = _enum(t, "on_machine", OnMachine, OnMachine.HANGUP)
    assert isinstance(on_machine, OnMachine)
    default_tz = t.get("default_tz", str, "UTC")
    values: dict[str, Any] = {
        "name": name,
        "mode": mode,
        "trunk": t.get("trunk", str, ""),
        "caller_id": t.get("caller_id", str, ""),
        "calling_hours": _hours(t.sub("hours")),
        "retry": _retry(t.sub("retry")),
        "dnc_lists": t.strings("dnc"),
        "max_abandon_rate": float(t.get("max_abandon_rate", (int, float), ABANDON_LIMIT)),
        "max_lines": t.get("max_lines", int, 30),
        "ring_timeout": t.seconds("ring_timeout", 20.0),
        "allow_short_ring": t.get("allow_short_ring", bool, False),
        "queue": t.get("queue", str, None),
        "agents": t.strings("agents"),
        "priority": t.get("priority", int, 0),
        "script": t.get("script", str, None),
        "amd": t.get("amd", bool, True),
        "on_machine": on_machine,
        "machine_message": t.get("machine_message", str, None),
        "abandon_message": t.get("abandon_message", str, "dialer-abandon"),
        "wrap_up": t.seconds("wrap_up", 0.0),
        "dispositions": t.strings("dispositions"),
        "starts_at": _instant(t, "starts_at", default_tz),
        "stops_at": _instant(t, "stops_at", default_tz),
        "default_region": t.get("default_region", str, "US"),
        "default_tz": default_tz,
        "confirm_digits": _digits(t),
        "amd_false_positive_rate": float(t.get("amd_false_positive_rate", (int, float), 0.02)),
        "preview_timeout": t.seconds("preview_timeout", None),
        "preview_skip_delay": t.seconds("preview_skip_delay", 3600.0),
        "expected_answer_rate": float(t.get("expected_answer_rate", (int, float), 0.3)),
        "expected_handle_time": t.seconds("expected_handle_time", 180.0),
    }
    t.done()
    try:
        return CampaignConfig(**values)
    except CampaignConfigError as e:
        raise ConfigError(f"{where}: {e.key}: {e.problem}") from None


def _enum(t: _Table, key: str, kind: type[enum.Enum], default: enum.Enum | None) -> enum.Enum:
    value = t.get(key, str, None)
    if value is None:
        if default is None:
            raise t.fail(key, "missing")
        return default
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise t.fail(key, f"expected one of {choices}, got {value!r}") from None


def _hours(t: _Table) -> CallingHours:
    hours = CallingHours(
        start=_clock(t, "start", dt.time(9, 0)),
        end=_clock(t, "end", dt.time(20, 0)),
        days=_days(t),
    )
    t.done()
    return hours


def _clock(t: _Table, key: str, default: dt.time) -> dt.time:
    value = t.get(key, (str, dt.time), None)
    if value is None:
        return default
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise t.fail(key, f"expected a local time like '09:00', got {value!r}") from None


def _days(t: _Table) -> frozenset[int]:
    names = t.strings("days") if "days" in t.data else WEEKDAYS[:5]
    days = set()
    for day in names:
        if day.lower()[:3] not in WEEKDAYS:
            raise t.fail("days", f"unknown day {day!r} (expected {', '.join(WEEKDAYS)})")
        days.add(WEEKDAYS.index(day.lower()[:3]))
    return frozenset(days)


def _retry(t: _Table) -> RetryRules:
    defaults = RetryRules()
    rules: dict[str, RetryRule] = {}
    for outcome in RETRY_OUTCOMES:
        if outcome not in t.data:
            t.used.add(outcome)
            continue
        rule_t = t.sub(outcome)
        default: RetryRule = getattr(defaults, outcome)
        delay = rule_t.seconds("delay", default.delay)
        assert delay is not None
        rules[outcome] = RetryRule(rule_t.get("max_attempts", int, default.max_attempts), delay)
        rule_t.done()
    t.done()
    return RetryRules(**rules)


def _instant(t: _Table, key: str, zone: str) -> float | None:
    """A TOML date-time (or ISO text) as epoch seconds; a naive one is in ``zone``."""
    value = t.get(key, (str, dt.datetime), None)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise t.fail(
                key, f"expected a date-time like 2025-01-06T09:00, got {value!r}"
            ) from None
    if value.tzinfo is None:
        if not _zone_ok(zone):
            raise t.fail("default_tz", f"unknown time zone {zone!r}")
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.timestamp()


def _digits(t: _Table) -> Mapping[str, str]:
    value = t.get("confirm_digits", dict, None)
    if value is None:
        return dict(DEFAULT_CONFIRM_DIGITS)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise t.fail("confirm_digits", 'expected digit = "disposition" pairs')
    return dict(value)
