"""What a simulation reports when the pbx did not do what a test waited for.

Both are :class:`AssertionError` subclasses, so pytest shows them as test failures, and
each message says what was awaited, for how long, and what happened instead, e.g.
``timed out after 2.0 s waiting for call to 600 to be answered: it failed with
404 Not Found``.
"""

from __future__ import annotations

from typing import Protocol


class WaitTimeout(AssertionError):
    """A wait of the harness or of a simulated phone ran out of time."""

    def __init__(self, what: str, timeout: float, instead: str = "") -> None:
        message = f"timed out after {timeout:g} s waiting for {what}"
        if instead:
            message += f": {instead}"
        super().__init__(message)
        self.what = what
        self.timeout = timeout
        self.instead = instead


class SimulationError(AssertionError):
    """A simulated phone was asked for something its call's state does not allow, or the
    pbx answered in a way that makes the step impossible (e.g. no telephone-event)."""


class _EndedCall(Protocol):
    state: str
    status: int | None
    reason: str

    def describe(self) -> str: ...

    def describe_state(self) -> str: ...


def failure_status(call: _EndedCall, expected: int | None) -> int:
    """The final failure status of a ``call`` that ended, checked against ``expected``
    when given; raises :class:`SimulationError` when it did not fail (or not so)."""
    if call.state != "failed" or call.status is None:
        raise SimulationError(f"{call.describe()} did not fail: {call.describe_state()}")
    if expected is not None and call.status != expected:
        raise SimulationError(
            f"{call.describe()} failed with {call.status} {call.reason}, expected {expected}"
        )
    return call.status
