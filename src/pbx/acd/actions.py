"""What the ACD asks the application to do, and the queue-log rows it writes.

Theory of operation
-------------------
:meth:`pbx.acd.distributor.Distributor.handle` and ``handle_timer`` return lists of these
frozen values, in the order they must be performed. The ACD never touches a call: the
application turns :class:`OfferToAgent` into an outbound leg to the agent's devices,
:class:`ConnectCall` into a bridge, :class:`Announce` into prompts, and so on, and feeds
the outcomes back as events. :class:`LogEvent` rows are the queue log (the names are the
ones contact-center reports expect) and are written to the store in the same step as
the state change they describe.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from pbx.acd.models import AgentState, Target


@frozen
class OfferToAgent:
    """Ring ``agent``'s devices with ``call`` for at most ``ring_timeout`` seconds."""

    call: str
    agent: str
    queue: str
    devices: tuple[str, ...]
    ring_timeout: float
    whisper: str | None
    """Text (the queue name) to whisper to the agent on answer, or ``None``."""
    data: Mapping[str, object]


@frozen
class CancelOffer:
    """Stop ringing ``agent`` with ``call``."""

    call: str
    agent: str


@frozen
class ConnectCall:
    """Bridge the caller to the agent who answered; record if asked."""

    call: str
    agent: str
    record: bool


@frozen
class Announce:
    """Tell the caller their position and estimated wait (seconds), then resume hold."""

    call: str
    position: int
    ewt_seconds: float


@frozen
class PlayHold:
    """Play hold music of ``music_class`` to the caller."""

    call: str
    music_class: str


@frozen
class Overflow:
    """Send the caller out of the queue to ``target``: ``timeout``, ``full``, ``empty``, ``key``."""

    call: str
    target: Target
    reason: str


@frozen
class RejectCall:
    """Refuse the caller (busy): ``full``, ``empty`` or ``timeout`` with nowhere to go."""

    call: str
    reason: str


@frozen
class OfferCallback:
    """Offer the caller a callback that keeps their place (press the callback key)."""

    call: str


@frozen
class PlaceCallback:
    """``agent`` is reserved for the callback: ring them, then call ``number`` back."""

    call: str
    agent: str
    number: str
    data: Mapping[str, object]


@frozen
class AgentStateChanged:
    """An agent's state changed (for phones' presence lamps and wallboards)."""

    agent: str
    state: AgentState
    reason: str


@frozen
class LogEvent:
    """One queue-log row: ENTERQUEUE, OFFER, CONNECT, ABANDON, AGENTLOGIN, PAUSE ..."""

    time: float
    event: str
    call: str = ""
    queue: str = ""
    agent: str = ""
    data: Mapping[str, object] = field(factory=dict)


AcdAction = (
    OfferToAgent
    | CancelOffer
    | ConnectCall
    | Announce
    | PlayHold
    | Overflow
    | RejectCall
    | OfferCallback
    | PlaceCallback
    | AgentStateChanged
    | LogEvent
)
"""Any output of the distributor."""
