"""Rate limits for log lines a remote sender can trigger at will.

A failed digest, a stray 2xx, a framing error or a new RTP source is one log line each;
an attacker can send thousands a second, and an unbounded log is a way to fill a disk
or drown the lines that matter. :class:`LogLimiter` lets the first ``burst`` lines of an
event through in each ``window`` seconds and counts the rest; the next line let through
carries ``suppressed=N``, so no occurrence is lost from the record, only its detail.

It takes ``now`` like every core (sans-I/O): the caller passes its clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, field

LogMethod = Callable[..., Any]

LOG_TEXT_LIMIT = 200
"""The most characters of received text a log line carries."""


def bounded(text: str, limit: int = LOG_TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


@define
class _Window:
    start: float
    emitted: int = 0
    suppressed: int = 0


@define
class LogLimiter:
    """At most ``burst`` lines per event name in each ``window`` seconds."""

    burst: int = 10
    window: float = 60.0
    suppressed_total: int = 0
    """Lines held back since start, every event together."""
    _windows: dict[str, _Window] = field(factory=dict)

    def log(self, method: LogMethod, event: str, now: float, **fields: Any) -> bool:
        """Log ``event`` with ``method`` (a bound logger's ``info``, ``warning`` ...)
        unless its budget for the current window is spent; True when it was logged."""
        w = self._windows.get(event)
        if w is None or now - w.start >= self.window:
            held = w.suppressed if w is not None else 0
            w = self._windows[event] = _Window(now, suppressed=held)
        if w.emitted >= self.burst:
            w.suppressed += 1
            self.suppressed_total += 1
            return False
        w.emitted += 1
        if w.suppressed:
            fields["suppressed"] = w.suppressed
            w.suppressed = 0
        method(event, **fields)
        return True
