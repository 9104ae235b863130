"""The ACD's nouns: agents, queues, waiting callers and the agent state table.

Theory of operation
-------------------
Configuration is frozen (:class:`AgentConfig`, :class:`QueueConfig`, :class:`Membership`,
:class:`Target`, :class:`PriorityRule`); run-time state is mutable and owned by the
:class:`~pbx.acd.distributor.Distributor` (:class:`Agent`, :class:`QueuedCall`). Agents
move between the :class:`AgentState` values along :data:`AGENT_TRANSITIONS`, the one
table of allowed moves; the distributor refuses any other move with
:class:`~pbx.errors.InvalidStateError`, so an agent can never be stuck in a state that no
event leaves.

Skills are levels 1..10. A queue requires a skill map (``{"support": 1}``); a caller may
add call-specific skills (``{"russian": 1}``); the union (highest level per skill) is the
caller's requirement, relaxed over time by the queue's :attr:`QueueConfig.relax` steps.
A step lists the highest level still required per skill; a skill the step does not name
is no longer required. Each step applies to the previous requirement, so relaxation is
monotonic: the set of eligible agents only grows.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from attrs import define, field, frozen

from pbx.errors import ConfigError

Skills = Mapping[str, int]
"""Skill name → level 1..10 (an agent's proficiency or a caller's requirement)."""

Requirement = tuple[tuple[str, int], ...]
"""A requirement in canonical form: sorted ``(skill, minimum level)`` pairs."""


class AgentState(enum.Enum):
    """What an agent is doing, as supervisors and reports name it."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    """Logged in, idle, may be offered a call."""
    RESERVED = "reserved"
    """Chosen for a call: an offer (or a callback) is pending, the phone is not ringing yet."""
    RINGING = "ringing"
    """The agent's phone rings with an offer."""
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"
    """After-call work; ends after the queue's wrap-up time or when the agent says ready."""
    NOT_READY = "not_ready"
    """Paused with a reason ("lunch", "training", "RONA", "device")."""

    __hash__ = object.__hash__  # members are singletons: hash by identity, in C


S = AgentState
AGENT_TRANSITIONS: frozenset[tuple[AgentState, AgentState]] = frozenset(
    {
        (S.LOGGED_OUT, S.READY),
        (S.LOGGED_OUT, S.NOT_READY),
        (S.READY, S.RESERVED),
        (S.READY, S.NOT_READY),
        (S.READY, S.LOGGED_OUT),
        (S.READY, S.ON_CALL),  # a direct call (pbx.acd.direct)
        (S.RESERVED, S.RINGING),
        (S.RESERVED, S.ON_CALL),
        (S.RESERVED, S.READY),  # offer cancelled, failed or skipped
        (S.RESERVED, S.NOT_READY),  # ring-no-answer, pause while offered
        (S.RESERVED, S.LOGGED_OUT),
        (S.RINGING, S.ON_CALL),
        (S.RINGING, S.READY),
        (S.RINGING, S.NOT_READY),
        (S.RINGING, S.LOGGED_OUT),
        (S.ON_CALL, S.ON_HOLD),
        (S.ON_HOLD, S.ON_CALL),
        (S.ON_CALL, S.WRAP_UP),
        (S.ON_HOLD, S.WRAP_UP),
        (S.ON_CALL, S.READY),
        (S.ON_HOLD, S.READY),
        (S.ON_CALL, S.NOT_READY),  # pause or device loss asked for during the call
        (S.ON_HOLD, S.NOT_READY),
        (S.ON_CALL, S.LOGGED_OUT),
        (S.ON_HOLD, S.LOGGED_OUT),
        (S.WRAP_UP, S.READY),
        (S.WRAP_UP, S.NOT_READY),
        (S.WRAP_UP, S.LOGGED_OUT),
        (S.NOT_READY, S.READY),
        (S.NOT_READY, S.NOT_READY),  # a new reason
        (S.NOT_READY, S.LOGGED_OUT),
    }
)
"""Every allowed ``(from, to)`` move of an agent; anything else is a bug."""

BUSY_STATES = frozenset({S.RESERVED, S.RINGING, S.ON_CALL, S.ON_HOLD})
"""States in which an agent holds a call or an offer."""


class CallState(enum.Enum):
    """Where a waiting caller stands."""

    WAITING = "waiting"
    OFFERED = "offered"
    """Offered to one agent (or several, ring-all); the place in the queue is kept."""
    CALLBACK_PENDING = "callback_pending"
    """The caller hung up after asking for a callback; the place in the queue is kept."""
    CALLBACK_DIALING = "callback_dialing"
    """An agent is reserved and the caller is being called back."""

    __hash__ = object.__hash__


