"""Dial-in conference rooms: PIN, join and leave tones, mute, lock, kick, recording.

A call routed to a ``conference`` target is answered and asked for the room's PIN
(``enter-pin``) when the room has one: the digits are taken as they come, a complete
PIN joins at once (``#`` ends a shorter entry), a wrong one is told ``wrong-pin`` and
asked again, and after three wrong entries (or silences of 10 s) the caller hears
``goodbye`` and is hung up. The moderator PIN, when set, joins as a moderator.

Every room is one bridge of the engine's mixer (everyone hears everyone else), created
with its first member and gone with its last, so a room of 50 is one gather-and-sum of
the tick like a two-party call. Members hear a rising tone when someone joins and a
falling one when someone leaves; a member alone hears the hold music. A locked or full
room tells the caller so (``conference-locked``, ``conference-full``) and hangs up.

Keys during the conference: ``0`` mutes or unmutes oneself (a low or a high beep);
a moderator's ``1`` mutes every participant (and those who join after) or lifts it,
``2`` locks or unlocks the room, ``3`` removes the participant who joined last. The
API does the same per member (:meth:`Conferences.mute`, :meth:`~Conferences.kick`,
:meth:`~Conferences.lock`). A room with ``record = true`` is recorded as one mono file
of what the members say (a muted member is not heard, so not recorded), from its first
member to its last, under ``recordings/conference/<room>/``; the path is attached to
every member's call (``conference_recording`` in the CDR data).

Each change is a :class:`~pbx.calls.events.ConferenceChanged` event on the call
manager's stream: the API's event stream and wallboards follow rooms from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog
from attrs import define, field

from pbx.calls.events import CallEvent, ConferenceChanged, DigitReceived, LegEnded, PlaybackDone
from pbx.calls.manager import Call, CallError, CallManager, Leg, LegState
from pbx.config import ConferenceConfig
from pbx.media.mixer import Role
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import ToneSpec

log = structlog.get_logger(__name__)

PIN_TRIES = 3
"""Wrong PIN entries (or silences) before the caller is hung up."""
PIN_TIMEOUT = 10.0
"""Seconds of silence while entering the PIN that count as a wrong entry."""

_LEVEL = -16.0
JOIN_TONE = (
    ToneItem(ToneSpec("conference-join-1", (600.0,), _LEVEL, ((120, 0),), True)),
    ToneItem(ToneSpec("conference-join-2", (900.0,), _LEVEL, ((160, 0),), True)),
)
"""A rising pair: someone joined."""
LEAVE_TONE = (
    ToneItem(ToneSpec("conference-leave-1", (900.0,), _LEVEL, ((120, 0),), True)),
    ToneItem(ToneSpec("conference-leave-2", (600.0,), _LEVEL, ((160, 0),), True)),
)
"""A falling pair: someone left."""
MUTED_TONE = (ToneItem(ToneSpec("conference-muted", (400.0,), _LEVEL, ((250, 0),), True)),)
UNMUTED_TONE = (ToneItem(ToneSpec("conference-unmuted", (1200.0,), _LEVEL, ((250, 0),), True)),)


@define(slots=True)
class Member:
    """One party in a room."""

    leg: str
    call: str
    number: str
    name: str
    moderator: bool
    joined: float
    muted: bool = False


@define(slots=True)
class Room:
    """A conference room and who is in it (members in the order they joined)."""

    config: ConferenceConfig
    members: dict[str, Member] = field(factory=dict)
    bridge: int | None = None
    locked: bool = False
    muted_all: bool = False
    """A moderator muted the participants: those who join now are muted too."""
    recording: str | None = None
    """The key of the room's recording while it runs."""
    recording_path: Path | None = None
    started: float | None = None
    """When its first member joined (None while empty)."""
    alone: str | None = None
    """The leg hearing the hold music because it is alone in the room."""

    @property
    def name(self) -> str:
        return self.config.name


@define(slots=True)
class _Entry:
    """A caller entering a room's PIN."""

    leg: str
    room: str
    deadline: float
    digits: str = ""
    tries: int = 0


