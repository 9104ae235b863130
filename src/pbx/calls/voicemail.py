"""Voicemail: greeting, beep, record until ``#``, the time limit or hang-up; a store row.

A call routed to a ``voicemail`` target is answered and hears the mailbox greeting
(the owner's own, ``directory/<mailbox>/greeting.wav``, recorded from the phone's
mailbox menu, else the common ``greeting`` prompt) followed by a beep; then what the
caller says is recorded (mono WAV under ``directory/<mailbox>/``) until they press
``#``, hang up, or ``max_seconds`` pass. The message is written to the store's
``voicemail`` table with caller, time and duration, and its path is attached to the
call (``voicemail`` in the CDR data). Messages shorter than
``min_seconds`` are discarded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import structlog
from attrs import define, field

from pbx.calls.events import CallEvent, DigitReceived, LegEnded, PlaybackDone
from pbx.calls.manager import Call, CallManager, Leg
from pbx.media.prompts import PlayItem, PromptError, PromptItem, ToneItem
from pbx.media.tones import tone

log = structlog.get_logger(__name__)

GREETING_FILE = "greeting.wav"
"""A mailbox's own greeting in its directory."""


@define(slots=True)
class _Box:
    call: str
    leg: str
    mailbox: str
    path: Path
    caller: str
    recording: bool = False
    started: float = 0.0
    deadline: float | None = None
    skipped: bool = False
    greeting: str | None = None
    """The mailbox's own greeting, loaded as a prompt for this call."""


