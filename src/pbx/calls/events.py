"""What the call layer tells the application and its modules (ACD, IVR, dialer).

A leg's outcome — answered, failed, ended — is one event carrying the leg's
:class:`Purpose`: the module that dialled it matches on the purpose's ``kind`` and
``ref`` instead of storing a closure on the leg. The call layer carries out the two
purposes it owns itself (``connect`` and ``transfer``) before the event is handed on.
"""

from __future__ import annotations

from attrs import frozen

from pbx.calls.dialplan import Target
from pbx.calls.identity import CallerIdentity


@frozen
class Purpose:
    """Why a leg was dialled; its outcome events carry it back to whoever dialled.

    ``kind`` names the use. The call layer runs two itself: ``connect`` (the B2BUA: bridge
    with ``peer`` when the leg answers — answering ``peer`` first if it still rings — and
    pass the failure on to ``peer`` when it does not; extension, trunk and SIP URI
    targets) and ``transfer`` (the target of a blind transfer of ``peer``; ``ref`` is the
    transferor's leg). Modules name their own: the queues ``offer`` (to ``agent``, for
    the ACD call ``ref``), ``operator``, ``callback-agent`` and ``callback-customer``;
    stored callbacks ``callback`` (row ``ref``); the dialer its campaign attempts.
    """

    kind: str
    ref: str = ""
    peer: str | None = None
    """The leg this one is placed for (bridged with it, or standing in for it)."""
    agent: str | None = None
    """The agent whose phone the leg rings, when it rings one."""
    fallback: str | None = None
    """For ``connect``: where ``peer`` goes instead when the leg is not answered, busy
    or unreachable (``voicemail:BOX``), rather than hearing the failure."""


@frozen
class CallStarted:
    """A new inbound call was routed to ``target``."""

    call: str
    leg: str
    target: Target
    number: str
    caller: CallerIdentity
    origin: str
    """``trunk`` or ``user``."""


@frozen
class LegAnswered:
    """A leg was answered (ours: we answered an inbound leg; theirs: an outbound one)."""

    call: str
    leg: str
    purpose: Purpose | None = None
    """Why the leg was dialled (None for inbound legs)."""


@frozen
class LegRinging:
    """An outbound leg's far end rings (its first 180 or 183)."""

    call: str
    leg: str
    purpose: Purpose | None = None


@frozen
class LegFailed:
    """An outbound leg failed: busy, no answer, rejected, ring timeout (408), the
    extension not registered (480), no media port or trunk (503)."""

    call: str
    leg: str
    status: int
    reason: str
    purpose: Purpose | None = None


@frozen
class LegEnded:
    """A leg ended (BYE from either side, cancel, rejection)."""

    call: str
    leg: str
    by: str
    """``remote`` or ``local``."""
    purpose: Purpose | None = None


@frozen
class CallRouted:
    """``call`` (its leg ``leg``) was sent to a target the call layer does not run itself
    (a queue, an IVR, voicemail, feature codes, an application route): the module
    registered for ``target.kind`` takes it from here."""

    call: str
    leg: str
    target: Target


@frozen
class CallEnded:
    """Every leg of a call ended; its CDR row is final."""

    call: str
    disposition: str


@frozen
class DigitReceived:
    """The caller on ``leg`` pressed ``digit`` (RFC 4733, SIP INFO or in-band)."""

    call: str
    leg: str
    digit: str
    source: str


@frozen
class PlaybackDone:
    """What was playing to ``leg`` finished (``completed`` False when it was stopped)."""

    call: str
    leg: str
    prompt: str
    completed: bool


@frozen
class AnsweringMachine:
    """Answering-machine detection on ``leg`` decided: ``verdict`` is ``human``,
    ``machine`` or ``not_sure`` (``reason`` says which rule), after ``seconds``."""

    call: str
    leg: str
    verdict: str
    reason: str
    seconds: float


@frozen
class MachineGreetingEnded:
    """The answering machine on ``leg`` finished its greeting (``by`` beep, silence or
    timeout): the moment to leave a message."""

    call: str
    leg: str
    by: str


@frozen
class HoldChanged:
    """``leg``'s party was put on hold (``held``) or taken off it; ``by`` is ``pbx``
    (an operation, e.g. the agent desktop's hold button) or ``phone`` (a re-INVITE)."""

    call: str
    leg: str
    held: bool
    by: str


@frozen
class RecordingDone:
    """A recording was finalised."""

    call: str
    key: str
    path: str
    seconds: float


@frozen
class TransferRequested:
    """A phone asked to transfer ``leg``'s peer to ``target`` (REFER)."""

    call: str
    leg: str
    target: str
    replaces: str | None


@frozen
class ConferenceChanged:
    """A conference room changed: ``change`` is ``joined``, ``left``, ``removed``,
    ``muted`` or ``unmuted`` (for the member on ``leg``), or ``locked``/``unlocked``
    (``call`` and ``leg`` empty); ``members`` is how many are in the room now."""

    call: str
    leg: str
    room: str
    change: str
    members: int
    locked: bool


CallEvent = (
    CallStarted
    | CallRouted
    | LegAnswered
    | LegRinging
    | LegFailed
    | LegEnded
    | CallEnded
    | DigitReceived
    | PlaybackDone
    | AnsweringMachine
    | MachineGreetingEnded
    | RecordingDone
    | HoldChanged
    | TransferRequested
    | ConferenceChanged
)
