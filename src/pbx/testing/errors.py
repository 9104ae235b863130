"""What a simulation reports when the pbx did not do what a test waited for.

Both are :class:`AssertionError` subclasses, so pytest shows them as test failures, and
each message says what was awaited, for how long, and what happened instead, e.g.
``timed out after 2.0 s waiting for call to 600 to be answered: it failed with
404 Not Found``.
"""

from __future__ import annotations


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