@frozen
class Target:
    """Where a caller leaves a queue to: the ACD only names it, the application routes it."""

    kind: str
    """``queue``, ``ivr``, ``voicemail`` or ``number``."""
    name: str
    """The queue, IVR, mailbox or number."""


@frozen
class Membership:
    """An agent's place in one queue."""

    queue: str
    penalty: int = 0
    """Tier: agents with a lower penalty are offered calls first."""
    weight: float = 1.0
    """Relative chance under the weighted-random strategy."""


@frozen
class PriorityRule:
    """Raise a caller's priority when the caller or an attached data field matches."""

    key: str
    """``caller`` or the name of a field in the call's attached data."""
    values: frozenset[str]
    priority: int
    """The caller's priority becomes at least this."""


@frozen
class AgentConfig:
    """An agent as configured: who they are, which phones ring, what they know."""

    id: str
    name: str = ""
    devices: tuple[str, ...] = ()
    """Extensions to ring for an offer."""
    skills: Mapping[str, int] = field(factory=dict)
    queues: tuple[Membership, ...] = ()
    max_calls: int = 1
    """Concurrent calls; only 1 is supported."""


@frozen
class QueueConfig:
    """A queue: how callers wait and how agents are chosen for them."""

    name: str
    strategy: str = "longest_idle"
    """A name from :data:`pbx.acd.strategies.STRATEGIES` or one passed to the distributor."""
    ring_timeout: float = 15.0
    """Seconds an offer rings before it counts as ring-no-answer."""
    rona: str = "not_ready"
    """After ring-no-answer: ``not_ready`` pauses the agent with reason ``RONA``; ``skip``
    leaves them ready but offers them nothing for :attr:`skip_delay` seconds."""
    skip_delay: float = 10.0
    """Seconds an agent is passed over after a busy or rejected offer (or RONA with skip)."""
    wrap_up: float | None = None
    """Seconds of after-call work; ``0`` until the agent says ready; ``None`` for none."""
    announce_period: float | None = None
    """Announce position and estimated wait every this many seconds."""
    max_wait: float | None = None
    """Seconds after which the caller leaves to :attr:`overflow` (or is rejected)."""
    overflow: Target | None = None
    max_length: int | None = None
    """Waiting callers at most; a caller beyond it goes to :attr:`overflow` or is rejected."""
    join_empty: str = "never"
    """Refuse a new caller when ``no_members`` (none logged in) or ``no_staffed`` (none
    logged in and unpaused); ``never`` refuses nobody."""
    leave_when_empty: str = "never"
    """Send waiting callers away when the same condition becomes true."""
    skills: Mapping[str, int] = field(factory=dict)
    """Every caller's requirement (call-specific skills are added to it)."""
    relax: tuple[tuple[float, Mapping[str, int]], ...] = ()
    """``(seconds waited, requirement cap)`` steps, in increasing time."""
    priority_rules: tuple[PriorityRule, ...] = ()
    weight: int = 0
    """Across queues, callers of a higher-weight queue are served first."""
    callback_after: float | None = None
    """Seconds after which the caller is offered a callback keeping their place."""
    callback_key: str = "1"
    exit_keys: Mapping[str, Target] = field(factory=dict)
    """Digit → where a caller who presses it leaves to."""
    whisper: bool = False
    """Whisper the queue name to the agent before connecting."""
    record: bool = False
    music_class: str = "default"
    service_level_threshold: float = 20.0
    """Seconds within which an answer counts towards the service level."""
    default_aht: float = 180.0
    """Handle time assumed for the estimated wait until enough calls were handled."""
    aht_window: int = 50
    """Handled calls in the rolling average handle time."""
    aht_min_samples: int = 10
    dispositions: tuple[str, ...] = ()
    """Wrap-up codes an agent picks from for a call of this queue (empty: any code)."""


EMPTY_RULES = frozenset({"never", "no_members", "no_staffed"})


def validate_queue(queue: QueueConfig, strategies: Mapping[str, object]) -> None:
    """Raise :class:`ConfigError` naming the key of the first invalid setting."""
    where = f"queue {queue.name!r}"
    if queue.strategy not in strategies:
        raise ConfigError(f"{where}: strategy {queue.strategy!r} is unknown")
    if queue.rona not in ("not_ready", "skip"):
        raise ConfigError(f"{where}: rona {queue.rona!r} is not 'not_ready' or 'skip'")
    if queue.ring_timeout <= 0:
        raise ConfigError(f"{where}: ring_timeout must be positive")
    for key in ("join_empty", "leave_when_empty"):
        if getattr(queue, key) not in EMPTY_RULES:
            raise ConfigError(f"{where}: {key} {getattr(queue, key)!r} is unknown")
    if queue.announce_period is not None and queue.announce_period <= 0:
        raise ConfigError(f"{where}: announce_period must be positive")
    check_skills(f"{where}: skills", queue.skills)
    last = 0.0
    for after, cap in queue.relax:
        if after <= last:
            raise ConfigError(f"{where}: relax steps must be at increasing positive times")
        check_skills(f"{where}: relax", cap)
        last = after


