"""A day's staffing per interval: the load measured, the agents staffed, the agents needed.

For each interval of one queue: calls offered, their handle time and the callers'
patience as measured (:mod:`pbx.reports.queues`), the agents staffed (logged-in agent
time of the queue's agents over the interval's length, :mod:`pbx.reports.agents`), and
the agents needed for the service-level target, with shrinkage, by Erlang A (when the
interval's abandons let patience be estimated) and by Erlang C. Where an interval had
too few calls to measure handle time or patience, the day's figure stands in (else the
``default_aht``). ``service_level_staffed`` is the service level Erlang A (or C)
predicts for the agents who were staffed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from attrs import frozen

from pbx.acd import erlang
from pbx.reports.agents import AgentInterval
from pbx.reports.queues import QueueInterval
from pbx.reports.staffing import agents_needed, erlang_a_service_level


@frozen
class StaffingInterval:
    start: float
    end: float
    calls: int
    aht: float | None
    patience: float | None
    staffed: float
    needed_erlang_a: int | None
    needed_erlang_c: int | None
    service_level_staffed: float | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STAFFING_FIELDS}


STAFFING_FIELDS = (
    "start",
    "end",
    "calls",
    "aht",
    "patience",
    "staffed",
    "needed_erlang_a",
    "needed_erlang_c",
    "service_level_staffed",
)


def staffing_plan(
    queue_rows: Sequence[QueueInterval],
    agent_rows: Iterable[AgentInterval],
    agents: Iterable[str],
    *,
    target: float = 0.8,
    threshold: float = 20.0,
    shrinkage: float = 0.0,
    default_aht: float = 180.0,
) -> list[StaffingInterval]:
    """One row per interval of ``queue_rows`` (one queue's rows, in order)."""
    if not 0.0 < target < 1.0:
        raise ValueError("target must be between 0 and 1, exclusive")
    if not 0.0 <= shrinkage < 1.0:
        raise ValueError("shrinkage must be at least 0 and less than 1")
    members = set(agents)
    staffed: dict[float, float] = {}
    for a in agent_rows:
        if a.agent in members:
            staffed[a.start] = staffed.get(a.start, 0.0) + a.login
    handled = sum(r.handled for r in queue_rows)
    day_aht = (
        sum(r.talk + r.hold + r.wrap for r in queue_rows) / handled if handled else default_aht
    )
    abandoned = sum(r.abandoned for r in queue_rows)
    waited = sum(r.wait_answered + r.wait_abandoned for r in queue_rows)
    day_patience = waited / abandoned if abandoned else None
    out = []
    for row in queue_rows:
        length = row.end - row.start
        aht = row.aht if row.handled >= 3 and row.aht else day_aht
        patience = row.patience if row.abandoned >= 3 else day_patience
        on = staffed.get(row.start, 0.0) / length if length > 0 else 0.0
        needed_a = needed_c = None
        level = None
        if row.offered and aht > 0:
            rate = row.offered / length
            needed_c = agents_needed(
                arrival_rate=rate, aht=aht, sla=target, target=threshold, shrinkage=shrinkage
            )
            needed_a = (
                agents_needed(
                    arrival_rate=rate,
                    aht=aht,
                    sla=target,
                    target=threshold,
                    shrinkage=shrinkage,
                    patience=patience,
                )
                if patience
                else needed_c
            )
            working = int(on * (1.0 - shrinkage) + 1e-9)
            if working >= 1:
                level = (
                    erlang_a_service_level(
                        arrival_rate=rate,
                        aht=aht,
                        patience=patience,
                        agents=working,
                        target=threshold,
                    )
                    if patience
                    else erlang.service_level(rate * aht, working, aht, threshold)
                )
            else:
                level = 0.0
        out.append(
            StaffingInterval(
                row.start, row.end, row.offered, aht, patience, on, needed_a, needed_c, level
            )
        )
    return out


def members_of(users: Iterable[Any], queue: str) -> list[str]:
    """Extensions of the configured users in ``queue`` (a user has ``extension``, ``queues``)."""
    return [u.extension for u in users if queue in getattr(u, "queues", ())]
