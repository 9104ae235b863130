"""The estimated wait announced with a caller's position, and the handle time behind it.

Theory of operation
-------------------
Estimated wait::

    EWT = position / max(1, staffed agents) × AHT

where staffed agents are the queue's logged-in members who are not paused and AHT is the
rolling mean handle time (talk + wrap-up) of the queue's last ``aht_window`` calls, or
``default_aht`` until ``aht_min_samples`` calls were handled. With every agent busy and
exponential handle times the n-th caller waits for n departures at rate staffed/AHT,
so the formula is the M/M/N expectation; averaged over the waiting positions of the
Erlang C model it gives Erlang C's ASA (``tests/acd/test_erlang.py`` checks this).
"""

from __future__ import annotations

from pbx.acd.state import QueueState


def aht(q: QueueState) -> float:
    """The queue's rolling average handle time (talk + wrap-up), seconds."""
    if len(q.handle_times) < q.config.aht_min_samples:
        return q.config.default_aht
    return sum(q.handle_times) / len(q.handle_times)


def estimated_wait(q: QueueState, position: int) -> float:
    """The estimated wait, seconds, of the caller at ``position`` in ``q``."""
    return position / max(1, q.staffed) * aht(q)
