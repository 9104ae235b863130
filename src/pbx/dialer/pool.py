"""A campaign's leads waiting to be dialled, and the checks made as each is taken.

Theory of operation
-------------------
:class:`LeadPool` is a heap of ``(due, arrival, lead id)``: ``due`` is the epoch second
from which a lead may be dialled (its ``next_attempt_at``, 0 for a fresh lead), so leads
come out in due order, first imported first. Taking leads (:meth:`LeadPool.take`) runs
the dial-time checks on each lead at the top, in this order:

1. on a do-not-call list now → the lead is done (``dnc``);
2. the number is on a call of another lead right now → back in a minute;
3. the number's last call was abandoned less than 72 hours ago and no agent is reserved
   for this call → back when the 72 hours are over (Ofcom);
4. outside calling hours in one of the lead's zones → back at the next opening in all of
   them, or done (``no_calling_window``) if they never overlap.

A lead keeps its arrival number for life, so an offer taken back returns to its place;
a lead put back for later is ordered by its new due time, so a list of leads in a closed time
zone costs one look per lead per opening, not one per decision. An entry whose lead left
the pool (dialled, done, re-queued with another due time) is skipped when it surfaces.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Container, Mapping

from pbx.dialer.campaign import CampaignConfig
from pbx.dialer.compliance import (
    ABANDON_REDIAL_HOLD,
    DncRegistry,
    lead_zones,
    next_opening,
    within_hours,
)
from pbx.dialer.leads import Lead

SCAN_LIMIT = 2000
"""Leads looked at in one :meth:`LeadPool.take` at most (the rest wait for the next)."""
BUSY_NUMBER_DELAY = 60.0
"""Seconds before a lead whose number is on another call is looked at again."""


class LeadPool:
    """One campaign's pending leads in due order, taken with the dial-time checks."""

    def __init__(self, config: CampaignConfig, dnc: DncRegistry) -> None:
        self._config = config
        self._dnc = dnc
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        self._zones: dict[str, tuple[dt.tzinfo, ...]] = {}
        self._order: dict[str, int] = {}
        """Each lead's arrival number, kept for life: ties on due go first come first."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, lead: object) -> bool:
        return lead in self._due

    def push(self, lead: Lead, due: float) -> None:
        """Queue ``lead`` to be dialled from epoch second ``due`` on."""
        self._due[lead.id] = due
        order = self._order.get(lead.id)
        if order is None:
            order = self._order[lead.id] = next(self._seq)
        heapq.heappush(self._heap, (due, order, lead.id))

    def discard(self, lead: str) -> None:
        """Take ``lead`` out of the pool (its heap entry is skipped later)."""
        self._due.pop(lead, None)

    def next_due(self) -> float | None:
        """The earliest due time in the pool, or ``None`` if it is empty."""
        heap = self._heap
        while heap:
            due, _, lead = heap[0]
            if self._due.get(lead) == due:
                return due
            heapq.heappop(heap)
        return None

    def take(
        self,
        n: int,
        wall: float,
        leads: Mapping[str, Lead],
        *,
        live_numbers: Container[str],
        abandoned_at: Mapping[str, float],
        agent_reserved: bool,
    ) -> tuple[list[Lead], list[tuple[Lead, str]]]:
        """Up to ``n`` leads that may be dialled at ``wall``, and the leads found done
        on the way as ``(lead, disposition)``."""
        taken: list[Lead] = []
        done: list[tuple[Lead, str]] = []
        heap = self._heap
        looked = 0
        while len(taken) < n and looked < SCAN_LIMIT:
            due = self.next_due()
            if due is None or due > wall:
                break
            _, _, lead_id = heapq.heappop(heap)
            del self._due[lead_id]
            looked += 1
            lead = leads[lead_id]
            verdict = self.check(lead, wall, live_numbers, abandoned_at, agent_reserved)
            if verdict is None:
                taken.append(lead)
            elif isinstance(verdict, str):
                done.append((lead, verdict))
            else:
                self.push(lead, verdict)
        return taken, done

    def check(
        self,
        lead: Lead,
        wall: float,
        live_numbers: Container[str],
        abandoned_at: Mapping[str, float],
        agent_reserved: bool,
    ) -> str | float | None:
        """The dial-time checks on one lead (module docstring): ``None`` to dial it now,
        a disposition if it is done, or the epoch second to look at it again."""
        config = self._config
        if self._dnc.listed(lead.phone, config.dnc_lists) is not None:
            return "dnc"
        if lead.phone in live_numbers:
            return wall + BUSY_NUMBER_DELAY
        abandoned = abandoned_at.get(lead.phone)
        if abandoned is not None and not agent_reserved and wall < abandoned + ABANDON_REDIAL_HOLD:
            return abandoned + ABANDON_REDIAL_HOLD
        zones = self.zones(lead)
        if within_hours(config.calling_hours, zones, wall):
            return None
        opening = next_opening(config.calling_hours, zones, wall)
        return "no_calling_window" if opening is None else opening

    def zones(self, lead: Lead) -> tuple[dt.tzinfo, ...]:
        """The lead's time zones (cached)."""
        zones = self._zones.get(lead.id)
        if zones is None:
            zones = lead_zones(lead.phone, lead.tz, self._config.default_tz)
            self._zones[lead.id] = zones
        return zones
