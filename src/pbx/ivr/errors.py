"""Errors of the IVR: a graph that cannot take calls, an expression that cannot parse.

Theory of operation: every problem found while building or loading a graph is a
sentence naming the node (and, for a TOML file, the file) and what is wrong, e.g.
``node 'menu': option '3' goes to unknown node 'balnce'``.  The validator collects
all of them; :class:`IvrGraphError` keeps the list in :attr:`IvrGraphError.problems`
and its message is the sentences joined by ``"; "``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pbx.errors import ConfigError

__all__ = ["IvrExpressionError", "IvrGraphError"]


class IvrGraphError(ConfigError):
    """An IVR graph is invalid; the message names the node (and file) and the problem."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class IvrExpressionError(ValueError):
    """An IVR expression does not parse; the message says where and why."""
