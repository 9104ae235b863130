"""Configuration overrides that make contact-center tests fast.

Theory of operation
-------------------
The example's queue timers are a contact center's (ring 15 s, wrap-up 5 s, an
announcement every 30 s, a callback offer after 5 min); a test that waited for them
would take minutes. :func:`with_queues` returns the same :class:`~pbx.config.AppConfig`
with some keys of some ``[queues.NAME]`` tables replaced, before the
:class:`~pbx.testing.harness.Harness` starts it; :data:`FAST` is a set of timers that
keeps every behaviour (ring-no-answer, wrap-up, announcements, overflow) observable in
seconds. Keys are checked by the application as in a TOML file, so a misspelt key is a
:class:`~pbx.errors.ConfigError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import evolve

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
    """``config`` with the given keys of each named queue replaced, e.g.
    ``with_queues(config, sales={"ring_timeout": 2, "wrap_up": 1})``. A key set to
    ``None`` is removed (back to the queue's default)."""
    tables = {name: dict(table) for name, table in config.queues.items()}
    for name, overrides in queues.items():
        if name not in tables:
            raise ConfigError(f"{config.source}: queues.{name}: no such queue to override")
        for key, value in overrides.items():
            if value is None:
                tables[name].pop(key, None)
            else:
                tables[name][key] = value
    return evolve(config, queues=tables)


def fast_queues(config: AppConfig, **queues: Mapping[str, Any]) -> AppConfig:
    """``config`` with :data:`FAST` timers in every queue (only the timers the queue
    sets: a queue without a callback offer does not get one), then ``queues``'
    overrides."""
    fast = with_queues(
        config,
        **{
            name: {k: v for k, v in FAST.items() if k in table}
            for name, table in config.queues.items()
        },
    )
    return with_queues(fast, **queues)
