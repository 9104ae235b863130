"""The mailbox by phone: PIN, new and saved messages, delete, next, the own greeting.

A call routed to a ``mailbox`` target (``*98`` in the example) reaches the caller's own
mailbox — the calling extension's, or the route's ``mailbox`` with ``options.pin``. It
is answered and asked for the PIN (``vm-enter-pin``: the user's ``voicemail_pin``,
by default the extension number); digits are taken as they come, the complete PIN
opens the mailbox at once and ``#`` ends a wrong shorter one. Three wrong entries (or
silences of 10 s) and the caller hears ``goodbye`` and is hung up.

Inside, the caller hears how many new and saved messages wait and the main menu:

* ``1`` new messages, ``2`` saved messages, oldest first. Each is announced
  (``vm-message`` and its number) and played; it is saved (marked heard, the phone's
  lamp follows) once it starts. After it: ``5`` again, ``7`` delete (file and row gone,
  audited), ``9`` the next one, ``*`` back to the main menu. After the last,
  ``vm-no-more`` and the main menu. A key pressed while a message plays acts at once.
* ``3`` records the greeting callers hear before the beep (``vm-record-greeting``,
  beep, up to 60 s, ``#`` ends it). A greeting shorter than a second keeps the old one.
* ``*`` says goodbye and hangs up.

Silence after a menu (10 s) repeats it; after three, goodbye. Prompts are in the
call's language (``en/…``, ``ru/…``), numbers spoken with :func:`pbx.media.numbers.say_number`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from attrs import define, field

from pbx.calls.events import CallEvent, DigitReceived, LegEnded, PlaybackDone
from pbx.calls.manager import Call, CallManager, Leg
from pbx.calls.voicemail import Voicemail
from pbx.config import UserConfig
from pbx.media.numbers import say_number
from pbx.media.prompts import PlayItem, PromptError, PromptItem, ToneItem
from pbx.media.tones import tone

log = structlog.get_logger(__name__)

PIN_TRIES = 3
"""Wrong PIN entries (or silences) before the caller is hung up."""
TIMEOUT = 10.0
"""Seconds of silence after a prompt: a wrong PIN entry, or the menu again."""
SILENCES = 3
"""Menus repeated to silence before goodbye."""
GREETING_SECONDS = 60.0
"""The longest greeting."""
GREETING_MIN_SECONDS = 1.0
"""A shorter greeting (a slip of the key) keeps the old one."""


@define(slots=True)
class _Session:
    """One caller in their mailbox."""

    leg: str
    call: str
    mailbox: str
    pin: str
    language: str
    state: str = "pin"
    """``pin``, ``menu``, ``message`` (playing one or its menu), ``greeting`` (the
    prompt before the beep, then recording), ``bye``."""
    digits: str = ""
    tries: int = 0
    silences: int = 0
    deadline: float | None = None
    """When silence counts (None while a prompt plays)."""
    messages: list[dict[str, Any]] = field(factory=list)
    """The folder being listened to, oldest first."""
    index: int = 0
    loaded: str | None = None
    """The prompt name of the message being played (forgotten after)."""
    recording: str | None = None
    """The greeting's recording key while it records."""
    recorded_at: float = 0.0


