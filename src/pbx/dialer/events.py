"""What the shell tells the dialer: commands, leads, agents and what became of each call.

Theory of operation
-------------------
Every input of :meth:`pbx.dialer.dialer.Dialer.handle` is one of these frozen values,
passed in with ``now`` (monotonic seconds). Calls are named by the attempt id the dialer
gave them in its ``Dial`` action (``LEAD#N``). The call layer reports, for each attempt:
``AttemptRinging`` (180/183), then either ``AttemptFailed`` with the final SIP status or
``AttemptAnswered`` with the AMD verdict; for a person ``GreetingEnded`` (if it was not
already given with the answer) and ``AgentConnected`` once an agent took the call; for
a machine ``GreetingEnded`` at the beep or silence; and finally ``AttemptEnded``. An
event about an attempt the dialer no longer tracks (a race with a hang-up) is ignored.

Agents' availability comes per campaign from whoever owns agents (the ACD and the
pump): ``AgentAvailable`` when the agent could take one of the campaign's calls now,
``AgentBusy`` with the time their current call started, ``AgentAway`` when paused or
logged out. Blended agents are reported busy while on an inbound call.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import field, frozen

from pbx.dialer.leads import Lead


@frozen
class StartCampaign:
    """Start dialling the campaign (also after a restart, if it was running)."""

    campaign: str


@frozen
class PauseCampaign:
    """Place no new calls; calls in progress go on."""

    campaign: str


@frozen
class ResumeCampaign:
    """Dial again after a pause."""

    campaign: str


@frozen
class StopCampaign:
    """Stop for good: no new calls, preview offers withdrawn; calls in progress go on."""

    campaign: str


def _leads(leads: Iterable[Lead]) -> tuple[Lead, ...]:
    return tuple(leads)


@frozen
class LeadsAdded:
    """Leads for campaigns: fresh from an import, or as stored, after a restart.

    The dialer does not echo them back as ``LeadChanged`` (the shell stores what it
    hands in), except a stored lead whose state it changes: ``dialing`` → ``in_doubt``,
    ``offered`` → ``pending``. Its finished attempts rebuild the abandon windows and the
    72-hour holds. A lead id the dialer already holds is ignored.
    """

    leads: tuple[Lead, ...] = field(converter=_leads)


@frozen
class DncAdded:
    """E.164 ``numbers`` join the do-not-call list ``list_name`` (``global`` for all)."""

    list_name: str
    numbers: tuple[str, ...]


@frozen
class DncRemoved:
    """E.164 ``numbers`` leave the do-not-call list ``list_name``."""

    list_name: str
    numbers: tuple[str, ...]


@frozen
class AgentAvailable:
    """``agent`` can take a call of ``campaign`` now."""

    campaign: str
    agent: str


@frozen
class AgentBusy:
    """``agent`` is busy (on a call, ringing, in wrap-up) since ``since`` (monotonic)."""

    campaign: str
    agent: str
    since: float | None = None
    """When the current call began; ``None``: now."""


@frozen
class AgentAway:
    """``agent`` is paused or logged out."""

    campaign: str
    agent: str


@frozen
class AttemptRinging:
    """The called phone is ringing (180 or 183)."""

    attempt: str


@frozen
class AttemptAnswered:
    """The called party answered; ``amd`` is the verdict once it is known.

    ``human``, ``machine``, ``unsure`` (treated as a person: hanging up on a person is an
    abandon too) or ``none`` (no detection ran: a person is assumed).
    """

    attempt: str
    amd: str = "none"
    greeting_end: float | None = None
    """When the greeting ended (monotonic), if it already did: a verdict comes after the
    greeting, and the two seconds of the abandon rule run from its end."""


@frozen
class GreetingEnded:
    """The answering person's (or machine's: beep or silence) greeting ended now."""

    attempt: str


@frozen
class AgentConnected:
    """``agent`` took the answered call (the ACD's ``ConnectCall``)."""

    attempt: str
    agent: str


@frozen
class AttemptFailed:
    """The call ended unanswered with the final SIP ``sip_status`` (487 after the ring timeout)."""

    attempt: str
    sip_status: int
    reason: str = ""


@frozen
class AttemptEnded:
    """The call ended after ``duration`` seconds from its answer."""

    attempt: str
    duration: float = 0.0


@frozen
class ConfirmationDigit:
    """Agentless: the person pressed ``digit`` in answer to the script."""

    attempt: str
    digit: str


@frozen
class PreviewDecision:
    """Preview: ``agent`` chose to dial ``lead`` (``dial``) or to skip it."""

    agent: str
    lead: str
    dial: bool


@frozen
class Disposition:
    """The agent's wrap-up code and notes for ``lead``'s last call.

    With ``callback_at`` (epoch seconds) the lead is dialled again then (an agent's
    scheduled callback) instead of being done.
    """

    lead: str
    code: str
    notes: str = ""
    callback_at: float | None = None


DialerEvent = (
    StartCampaign
    | PauseCampaign
    | ResumeCampaign
    | StopCampaign
    | LeadsAdded
    | DncAdded
    | DncRemoved
    | AgentAvailable
    | AgentBusy
    | AgentAway
    | AttemptRinging
    | AttemptAnswered
    | GreetingEnded
    | AgentConnected
    | AttemptFailed
    | AttemptEnded
    | ConfirmationDigit
    | PreviewDecision
    | Disposition
)
"""Any input of the dialer."""
