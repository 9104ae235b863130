"""Hand-made queue-log and CDR rows for the report tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pbx.reports.periods import Intervals, intervals

DAY = datetime(2026, 12, 1, tzinfo=UTC)
T0 = DAY.timestamp()
"""Midnight UTC of the reported day; row times are seconds after it."""


def day(interval: str | int = 15) -> Intervals:
    return intervals(DAY, DAY.replace(day=2), interval)


class Log:
    """Builds queue-log rows in order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self, t: float, event: str, call: str = "", queue: str = "", agent: str = "", **data: Any
    ) -> Log:
        self.rows.append(
            {
                "id": len(self.rows) + 1,
                "time": T0 + t,
                "event": event,
                "call_id": call or None,
                "queue": queue or None,
                "agent": agent or None,
                "data": data,
            }
        )
        return self

    def answered(
        self,
        call: str,
        queue: str,
        agent: str,
        enter: float,
        wait: float,
        talk: float,
        *,
        wrap: float = 0.0,
        end: str = "COMPLETECALLER",
    ) -> Log:
        """A whole answered visit: enter, connect after ``wait``, end after ``talk``."""
        self.add(enter, "ENTERQUEUE", call, queue)
        self.add(enter + wait, "CONNECT", call, queue, agent, wait=wait)
        self.add(enter + wait + talk, end, call, queue, agent, wait=wait, talk=talk)
        self.add(enter + wait + talk + wrap, "WRAPUPEND", "", queue, agent, wrap=wrap)
        return self

    def abandoned(self, call: str, queue: str, enter: float, wait: float) -> Log:
        self.add(enter, "ENTERQUEUE", call, queue)
        self.add(enter + wait, "ABANDON", call, queue, wait=wait)
        return self
