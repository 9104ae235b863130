"""The dialer's run-time nouns: campaigns, their agents and attempts, and the state table.

Theory of operation
-------------------
Configuration and leads are frozen values (:mod:`pbx.dialer.campaign`,
:mod:`pbx.dialer.leads`); what changes from one event to the next lives here, in mutable
objects owned by the :class:`~pbx.dialer.dialer.Dialer` alone: one :class:`Run` per
campaign (its pool of leads, windows, measurements, agents and live calls), one
:class:`Call` per attempt in progress, one :class:`AgentSlot` per agent seen. A campaign
moves along :data:`CAMPAIGN_TRANSITIONS`, the one table of allowed moves; any other
command is refused with :class:`~pbx.errors.InvalidStateError`. :meth:`Run.pacing_state`
is the snapshot a pacer decides on.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import define, field, frozen

from pbx.dialer import events as ev
from pbx.dialer.campaign import CampaignConfig
from pbx.dialer.compliance import AbandonLedger, AbandonStats
from pbx.dialer.leads import LeadState
from pbx.dialer.measures import AnswerTimes, HandleTimes
from pbx.dialer.outcomes import Outcome
from pbx.dialer.pacing import Pacer, PacingState
from pbx.dialer.pool import LeadPool


class CampaignState(enum.Enum):
    """Where a campaign stands."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


C = CampaignState
CAMPAIGN_TRANSITIONS: Mapping[tuple[CampaignState, type], CampaignState] = {
    (C.IDLE, ev.StartCampaign): C.RUNNING,
    (C.STOPPED, ev.StartCampaign): C.RUNNING,
    (C.PAUSED, ev.StartCampaign): C.RUNNING,
    (C.RUNNING, ev.StartCampaign): C.RUNNING,
    (C.RUNNING, ev.PauseCampaign): C.PAUSED,
    (C.PAUSED, ev.PauseCampaign): C.PAUSED,
    (C.PAUSED, ev.ResumeCampaign): C.RUNNING,
    (C.RUNNING, ev.ResumeCampaign): C.RUNNING,
    (C.IDLE, ev.StopCampaign): C.STOPPED,
    (C.RUNNING, ev.StopCampaign): C.STOPPED,
    (C.PAUSED, ev.StopCampaign): C.STOPPED,
    (C.STOPPED, ev.StopCampaign): C.STOPPED,
}
"""Every allowed ``(state, command)`` → new state; any other command is refused."""


class Phase(enum.Enum):
    """Where one attempt stands (see the module docstring)."""

    DIALING = "dialing"
    RINGING = "ringing"
    WAITING = "waiting"
    CONNECTED = "connected"
    SCRIPT = "script"
    MACHINE = "machine"
    MESSAGE = "message"
    ABANDONED = "abandoned"
    CLOSING = "closing"
    IN_DOUBT = "in_doubt"


UNANSWERED = frozenset({Phase.DIALING, Phase.RINGING, Phase.IN_DOUBT})


@define(eq=False)
class Call:
    """One attempt in progress."""

    attempt: str
    lead: str
    campaign: Run
    dialled: float
    phase: Phase
    agent: str | None = None
    amd: str | None = None
    greeting_end: float | None = None
    answered: float | None = None
    outcome: Outcome | None = None
    digit: str | None = None
    final: str | None = None
    """A disposition that overrides the retry rules (``dnc``) or the agent's code."""
    callback_at: float | None = None
    notes: str = ""


@define(eq=False)
class AgentSlot:
    """One agent as a campaign sees them: ``available``, ``busy`` or ``away``."""

    id: str
    status: str = "away"
    since: float = 0.0
    offer: str | None = None
    """The lead offered to the agent (preview)."""
    reserved: str | None = None
    """The attempt the agent dialled and waits on (preview)."""