@define
class MailboxMenu:
    """Every caller in their mailbox; :meth:`start` is the ``mailbox`` route's handler
    and :meth:`handle` follows the call manager's events."""

    manager: CallManager
    voicemail: Voicemail
    users: Mapping[str, UserConfig]
    language: str = "en"
    wall: Callable[[float], float] = field(default=lambda now: now)
    _sessions: dict[str, _Session] = field(init=False, factory=dict)
    _counter: int = field(init=False, default=0)

    # ------------------------------------------------------------------ entering
    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The target handler: find the mailbox and its PIN, answer, ask for the PIN."""
        target = call.target
        caller = call.caller.number if call.caller is not None else ""
        options = target.options if target is not None else {}
        mailbox = target.name if target is not None and target.name else ""
        if mailbox:
            user = self.users.get(mailbox)
            pin = str(options.get("pin", ""))
            if not pin and user is not None:
                pin = user.voicemail_pin or mailbox
        elif call.origin == "user" and caller in self.users:
            mailbox = caller
            pin = self.users[caller].voicemail_pin or caller
        else:
            log.info("mailbox_refused", call=call.id, caller=caller, origin=call.origin)
            manager.hangup(leg.id, now, status=403)
            return
        if not pin:
            log.warning("mailbox_without_pin", call=call.id, mailbox=mailbox)
            manager.hangup(leg.id, now, status=403)
            return
        language = str(call.data.get("lang") or options.get("lang") or self.language)
        session = _Session(leg.id, call.id, mailbox, pin, language)
        self._sessions[leg.id] = session
        manager.answer(leg.id, now)
        log.info("mailbox_started", call=call.id, mailbox=mailbox)
        self._say(session, ["vm-enter-pin"], now)

    def _pin_digit(self, session: _Session, digit: str, now: float) -> None:
        session.deadline = now + TIMEOUT
        if digit == "#":  # ends an entry that is not the PIN (the PIN opens at once)
            self._wrong_pin(session, now)
            return
        session.digits += digit
        if session.digits == session.pin:
            self._opened(session, now)
        elif len(session.digits) >= len(session.pin):
            self._wrong_pin(session, now)
        elif len(session.digits) == 1:
            self.manager.stop_playback(session.leg)  # typing ahead of the prompt

    def _wrong_pin(self, session: _Session, now: float) -> None:
        session.tries += 1
        session.digits = ""
        log.info("mailbox_wrong_pin", mailbox=session.mailbox, tries=session.tries)
        if session.tries >= PIN_TRIES:
            self._goodbye(session, now, ["wrong-pin"])
        else:
            self._say(session, ["wrong-pin", "vm-enter-pin"], now)

    def _opened(self, session: _Session, now: float) -> None:
        session.digits = ""
        log.info("mailbox_opened", call=session.call, mailbox=session.mailbox)
        self._menu(session, now, summary=True)

    # ------------------------------------------------------------------ the menus
    def _menu(self, session: _Session, now: float, *, summary: bool = False) -> None:
        session.state = "menu"
        self._forget_message(session)
        words: list[str] = []
        if summary:
            messages = self.voicemail.messages(session.mailbox)
            new = sum(1 for m in messages if not m["heard"])
            words += ["vm-new-messages", *self._number(session, new)]
            words += ["vm-saved-messages", *self._number(session, len(messages) - new)]
        self._say(session, [*words, "vm-menu"], now)

    def _menu_digit(self, session: _Session, digit: str, now: float) -> None:
        self.manager.stop_playback(session.leg)
        if digit in ("1", "2"):
            heard = digit == "2"
            rows = [
                m for m in self.voicemail.messages(session.mailbox) if bool(m["heard"]) == heard
            ]
            session.messages = sorted(rows, key=lambda m: (m["time"], m["id"]))
            session.index = 0
            if not session.messages:
                self._say(session, ["vm-no-messages", "vm-menu"], now)
                return
            self._play_message(session, now)
        elif digit == "3":
            session.state = "greeting"
            self._say(session, ["vm-record-greeting"], now, beep=True)
        elif digit == "*":
            self._goodbye(session, now)
        else:
            self._say(session, ["invalid", "vm-menu"], now)

    def _play_message(self, session: _Session, now: float) -> None:
        session.state = "message"
        self._forget_message(session)
        message = session.messages[session.index]
        self._counter += 1
        name = f"vm-message:{session.leg}:{self._counter}"
        items: list[PlayItem] = self._prompts(
            session, ["vm-message", *self._number(session, session.index + 1)]
        )
        try:
            self.manager.load_prompt(name, Path(str(message["path"])))
            session.loaded = name
            items.append(PromptItem(name))
        except PromptError as exc:
            log.warning("mailbox_message_unreadable", mailbox=session.mailbox, error=str(exc))
        items += self._prompts(session, ["vm-message-menu"])
        if not message["heard"]:
            self.voicemail.mark_heard(int(message["id"]), now)
        log.info("mailbox_playing", mailbox=session.mailbox, message=message["id"])
        self._play(session, items, now)

    def _message_digit(self, session: _Session, digit: str, now: float) -> None:
        self.manager.stop_playback(session.leg)
        if digit == "5":
            self._play_message(session, now)
        elif digit == "7":
            message = session.messages.pop(session.index)
            self._forget_message(session)
            self.voicemail.delete(int(message["id"]), now, by=session.mailbox)
            self._next(session, now, ["vm-deleted"])
        elif digit == "9":
            session.index += 1
            self._next(session, now, [])
        elif digit == "*":
            self._menu(session, now)
        else:
            self._say(session, ["invalid", "vm-message-menu"], now)

    def _next(self, session: _Session, now: float, said: list[str]) -> None:
        if session.index < len(session.messages):
            if said:
                self._say(session, said, now)
                session.deadline = None
                session.state = "next"
            else:
                self._play_message(session, now)
            return
        self._forget_message(session)
        session.state = "menu"
        self._say(session, [*said, "vm-no-more", "vm-menu"], now)

    # ------------------------------------------------------------------ the greeting
    def _record_greeting(self, session: _Session, now: float) -> None:
        leg = self.manager.legs.get(session.leg)
        if leg is None or leg.channel is None:
            return
        path = self._new_greeting(session.mailbox)
        key = f"vm-greeting:{session.leg}"
        self.manager.record_leg(session.leg, key, path)
        session.recording = key
        session.recorded_at = now
        session.deadline = now + GREETING_SECONDS
        log.info("mailbox_greeting_recording", mailbox=session.mailbox)

    def _greeting_done(self, session: _Session, now: float, *, hung_up: bool) -> None:
        key, session.recording = session.recording, None
        if key is None:
            return
        self.manager.stop_recording(key)
        path = self._new_greeting(session.mailbox)
        seconds = now - session.recorded_at
        if seconds < GREETING_MIN_SECONDS:
            path.unlink(missing_ok=True)
            log.info("mailbox_greeting_too_short", mailbox=session.mailbox)
            if not hung_up:
                self._menu(session, now)
            return
        os.replace(path, self.voicemail.greeting_path(session.mailbox))
        log.info("mailbox_greeting_saved", mailbox=session.mailbox, seconds=round(seconds, 1))
        if not hung_up:
            session.state = "menu"
            self._say(session, ["vm-greeting-saved", "vm-menu"], now)

    def _new_greeting(self, mailbox: str) -> Path:
        return self.voicemail.greeting_path(mailbox).with_name("greeting-new.wav")

    # ------------------------------------------------------------------ events
    def handle(self, event: CallEvent, now: float) -> None:
        """Feed every call-manager event here."""
        if isinstance(event, DigitReceived):
            session = self._sessions.get(event.leg)
            if session is not None:
                self._digit(session, event.digit, now)
        elif isinstance(event, PlaybackDone) and event.completed:
            session = self._sessions.get(event.leg)
            if session is None:
                return
            if session.state == "greeting" and session.recording is None:
                self._record_greeting(session, now)
            elif session.state == "next":
                self._play_message(session, now)
            elif session.state != "bye":
                session.deadline = now + TIMEOUT
        elif isinstance(event, LegEnded):
            session = self._sessions.pop(event.leg, None)
            if session is not None:
                self._greeting_done(session, now, hung_up=True)
                self._forget_message(session)

    def _digit(self, session: _Session, digit: str, now: float) -> None:
        session.silences = 0
        if session.state == "pin":
            self._pin_digit(session, digit, now)
        elif session.state == "menu":
            self._menu_digit(session, digit, now)
        elif session.state in ("message", "next"):
            self._message_digit(session, digit, now)
        elif session.state == "greeting":
            if session.recording is not None:
                if digit == "#":
                    self._greeting_done(session, now, hung_up=False)
            else:
                self.manager.stop_playback(session.leg)
                self._record_greeting(session, now)

    def get_timer(self) -> float | None:
        """The earliest silence or greeting deadline."""
        return min(
            (s.deadline for s in self._sessions.values() if s.deadline is not None),
            default=None,
        )

    def handle_timer(self, now: float) -> None:
        """Silence after a prompt, or a greeting at its length limit."""
        for session in list(self._sessions.values()):
            if session.deadline is None or session.deadline > now:
                continue
            session.deadline = None
            if session.recording is not None:
                self._greeting_done(session, now, hung_up=False)
            elif session.state == "pin":
                self._wrong_pin(session, now)
            elif session.state in ("menu", "message"):
                session.silences += 1
                if session.silences >= SILENCES:
                    self._goodbye(session, now)
                else:
                    menu = "vm-menu" if session.state == "menu" else "vm-message-menu"
                    self._say(session, [menu], now)

    # ------------------------------------------------------------------ helpers
    def _goodbye(self, session: _Session, now: float, before: list[str] | None = None) -> None:
        session.state = "bye"
        session.deadline = None
        self._say(session, [*(before or []), "goodbye"], now, hangup=True)

    def _forget_message(self, session: _Session) -> None:
        if session.loaded is not None:
            self.manager.forget_prompt(session.loaded)
            session.loaded = None

    def _number(self, session: _Session, number: int) -> list[str]:
        lang = session.language if session.language in ("en", "ru") else "en"
        return say_number(number, lang, "n")

    def _prompts(self, session: _Session, names: list[str]) -> list[PlayItem]:
        items: list[PlayItem] = []
        for name in names:
            prompt = f"{session.language}/{name}"
            if self.manager.has_prompt(prompt):
                items.append(PromptItem(prompt))
        return items

    def _say(
        self,
        session: _Session,
        names: list[str],
        now: float,
        *,
        beep: bool = False,
        hangup: bool = False,
    ) -> None:
        items = self._prompts(session, names)
        if beep or not items:
            items.append(ToneItem(tone("beep")))
        self._play(session, items, now, hangup=hangup)

    def _play(
        self, session: _Session, items: list[PlayItem], now: float, *, hangup: bool = False
    ) -> None:
        session.deadline = None
        leg = self.manager.legs.get(session.leg)
        if leg is None or leg.channel is None:
            return
        self.manager.play(session.leg, items, now, then_hangup=hangup)
