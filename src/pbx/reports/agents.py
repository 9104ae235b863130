"""The agent interval report: time logged in, ready, talking, on hold, in wrap-up and
paused by reason, calls handled, occupancy and utilisation, from the queue log.

Theory of operation
-------------------
Each agent's rows are replayed as a timeline of states: ``AGENTLOGIN`` (the first queue)
starts a session in *ready*; ``PAUSE``/``UNPAUSE`` switch between *paused* (with the
reason) and *ready*; ``CONNECT`` starts *talk*, ``HOLD``/``UNHOLD`` switch to *hold* and
back, a call's end (``COMPLETE…``/``TRANSFER``) starts *wrap* and ``WRAPUPEND`` returns
to *ready* (a pause that waited for the call follows as its own row); ``AGENTLOGOFF``
from the last queue ends the session. An agent in several queues writes their login
and pause rows once per queue: the replay counts each change once.

Every span of a state is split at the interval edges, so an agent's hour-long call that
began at 10:50 counts 10 minutes of talk in the 10:45 interval and 50 in the next:
time is where it was spent. A call handled is counted in the interval it was answered.
Spans still open at the end of the rows run to ``until`` (now, for a live day).

Occupancy = (talk + hold + wrap) / (talk + hold + wrap + ready): the share of available
time spent on calls. Utilisation = (talk + hold + wrap) / logged-in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import define, field, frozen

from pbx.reports.periods import Intervals

STATES = ("ready", "talk", "hold", "wrap", "paused")


@define
class _AgentCounts:
    ready: float = 0.0
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    paused: float = 0.0
    pause_reasons: dict[str, float] = field(factory=dict)
    handled: int = 0

    def add(self, state: str, reason: str, seconds: float) -> None:
        setattr(self, state, getattr(self, state) + seconds)
        if state == "paused":
            self.pause_reasons[reason] = self.pause_reasons.get(reason, 0.0) + seconds


@frozen
class AgentInterval:
    """One agent's time and calls over one interval (or the whole period)."""

    agent: str
    start: float
    end: float
    ready: float
    talk: float
    hold: float
    wrap: float
    paused: float
    pause_reasons: Mapping[str, float]
    handled: int

    @property
    def login(self) -> float:
        return self.ready + self.talk + self.hold + self.wrap + self.paused

    @property
    def busy(self) -> float:
        return self.talk + self.hold + self.wrap

    @property
    def occupancy(self) -> float | None:
        available = self.busy + self.ready
        return self.busy / available if available > 0 else None

    @property
    def utilisation(self) -> float | None:
        return self.busy / self.login if self.login > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "start": self.start,
            "end": self.end,
            "login": self.login,
            "ready": self.ready,
            "talk": self.talk,
            "hold": self.hold,
            "wrap": self.wrap,
            "paused": self.paused,
            "pause_reasons": dict(self.pause_reasons),
            "handled": self.handled,
            "occupancy": self.occupancy,
            "utilisation": self.utilisation,
        }


AGENT_FIELDS = (
    "agent",
    "start",
    "end",
    "login",
    "ready",
    "talk",
    "hold",
    "wrap",
    "paused",
    "pause_reasons",
    "handled",
    "occupancy",
    "utilisation",
)


@frozen
class AgentReport:
    rows: tuple[AgentInterval, ...]
    totals: tuple[AgentInterval, ...]


@define
class _Timeline:
    """One agent's replay: the current state since when, and the queues logged in to."""

    queues: set[str] = field(factory=set)
    state: str = "out"
    reason: str = ""
    since: float = 0.0