@define
class Voicemail:
    """Runs every voicemail call; :meth:`start` is the ``voicemail`` route's handler."""

    manager: CallManager
    directory: Path
    greeting: str = "en/voicemail-greeting"
    max_seconds: float = 120.0
    min_seconds: float = 1.0
    wall: Callable[[float], float] = field(default=lambda now: now)
    _boxes: dict[str, _Box] = field(init=False, factory=dict)

    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The target handler: answer, greet, beep."""
        target = call.target
        mailbox = (target.name if target is not None and target.name else call.number) or "0"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.wall(now)))
        path = self.directory / mailbox / f"{stamp}-{call.id}.wav"
        caller = call.caller.number if call.caller is not None else ""
        box = _Box(call.id, leg.id, mailbox, path, caller)
        self._boxes[leg.id] = box
        manager.answer(leg.id, now)
        items: list[PlayItem] = []
        own = self.greeting_path(mailbox)
        if own.is_file():
            try:
                manager.load_prompt(f"vm-greeting:{leg.id}", own)
                box.greeting = f"vm-greeting:{leg.id}"
                items.append(PromptItem(box.greeting))
            except PromptError as exc:
                log.warning("voicemail_greeting_unreadable", mailbox=mailbox, error=str(exc))
        if not items and manager.has_prompt(self.greeting):
            items.append(PromptItem(self.greeting))
        items.append(ToneItem(tone("beep")))
        manager.play(leg.id, items, now)

    def greeting_path(self, mailbox: str) -> Path:
        """Where the mailbox owner's own greeting is kept."""
        return self.directory / mailbox / GREETING_FILE

    def handle(self, event: CallEvent, now: float) -> None:
        """Feed every call-manager event here."""
        if isinstance(event, PlaybackDone):
            box = self._boxes.get(event.leg)
            # Only the end of our greeting (or its skip by #) starts the recording: a
            # prompt of whoever handed the call over may still report its own end.
            if box is not None and not box.recording and (event.completed or box.skipped):
                self._record(box, now)
        elif isinstance(event, LegEnded):
            box = self._boxes.get(event.leg)
            if box is not None:
                self._finish(box, now, hang_up=False)
        elif isinstance(event, DigitReceived) and event.leg in self._boxes:
            self._digit(event.leg, event.digit, now)

    def get_timer(self) -> float | None:
        """The earliest recording time limit."""
        times = [b.deadline for b in self._boxes.values() if b.deadline is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """End recordings that reached the time limit."""
        for box in list(self._boxes.values()):
            if box.deadline is not None and box.deadline <= now:
                self._finish(box, now, hang_up=True)

    def _record(self, box: _Box, now: float) -> None:
        leg = self.manager.legs.get(box.leg)
        if leg is None or leg.channel is None:
            return
        self.manager.record_leg(leg.id, f"vm:{box.leg}", box.path)
        box.recording = True
        box.started = now
        box.deadline = now + self.max_seconds
        log.info("voicemail_recording", call=box.call, mailbox=box.mailbox)

    def _digit(self, leg_id: str, digit: str, now: float) -> None:
        box = self._boxes.get(leg_id)
        if box is None:
            return
        if digit == "#":
            if box.recording:
                self._finish(box, now, hang_up=True)
            else:
                box.skipped = True
                self.manager.stop_playback(leg_id)  # skip the greeting

    def _finish(self, box: _Box, now: float, *, hang_up: bool) -> None:
        self._boxes.pop(box.leg, None)
        if box.greeting is not None:
            self.manager.forget_prompt(box.greeting)
        if box.recording:
            self.manager.stop_recording(f"vm:{box.leg}")
            seconds = now - box.started
            call = self.manager.calls.get(box.call)
            if seconds >= self.min_seconds and self.manager.store is not None:
                self.manager.store.voicemail_insert(
                    {
                        "mailbox": box.mailbox,
                        "caller": box.caller,
                        "time": self.wall(box.started),
                        "seconds": round(seconds, 2),
                        "path": str(box.path),
                        "call_id": box.call,
                    }
                )
                if call is not None:
                    call.data["voicemail"] = str(box.path)
                log.info(
                    "voicemail_left", call=box.call, mailbox=box.mailbox, seconds=round(seconds, 1)
                )
            if seconds >= self.min_seconds:
                self.notify(box.mailbox, now)
        if hang_up:
            self.manager.hangup(box.leg, now)

    # -- retrieval and message-waiting --------------------------------------------
    def messages(self, mailbox: str) -> list[dict[str, object]]:
        """The messages of ``mailbox``, newest first (id, caller, time, seconds, path,
        heard)."""
        if self.manager.store is None:
            return []
        return self.manager.store.query(
            "SELECT * FROM voicemail WHERE mailbox=? ORDER BY time DESC, id DESC", (mailbox,)
        )

    def mark_heard(self, message_id: int, now: float, heard: bool = True) -> None:
        """Mark a message heard (or new again) and update the mailbox's lamp."""
        store = self.manager.store
        if store is None:
            return
        rows = store.query("SELECT mailbox FROM voicemail WHERE id=?", (message_id,))
        store.execute("UPDATE voicemail SET heard=? WHERE id=?", (int(heard), message_id))
        if rows:
            self.notify(str(rows[0]["mailbox"]), now)

    def delete(self, message_id: int, now: float, *, by: str) -> bool:
        """Delete a message, its audio and its row (audited as done ``by`` a user) and
        update the mailbox's lamp; False when there is no such message."""
        store = self.manager.store
        if store is None:
            return False
        rows = store.query("SELECT mailbox, path FROM voicemail WHERE id=?", (message_id,))
        if not rows:
            return False
        mailbox = str(rows[0]["mailbox"])
        Path(str(rows[0]["path"])).unlink(missing_ok=True)
        store.execute("DELETE FROM voicemail WHERE id=?", (message_id,))
        store.audit(self.wall(now), by, "delete", f"voicemail:{message_id}", {"mailbox": mailbox})
        log.info("voicemail_deleted", mailbox=mailbox, message=message_id, by=by)
        self.notify(mailbox, now)
        return True

    def notify(self, mailbox: str, now: float) -> int:
        """Tell the mailbox's registered phones how many messages wait (RFC 3842
        message-summary, sent unsolicited); returns how many phones were told."""
        manager = self.manager
        if not manager.registered(mailbox, now):
            return 0
        heard = [bool(m["heard"]) for m in self.messages(mailbox)]
        new, old = heard.count(False), heard.count(True)
        body = (
            f"Messages-Waiting: {'yes' if new else 'no'}\r\n"
            f"Message-Account: {manager.uri_at_host(mailbox)}\r\n"
            f"Voice-Message: {new}/{old}\r\n"
        ).encode()
        phones = manager.notify_devices(
            mailbox, "message-summary", body, "application/simple-message-summary", now
        )
        log.info("voicemail_mwi", mailbox=mailbox, new=new, old=old, phones=phones)
        return phones