def validate_agent(agent: AgentConfig, queues: Mapping[str, QueueConfig]) -> None:
    """Raise :class:`ConfigError` naming the key of the first invalid setting."""
    where = f"agent {agent.id!r}"
    if agent.max_calls != 1:
        raise ConfigError(f"{where}: max_calls must be 1")
    check_skills(f"{where}: skills", agent.skills)
    for member in agent.queues:
        if member.queue not in queues:
            raise ConfigError(f"{where}: queues names unknown queue {member.queue!r}")
        if member.weight <= 0:
            raise ConfigError(f"{where}: weight in queue {member.queue!r} must be positive")


def check_skills(where: str, skills: Mapping[str, int]) -> None:
    """Every level is an integer 1..10."""
    for name, level in skills.items():
        if not isinstance(level, int) or not 1 <= level <= 10:
            raise ConfigError(f"{where}: skill {name!r} level {level!r} is outside 1..10")


def requirement(*maps: Mapping[str, int]) -> Requirement:
    """The union of skill maps (highest level per skill) in canonical form."""
    merged: dict[str, int] = {}
    for m in maps:
        for name, level in m.items():
            if level > merged.get(name, 0):
                merged[name] = level
    return tuple(sorted(merged.items()))


def relaxed(req: Requirement, cap: Mapping[str, int]) -> Requirement:
    """``req`` under a relaxation step: unnamed skills dropped, levels capped (monotonic)."""
    return tuple((name, min(level, cap[name])) for name, level in req if name in cap)


def satisfies(skills: Mapping[str, int], req: Requirement) -> bool:
    """Whether an agent with ``skills`` meets ``req``."""
    for name, level in req:
        if skills.get(name, 0) < level:
            return False
    return True


@define(eq=False)
class Agent:
    """An agent's run-time state; the counters feed the strategies and the wallboard."""

    config: AgentConfig
    order: int
    """Position in the configured agent list (the linear strategy's order)."""
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    queues: tuple[str, ...] = ()
    """Queues logged in to."""
    call: str | None = None
    """The call offered to, reserved for, or talking with the agent."""
    direct: str | None = None
    """The call the agent talks on that the ACD did not distribute (direct, preview)."""
    idle_since: float = 0.0
    """End of the last call (or the login)."""
    calls_today: int = 0
    talk_today: float = 0.0
    last_offered: dict[str, float] = field(factory=dict)
    """Queue → time of the last offer from it (round-robin memory)."""
    device_ok: bool = True
    blocked_until: float = 0.0
    """Passed over until then (busy, rejected, ring-no-answer with skip)."""
    pending: tuple[AgentState, str] | None = None
    """A pause or logout asked for while busy, applied when the call ends."""
    wrap_queue: str = ""
    wrap_started: float = 0.0
    talk_started: float = 0.0
    listed: bool = False
    """In the ready-agent indexes (ready, reachable, not passed over)."""
    indexes: list[tuple[Any, tuple[Any, ...]]] = field(factory=list)
    """``(profile, entry)`` of every ready-agent index the agent is in."""
    eligible: list[object] = field(factory=list)
    """Cached ``(profile, queue, penalty)`` the agent qualifies for."""
    eligible_valid: bool = False
    deadlines: dict[str, float] = field(factory=dict)

    @property
    def id(self) -> str:
        """The agent's id."""
        return self.config.id


@define(eq=False)
class QueuedCall:
    """A caller in a queue, from joining until an agent answers (or the caller leaves)."""

    call: str
    queue: str
    priority: int
    enqueued: float
    seq: int
    """Arrival order: FIFO within priority, stable across ring-no-answer."""
    skills: Requirement
    """The current (possibly relaxed) requirement."""
    data: Mapping[str, object]
    caller: str = ""
    state: CallState = CallState.WAITING
    original_position: int = 0
    attempts: int = 0
    tried: list[str] = field(factory=list)
    """Agents offered this call so far, in order."""
    offers: dict[str, float] = field(factory=dict)
    """Agent → time the current offer was made."""
    callback_number: str | None = None
    callback_offered: bool = False
    relax_step: int = 0
    version: int = 0
    """Bumped whenever the call leaves its index slot (lazy deletion)."""
    index: object | None = None
    deadlines: dict[str, float] = field(factory=dict)

    @property
    def sort_key(self) -> tuple[int, float, int]:
        """Order within a queue: highest priority first, then first come."""
        return (-self.priority, self.enqueued, self.seq)
