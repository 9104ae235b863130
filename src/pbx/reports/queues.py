"""The queue interval report, from the queue log.

Theory of operation
-------------------
The queue log (one row per queue event, see the store) is read call by call. A call's
rows form *segments*, one per visit to a queue: from ``ENTERQUEUE`` (or a refused entry,
``FULL``/``JOINEMPTY``) to how the visit ended — answered (``CONNECT`` then
``COMPLETEAGENT``/``COMPLETECALLER``/``TRANSFER``), abandoned, exited (time-out, key,
empty queue), or a callback requested (the caller keeps their place, ``CALLBACKDONE``
when it takes place).

One customer call is counted once, which is what makes the figures add up across
transfers, overflows and callbacks:

* The unanswered segments of a call up to an answer (or up to its end) form a *chain*:
  a call that overflows from ``sales`` to ``support`` after 60 s and is answered there
  after 10 s more is one call, **offered to the queue that answered it** (or, never
  answered, to the queue where it ended), in the interval where the chain began, with
  a wait of 70 s. ``sales`` counts an ``overflow_out``, ``support`` an ``overflow_in``.
* A segment that begins after an answered one (the agent transferred the caller to a
  queue) is *transferred in*: not offered again, but its answer is ``handled`` by the
  second queue, whose agent gets their own talk time; the first queue counts a
  ``transferred_out``.
* Calls that span intervals belong to the interval where they began (arrival); an
  agent's time in each state is split across intervals by :mod:`pbx.reports.agents`.

Service level, ASA and AHT follow :mod:`pbx.reports.service_level`: abandons within the
short-abandon threshold count neither as offered nor as abandoned; callbacks requested
leave the service level's denominator (they neither waited to an answer nor gave up);
AHT = talk + hold + wrap-up per handled segment, where talk excludes hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import define, field, frozen

from pbx.reports.periods import Intervals
from pbx.reports.service_level import AbandonTreatment, ServiceLevelCounts

ANSWER_END = frozenset({"COMPLETEAGENT", "COMPLETECALLER", "COMPLETEINTERRUPTED", "TRANSFER"})
EXITS = frozenset({"EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "EXITMOVED", "FULL", "JOINEMPTY"})


@frozen
class QueueSettings:
    """How one queue's calls are judged."""

    service_level_threshold: float = 20.0
    """Seconds within which an answer (or an abandon) counts for the service level."""
    short_abandon: float = 5.0
    """Abandons within this many seconds are not counted at all (0: every abandon counts)."""


@define
class Segment:
    """One visit of a call to a queue, as read from its rows."""

    call: str
    queue: str
    entered: float
    chain_start: float
    kind: str = "new"
    """``new``, ``overflow`` (after an unanswered segment) or ``transfer`` (after an answer)."""
    outcome: str = "open"
    """``answered``, ``abandoned``, ``exited``, ``callback`` or ``open`` (no end in the log)."""
    ended: float | None = None
    answered_at: float | None = None
    agent: str | None = None
    talk: float = 0.0
    hold: float = 0.0
    hold_started: float | None = None
    wrap: float = 0.0
    transferred_out: bool = False
    overflowed_out: bool = False
    callback_done: bool = False
    callback_at: float | None = None
    offered_here: bool = False
    """This segment carries the customer call's one ``offered`` count."""

    @property
    def handled(self) -> bool:
        """An agent talked to the caller (an answer, or a callback that took place)."""
        return self.outcome == "answered" or (self.outcome == "callback" and self.callback_done)

    @property
    def wait(self) -> float:
        """Seconds from the start of the chain to the answer or the end of this visit."""
        until = self.answered_at if self.answered_at is not None else self.ended
        if self.callback_at is not None:
            until = self.callback_at  # the caller stopped waiting when they asked
        return max(0.0, (until if until is not None else self.entered) - self.chain_start)


@define
class _QueueCounts:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    abandoned_within: int = 0
    exited: int = 0
    callbacks_requested: int = 0
    callbacks_completed: int = 0
    overflow_in: int = 0
    overflow_out: int = 0
    transferred_in: int = 0
    transferred_out: int = 0
    handled: int = 0
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    wait_answered: float = 0.0
    wait_abandoned: float = 0.0
    longest_wait: float = 0.0


