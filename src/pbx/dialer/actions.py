"""What the dialer asks the shell to do, in order.

Theory of operation
-------------------
:meth:`pbx.dialer.dialer.Dialer.handle` and ``handle_timer`` return lists of these
frozen values, to be performed in order. The dialer never touches a call: the call layer
turns :class:`Dial` into an outbound leg over the trunk, :class:`Enqueue` into an ACD
``CallQueued`` (the call id is the attempt id), :class:`RunScript` into an IVR run, and
so on, and reports the outcomes back as :mod:`pbx.dialer.events`.

Durability: :class:`LeadChanged` carries the lead as the dialer now holds it and must be
stored before the actions after it are performed. A :class:`Dial` always follows the
``LeadChanged`` that records its attempt as in progress, so a crash between the two
leaves a lead marked ``dialing`` that was perhaps never called, never one that was
called but not marked: after a restart such a lead is held, not dialled again blindly.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from pbx.dialer.leads import Lead
from pbx.dialer.pacing import PacingDecision


@frozen
class Dial:
    """Call ``number`` over ``trunk``; give up (CANCEL) after ``ring_timeout`` seconds."""

    attempt: str
    lead: str
    number: str
    """E.164."""
    trunk: str
    caller_id: str
    ring_timeout: float
    campaign: str
    agent: str | None = None
    """Preview: the agent who dialled, whose leg places the call and takes the answer."""
    amd: bool = False
    """Run answering-machine detection on the answer."""


@frozen
class OfferPreview:
    """Show ``agent`` the lead to dial or skip (answered with ``PreviewDecision``)."""

    agent: str
    lead: str
    campaign: str
    number: str
    data: Mapping[str, str]
    timeout: float | None
    """Seconds after which the lead is dialled if the agent decided nothing."""


@frozen
class WithdrawPreview:
    """Take the offer of ``lead`` back from ``agent`` (paused, stopped, timed out)."""

    agent: str
    lead: str


@frozen
class ConnectToAgent:
    """Bridge the answered call to ``agent``, who is waiting for it (preview)."""

    attempt: str
    agent: str
    campaign: str
    data: Mapping[str, str]
    wrap_up: float


@frozen
class Enqueue:
    """Hand the answered call to the ACD queue ``queue`` (``CallQueued``, id ``attempt``).

    The dialer gives the ACD two seconds from the greeting's end; after that it sends
    :class:`PlayAbandonMessage`, and the shell takes the call out of the queue.
    """

    attempt: str
    queue: str
    priority: int
    campaign: str
    data: Mapping[str, str]
    """The lead's data with ``lead`` and ``campaign``: the agent's screen pop."""
    wrap_up: float


@frozen
class PlayAbandonMessage:
    """No agent in time: take the call out of the queue, play ``message``, hang up."""

    attempt: str
    message: str


@frozen
class RunScript:
    """Agentless: run the IVR ``script`` for the person, with the lead's variables."""

    attempt: str
    script: str
    campaign: str
    variables: Mapping[str, str]


@frozen
class LeaveMessage:
    """The machine's greeting ended: play ``message`` (a prompt or IVR), then hang up."""

    attempt: str
    message: str
    variables: Mapping[str, str]


@frozen
class HangUp:
    """End the call: ``machine``, ``dnc`` (listed while ringing), ``stuck`` (no outcome)."""

    attempt: str
    reason: str


@frozen
class LeadChanged:
    """Store ``lead`` as it now is, before performing the actions that follow."""

    lead: Lead


@frozen
class CampaignStateChanged:
    """The campaign is now ``state`` (``idle``, ``running``, ``paused``, ``stopped``)."""

    campaign: str
    state: str
    reason: str = ""


@frozen
class PacingLogged:
    """One pacing decision, with the inputs it used and how many calls were placed."""

    campaign: str
    time: float
    """Epoch seconds."""
    decision: PacingDecision
    placed: int
    """Calls (or preview offers) actually placed: fewer when leads or lines ran out."""


DialerAction = (
    Dial
    | OfferPreview
    | WithdrawPreview
    | ConnectToAgent
    | Enqueue
    | PlayAbandonMessage
    | RunScript
    | LeaveMessage
    | HangUp
    | LeadChanged
    | CampaignStateChanged
    | PacingLogged
)
"""Any output of the dialer."""