@define(eq=False)
class Run:
    """One campaign at run time."""

    config: CampaignConfig
    pacer: Pacer
    pool: LeadPool
    ledger: AbandonLedger
    answers: AnswerTimes
    handle_times: HandleTimes
    log: Any
    """The dialer's logger with the campaign bound."""
    state: CampaignState = CampaignState.IDLE
    agents: dict[str, AgentSlot] = field(factory=dict)
    calls: dict[str, Call] = field(factory=dict)
    last_pace: float = float("-inf")
    burst: bool = False
    """The last round placed only part of what the pacer asked (``MAX_BURST``): the next
    comes at once (``URGENT_GAP``)."""
    lead_states: dict[LeadState, int] = field(factory=dict)

    @property
    def name(self) -> str:
        """The campaign's name."""
        return self.config.name

    @property
    def lines(self) -> int:
        """Calls in progress (lines in use)."""
        return len(self.calls)

    def scheduled_state(self, wall: float) -> CampaignState | None:
        """The state the schedule moves the campaign to at ``wall``, if any."""
        starts, stops = self.config.starts_at, self.config.stops_at
        if stops is not None and wall >= stops:
            if self.state is CampaignState.RUNNING or self.state is CampaignState.PAUSED:
                return CampaignState.STOPPED
            return None
        if self.state is CampaignState.IDLE and starts is not None and wall >= starts:
            return CampaignState.RUNNING
        return None

    def next_schedule(self) -> float | None:
        """The epoch second of the next move the schedule will make, if any."""
        if self.state is CampaignState.IDLE and self.config.starts_at is not None:
            return self.config.starts_at
        if self.state is not CampaignState.STOPPED and self.config.stops_at is not None:
            return self.config.stops_at
        return None

    def pacing_state(self, now: float, wall: float) -> PacingState:
        """What the pacer decides on, at ``now`` (monotonic) and ``wall`` (epoch)."""
        ready = offers = 0
        busy: list[float] = []
        for a in self.agents.values():
            if a.offer is not None:
                offers += 1
            elif a.reserved is not None:
                continue
            elif a.status == "available":
                ready += 1
            elif a.status == "busy":
                busy.append(now - a.since)
        ringing: list[float] = []
        waiting = 0
        for call in self.calls.values():
            if call.phase is Phase.DIALING or call.phase is Phase.RINGING:
                ringing.append(now - call.dialled)
            elif call.phase is Phase.WAITING:
                waiting += 1
        return PacingState(
            campaign=self.name,
            ready=ready,
            busy=tuple(busy),
            handle_times=self.handle_times.snapshot(),
            ringing=tuple(ringing),
            waiting=waiting,
            offers=offers,
            answers=self.answers.snapshot(),
            abandon=self.ledger.stats(wall),
            max_abandon_rate=self.config.max_abandon_rate,
            lines_in_use=self.lines,
            max_lines=self.config.max_lines,
        )


@frozen
class CampaignView:
    """A campaign's counters, for the API and the wallboard."""

    name: str
    mode: str
    state: str
    leads: Mapping[str, int]
    """Leads by state value."""
    lines_in_use: int
    agents: Mapping[str, int]
    """Agents by availability (``available``, ``busy``, ``away``)."""
    abandon: AbandonStats
    answer_rate: float
    handle_time: float


class Timers:
    """Deadlines named ``(scope, ref, kind)`` in one heap; re-arming replaces, and a
    cancelled or replaced entry is dropped when it surfaces."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str, str]] = []
        self._armed: dict[tuple[str, str, str], float] = {}
        self._seq = itertools.count()

    def arm(self, scope: str, ref: str, kind: str, deadline: float) -> None:
        """Set (or move) the deadline ``kind`` of ``ref``."""
        self._armed[(scope, ref, kind)] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), scope, ref, kind))

    def get(self, scope: str, ref: str, kind: str) -> float | None:
        """The armed deadline, or ``None``."""
        return self._armed.get((scope, ref, kind))

    def cancel(self, scope: str, ref: str, *kinds: str) -> None:
        """Disarm the deadlines ``kinds`` of ``ref``."""
        for kind in kinds:
            self._armed.pop((scope, ref, kind), None)

    def next(self) -> float | None:
        """The earliest armed deadline, or ``None``."""
        heap = self._heap
        while heap:
            deadline, _, scope, ref, kind = heap[0]
            if self._armed.get((scope, ref, kind)) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def due(self, now: float) -> Iterator[tuple[str, str, str]]:
        """Disarm and yield ``(scope, ref, kind)`` of each deadline at or before ``now``,
        in deadline order (deadlines armed meanwhile are yielded too, if due)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, scope, ref, kind = heapq.heappop(heap)
            key = (scope, ref, kind)
            if self._armed.get(key) == deadline:
                del self._armed[key]
                yield key