@frozen
class QueueInterval:
    """One queue's figures over one interval (or, for totals, the whole period)."""

    queue: str
    start: float
    end: float
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within: int
    abandoned_within: int
    exited: int
    callbacks_requested: int
    callbacks_completed: int
    overflow_in: int
    overflow_out: int
    transferred_in: int
    transferred_out: int
    handled: int
    talk: float
    hold: float
    wrap: float
    wait_answered: float
    wait_abandoned: float
    longest_wait: float
    treatment: AbandonTreatment = AbandonTreatment.AGAINST

    @property
    def counts(self) -> ServiceLevelCounts:
        """Service-level counts, with callbacks out of the denominator; ``offered`` and
        ``abandoned_within`` here already exclude short abandons."""
        return ServiceLevelCounts(
            answered_within=self.answered_within,
            abandoned_within=self.abandoned_within,
            offered=self.offered - self.callbacks_requested,
        )

    def service_level_in(self, treatment: AbandonTreatment) -> float | None:
        return self.counts.service_level(treatment)

    @property
    def service_level(self) -> float | None:
        return self.service_level_in(self.treatment)

    @property
    def patience(self) -> float | None:
        """Callers' mean patience, estimated from waits: the time all answered and
        abandoned callers waited over the abandons (exponential patience, answered
        callers' waits censored); None without abandons."""
        if not self.abandoned:
            return None
        return (self.wait_answered + self.wait_abandoned) / self.abandoned

    @property
    def asa(self) -> float | None:
        return self.wait_answered / self.answered if self.answered else None

    @property
    def aht(self) -> float | None:
        if not self.handled:
            return None
        return (self.talk + self.hold + self.wrap) / self.handled

    def as_dict(self) -> dict[str, Any]:
        """Every figure by name (start and end as epoch seconds)."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in QUEUE_FIELDS if name not in _DERIVED
        }
        out["service_level"] = self.service_level
        for t in AbandonTreatment:
            out[f"service_level_{t.value}"] = self.service_level_in(t)
        out["asa"] = self.asa
        out["aht"] = self.aht
        return out


_DERIVED = frozenset(
    {"service_level", "service_level_ignored", "service_level_against", "service_level_for"}
    | {"asa", "aht"}
)
QUEUE_FIELDS = (
    "queue",
    "start",
    "end",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answered_within",
    "abandoned_within",
    "service_level",
    "service_level_ignored",
    "service_level_against",
    "service_level_for",
    "asa",
    "aht",
    "talk",
    "hold",
    "wrap",
    "wait_answered",
    "wait_abandoned",
    "longest_wait",
    "handled",
    "transferred_in",
    "transferred_out",
    "overflow_in",
    "overflow_out",
    "callbacks_requested",
    "callbacks_completed",
    "exited",
)
"""The columns of the report, in order (CSV and API)."""


@frozen
class QueueReport:
    """Per queue and interval, and per queue over the whole period."""

    rows: tuple[QueueInterval, ...]
    totals: tuple[QueueInterval, ...]
    segments: tuple[Segment, ...] = field(repr=False, default=())


def segments(rows: Iterable[Mapping[str, Any]]) -> list[Segment]:
    """Every queue visit in ``rows`` (queue-log rows: ``time``, ``event``, ``call_id``,
    ``queue``, ``agent``, ``data``), in the order they began."""
    by_call: dict[str, list[Mapping[str, Any]]] = {}
    agent_rows: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["time"], r.get("id") or 0)):
        if row["call_id"]:
            by_call.setdefault(row["call_id"], []).append(row)
        elif row["event"] == "WRAPUPEND" and row["agent"]:
            agent_rows.setdefault(row["agent"], []).append(row)
    out: list[Segment] = []
    for call, call_rows in by_call.items():
        out.extend(_call_segments(call, call_rows))
    _attach_wrap_up(out, agent_rows)
    out.sort(key=lambda s: (s.entered, s.call))
    return out


def _call_segments(call: str, rows: list[Mapping[str, Any]]) -> list[Segment]:
    segs: list[Segment] = []
    current: Segment | None = None
    chain_start: float | None = None
    after_answer = False
    for row in rows:
        event, t, queue = row["event"], float(row["time"]), row["queue"] or ""
        data = row.get("data") or {}
        if event in ("ENTERQUEUE", "FULL", "JOINEMPTY"):
            if current is not None and current.outcome == "open":
                current.outcome, current.ended = "exited", t
            kind = "new"
            if segs and after_answer:
                kind = "transfer"
            elif segs and segs[-1].outcome == "exited":
                kind = "overflow"
                segs[-1].overflowed_out = True
            if chain_start is None or kind == "transfer":
                chain_start = t
            current = Segment(call, queue, t, chain_start, kind)
            after_answer = False
            segs.append(current)
            if event != "ENTERQUEUE":
                current.outcome, current.ended = "exited", t
            continue
        if current is None:
            continue  # rows of a visit that began before the period
        if event == "CONNECT":
            current.answered_at = t
            current.agent = row["agent"]
        elif event == "HOLD":
            current.hold_started = t
        elif event == "UNHOLD" and current.hold_started is not None:
            current.hold += t - current.hold_started
            current.hold_started = None
        elif event in ANSWER_END:
            if current.hold_started is not None:
                current.hold += t - current.hold_started
                current.hold_started = None
            talk = data.get("talk")
            answered = current.answered_at if current.answered_at is not None else t
            total = float(talk) if isinstance(talk, (int, float)) else t - answered
            current.talk = max(0.0, total - current.hold)
            current.agent = row["agent"] or current.agent
            current.ended = t
            if current.outcome != "callback":  # a callback keeps its outcome
                current.outcome = "answered"
            current.transferred_out = event == "TRANSFER"
            after_answer = True
            chain_start = None
        elif event == "ABANDON":
            current.outcome, current.ended = "abandoned", t
            chain_start = None
        elif event in EXITS:
            current.outcome, current.ended = "exited", t
        elif event == "CALLBACKREQUESTED":
            current.outcome, current.ended, current.callback_at = "callback", t, t
        elif event == "CALLBACKDONE":
            current.callback_done = True
        elif event == "CALLBACKFAILED":
            pass
    _mark_offered(segs)
    return segs


def _mark_offered(segs: list[Segment]) -> None:
    """The segment of each chain that carries the call's one offer: the answered one
    (or callback), else the last of the chain."""
    chain: list[Segment] = []
    for seg in segs:
        if seg.kind != "overflow" and chain:
            _close_chain(chain)
            chain = []
        chain.append(seg)
        if seg.outcome in ("answered", "callback"):
            _close_chain(chain)
            chain = []
    if chain:
        _close_chain(chain)


def _close_chain(chain: list[Segment]) -> None:
    if chain[0].kind == "transfer":
        return  # transferred in: handled, not offered again
    for seg in chain:
        if seg.outcome in ("answered", "callback"):
            seg.offered_here = True
            return
    chain[-1].offered_here = True


def _attach_wrap_up(segs: list[Segment], wraps: dict[str, list[Mapping[str, Any]]]) -> None:
    """Each agent's ``WRAPUPEND`` goes to the answered segment it followed."""
    by_agent: dict[str, list[Segment]] = {}
    for seg in segs:
        if seg.handled and seg.agent and seg.ended is not None:
            by_agent.setdefault(seg.agent, []).append(seg)
    for agent, rows in wraps.items():
        handled = sorted(by_agent.get(agent, ()), key=lambda s: s.ended or 0.0)
        k = 0
        for row in rows:
            t = float(row["time"])
            # the last segment that ended at or before the wrap-up's end
            while k + 1 < len(handled) and (handled[k + 1].ended or 0.0) <= t:
                k += 1
            if handled and (handled[k].ended or 0.0) <= t and not handled[k].wrap:
                wrap = (row.get("data") or {}).get("wrap")
                if isinstance(wrap, (int, float)):
                    handled[k].wrap = float(wrap)


