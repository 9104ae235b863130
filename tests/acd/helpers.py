"""Builders for ACD tests: a distributor with agents logged in, and action filters."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import TypeVar

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor
from pbx.acd.models import AgentConfig, Membership, QueueConfig

T = TypeVar("T")


def agents(
    n: int,
    queues: Sequence[str] = ("sales",),
    skills: dict[str, int] | None = None,
    prefix: str = "a",
) -> list[AgentConfig]:
    """``n`` agents a1..an, members of ``queues``, with ``skills``."""
    return [
        AgentConfig(
            id=f"{prefix}{i}",
            name=f"Agent {i}",
            devices=(f"20{i:02d}",),
            skills=dict(skills or {}),
            queues=tuple(Membership(q) for q in queues),
        )
        for i in range(1, n + 1)
    ]


def distributor(
    queues: Iterable[QueueConfig],
    agent_configs: Iterable[AgentConfig],
    *,
    login: bool = True,
    now: float = 0.0,
    seed: int = 1,
) -> Distributor:
    """A distributor with every agent logged in at ``now`` (in list order)."""
    configs = list(agent_configs)
    d = Distributor(list(queues), configs, rng=random.Random(seed))
    if login:
        for a in configs:
            d.handle(ev.AgentLogin(a.id), now)
    return d


def of(kind: type[T], actions: Iterable[act.AcdAction]) -> list[T]:
    """The actions of one type, in order."""
    return [a for a in actions if isinstance(a, kind)]


def offers(actions: Iterable[act.AcdAction]) -> list[tuple[str, str]]:
    """``(call, agent)`` of every OfferToAgent."""
    return [(o.call, o.agent) for o in of(act.OfferToAgent, actions)]


def logs(actions: Iterable[act.AcdAction]) -> list[str]:
    """Queue-log event names, in order."""
    return [r.event for r in of(act.LogEvent, actions)]


def take(d: Distributor, call: str, agent: str, now: float, talk: float) -> list[act.AcdAction]:
    """Answer the offer of ``call`` to ``agent`` at ``now`` and complete it ``talk`` later."""
    out = d.handle(ev.OfferAccepted(call, agent), now)
    out += d.handle(ev.CallCompleted(call, agent, "caller"), now + talk)
    return out
