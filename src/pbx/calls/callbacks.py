"""Stored callbacks: the customers the IVR promised to call back, called back.

Pending rows of the store's ``callback`` table whose time has come (the slot the
caller chose, :func:`pbx.ivr.slots.slot_due`) are dialled as legs whose purpose is
``callback`` (the row's id): over the outbound trunk of ``[callbacks] trunk`` to the
caller's number, with ``caller_id`` (else the queue's name) as the number shown; with no
trunk configured, to the SIP contact the customer called from, else the number at the
pbx's host. An answered callback is routed to its queue like a new caller, with the
data it had; a failed one is retried after ``retry_after`` seconds, at most
``attempts`` times, and then marked failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from attrs import define, field

from pbx.calls.dialplan import Target
from pbx.calls.events import CallEvent, LegAnswered, LegFailed, Purpose
from pbx.calls.manager import CallManager
from pbx.calls.targets import DialTo
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)


@define
class CallbackScheduler:
    """Places the callbacks the IVR stored; sans-I/O (``now`` in, store rows and legs out)."""

    manager: CallManager
    store: Store
    wall: Callable[[float], float] = field(default=lambda now: now)
    poll: float = 5.0
    retry_after: float = 60.0
    attempts: int = 3
    trunk: str | None = None
    """The outbound trunk to call customers back over (None: their SIP contact)."""
    caller_id: str = ""
    """The number shown on a callback over the trunk ('' = the queue's name)."""
    _next: float | None = field(init=False, default=None)
    _placed: dict[str, dict[str, Any]] = field(init=False, factory=dict)
    """Row id → the row of a callback being dialled."""

    def get_timer(self) -> float | None:
        """When to look for due callbacks next."""
        return self._next

    def arm(self, now: float) -> None:
        """Start polling (the shell calls this once at start)."""
        self._next = now

    def handle_timer(self, now: float) -> None:
        """Dial every due callback."""
        self._next = now + self.poll
        due = self.store.query(
            "SELECT * FROM callback WHERE status='pending' AND due<=? ORDER BY due LIMIT 20",
            (self.wall(now),),
        )
        for row in due:
            if row["call_id"] in self.manager.calls:
                continue  # the customer is still on the call that asked for it
            self._place(row, now)

    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """The outcome of a callback's leg: into its queue, or back to pending."""
        if not isinstance(event, (LegAnswered, LegFailed)):
            return
        purpose = event.purpose
        if purpose is None or purpose.kind != "callback":
            return
        row = self._placed.pop(purpose.ref, None)
        if row is None:
            return
        if isinstance(event, LegAnswered):
            self.store.execute("UPDATE callback SET status='done' WHERE id=?", (row["id"],))
            manager = self.manager
            call = manager.calls.get(event.call)
            leg = manager.legs.get(event.leg)
            if call is None or leg is None:
                return
            call.data["callback"] = row["number"]
            queue = row["queue"] or "support"
            options = {"lang": str(call.data.get("lang", "en"))}
            manager.route(call, leg, Target("queue", queue, options=options), now)
        else:
            retry = row["attempts"] + 1 < self.attempts
            self.store.execute(
                "UPDATE callback SET status=?, due=? WHERE id=?",
                ("pending" if retry else "failed", self.wall(now) + self.retry_after, row["id"]),
            )

    def _place(self, row: dict[str, Any], now: float) -> None:
        manager = self.manager
        data = row["data"] if isinstance(row["data"], dict) else {}
        contact = data.get("contact")
        queue = row["queue"] or "support"
        to: DialTo
        if self.trunk is not None:
            to = Target("trunk", self.trunk, number=row["number"])
            shown = self.caller_id or queue
        else:
            to = (
                SipUri.parse(contact)
                if isinstance(contact, str)
                else manager.uri_at_host(row["number"])
            )
            shown = queue
        self.store.execute(
            "UPDATE callback SET status='dialing', attempts=attempts+1 WHERE id=?", (row["id"],)
        )
        call_id = manager.originate(
            now, number=row["number"], data={k: v for k, v in data.items() if k not in ("contact",)}
        )
        self._placed[str(row["id"])] = row
        manager.dial(
            call_id, to, now, purpose=Purpose("callback", ref=str(row["id"])), from_number=shown
        )
        log.info("callback_placed", number=row["number"], queue=queue, trunk=self.trunk)
