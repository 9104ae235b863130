"""Configuration overrides that make contact-center tests fast.

Theory of operation
-------------------
The example's queue timers are a contact center's (ring 15 s, wrap-up 5 s, an
announcement every 30 s, a callback offer after 5 min); a test that waited for them
would take minutes. :func:`with_queues` returns the same :class:`~pbx.config.AppConfig`
with some settings of some queues replaced, before the
:class:`~pbx.testing.harness.Harness` starts it; :data:`FAST` is a set of timers that
keeps every behaviour (ring-no-answer, wrap-up, announcements, overflow) observable in
seconds. A misspelt key is a :class:`~pbx.errors.ConfigError` naming it, and the
application checks the result as it checks a loaded file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from pbx.acd.models import QueueConfig
from pbx.config import AppConfig
from pbx.errors import ConfigError

__all__ = ["FAST", "fast_queues", "with_queues"]

FAST: Mapping[str, Any] = {
    "ring_timeout": 2,
    "wrap_up": 1,
    "announce_period": 600,
    "callback_after": 600,
    "max_wait": 600,
}
"""Timers for tests: ring 2 s, wrap-up 1 s; announcements, the callback offer and the
overflow far away (turn on the one a test is about with :func:`with_queues`)."""


def with_queues(config: AppConfig, **queues: Mapping[str, Any]) -> AppConfig:
    """``config`` with the given settings of each named queue replaced, e.g.
    ``with_queues(config, sales={"ring_timeout": 2, "wrap_up": 1})``. Keys are the
    attributes of :class:`~pbx.acd.models.QueueConfig`; a key set to ``None`` goes back
    to the queue's default."""
    tables = dict(config.queues)
    for name, overrides in queues.items():
        queue = tables.get(name)
        if queue is None:
            raise ConfigError(f"{config.source}: queues.{name}: no such queue to override")
        known = attrs.fields_dict(QueueConfig)
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known or key == "name":
                raise ConfigError(f"{config.source}: queues.{name}.{key}: unknown key")
            changes[key] = _default(known[key]) if value is None else value
        tables[name] = attrs.evolve(queue, **changes)
    return attrs.evolve(config, queues=tables)


def _default(attribute: attrs.Attribute[Any]) -> Any:
    """The value an attribute takes when it is not given (its factory's, if any)."""
    default = attribute.default
    factory = getattr(default, "factory", None)
    return factory() if callable(factory) else default


def fast_queues(config: AppConfig, **queues: Mapping[str, Any]) -> AppConfig:
    """``config`` with :data:`FAST` timers in every queue (only the timers the queue
    has: a queue without a callback offer does not get one), then ``queues``'
    overrides."""
    fast = with_queues(
        config,
        **{
            name: {k: v for k, v in FAST.items() if getattr(queue, k) is not None}
            for name, queue in config.queues.items()
        },
    )
    return with_queues(fast, **queues)
