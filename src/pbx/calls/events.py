"""What the call layer tells the application and its modules (ACD, IVR, dialer)."""

from __future__ import annotations

from attrs import frozen

from pbx.calls.dialplan import Target
from pbx.calls.identity import CallerIdentity


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


@frozen
class LegFailed:
    """An outbound leg failed (busy, no answer, rejected, timeout)."""

    call: str
    leg: str
    status: int
    reason: str


@frozen
class LegEnded:
    """A leg ended (BYE from either side, cancel, rejection)."""

    call: str
    leg: str
    by: str
    """``remote`` or ``local``."""


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


CallEvent = (
    CallStarted
    | LegAnswered
    | LegFailed
    | LegEnded
    | CallEnded
    | DigitReceived
    | PlaybackDone
    | RecordingDone
    | TransferRequested
)
