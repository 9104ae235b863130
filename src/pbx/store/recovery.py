"""Completing the records of the calls a crash interrupted.

Theory of operation
-------------------
Every state change is committed when it is made (:mod:`pbx.store.db`), so after a
``kill -9`` the store holds everything that happened until the process died. A call that
was in progress then has only its opening records: a CDR row ``in_progress`` without end
time, agent, queue or recording (the call manager writes those when the call ends), a
recording ``<recordings>/YYYYMMDD/<call id>.wav.part`` that the recorder was appending to
(:mod:`pbx.media.recorder`), and queue-log rows that open a visit to a queue and never
close it. At start-up the store completes each such call (:func:`complete_call`, a pure
function of the rows and of what the recording file says):

* ``end_time`` is the last thing known about the call: the latest of its start and answer
  times, its latest queue-log row and its recording's last write (the file's
  modification time, which recovery keeps, and the recording's start plus its length);
* ``agent`` is the agent its last ``CONNECT`` names (or ``CALLBACKDONE``: the agent who
  answered a callback offer); an agent who was only offered the call is no agent of it;
* ``queue`` is the queue of its last queue-log row;
* ``recording`` is the recovered file (the ``.part`` repaired and renamed by
  :func:`pbx.media.recorder.recover_recording`), when one readable by libsndfile exists;
* ``ring_seconds`` and ``talk_seconds`` follow from the start, answer and end times.

The queue log balances per visit. A visit opens with ``ENTERQUEUE`` and has exactly one
outcome: ``CONNECT`` (connected), ``ABANDON`` (abandoned), ``EXITWITHTIMEOUT``,
``EXITWITHKEY`` or ``EXITEMPTY`` (sent on), ``CALLBACKREQUESTED`` (called back: the
caller left keeping their place); a ``CONNECT`` (also one that ends a callback, which
has no ``ENTERQUEUE`` of its own) has exactly one end: ``COMPLETEAGENT``,
``COMPLETECALLER``, ``TRANSFER`` or ``COMPLETEINTERRUPTED``. So entered = connected +
abandoned + sent on + called back + still waiting, and after recovery nothing is still
waiting. A visit the crash left open gets its outcome at the call's end time:

* a caller still waiting (or being offered): ``ABANDON`` with
  ``{"reason": "interrupted", "wait": …, "original_position": …}``;
* a connected call: ``COMPLETEINTERRUPTED`` with
  ``{"reason": "interrupted", "wait": …, "talk": …, "position": …}`` (the only event type
  recovery adds: neither the agent nor the caller completed the call).

Agents' sessions balance too: every ``AGENTLOGIN`` in a queue is followed by one
``AGENTLOGOFF``. A session the crash left open is closed with ``AGENTLOGOFF``
``{"reason": "interrupted"}`` at the last moment the store knows of (its latest queue-log
row or CDR time), so login time and occupancy never run on through the outage.

Rows are keyed by the call's id; an overflow into a second queue may log its last rows
as ``<call id>:<queue>``, and those count as the call's too. Recovery runs in one
transaction and only on rows still without an end time, so a second start finds nothing
to do.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import soundfile as sf
import structlog
from attrs import field, frozen

from pbx.media.recorder import PART_SUFFIX, RecordingError, recover_recording

__all__ = [
    "CALLER_LEFT",
    "COMPLETE_INTERRUPTED",
    "INTERRUPTED",
    "SESSION_EVENTS",
    "TALK_ENDED",
    "Completion",
    "InterruptedCall",
    "LogRow",
    "RecordingFile",
    "close_agent_sessions",
    "complete_call",
    "find_recording",
]

log = structlog.get_logger(__name__)

#: The reason written on every closing event recovery adds.
INTERRUPTED = "interrupted"
#: The one queue-log event type recovery adds: a connected call the crash ended.
COMPLETE_INTERRUPTED = "COMPLETEINTERRUPTED"
#: Outcomes of a visit that end it without an agent.
CALLER_LEFT = frozenset(
    {"ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "CALLBACKREQUESTED"}
)
#: Ends of a connected call.
TALK_ENDED = frozenset({"COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", COMPLETE_INTERRUPTED})
_EXTENSIONS = (".wav", ".flac")


@frozen
class LogRow:
    """One queue-log row of a call, as stored."""

    #: Wall-clock time of the event.
    time: float
    #: ENTERQUEUE, OFFER, CONNECT, ABANDON ...
    event: str
    #: The call's id (or ``<call id>:<queue>`` after an overflow).
    call_id: str
    queue: str | None = None
    agent: str | None = None
    #: The event's details (``wait``, ``position`` ...).
    data: Mapping[str, Any] = field(factory=dict)


@frozen
class RecordingFile:
    """What a recording file on disk says about its call."""

    #: The final path (never a ``.part``).
    path: str
    #: Its length in seconds.
    seconds: float
    #: Wall-clock time of its last write (its modification time).
    modified: float


@frozen
class InterruptedCall:
    """The columns of a CDR row that recovery reads."""

    #: The row's id.
    row: int
    call_id: str
    start_time: float
    answer_time: float | None = None
    agent: str | None = None
    queue: str | None = None
    recording: str | None = None
    ring_seconds: float | None = None
    talk_seconds: float | None = None


@frozen
class Completion:
    """What recovery writes for one interrupted call."""

    #: The CDR row's id.
    row: int
    #: CDR columns to set.
    values: Mapping[str, Any]
    #: Closing queue-log events to append, at the call's end time.
    events: tuple[LogRow, ...]

    @property
    def abandoned(self) -> int:
        """Waiting callers closed with ABANDON."""
        return sum(1 for e in self.events if e.event == "ABANDON")

    @property
    def completed(self) -> int:
        """Connected calls closed with COMPLETEINTERRUPTED."""
        return sum(1 for e in self.events if e.event == COMPLETE_INTERRUPTED)


@frozen
class _Open:
    """A visit to a queue still open after the last row: who entered, who connected."""

    queue: str | None
    entered: LogRow | None
    connected: LogRow | None


def _open_visits(rows: Sequence[LogRow]) -> list[_Open]:
    """Per queue, the visit the rows leave open (if any), in the order of the rows."""
    state: dict[str | None, tuple[LogRow | None, LogRow | None]] = {}
    for row in rows:
        entered, connected = state.get(row.queue, (None, None))
        if row.event == "ENTERQUEUE":
            state[row.queue] = (row, None)
        elif row.event == "CONNECT":
            state[row.queue] = (entered, row)
        elif row.event in TALK_ENDED and connected is not None:
            state.pop(row.queue, None)
        elif row.event in CALLER_LEFT and entered is not None and connected is None:
            state.pop(row.queue, None)
    return [_Open(queue, e, c) for queue, (e, c) in state.items() if e or c]


def complete_call(
    call: InterruptedCall, rows: Iterable[LogRow], recording: RecordingFile | None
) -> Completion:
    """The CDR values and closing queue-log events of ``call``, from its queue-log
    ``rows`` (oldest first) and its recording file."""
    rows = list(rows)
    connects = [r for r in rows if r.event == "CONNECT" and r.agent]
    answered = connects or [r for r in rows if r.event == "CALLBACKDONE" and r.agent]
    times = [call.start_time, *(r.time for r in rows)]
    if call.answer_time is not None:
        times.append(call.answer_time)
    if recording is not None:
        if connects:
            started = connects[-1].time
        elif call.answer_time is not None:
            started = call.answer_time
        else:
            started = call.start_time
        times += [recording.modified, started + recording.seconds]
    end = max(times)
    values: dict[str, Any] = {
        "disposition": "interrupted",
        "hangup_cause": "pbx stopped",
        "end_time": end,
    }
    if call.ring_seconds is None:
        ringing_until = call.answer_time if call.answer_time is not None else end
        values["ring_seconds"] = round(max(0.0, ringing_until - call.start_time), 3)
    if call.talk_seconds is None:
        talk = end - call.answer_time if call.answer_time is not None else 0.0
        values["talk_seconds"] = round(max(0.0, talk), 3)
    if call.agent is None and answered:
        values["agent"] = answered[-1].agent
    queues = [r.queue for r in rows if r.queue]
    if call.queue is None and queues:
        values["queue"] = queues[-1]
    if recording is not None:
        values["recording"] = recording.path
    elif call.recording is not None and call.recording.endswith(PART_SUFFIX):
        values["recording"] = None  # nothing readable is left of it
    closing = []
    for visit in _open_visits(rows):
        if visit.connected is not None:
            c = visit.connected
            data: dict[str, Any] = {
                "wait": c.data.get("wait"),
                "talk": end - c.time,
                "position": c.data.get("position"),
                "reason": INTERRUPTED,
            }
            closing.append(
                LogRow(end, COMPLETE_INTERRUPTED, call.call_id, visit.queue, c.agent, data)
            )
        elif visit.entered is not None:
            e = visit.entered
            data = {
                "original_position": e.data.get("position"),
                "wait": end - e.time,
                "reason": INTERRUPTED,
            }
            closing.append(LogRow(end, "ABANDON", call.call_id, visit.queue, None, data))
    return Completion(call.row, values, tuple(closing))


def find_recording(
    directory: Path | None, call_id: str, named: str | None = None
) -> RecordingFile | None:
    """The recording of ``call_id``: the file the CDR names (``named``) or
    ``<directory>/*/<call id>.wav|.flac``, its ``.part`` recovered first; the one written
    last when there are several. ``None`` when no readable file exists."""
    finals: set[Path] = set()
    if named:
        finals.add(Path(named[: -len(PART_SUFFIX)] if named.endswith(PART_SUFFIX) else named))
    if directory is not None and call_id and "/" not in call_id and call_id not in (".", ".."):
        name = glob.escape(call_id)
        for ext in _EXTENSIONS:
            for pattern in (f"{name}{ext}", f"*/{name}{ext}"):
                for suffix in ("", PART_SUFFIX):
                    finals.update(
                        p.with_name(p.name[: len(p.name) - len(suffix)])
                        for p in directory.glob(pattern + suffix)
                    )
    found: list[RecordingFile] = []
    for final in sorted(finals):
        part = final.with_name(final.name + PART_SUFFIX)
        if part.exists():
            try:
                recover_recording(part)
            except RecordingError as exc:
                log.error("recording_recovery_failed", path=str(part), error=str(exc))
        try:
            info = sf.info(str(final))
            modified = final.stat().st_mtime
        except (OSError, sf.LibsndfileError, RuntimeError):
            continue
        seconds = info.frames / info.samplerate if info.samplerate else 0.0
        found.append(RecordingFile(str(final), seconds, modified))
    return max(found, key=lambda f: f.modified, default=None)


#: Events that open and close an agent's session in a queue.
SESSION_EVENTS = frozenset({"AGENTLOGIN", "AGENTLOGOFF"})


def close_agent_sessions(
    rows: Iterable[LogRow], at: float, reason: str = INTERRUPTED
) -> list[LogRow]:
    """``AGENTLOGOFF`` rows for the sessions ``rows`` (the agents' ``AGENTLOGIN`` and
    ``AGENTLOGOFF`` rows, oldest first) leave open, at ``at`` (after a crash the last
    moment the store knows of), with ``{"reason": reason}`` (``interrupted`` after a
    crash, ``shutdown`` when the pbx stops): a session's login time ends there, and the
    next login opens a new one."""
    last: dict[tuple[str | None, str | None], LogRow] = {}
    for row in rows:
        if row.event in SESSION_EVENTS:
            last[(row.queue, row.agent)] = row
    return [
        LogRow(max(at, row.time), "AGENTLOGOFF", "", row.queue, row.agent, {"reason": reason})
        for row in last.values()
        if row.event == "AGENTLOGIN"
    ]
