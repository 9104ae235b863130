"""What the shell tells an IVR runner: keys, playback and lookup outcomes, hang-up.

Theory of operation: the call layer (or a test) turns what happens on the call into
these values and passes them to :meth:`IvrRunner.handle` with ``now``.  ``seq`` fields
echo the ``seq`` of the :class:`~pbx.ivr.actions.Play` or
:class:`~pbx.ivr.actions.Lookup` they answer, so an outcome that arrives after the
runner has moved on (a prompt that finished in the same tick a key stopped it, a lookup
that came back after its timeout) is recognised and ignored; ``None`` means "the
current one".
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

__all__ = [
    "Digit",
    "HungUp",
    "IvrEvent",
    "LookupFailed",
    "LookupResult",
    "PlayEnded",
    "RecordingDone",
]


@frozen
class Digit:
    """The caller pressed a key (RFC 4733 event, SIP INFO or in-band DTMF)."""

    #: One of ``0-9 * # A-D``.
    digit: str


@frozen
class PlayEnded:
    """The prompt of a :class:`~pbx.ivr.actions.Play` finished."""

    #: The ``seq`` of the Play (None: the current one).
    seq: int | None = None
    #: False when the prompt was stopped rather than played to its end.
    completed: bool = True


@frozen
class LookupResult:
    """A :class:`~pbx.ivr.actions.Lookup` answered; an empty mapping means not found."""

    data: Mapping[str, object] = field(factory=dict, hash=False)
    seq: int | None = None


@frozen
class LookupFailed:
    """A :class:`~pbx.ivr.actions.Lookup` failed (error, HTTP status, SQL error)."""

    reason: str
    seq: int | None = None


@frozen
class RecordingDone:
    """The recording started by :class:`~pbx.ivr.actions.StartRecording` was closed."""

    path: str
    seconds: float


@frozen
class HungUp:
    """The caller hung up."""


IvrEvent = Digit | PlayEnded | LookupResult | LookupFailed | RecordingDone | HungUp