def queue_report(
    rows: Iterable[Mapping[str, Any]],
    period: Intervals,
    settings: Mapping[str, QueueSettings] | None = None,
    *,
    treatment: AbandonTreatment = AbandonTreatment.AGAINST,
    queues: Iterable[str] = (),
    default: QueueSettings = QueueSettings(),
) -> QueueReport:
    """The queue report of ``period`` from queue-log ``rows``.

    ``rows`` should reach back before the period by the longest call (the store query
    does), so that visits that began in the period are read whole; only visits whose
    chain began inside the period are counted. ``queues`` lists queues to report even
    without calls (every interval then has a row for them).
    """
    settings = settings or {}
    segs = segments(rows)
    cells: dict[tuple[str, int], _QueueCounts] = {}
    totals: dict[str, _QueueCounts] = {q: _QueueCounts() for q in queues}
    names = set(totals)
    for seg in segs:
        counted = _count(seg, period, settings.get(seg.queue, default))
        if counted is None:
            continue
        index, apply = counted
        names.add(seg.queue)
        apply(cells.setdefault((seg.queue, index), _QueueCounts()))
        apply(totals.setdefault(seg.queue, _QueueCounts()))
    out: list[QueueInterval] = []
    for name in sorted(names):
        for i in range(len(period)):
            start, end = period.bounds(i)
            out.append(_interval(name, start, end, cells.get((name, i)), treatment))
    total_rows = tuple(
        _interval(name, period.start, period.end, totals[name], treatment) for name in sorted(names)
    )
    return QueueReport(tuple(out), total_rows, tuple(segs))


