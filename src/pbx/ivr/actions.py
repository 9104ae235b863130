"""What an IVR runner asks the shell to do.

Theory of operation: :meth:`IvrRunner.start`, :meth:`~IvrRunner.handle` and
:meth:`~IvrRunner.handle_timer` return lists of these values in the order they are to
be carried out.  The runner does no I/O: it never plays, looks up or records anything
itself.  The shell maps each action onto the call layer (``Play`` →
``CallManager.play``; ``SetData`` → ``Call.data``), the ACD (``Enqueue``) or a worker
thread (``Lookup``), and reports the outcome back as an event.  A run ends with exactly
one :class:`Finished`, after the terminal action (``Enqueue``, ``Transfer``,
``Voicemail``, ``Hangup``) or on the caller's hang-up.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from pbx.ivr.nodes import PlayEntry

__all__ = [
    "Enqueue",
    "Finished",
    "Hangup",
    "IvrAction",
    "Lookup",
    "Play",
    "RequestCallback",
    "SetData",
    "StartRecording",
    "StopPlayback",
    "StopRecording",
    "Transfer",
    "Voicemail",
]


@frozen
class Play:
    """Play ``items`` (prompt names already resolved per language, tones, silences)."""

    items: tuple[PlayEntry, ...]
    #: A key from the caller may stop it (the shell passes the key on as a Digit anyway).
    interruptible: bool = True
    #: Echoed in :class:`~pbx.ivr.events.PlayEnded`.
    seq: int = 0


@frozen
class StopPlayback:
    """Stop the prompt that is playing."""


@frozen
class SetData:
    """Attach ``key = value`` to the call's data (agent screen, CDR)."""

    key: str
    value: object = field(hash=False)


@frozen
class Lookup:
    """Run a lookup off the event loop; answer with LookupResult or LookupFailed."""

    #: ``"python"``, ``"http"`` or ``"sql"``.
    kind: str
    #: Registered function name, URL, or configured database name.
    name: str
    params: Mapping[str, object] = field(factory=dict, hash=False)
    #: Seconds the runner waits before taking the error branch.
    timeout: float = 5.0
    #: The SQL query with ``:name`` parameters (``kind == "sql"``).
    query: str = ""
    #: Echoed in the result event.
    seq: int = 0


@frozen
class StartRecording:
    """Start recording the caller (after a beep when ``beep``), at most ``max_seconds``."""

    max_seconds: float
    beep: bool = True


@frozen
class StopRecording:
    """Stop the recording; the shell answers with RecordingDone."""


@frozen
class Enqueue:
    """Put the caller into an ACD queue (ends the IVR)."""

    queue: str
    priority: int = 0
    #: Skill → minimum level.
    skills: Mapping[str, int] = field(factory=dict, hash=False)


@frozen
class Transfer:
    """Transfer the caller (ends the IVR): kind ``agent``, ``extension``, ``external``
    or ``operator`` (ring every logged-in agent; target "")."""

    kind: str
    target: str = ""


@frozen
class Voicemail:
    """Send the caller to voicemail box ``mailbox`` (ends the IVR)."""

    mailbox: str


@frozen
class RequestCallback:
    """Register a callback request to ``number`` in time slot ``slot`` ("" = asap)."""

    number: str
    slot: str = ""


@frozen
class Hangup:
    """Hang up the call (ends the IVR)."""


@frozen
class Finished:
    """The run ended: why, at which node, and every node visited (drop-off reports)."""

    #: ``"queue"``, ``"transfer"``, ``"voicemail"``, ``"completed"`` (a hangup node),
    #: ``"hangup"`` (the caller hung up) or ``"error"``.
    reason: str
    node: str
    path: tuple[str, ...]


IvrAction = (
    Play
    | StopPlayback
    | SetData
    | Lookup
    | StartRecording
    | StopRecording
    | Enqueue
    | Transfer
    | Voicemail
    | RequestCallback
    | Hangup
    | Finished
)
