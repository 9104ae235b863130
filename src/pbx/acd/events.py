"""What the application tells the ACD: callers, offers' outcomes and agents' wishes.

Theory of operation
-------------------
Every input to :meth:`pbx.acd.distributor.Distributor.handle` is one of these frozen
values; the application (or the call layer) builds them from SIP, media and feature-code
events and passes them in with ``now``. Ids are plain strings: a call id and an agent id.
An event about a call that is no longer in the queue (a race between a hang-up and an
answer) is ignored; an unknown agent id is a programming error.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from pbx.acd.models import Target


@frozen
class CallQueued:
    """A caller joins ``queue``."""

    call: str
    queue: str
    priority: int = 0
    skills: Mapping[str, int] = field(factory=dict)
    """Call-specific required skills, added to the queue's (e.g. ``{"russian": 1}``)."""
    data: Mapping[str, object] = field(factory=dict)
    """Attached data shown to the agent with the offer (IVR input, CRM id ...)."""
    caller: str = ""
    """The caller's number (priority rules, callback)."""


@frozen
class CallAbandoned:
    """The caller hung up while waiting or while being offered."""

    call: str


@frozen
class OfferRinging:
    """The agent's phone is ringing with the offer."""

    call: str
    agent: str


@frozen
class OfferAccepted:
    """The agent answered the offer (or, for a callback, the caller answered)."""

    call: str
    agent: str


@frozen
class OfferFailed:
    """An offer failed: ``no_answer``, ``busy``, ``rejected`` or ``unavailable``."""

    call: str
    agent: str
    reason: str


@frozen
class CallCompleted:
    """A connected call ended; ``by`` is ``caller`` or ``agent``."""

    call: str
    agent: str
    by: str


@frozen
class CallTransferred:
    """The agent transferred the call to ``target`` and is free of it."""

    call: str
    agent: str
    target: str


@frozen
class CallHeld:
    """The agent put the call on hold."""

    call: str
    agent: str


@frozen
class CallResumed:
    """The agent took the call off hold."""

    call: str
    agent: str


@frozen
class AgentLogin:
    """The agent logs in to ``queues`` (``None``: every queue they are a member of)."""

    agent: str
    queues: tuple[str, ...] | None = None


@frozen
class AgentLogout:
    """The agent logs out (after the current call, if any)."""

    agent: str


@frozen
class AgentPause:
    """The agent becomes not ready with ``reason`` (after the current call, if any)."""

    agent: str
    reason: str = "pause"


@frozen
class AgentUnpause:
    """The agent becomes ready again."""

    agent: str


@frozen
class AgentReady:
    """The agent ends wrap-up early."""

    agent: str


@frozen
class DeviceUnavailable:
    """The agent's phone lost its registration; the agent is logged out after a grace."""

    agent: str


@frozen
class DeviceAvailable:
    """The agent's phone registered again."""

    agent: str


@frozen
class PriorityChanged:
    """A waiting caller's priority changes (it keeps its arrival time)."""

    call: str
    priority: int


@frozen
class CallbackRequested:
    """The caller asked to be called back at ``number`` keeping their place, and hung up."""

    call: str
    number: str


@frozen
class CallbackCompleted:
    """The callback conversation took place and ended."""

    call: str
    agent: str


@frozen
class CallbackFailed:
    """The caller could not be reached on the callback."""

    call: str
    agent: str
    reason: str = "no_answer"


@frozen
class KeyPressed:
    """The waiting caller pressed ``digit``."""

    call: str
    digit: str


@frozen
class DirectCallStarted:
    """The agent answered a call the ACD did not distribute (their extension dialled
    directly, a click-to-call or a preview campaign's call): a ready agent is on that
    call (``on_call``, reason ``direct``) and offered no queue call until it ends."""

    agent: str
    call: str


@frozen
class DirectCallEnded:
    """The agent's direct call ended; ``wrap_up`` seconds of after-call work follow
    (a campaign's wrap-up), none when it is ``None`` or ``0``."""

    agent: str
    call: str
    wrap_up: float | None = None


@frozen
class CallMoved:
    """A supervisor sends the waiting caller elsewhere (another queue, an IVR, voicemail
    or a number): they leave the queue (``EXITMOVED``) as an overflow would."""

    call: str
    target: Target


@frozen
class MembershipChanged:
    """The agent joins ``queue`` with ``penalty`` (a member already: a new tier), or
    leaves it (``member`` false) — at run time, over the configured membership."""

    agent: str
    queue: str
    member: bool = True
    penalty: int = 0
    weight: float = 1.0


def _levels(skills: Mapping[str, int]) -> dict[str, int]:
    return dict(skills)


@frozen
class SkillsChanged:
    """The agent's skill levels are now ``skills`` (replacing the configured ones)."""

    agent: str
    skills: Mapping[str, int] = field(converter=_levels)


AcdEvent = (
    CallQueued
    | CallAbandoned
    | OfferRinging
    | OfferAccepted
    | OfferFailed
    | CallCompleted
    | CallTransferred
    | CallHeld
    | CallResumed
    | AgentLogin
    | AgentLogout
    | AgentPause
    | AgentUnpause
    | AgentReady
    | DeviceUnavailable
    | DeviceAvailable
    | PriorityChanged
    | CallbackRequested
    | CallbackCompleted
    | CallbackFailed
    | KeyPressed
    | DirectCallStarted
    | DirectCallEnded
    | MembershipChanged
    | SkillsChanged
    | CallMoved
)
"""Any input of the distributor."""