def _count(seg: Segment, period: Intervals, s: QueueSettings) -> tuple[int, Any] | None:
    """Where ``seg`` counts (the interval its chain began in) and how."""
    anchor = seg.entered if seg.kind == "transfer" else seg.chain_start
    index = period.index(anchor)
    if index is None:
        return None
    wait = seg.wait

    def apply(c: _QueueCounts) -> None:
        if seg.kind == "overflow":
            c.overflow_in += 1
        if seg.kind == "transfer":
            c.transferred_in += 1
        if seg.overflowed_out:
            c.overflow_out += 1
        if seg.transferred_out:
            c.transferred_out += 1
        if seg.handled:
            c.handled += 1
            c.talk += seg.talk
            c.hold += seg.hold
            c.wrap += seg.wrap
        if not seg.offered_here:
            return
        if seg.outcome == "abandoned" and wait < s.short_abandon:
            c.short_abandoned += 1
            return
        c.offered += 1
        c.longest_wait = max(c.longest_wait, wait)
        if seg.outcome == "answered":
            c.answered += 1
            c.wait_answered += wait
            if wait <= s.service_level_threshold:
                c.answered_within += 1
        elif seg.outcome == "abandoned":
            c.abandoned += 1
            c.wait_abandoned += wait
            if wait <= s.service_level_threshold:
                c.abandoned_within += 1
        elif seg.outcome == "callback":
            c.callbacks_requested += 1
            if seg.callback_done:
                c.callbacks_completed += 1
        elif seg.outcome == "exited":
            c.exited += 1

    return index, apply


def _interval(
    queue: str,
    start: float,
    end: float,
    c: _QueueCounts | None,
    treatment: AbandonTreatment,
) -> QueueInterval:
    c = c or _QueueCounts()
    return QueueInterval(
        queue=queue,
        start=start,
        end=end,
        offered=c.offered,
        answered=c.answered,
        abandoned=c.abandoned,
        short_abandoned=c.short_abandoned,
        answered_within=c.answered_within,
        abandoned_within=c.abandoned_within,
        exited=c.exited,
        callbacks_requested=c.callbacks_requested,
        callbacks_completed=c.callbacks_completed,
        overflow_in=c.overflow_in,
        overflow_out=c.overflow_out,
        transferred_in=c.transferred_in,
        transferred_out=c.transferred_out,
        handled=c.handled,
        talk=c.talk,
        hold=c.hold,
        wrap=c.wrap,
        wait_answered=c.wait_answered,
        wait_abandoned=c.wait_abandoned,
        longest_wait=c.longest_wait,
        treatment=treatment,
    )
