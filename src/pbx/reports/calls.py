"""Reports from call detail records: calls by trunk, DID or direction, and the IVR's
containment and drop-off by node.

A CDR row is one call (see the store). Calls are counted in the interval they started.
Direction is the CDR's ``inbound``, ``outbound`` or ``internal``, with ``transferred``
for calls whose disposition says an agent or the IVR transferred them on.

IVR: a call that ran an IVR has ``ivr_path`` (every node visited), ``ivr_exit`` (the
node it left from) and ``ivr_end`` (why: ``completed`` at a hang-up node, ``hangup`` by
the caller, ``queue``, ``transfer``, ``voicemail`` or ``error``) in its data. A call is
*contained* when the IVR completed it (self-service, no agent); *dropped* at a node when
the caller hung up there; *routed* when the IVR sent it to a queue, a transfer or
voicemail. Containment = contained / calls that ran the IVR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import define, frozen

from pbx.reports.periods import Intervals

BY = ("trunk", "did", "direction")
"""What the calls report groups by."""

ROUTED = frozenset({"queue", "transfer", "voicemail"})


@define
class _CallCounts:
    calls: int = 0
    answered: int = 0
    talk: float = 0.0


@frozen
class CallsInterval:
    key: str
    start: float
    end: float
    calls: int
    answered: int
    talk: float

    @property
    def unanswered(self) -> int:
        return self.calls - self.answered

    @property
    def average_talk(self) -> float | None:
        return self.talk / self.answered if self.answered else None

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.calls if self.calls else None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CALLS_FIELDS}


CALLS_FIELDS = (
    "key",
    "start",
    "end",
    "calls",
    "answered",
    "unanswered",
    "talk",
    "average_talk",
    "answer_rate",
)


@frozen
class CallsReport:
    by: str
    rows: tuple[CallsInterval, ...]
    totals: tuple[CallsInterval, ...]


def _direction(row: Mapping[str, Any]) -> str:
    if row.get("disposition") == "transferred":
        return "transferred"
    return str(row.get("direction") or "")


KEYS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "trunk": lambda r: str(r.get("trunk") or ""),
    "did": lambda r: str(r.get("did") or ""),
    "direction": _direction,
}


def calls_report(rows: Iterable[Mapping[str, Any]], period: Intervals, by: str) -> CallsReport:
    """Calls, answered calls and talk time per ``by`` (trunk, did, direction) and interval."""
    if by not in KEYS:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    key_of = KEYS[by]
    cells: dict[tuple[str, int], _CallCounts] = {}
    totals: dict[str, _CallCounts] = {}
    for row in rows:
        if row.get("disposition") == "in_progress":
            continue
        index = period.index(float(row["start_time"]))
        if index is None:
            continue
        key = key_of(row)
        answered = row.get("answer_time") is not None
        talk = float(row.get("talk_seconds") or 0.0)
        for c in (
            cells.setdefault((key, index), _CallCounts()),
            totals.setdefault(key, _CallCounts()),
        ):
            c.calls += 1
            c.answered += answered
            c.talk += talk
    out = []
    for key in sorted(totals):
        for i in range(len(period)):
            start, end = period.bounds(i)
            c = cells.get((key, i)) or _CallCounts()
            out.append(CallsInterval(key, start, end, c.calls, c.answered, c.talk))
    total_rows = tuple(
        CallsInterval(key, period.start, period.end, c.calls, c.answered, c.talk)
        for key, c in sorted(totals.items())
    )
    return CallsReport(by, tuple(out), total_rows)


@frozen
class IvrNode:
    node: str
    visits: int
    """Calls that passed through the node (once per call, however often they came back)."""
    dropped: int
    """Callers who hung up at this node."""
    contained: int
    """Calls the IVR completed at this node."""
    routed: int
    """Calls the IVR sent from this node to a queue, a transfer or voicemail."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "visits": self.visits,
            "dropped": self.dropped,
            "contained": self.contained,
            "routed": self.routed,
        }


@frozen
class IvrReport:
    calls: int
    contained: int
    dropped: int
    routed: int
    nodes: tuple[IvrNode, ...]

    @property
    def containment(self) -> float | None:
        return self.contained / self.calls if self.calls else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "contained": self.contained,
            "dropped": self.dropped,
            "routed": self.routed,
            "containment": self.containment,
            "rows": [n.as_dict() for n in self.nodes],
        }


def ivr_report(rows: Iterable[Mapping[str, Any]], start: float, end: float) -> IvrReport:
    """IVR containment and drop-off by node for calls that started in ``[start, end)``."""
    visits: dict[str, int] = {}
    ends: dict[tuple[str, str], int] = {}
    totals = {"contained": 0, "dropped": 0, "routed": 0}
    calls = 0
    for row in rows:
        if not start <= float(row["start_time"]) < end:
            continue
        data = row.get("data") or {}
        path = data.get("ivr_path")
        if not isinstance(path, list) or not path:
            continue
        calls += 1
        for node in dict.fromkeys(str(n) for n in path):
            visits[node] = visits.get(node, 0) + 1
        exit_node = str(data.get("ivr_exit") or path[-1])
        reason = str(data.get("ivr_end") or "")
        kind = (
            "contained"
            if reason == "completed"
            else "routed"
            if reason in ROUTED or row.get("queue") or row.get("agent")
            else "dropped"
        )
        totals[kind] += 1
        ends[(exit_node, kind)] = ends.get((exit_node, kind), 0) + 1
    nodes = tuple(
        IvrNode(
            node,
            count,
            ends.get((node, "dropped"), 0),
            ends.get((node, "contained"), 0),
            ends.get((node, "routed"), 0),
        )
        for node, count in sorted(visits.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return IvrReport(calls, totals["contained"], totals["dropped"], totals["routed"], nodes)
