"""Builders for dialer tests: campaigns, a dialer on a fake wall clock, action filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pbx.dialer import actions as act
from pbx.dialer import events as ev
from pbx.dialer.campaign import CallingHours, CampaignConfig, Mode
from pbx.dialer.compliance import DncRegistry
from pbx.dialer.dialer import Dialer
from pbx.dialer.leads import Lead, lead_id
from pbx.dialer.pacing import Pacer

T = TypeVar("T")

MONDAY_NOON_UTC = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC).timestamp()
"""Monday 3 March 2025, 12:00 UTC: 07:00 in New York (EST), 15:00 in Moscow."""

ALWAYS = CallingHours(dt.time(0, 0), dt.time(23, 59, 59), frozenset(range(7)))

NY = "+12125550123"
MOSCOW = "+74951234567"
LONDON = "+442079460958"


def campaign(name: str = "c", mode: Mode = Mode.PROGRESSIVE, **kw: Any) -> CampaignConfig:
    """A valid campaign of ``mode`` dialling around the clock unless told otherwise."""
    values: dict[str, Any] = {
        "name": name,
        "mode": mode,
        "trunk": "sim",
        "caller_id": "5550100",
        "calling_hours": ALWAYS,
        "amd": False,
    }
    if mode in (Mode.PROGRESSIVE, Mode.PREDICTIVE):
        values["queue"] = "sales"
    if mode is Mode.AGENTLESS:
        values["script"] = "reminder"
    values.update(kw)
    return CampaignConfig(**values)


def dialer(
    *configs: CampaignConfig,
    t0: float = MONDAY_NOON_UTC,
    dnc: DncRegistry | None = None,
    pacers: dict[str, Pacer] | None = None,
    **kw: Any,
) -> Dialer:
    """A dialer whose wall clock reads ``t0 + now``."""
    return Dialer(configs or (campaign(),), wall=lambda now: t0 + now, dnc=dnc, pacers=pacers, **kw)


def leads(campaign_name: str, phones: Sequence[str], **kw: Any) -> list[Lead]:
    """Fresh leads of ``campaign_name`` for ``phones``."""
    return [
        Lead(id=lead_id(campaign_name, p), campaign=campaign_name, phone=p, **kw) for p in phones
    ]


def of(kind: type[T], actions: Iterable[act.DialerAction]) -> list[T]:
    """The actions of one type, in order."""
    return [a for a in actions if isinstance(a, kind)]


def dialled(actions: Iterable[act.DialerAction]) -> list[str]:
    """The numbers dialled, in order."""
    return [d.number for d in of(act.Dial, actions)]


def start(
    d: Dialer, name: str, phones: Sequence[str], agents: int = 0, now: float = 0.0
) -> list[act.DialerAction]:
    """Add leads for ``phones``, make ``agents`` agents available, start: all actions."""
    out = d.handle(ev.LeadsAdded(leads(name, phones)), now)
    for i in range(1, agents + 1):
        out += d.handle(ev.AgentAvailable(name, f"a{i}"), now)
    out += d.handle(ev.StartCampaign(name), now)
    return out


def run_timers(d: Dialer, until: float) -> list[act.DialerAction]:
    """Fire every deadline up to ``until``; all the actions."""
    out: list[act.DialerAction] = []
    while (t := d.get_timer()) is not None and t <= until:
        out += d.handle_timer(t)
    return out
