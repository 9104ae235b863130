"""Call detail records: one row per call, inserted when it starts, final when it ends.

The row is written ``in_progress`` as the call starts (so a crash leaves it visible),
updated when the call is answered, and completed — times, disposition, who hung up,
agent, queue, recording, attached data — when its last leg ends. A store that fails a
write is logged and counted; the call goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from attrs import define, field

from pbx.calls.model import Call, Leg, LegKind
from pbx.store import Store

log = structlog.get_logger(__name__)

# What an unanswered call's first failed leg says about it.
FAILURE_DISPOSITIONS = {486: "busy", 408: "no_answer", 480: "no_answer", 487: "abandoned"}


def disposition(call: Call) -> str:
    """How a call ended, for the CDR: what a module set, else from its history."""
    if call.disposition:
        return call.disposition
    if call.transferred:
        return "transferred"
    if call.answered is not None:
        return "answered"
    return FAILURE_DISPOSITIONS.get(call.last_failure or 0, "failed")


REASONS = {404: "Not Found", 488: "Not Acceptable Here", 503: "Service Unavailable"}


@define
class CallRecords:
    """Writes the CDR rows of calls to the store (no store: nothing is written)."""

    store: Store | None
    wall: Callable[[float], float]
    """Turns the monotonic ``now`` into wall-clock time for the records."""
    errors: int = field(init=False, default=0)
    """Store writes that failed (logged; the calls went on)."""

    def open(self, call: Call, sip_call_id: str) -> None:
        """The call's row, ``in_progress``."""
        if self.store is None:
            return
        caller = call.caller
        call.cdr_row = self._write(
            call,
            self.store.cdr_insert,
            {
                "call_id": call.id,
                "sip_call_id": sip_call_id,
                "direction": call.direction,
                "trunk": call.trunk,
                "did": call.number,
                "caller": caller.number if caller else None,
                "caller_name": caller.name if caller else None,
                "callee": call.number,
                "start_time": self.wall(call.created),
                "disposition": "in_progress",
                "data": call.data,
            },
        )

    def refused(self, call: Call, sip_call_id: str, status: int, now: float) -> None:
        """The one row of a call refused before it started (no route 404, an offer we
        cannot answer 488): ``refused``, with the status as its cause."""
        if self.store is None:
            return
        caller = call.caller
        self._write(
            call,
            self.store.cdr_insert,
            {
                "call_id": call.id,
                "sip_call_id": sip_call_id,
                "direction": call.direction,
                "trunk": call.trunk,
                "did": call.number,
                "caller": caller.number if caller else None,
                "caller_name": caller.name if caller else None,
                "callee": call.number,
                "start_time": self.wall(call.created),
                "end_time": self.wall(now),
                "ring_seconds": 0.0,
                "talk_seconds": 0.0,
                "hold_seconds": 0.0,
                "disposition": "refused",
                "hangup_side": "pbx",
                "hangup_cause": f"{status} {REASONS.get(status, '')}".strip(),
                "data": call.data,
            },
        )

    def update(self, call: Call, **values: Any) -> None:
        """Change columns of the call's row (the answer time ...)."""
        if self.store is not None and call.cdr_row is not None:
            self._write(call, self.store.cdr_update, call.cdr_row, values)

    def close(self, call: Call, now: float) -> None:
        """The call's final row."""
        if self.store is None or call.cdr_row is None:
            return
        answered = call.answered
        ring = (answered if answered is not None else now) - call.created
        self._write(
            call,
            self.store.cdr_update,
            call.cdr_row,
            {
                "end_time": self.wall(now),
                "ring_seconds": round(ring, 3),
                "talk_seconds": round(now - answered, 3) if answered is not None else 0.0,
                "hold_seconds": round(call.hold_seconds, 3),
                "disposition": call.disposition,
                "hangup_side": call.hangup_side or None,
                "hangup_cause": call.hangup_cause or None,
                "trunk": call.trunk,
                "agent": call.agent,
                "queue": call.queue,
                "recording": call.recording,
                "data": dict(call.data),
            },
        )

    def _write(self, call: Call, write: Callable[..., Any], *args: Any) -> Any:
        """Run one store write; a failure is logged and counted, never stops the call."""
        try:
            return write(*args)
        except Exception:
            self.errors += 1
            log.exception("cdr_write_failed", call=call.id)
            return None


def account_leg_end(
    call: Call, leg: Leg, by: str, was_answered: bool, failed_status: int | None
) -> None:
    """What a leg's end says about its call: who hung up, why it failed, abandons."""
    if not call.hangup_side and (was_answered or leg.kind is LegKind.INBOUND):
        # Who ended the conversation: the caller, the called party, or the pbx.
        if by != "remote":
            call.hangup_side = "pbx"
        else:
            call.hangup_side = "caller" if leg.kind is LegKind.INBOUND else "callee"
        call.hangup_cause = call.hangup_cause or leg.end_cause or by
    if failed_status is not None and leg.kind is LegKind.OUTBOUND and call.last_failure is None:
        call.last_failure = failed_status
        if not was_answered and call.answered is None:
            call.hangup_cause = call.hangup_cause or leg.end_cause
    if leg.kind is LegKind.INBOUND and by == "remote" and call.disposition == "":
        if (not was_answered and call.answered is None) or call.waiting:
            # Hung up ringing, or answered only by the pbx (a queue) while waiting.
            call.disposition = "abandoned"
