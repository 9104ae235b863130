"""The outbound report: per campaign and interval, attempts, contacts, answer rate,
answering-machine outcomes, abandons and dispositions, from the stored leads.

Each lead keeps its attempts (time dialled, outcome, AMD verdict, agent, duration, the
agentless confirmation digit); an attempt counts in the interval it was dialled.

* *contacts*: attempts a person answered (answered, delivered, abandoned, hung up);
* *machines*: attempts an answering machine took (machine, message left);
* answer rate = (contacts + machines) / attempts; contact rate = contacts / attempts;
* abandon rate = abandoned / contacts (the regulators' figure, as the pacer keeps it);
* dispositions: each lead's final disposition, counted where its last attempt was dialled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import define, field, frozen

from pbx.reports.periods import Intervals

CONTACTS = frozenset({"answered", "delivered", "abandoned", "hung_up"})
MACHINES = frozenset({"machine", "message_left"})


@define
class _CampaignCounts:
    attempts: int = 0
    contacts: int = 0
    machines: int = 0
    abandoned: int = 0
    talk: float = 0.0
    outcomes: dict[str, int] = field(factory=dict)
    amd: dict[str, int] = field(factory=dict)
    dispositions: dict[str, int] = field(factory=dict)
    confirmations: dict[str, int] = field(factory=dict)

    def merge(self, other: _CampaignCounts) -> None:
        self.attempts += other.attempts
        self.contacts += other.contacts
        self.machines += other.machines
        self.abandoned += other.abandoned
        self.talk += other.talk
        for mine, theirs in (
            (self.outcomes, other.outcomes),
            (self.amd, other.amd),
            (self.dispositions, other.dispositions),
            (self.confirmations, other.confirmations),
        ):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


def _bump(d: dict[str, int], key: str) -> None:
    d[key] = d.get(key, 0) + 1


@frozen
class CampaignInterval:
    campaign: str
    start: float
    end: float
    attempts: int
    contacts: int
    machines: int
    abandoned: int
    talk: float
    outcomes: Mapping[str, int]
    amd: Mapping[str, int]
    dispositions: Mapping[str, int]
    confirmations: Mapping[str, int]

    @property
    def answer_rate(self) -> float | None:
        return (self.contacts + self.machines) / self.attempts if self.attempts else None

    @property
    def contact_rate(self) -> float | None:
        return self.contacts / self.attempts if self.attempts else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.contacts if self.contacts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "start": self.start,
            "end": self.end,
            "attempts": self.attempts,
            "contacts": self.contacts,
            "machines": self.machines,
            "abandoned": self.abandoned,
            "answer_rate": self.answer_rate,
            "contact_rate": self.contact_rate,
            "abandon_rate": self.abandon_rate,
            "talk": self.talk,
            "outcomes": dict(self.outcomes),
            "amd": dict(self.amd),
            "dispositions": dict(self.dispositions),
            "confirmations": dict(self.confirmations),
        }


CAMPAIGN_FIELDS = (
    "campaign",
    "start",
    "end",
    "attempts",
    "contacts",
    "machines",
    "abandoned",
    "answer_rate",
    "contact_rate",
    "abandon_rate",
    "talk",
    "outcomes",
    "amd",
    "dispositions",
    "confirmations",
)


@frozen
class CampaignReport:
    rows: tuple[CampaignInterval, ...]
    totals: tuple[CampaignInterval, ...]


def campaign_report(
    leads: Iterable[Mapping[str, Any]], period: Intervals, *, campaigns: Iterable[str] = ()
) -> CampaignReport:
    """The outbound report of ``period`` from stored lead bodies (see the dialer)."""
    cells: dict[tuple[str, int], _CampaignCounts] = {}
    names = set(campaigns)
    for lead in leads:
        name = str(lead.get("campaign") or "")
        names.add(name)
        attempts = [a for a in lead.get("attempts") or () if isinstance(a, Mapping)]
        last_index: int | None = None
        for a in attempts:
            index = period.index(float(a.get("time") or 0.0))
            if index is None:
                continue
            last_index = index
            c = cells.setdefault((name, index), _CampaignCounts())
            c.attempts += 1
            outcome = str(a.get("outcome") or "in_progress")
            _bump(c.outcomes, outcome)
            if outcome in CONTACTS:
                c.contacts += 1
            if outcome in MACHINES:
                c.machines += 1
            if outcome == "abandoned":
                c.abandoned += 1
            if a.get("amd"):
                _bump(c.amd, str(a["amd"]))
            if a.get("digit"):
                _bump(c.confirmations, str(a["digit"]))
            c.talk += float(a.get("duration") or 0.0)
        if last_index is not None and lead.get("disposition"):
            _bump(cells[(name, last_index)].dispositions, str(lead["disposition"]))
    rows: list[CampaignInterval] = []
    totals: list[CampaignInterval] = []
    for name in sorted(names):
        total = _CampaignCounts()
        for i in range(len(period)):
            c = cells.get((name, i)) or _CampaignCounts()
            total.merge(c)
            rows.append(_row(name, *period.bounds(i), c))
        totals.append(_row(name, period.start, period.end, total))
    return CampaignReport(tuple(rows), tuple(totals))


def _row(name: str, start: float, end: float, c: _CampaignCounts) -> CampaignInterval:
    return CampaignInterval(
        campaign=name,
        start=start,
        end=end,
        attempts=c.attempts,
        contacts=c.contacts,
        machines=c.machines,
        abandoned=c.abandoned,
        talk=c.talk,
        outcomes=dict(c.outcomes),
        amd=dict(c.amd),
        dispositions=dict(c.dispositions),
        confirmations=dict(c.confirmations),
    )