def agent_report(
    rows: Iterable[Mapping[str, Any]],
    period: Intervals,
    *,
    until: float | None = None,
    agents: Iterable[str] = (),
) -> AgentReport:
    """The agent report of ``period`` from queue-log ``rows`` (which should begin before
    the period by at least a session's length, so that the state at its start is known)."""
    end_of_data = min(period.end, until) if until is not None else period.end
    cells: dict[tuple[str, int], _AgentCounts] = {}
    lines: dict[str, _Timeline] = {a: _Timeline() for a in agents}

    def spend(agent: str, line: _Timeline, to: float) -> None:
        if line.state != "out":
            _split(cells, agent, line.state, line.reason, line.since, to, period)
        line.since = to

    def move(agent: str, line: _Timeline, t: float, state: str, reason: str = "") -> None:
        spend(agent, line, t)
        line.state, line.reason = state, reason

    for row in sorted(rows, key=lambda r: (r["time"], r.get("id") or 0)):
        agent = row.get("agent")
        if not agent:
            continue
        t = float(row["time"])
        if t >= end_of_data:
            break
        event = row["event"]
        line = lines.setdefault(agent, _Timeline())
        data = row.get("data") or {}
        if event == "AGENTLOGIN":
            was_out = not line.queues
            line.queues.add(row["queue"] or "")
            if was_out:
                move(agent, line, t, "ready")
        elif event == "AGENTLOGOFF":
            line.queues.discard(row["queue"] or "")
            if not line.queues:
                move(agent, line, t, "out")
        elif line.state == "out" and event not in ("CONNECT",):
            continue
        elif event == "PAUSE" and line.state in ("ready", "paused"):
            move(agent, line, t, "paused", str(data.get("reason") or ""))
        elif event == "UNPAUSE" and line.state == "paused":
            move(agent, line, t, "ready")
        elif event == "CONNECT":
            if line.state == "out":
                line.queues.add(row["queue"] or "")
            move(agent, line, t, "talk")
            index = period.index(t)
            if index is not None:
                cells.setdefault((agent, index), _AgentCounts()).handled += 1
        elif event == "HOLD" and line.state == "talk":
            move(agent, line, t, "hold")
        elif event == "UNHOLD" and line.state == "hold":
            move(agent, line, t, "talk")
        elif event in ("COMPLETEAGENT", "COMPLETECALLER", "COMPLETEINTERRUPTED", "TRANSFER"):
            if line.state in ("talk", "hold"):
                move(agent, line, t, "wrap")
        elif event == "WRAPUPEND" and line.state == "wrap":
            move(agent, line, t, "ready")
    for agent, line in lines.items():
        spend(agent, line, max(end_of_data, line.since))
    names = sorted(lines)
    out: list[AgentInterval] = []
    totals: list[AgentInterval] = []
    for name in names:
        total = _AgentCounts()
        for i in range(len(period)):
            c = cells.get((name, i)) or _AgentCounts()
            start, end = period.bounds(i)
            out.append(_row(name, start, end, c))
            for state in STATES:
                setattr(total, state, getattr(total, state) + getattr(c, state))
            for reason, seconds in c.pause_reasons.items():
                total.pause_reasons[reason] = total.pause_reasons.get(reason, 0.0) + seconds
            total.handled += c.handled
        totals.append(_row(name, period.start, period.end, total))
    return AgentReport(tuple(out), tuple(totals))


def _split(
    cells: dict[tuple[str, int], _AgentCounts],
    agent: str,
    state: str,
    reason: str,
    t0: float,
    t1: float,
    period: Intervals,
) -> None:
    """Add the span ``[t0, t1)`` of ``state`` to each interval it overlaps."""
    t0 = max(t0, period.start)
    t1 = min(t1, period.end)
    if t1 <= t0:
        return
    i = period.index(t0)
    while i is not None and i < len(period):
        start, end = period.bounds(i)
        if start >= t1:
            break
        seconds = min(end, t1) - max(start, t0)
        if seconds > 0:
            cells.setdefault((agent, i), _AgentCounts()).add(state, reason, seconds)
        i += 1


def _row(agent: str, start: float, end: float, c: _AgentCounts) -> AgentInterval:
    return AgentInterval(
        agent=agent,
        start=start,
        end=end,
        ready=c.ready,
        talk=c.talk,
        hold=c.hold,
        wrap=c.wrap,
        paused=c.paused,
        pause_reasons=dict(c.pause_reasons),
        handled=c.handled,
    )