@define
class Conferences:
    """Every conference room of the call center; :meth:`start` is the ``conference``
    route's handler and :meth:`handle` follows the call manager's events."""

    manager: CallManager
    configs: Mapping[str, ConferenceConfig]
    recordings: Path
    """The recordings directory: room recordings go under ``conference/<room>/``."""
    wall: Callable[[float], float] = field(default=lambda now: now)
    language: str = "en"
    rooms: dict[str, Room] = field(init=False, factory=dict)
    _entering: dict[str, _Entry] = field(init=False, factory=dict)
    _room_of: dict[str, str] = field(init=False, factory=dict)
    """Member leg → its room."""

    def __attrs_post_init__(self) -> None:
        self.rooms = {name: Room(config) for name, config in self.configs.items()}

    # ------------------------------------------------------------------ entering
    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The target handler: answer, then ask for the PIN or join."""
        name = call.target.name if call.target is not None else ""
        room = self.rooms.get(name)
        if room is None:
            log.warning("conference_unknown", call=call.id, room=name)
            manager.hangup(leg.id, now, status=404)
            return
        manager.answer(leg.id, now)
        if self._refused(room, leg.id, now):
            return
        config = room.config
        if not config.pin and not config.moderator_pin:
            self._join(room, leg.id, moderator=False, now=now)
            return
        self._entering[leg.id] = _Entry(leg.id, name, now + PIN_TIMEOUT)
        self._say(leg.id, ["enter-pin"], now)

    def _refused(self, room: Room, leg: str, now: float) -> bool:
        """A locked or full room: tell the caller and hang up."""
        if room.locked:
            why = "conference-locked"
        elif len(room.members) >= room.config.max_members:
            why = "conference-full"
        else:
            return False
        log.info("conference_refused", room=room.name, leg=leg, reason=why)
        self._entering.pop(leg, None)
        self._say(leg, [why, "goodbye"], now, then_hangup=True)
        return True

    def _pin_digit(self, entry: _Entry, digit: str, now: float) -> None:
        room = self.rooms[entry.room]
        config = room.config
        entry.deadline = now + PIN_TIMEOUT
        if digit != "#":
            entry.digits += digit
            if entry.digits in (config.pin, config.moderator_pin) and entry.digits:
                self._entered(entry, now)
                return
            longest = max(len(config.pin), len(config.moderator_pin))
            if len(entry.digits) < longest:
                if len(entry.digits) == 1:
                    self.manager.stop_playback(entry.leg)  # typing ahead of the prompt
                return
        self._entered(entry, now)

    def _entered(self, entry: _Entry, now: float) -> None:
        room = self.rooms[entry.room]
        config = room.config
        digits = entry.digits
        if config.moderator_pin and digits == config.moderator_pin:
            moderator = True
        elif digits == config.pin:  # an empty PIN: "#" alone joins
            moderator = False
        else:
            self._wrong(entry, now)
            return
        del self._entering[entry.leg]
        if not self._refused(room, entry.leg, now):
            self._join(room, entry.leg, moderator=moderator, now=now)

    def _wrong(self, entry: _Entry, now: float) -> None:
        entry.tries += 1
        entry.digits = ""
        entry.deadline = now + PIN_TIMEOUT
        log.info("conference_wrong_pin", room=entry.room, leg=entry.leg, tries=entry.tries)
        if entry.tries >= PIN_TRIES:
            del self._entering[entry.leg]
            self._say(entry.leg, ["wrong-pin", "goodbye"], now, then_hangup=True)
        else:
            self._say(entry.leg, ["wrong-pin", "enter-pin"], now)

    # ------------------------------------------------------------------ in the room
    def _join(self, room: Room, leg_id: str, *, moderator: bool, now: float) -> None:
        manager = self.manager
        leg = manager.legs.get(leg_id)
        if leg is None or leg.channel is None or leg.state is not LegState.ANSWERED:
            return
        call = manager.calls[leg.call]
        manager.stop_playback(leg_id)
        if room.bridge is None:
            room.bridge = manager.new_bridge()
            room.started = now
        manager.join_bridge(leg_id, room.bridge, Role.PARTICIPANT)
        caller = call.caller
        member = Member(
            leg_id,
            call.id,
            caller.number if caller is not None else "",
            caller.name if caller is not None else "",
            moderator,
            now,
        )
        others = list(room.members)
        room.members[leg_id] = member
        self._room_of[leg_id] = room.name
        call.data["conference"] = room.name
        if room.config.record:
            self._record(room, leg, now)
            if room.recording_path is not None:
                call.data["conference_recording"] = str(room.recording_path)
        log.info(
            "conference_joined",
            room=room.name,
            leg=leg_id,
            moderator=moderator,
            members=len(room.members),
        )
        if room.alone is not None and room.alone in room.members:
            manager.stop_playback(room.alone)
        room.alone = None
        if room.config.announce:
            for other in others:
                self._play(other, JOIN_TONE, now)
        if not others and room.config.alone_music:
            self._play(leg_id, manager.music(""), now, loop=True)
            room.alone = leg_id
        self._changed(room, member, "joined")
        if room.muted_all and not moderator:
            self._set_muted(room, member, True, now)

    def _record(self, room: Room, leg: Leg, now: float) -> None:
        manager = self.manager
        assert leg.channel is not None
        if room.recording is None:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.wall(now)))
            path = self.recordings / "conference" / room.name / f"{stamp}-{leg.call}.wav"
            key = f"conference:{room.name}:{leg.call}"
            try:
                manager.record_leg(leg.id, key, path)
            except (CallError, OSError) as exc:
                log.error("conference_record_failed", room=room.name, error=str(exc))
                return
            room.recording, room.recording_path = key, path
        else:
            manager.record_also(room.recording, leg.id)

    def _left(self, leg_id: str, now: float) -> None:
        name = self._room_of.pop(leg_id, None)
        room = self.rooms.get(name or "")
        if room is None:
            return
        member = room.members.pop(leg_id, None)
        if member is None:
            return
        log.info("conference_left", room=room.name, leg=leg_id, members=len(room.members))
        if room.alone == leg_id:
            room.alone = None
        if not room.members:
            # The bridge went with its last member (Bridges.unbridge).
            if room.recording is not None:
                self.manager.stop_recording(room.recording)
            room.bridge = room.recording = room.recording_path = room.started = None
            room.locked = room.muted_all = False
        else:
            if room.config.announce:
                for other in room.members:
                    self._play(other, LEAVE_TONE, now)
            if len(room.members) == 1 and room.config.alone_music:
                (last,) = room.members
                room.alone = last
                if not room.config.announce:
                    self._play(last, self.manager.music(""), now, loop=True)
                # else the music starts when the leave tone has played (PlaybackDone)
        self._changed(room, member, "left")

    def _member_digit(self, room: Room, member: Member, digit: str, now: float) -> None:
        if digit == "0":
            self._set_muted(room, member, not member.muted, now, feedback=True)
            return
        if not member.moderator:
            return
        if digit == "1":
            self.mute_all(room.name, not room.muted_all, now)
            self._play(member.leg, MUTED_TONE if room.muted_all else UNMUTED_TONE, now)
        elif digit == "2":
            self.lock(room.name, not room.locked, now)
            self._play(member.leg, MUTED_TONE if room.locked else UNMUTED_TONE, now)
        elif digit == "3":
            last = next((m for m in reversed(room.members.values()) if not m.moderator), None)
            if last is not None:
                self.kick(room.name, last.leg, now)

    # ------------------------------------------------------------------ operations
    def mute(self, room_name: str, leg: str, muted: bool, now: float) -> Member:
        """Mute a member (heard by nobody, still hears) or unmute them."""
        room = self.room(room_name)
        member = self._member(room, leg)
        self._set_muted(room, member, muted, now, feedback=True)
        return member

    def mute_all(self, room_name: str, muted: bool, now: float) -> int:
        """Mute every participant (not the moderators), and those who join while it
        lasts; or unmute them. Returns how many members changed."""
        room = self.room(room_name)
        room.muted_all = muted
        changed = 0
        for member in room.members.values():
            if not member.moderator and member.muted != muted:
                self._set_muted(room, member, muted, now)
                changed += 1
        log.info("conference_mute_all", room=room.name, muted=muted, members=changed)
        return changed

    def kick(self, room_name: str, leg: str, now: float) -> Member:
        """Remove a member from the room (their call is hung up)."""
        room = self.room(room_name)
        member = self._member(room, leg)
        log.info("conference_kick", room=room.name, leg=leg)
        self._changed(room, member, "removed")
        self.manager.hangup(leg, now)
        return member

    def lock(self, room_name: str, locked: bool, now: float) -> Room:
        """Lock the room (nobody else may join) or unlock it."""
        room = self.room(room_name)
        room.locked = locked
        log.info("conference_lock", room=room.name, locked=locked)
        self._changed(room, None, "locked" if locked else "unlocked")
        return room

    def room(self, name: str) -> Room:
        """The room ``name``; :class:`CallError` when there is none."""
        room = self.rooms.get(name)
        if room is None:
            known = ", ".join(sorted(self.rooms)) or "none"
            raise CallError(f"no conference room {name!r} (rooms: {known})")
        return room

    def _member(self, room: Room, leg: str) -> Member:
        member = room.members.get(leg)
        if member is None:
            raise CallError(f"leg {leg!r} is not in conference room {room.name!r}")
        return member

    def _set_muted(
        self, room: Room, member: Member, muted: bool, now: float, feedback: bool = False
    ) -> None:
        leg = self.manager.legs.get(member.leg)
        if leg is None or leg.channel is None:
            return
        member.muted = muted
        self.manager.mute(member.leg, muted)
        if room.recording is not None:
            self.manager.record_also(room.recording, member.leg, silent=muted)
        if feedback:
            self._play(member.leg, MUTED_TONE if muted else UNMUTED_TONE, now)
        self._changed(room, member, "muted" if muted else "unmuted")

    # ------------------------------------------------------------------ events
    def handle(self, event: CallEvent, now: float) -> None:
        """Feed every call-manager event here."""
        if isinstance(event, DigitReceived):
            entry = self._entering.get(event.leg)
            if entry is not None:
                self._pin_digit(entry, event.digit, now)
                return
            room = self.rooms.get(self._room_of.get(event.leg, ""))
            if room is not None and event.leg in room.members:
                self._member_digit(room, room.members[event.leg], event.digit, now)
        elif isinstance(event, PlaybackDone) and event.completed:
            room = self.rooms.get(self._room_of.get(event.leg, ""))
            if room is not None and room.alone == event.leg:
                self._play(event.leg, self.manager.music(""), now, loop=True)
        elif isinstance(event, LegEnded):
            self._entering.pop(event.leg, None)
            if event.leg in self._room_of:
                self._left(event.leg, now)

    def get_timer(self) -> float | None:
        """The earliest PIN entry deadline."""
        return min((e.deadline for e in self._entering.values()), default=None)

    def handle_timer(self, now: float) -> None:
        """A caller silent while entering the PIN: a wrong entry."""
        for entry in list(self._entering.values()):
            if entry.deadline <= now and entry.leg in self._entering:
                self._wrong(entry, now)

    # ------------------------------------------------------------------ helpers
    def _say(self, leg: str, prompts: list[str], now: float, then_hangup: bool = False) -> None:
        items: list[PlayItem] = []
        for name in prompts:
            prompt = f"{self.language}/{name}"
            if self.manager.has_prompt(prompt):
                items.append(PromptItem(prompt))
        if not items:
            items = [ToneItem(MUTED_TONE[0].spec)]
        self._play(leg, items, now, then_hangup=then_hangup)

    def _play(
        self,
        leg: str,
        items: tuple[PlayItem, ...] | list[PlayItem],
        now: float,
        *,
        loop: bool = False,
        then_hangup: bool = False,
    ) -> None:
        found = self.manager.legs.get(leg)
        if found is None or found.channel is None:
            return
        self.manager.play(leg, list(items), now, loop=loop, then_hangup=then_hangup)

    def _changed(self, room: Room, member: Member | None, change: str) -> None:
        self.manager.emit(
            ConferenceChanged(
                member.call if member is not None else "",
                member.leg if member is not None else "",
                room.name,
                change,
                len(room.members),
                room.locked,
            )
        )

    def view(self, room: Room) -> dict[str, object]:
        """The room as the API shows it."""
        return {
            "name": room.name,
            "members": [
                {
                    "leg": m.leg,
                    "call": m.call,
                    "number": m.number,
                    "name": m.name,
                    "moderator": m.moderator,
                    "muted": m.muted,
                    "joined": self.wall(m.joined),
                }
                for m in room.members.values()
            ],
            "locked": room.locked,
            "muted_all": room.muted_all,
            "recording": str(room.recording_path) if room.recording_path else None,
            "started": self.wall(room.started) if room.started is not None else None,
            "max_members": room.config.max_members,
        }
