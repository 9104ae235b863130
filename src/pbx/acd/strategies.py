"""Agent-selection strategies: one small protocol, one ordering key per ready agent.

Theory of operation
-------------------
A strategy orders the *ready* agents of a queue. It is one method::

    class Strategy(Protocol):
        def key(self, agent: Agent, queue: QueueConfig, skills: Requirement,
                now: float) -> tuple[float, ...]: ...

Lower keys are offered first. The distributor calls :meth:`Strategy.key` when an agent
becomes ready for a queue (and a caller requirement ``skills`` of that queue) and keeps
the agent in a list sorted by ``(penalty, key)`` until they stop being ready; a
decision then reads the head of the list, not a scan. So a key must depend only on what cannot
change while the agent stays ready: idle-since, calls and talk time today, the time of
their last offer from the queue, their fixed order, a random draw. A strategy that sets
``offers_all = True`` rings every eligible agent at once (ring-all); one with an
``offered(agent, queue, key)`` method hears which agent won each decision; one with
``per_requirement = False`` promises its key ignores ``skills`` (computed once per queue).

Writing your own takes a few lines, e.g. "most senior first"::

    class MostSenior:
        def key(self, agent, queue, skills, now):
            return (-int(agent.config.name.split("#")[1]), agent.idle_since)

    Distributor(queues, agents, rng=rng, strategies={"senior": MostSenior()})

The built-in strategies (names of :data:`STRATEGIES`):

``ring_all``
    offer to every eligible ready agent; the first to answer wins, the others are cancelled.
``longest_idle``
    the agent whose last call ended longest ago.
``least_calls``
    fewest calls taken today, then longest idle.
``least_talk``
    least talk time today, then longest idle.
``round_robin``
    round robin with memory: the agent offered a call from this queue least recently,
    then the configured order (so the queue resumes after the last agent it offered).
``linear``
    always the configured order: the first listed ready agent.
``random``
    weighted random (membership weight), drawn with the distributor's ``rng`` as
    exponential races on a virtual clock (see :class:`WeightedRandom`).
``skills``
    the best proficiency over the caller's required skills (sum of the agent's levels),
    ties by longest idle.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from pbx.acd.models import Agent, QueueConfig, Requirement


class Strategy(Protocol):
    """Orders ready agents: lower :meth:`key` is offered first."""

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """The agent's ordering key while they stay ready for ``queue`` and ``skills``."""
        ...


class RingAll:
    """Ring every eligible ready agent at once; the first to answer wins."""

    per_requirement = False

    offers_all = True

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Longest idle first (only the order of the offers in the action list)."""
        return (agent.idle_since,)


class LongestIdle:
    """The agent whose last call ended longest ago."""

    per_requirement = False

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Idle since, earliest first."""
        return (agent.idle_since, agent.order)


class LeastCalls:
    """Fewest calls taken today, then longest idle."""

    per_requirement = False

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Calls today, then idle since."""
        return (agent.calls_today, agent.idle_since, agent.order)


class LeastTalk:
    """Least talk time today, then longest idle."""

    per_requirement = False

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Talk seconds today, then idle since."""
        return (agent.talk_today, agent.idle_since, agent.order)


class RoundRobin:
    """Round robin with memory: least recently offered from this queue, then list order."""

    per_requirement = False

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Last offer time from this queue (never: first), then configured order."""
        return (agent.last_offered.get(queue.name, float("-inf")), agent.order)


class Linear:
    """Always the first ready agent in the configured order."""

    per_requirement = False

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Configured order."""
        return (agent.order,)


class WeightedRandom:
    """Weighted random choice among the ready agents (membership weights).

    Exponential races on a virtual clock per queue: an agent becoming ready draws
    ``clock + Exp(weight)``; the lowest key is offered and the clock moves to it. By
    memorylessness every ready agent's remaining time is again ``Exp(weight)``, so each
    decision picks agent *i* with probability ``weight_i / Σ weight`` of the ready agents.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._clock: dict[str, float] = {}

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """The virtual time the agent's exponential race ends."""
        weight = 1.0
        for member in agent.config.queues:
            if member.queue == queue.name:
                weight = member.weight
        return (self._clock.get(queue.name, 0.0) + self._rng.expovariate(weight),)

    def offered(self, agent: Agent, queue: QueueConfig, key: tuple[float, ...]) -> None:
        """The winner's key becomes the queue's virtual clock."""
        if key[0] > self._clock.get(queue.name, 0.0):
            self._clock[queue.name] = key[0]


class SkillsBased:
    """Best proficiency over the caller's required skills, ties by longest idle."""

    def key(
        self, agent: Agent, queue: QueueConfig, skills: Requirement, now: float
    ) -> tuple[float, ...]:
        """Minus the sum of the agent's levels in the required skills, then idle since."""
        levels = agent.config.skills
        return (-sum(levels.get(name, 0) for name, _ in skills), agent.idle_since, agent.order)


STRATEGIES: dict[str, Callable[[random.Random], Strategy]] = {
    "ring_all": lambda rng: RingAll(),
    "longest_idle": lambda rng: LongestIdle(),
    "least_calls": lambda rng: LeastCalls(),
    "least_talk": lambda rng: LeastTalk(),
    "round_robin": lambda rng: RoundRobin(),
    "linear": lambda rng: Linear(),
    "random": WeightedRandom,
    "skills": lambda rng: SkillsBased(),
}
"""Built-in strategy names → factories taking the distributor's ``rng``."""


def offers_all(strategy: Strategy) -> bool:
    """Whether ``strategy`` rings every eligible agent at once."""
    return bool(getattr(strategy, "offers_all", False))
