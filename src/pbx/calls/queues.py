"""The contact center's queues: the ACD distributor driven over the call manager.

Theory of operation
-------------------
:class:`pbx.acd.Distributor` decides (sans-I/O, knows no calls) and alone keeps the
offers; this module is the glue that makes its decisions happen to real calls and feeds
the outcomes back:

* a call routed to a ``queue`` target is answered, hears music on hold, and becomes a
  ``CallQueued``; digits it presses become ``KeyPressed`` (exit keys, the callback key);
  its hang-up becomes ``CallAbandoned`` (or, after an agent answered, ``CallCompleted``);
* ``OfferToAgent`` rings the agent's registered phone — a leg dialled with the purpose
  ``offer``, whose ``LegAnswered`` is ``OfferAccepted`` and whose ``LegFailed`` is
  ``OfferFailed`` (busy, rejected, no answer, unavailable); ``CancelOffer`` hangs the
  ringing leg up; ``ConnectCall`` bridges caller and agent and starts the stereo
  recording (caller left, agent right);
* ``Announce`` plays position and estimated wait, ``OfferCallback`` the callback offer;
  ``CallbackRequested`` (the key) keeps the place and lets the caller hang up;
  ``PlaceCallback`` rings the reserved agent first (``callback-agent``), then calls the
  customer back (``callback-customer``);
* ``Overflow`` routes the call on (another queue, an IVR, voicemail, a number),
  ``RejectCall`` refuses it; ``LogEvent`` rows go to the store's queue log;
* the ``operator`` target rings every logged-in agent at once; the first to answer
  takes the call;
* agents log in, out, pause and unpause with the feature codes of their phones (``*1`` …
  ``*4``), lose and regain their devices with their registrations, and supervisors
  listen, whisper or barge (``*5`` … ``*7``, :mod:`pbx.calls.supervision`).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from attrs import define, field

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor, LiveView
from pbx.acd.models import AgentConfig, Membership
from pbx.calls.dialplan import Target
from pbx.calls.events import (
    CallEvent,
    DigitReceived,
    HoldChanged,
    LegAnswered,
    LegEnded,
    LegFailed,
    LegRinging,
    PlaybackDone,
    Purpose,
    TransferRequested,
)
from pbx.calls.manager import Call, CallManager, Leg, LegState
from pbx.calls.supervision import SUPERVISOR_ROLES, Supervision, agent_leg
from pbx.calls.targets import DialTo
from pbx.config import UserConfig
from pbx.errors import LocalProtocolError
from pbx.media.numbers import plural_ru, say_number
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.sip.events import DeviceRegistered, EndpointEvent
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

FAILURE_REASONS = {486: "busy", 600: "busy", 603: "rejected", 403: "rejected"}
AcdListener = Callable[[act.AcdAction, float], None]


@define(slots=True)
class _Queued:
    """A caller the ACD knows, with the legs that carry it."""

    acd_call: str
    call: str
    leg: str
    queue: str
    lang: str = "en"
    contact: str | None = None
    """Where a callback reaches the caller (their Contact over a SIP trunk)."""
    agent: str | None = None
    agent_leg: str | None = None
    connected: bool = False
    callback: bool = False
    """The caller asked for a callback and hangs up keeping their place."""
    whispering: bool = False
    """The agent answered and hears the whisper; the bridge waits for its end."""
    announcing: bool = False


@define(slots=True)
class _Ringing:
    """The leg ringing an agent for an offer of the distributor's."""

    leg: str
    whisper: str = ""
    """What to whisper to the agent before the caller is connected (the queue name)."""


STAR_WINDOW = 3.0
"""Seconds within which ``0`` after ``*`` is the recording key."""
DIRECT_KINDS = frozenset(
    {"connect", "click-to-call", "operator", "campaign-agent", "campaign", "consult"}
)
"""Legs to an agent's phone that the ACD did not offer: answered, the agent is busy."""


def agent_configs(users: Sequence[UserConfig]) -> list[AgentConfig]:
    """Agents from the configured users that belong to at least one queue."""
    return [
        AgentConfig(
            id=u.extension,
            name=u.name,
            devices=(u.extension,),
            skills=dict(u.skills),
            queues=tuple(Membership(q) for q in u.queues),
        )
        for u in users
        if u.queues
    ]


def failure_reason(status: int, reason: str) -> str:
    """Why an offer failed, in the distributor's words, from the leg's final status."""
    if status == 480 and reason == "Not Registered":
        return "unavailable"
    return FAILURE_REASONS.get(status, "no_answer" if status in (408, 480, 487) else "unavailable")


@define
class QueueService:
    """Runs the ACD over the call manager; its route handlers are :meth:`start`
    (``queue``), :meth:`feature` (``feature``) and :meth:`operator` (``operator``)."""

    manager: CallManager
    distributor: Distributor
    users: Mapping[str, UserConfig]
    store: Store | None = None
    wall: Callable[[float], float] = field(default=lambda now: now)
    rng: random.Random = field(factory=random.Random)
    listeners: Sequence[AcdListener] = ()
    """Called with every ACD action (agent states for wallboards, offers for screen pops)."""
    campaign_wrap_up: Mapping[str, float] = field(factory=dict)
    """Campaign → the wrap-up its agents have after a preview call."""
    callback_trunk: str | None = None
    """The trunk a queue callback calls the customer over (None: their SIP contact)."""
    callback_caller_id: str = ""
    """The number the customer sees on a callback over the trunk ('' = the queue's)."""
    supervision: Supervision = field(init=False)
    _queued: dict[str, _Queued] = field(init=False, factory=dict)
    """ACD call id → the caller's legs."""
    _by_leg: dict[str, str] = field(init=False, factory=dict)
    _ringing: dict[tuple[str, str], _Ringing] = field(init=False, factory=dict)
    """(ACD call, agent) → the leg ringing the agent's phone."""
    _operators: dict[str, set[str]] = field(init=False, factory=dict)
    """Caller leg → the agents' legs ringing for it (the ``operator`` target)."""
    _pending: deque[ev.AcdEvent] = field(init=False, factory=deque)
    _busy: bool = field(init=False, default=False)
    _after_feature: dict[str, ev.AcdEvent] = field(init=False, factory=dict)
    """Feature-code leg → the log-in or unpause to apply once the phone hung up."""
    _star: dict[str, float] = field(init=False, factory=dict)
    """Agent's leg → when they pressed ``*`` (a ``*0`` may follow)."""
    _direct: dict[str, tuple[str, str, float | None]] = field(init=False, factory=dict)
    """Agent's answered leg on a call the ACD did not distribute → (agent, call, its
    wrap-up)."""
    _actions: dict[type, Callable[[Any, float], None]] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.supervision = Supervision(self.manager)
        self._actions = {
            act.LogEvent: self._log_event,
            act.OfferToAgent: self._offer,
            act.CancelOffer: self._cancel_offer,
            act.ConnectCall: self._connect,
            act.Announce: self._announce,
            act.PlayHold: self._play_hold,
            act.OfferCallback: self._offer_callback,
            act.Overflow: self._overflow,
            act.RejectCall: self._reject,
            act.PlaceCallback: self._place_callback,
        }

    # ============================================================ entry points
    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The ``queue`` target: answer, hold music, join the queue (the target's
        options may give ``priority``, ``skills`` and ``lang``)."""
        target = call.target
        assert target is not None
        options = target.options
        self.enqueue(
            call,
            leg,
            target.name,
            now,
            priority=int(options.get("priority", 0)),
            skills=dict(options.get("skills", {})),
            lang=str(options.get("lang", call.data.get("lang", "en"))),
        )

    def enqueue(
        self,
        call: Call,
        leg: Leg,
        queue: str,
        now: float,
        *,
        priority: int = 0,
        skills: Mapping[str, int] | None = None,
        lang: str = "en",
    ) -> None:
        """Put ``call`` into ``queue`` (from the dial plan, the IVR, an overflow)."""
        if leg.state is LegState.RINGING:
            self.manager.answer(leg.id, now)
        acd_call = call.id
        previous = self._queued.get(acd_call)
        if previous is not None and previous.queue != queue:
            acd_call = f"{call.id}:{queue}"  # an overflow into another queue
        q = _Queued(acd_call, call.id, leg.id, queue, lang, contact=call.contact)
        self._queued[acd_call] = q
        self._by_leg[leg.id] = acd_call
        call.queue = queue
        call.data.setdefault("queue", queue)
        call.waiting = queue
        config = self.distributor.queue_config(queue)
        if config is not None:
            call.music_class = config.music_class
        self._hold(q, now)
        caller = call.caller.number if call.caller is not None else ""
        self.feed(
            ev.CallQueued(acd_call, queue, priority, dict(skills or {}), dict(call.data), caller),
            now,
        )

    def feed(self, event: ev.AcdEvent, now: float) -> None:
        """Hand an event to the distributor and perform what it asks (re-entrant safe)."""
        self._pending.append(event)
        if self._busy:
            return
        self._busy = True
        try:
            while self._pending:
                actions = self.distributor.handle(self._pending.popleft(), now)
                self._perform(actions, now)
        finally:
            self._busy = False

    def get_timer(self) -> float | None:
        """The distributor's next deadline."""
        return self.distributor.get_timer()

    def handle_timer(self, now: float) -> None:
        """Fire the distributor's deadlines (ring timeouts, wrap-up, announcements ...)."""
        self._perform(self.distributor.handle_timer(now), now)
        while self._pending:
            self.feed(self._pending.popleft(), now)

    def snapshot(self, now: float) -> LiveView:
        """Queues and agents as they are now, for supervisors and wallboards."""
        return self.distributor.snapshot(now)

    # ============================================================ call events in
    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """Feed every call-manager event here."""
        if isinstance(event, LegAnswered) and event.purpose is not None:
            self._leg_answered(event, event.purpose, now)
        elif isinstance(event, LegRinging) and event.purpose is not None:
            p = event.purpose
            ringing = self._ringing.get((p.ref, p.agent or "")) if p.kind == "offer" else None
            if ringing is not None and ringing.leg == event.leg:
                self.feed(ev.OfferRinging(p.ref, p.agent or ""), now)  # reserved → ringing
        elif isinstance(event, LegFailed) and event.purpose is not None:
            self._leg_failed(event, event.purpose, now)
        elif isinstance(event, LegEnded):
            self._leg_ended(event, now)
        elif isinstance(event, PlaybackDone):
            self._playback_done(event, now)
        elif isinstance(event, TransferRequested):
            for q in list(self._queued.values()):
                if q.agent_leg == event.leg and q.agent is not None:
                    self.feed(ev.CallTransferred(q.acd_call, q.agent, event.target), now)
        elif isinstance(event, HoldChanged):
            self._hold_changed(event, now)
        elif isinstance(event, DigitReceived):
            if self.supervision.digit(event.leg, event.digit):
                return
            if self._recording_key(event, now):
                return
            caller = self._queued.get(self._by_leg.get(event.leg, ""))
            if caller is not None and event.leg == caller.leg and not caller.connected:
                if not caller.callback:
                    self.feed(ev.KeyPressed(caller.acd_call, event.digit), now)

    def _recording_key(self, event: DigitReceived, now: float) -> bool:
        """``*0`` pressed by the agent during a queue call pauses or resumes its recording
        (a card number is read out); the agent hears a beep. True when it was theirs."""
        q = self._queued.get(self._by_leg.get(event.leg, ""))
        if q is None or not q.connected or event.leg != q.agent_leg:
            return False
        if event.digit == "*":
            self._star[event.leg] = now
            return True
        pressed = self._star.pop(event.leg, None)
        if event.digit != "0" or pressed is None or now - pressed > STAR_WINDOW:
            return False
        call = self.manager.calls.get(q.call)
        if call is not None and self.manager.pause_recording(call.id, not call.recording_paused):
            log.info(
                "recording_paused" if call.recording_paused else "recording_resumed",
                call=call.id,
                agent=q.agent,
            )
        return True

    def _hold_changed(self, event: HoldChanged, now: float) -> None:
        """Either side of an answered queue call went on hold or came back: the agent's
        ACD state follows (on_hold, on_call) and the queue log records it."""
        q = self._queued.get(self._by_leg.get(event.leg, ""))
        if q is None or not q.connected or q.agent is None:
            return
        if event.leg not in (q.leg, q.agent_leg):
            return
        kind = ev.CallHeld if event.held else ev.CallResumed
        self.feed(kind(q.acd_call, q.agent), now)

    def handle_sip_event(self, event: EndpointEvent, now: float) -> None:
        """Registrations tell the ACD when an agent's phone comes and goes."""
        if isinstance(event, DeviceRegistered):
            agent = self.distributor_agent(event.aor)
            if agent is not None:
                kind = ev.DeviceAvailable if event.bindings else ev.DeviceUnavailable
                self.feed(kind(agent), now)

    # ============================================================ who serves what
    def change_agent(
        self,
        agent: str,
        now: float,
        *,
        user: str,
        join: tuple[str, int] | None = None,
        leave: str | None = None,
        skills: Mapping[str, int] | None = None,
    ) -> None:
        """One change path for an agent's memberships and skills at run time: the new
        profile is stored (and audited) first, then the ACD applies it, so it outlives
        a restart (:meth:`restore_agents`). ``join``: (queue, penalty)."""
        current = self.distributor.agent(agent).config
        members = [(m.queue, m.penalty) for m in current.queues]
        events: list[ev.AcdEvent] = []
        if join is not None:
            members = [(q, p) for q, p in members if q != join[0]] + [join]
            events.append(ev.MembershipChanged(agent, join[0], True, join[1]))
        if leave is not None:
            members = [(q, p) for q, p in members if q != leave]
            events.append(ev.MembershipChanged(agent, leave, False))
        levels = dict(current.skills)
        if skills is not None:
            levels = {name: level for name, level in skills.items() if level > 0}
            events.append(ev.SkillsChanged(agent, levels))
        if self.store is not None:
            wall = self.wall(now)
            self.store.agent_profile(agent, members, levels, wall, user)
            detail = {"queues": members, "skills": levels}
            self.store.audit(wall, user, "change", f"agent:{agent}", detail)
        for event in events:
            self.feed(event, now)

    def restore_agents(self, now: float) -> None:
        """At start: the memberships and skills changed at run time, over the config."""
        if self.store is None:
            return
        for agent, (members, skills) in self.store.agent_profiles().items():
            if self.distributor_agent(agent) is None:
                log.warning("agent_profile_unknown_agent", agent=agent)
                continue
            wanted = {q: p for q, p in members if q in self.distributor.queue_names}
            for m in self.distributor.agent(agent).config.queues:
                if m.queue not in wanted:
                    self.feed(ev.MembershipChanged(agent, m.queue, False), now)
            for queue, penalty in wanted.items():
                self.feed(ev.MembershipChanged(agent, queue, True, penalty), now)
            self.feed(ev.SkillsChanged(agent, skills), now)

    def distributor_agent(self, extension: str) -> str | None:
        """The agent id whose device is ``extension``, if any."""
        try:
            self.distributor.agent(extension)
        except LocalProtocolError:
            return None
        return extension

    def _leg_answered(self, event: LegAnswered, p: Purpose, now: float) -> None:
        manager = self.manager
        if p.kind == "offer":
            ringing = self._ringing.get((p.ref, p.agent or ""))
            if ringing is None or ringing.leg != event.leg:
                manager.hangup(event.leg, now)  # an offer withdrawn meanwhile
                return
            self.feed(ev.OfferAccepted(p.ref, p.agent or ""), now)
        elif p.kind == "operator":
            for other in self._operators.pop(p.peer or "", set()) - {event.leg}:
                manager.hangup(other, now)
            call = manager.calls.get(event.call)
            if call is not None:
                call.agent = call.agent or p.agent
            if event.leg in manager.legs and p.peer is not None:
                manager.bridge_answered(p.peer, manager.leg(event.leg), now)
        elif p.kind == "callback-agent":
            self._callback_agent_answered(event, p, now)
        elif p.kind == "monitor":
            self.supervision.answered(event, now)
        elif p.kind == "callback-customer":
            q = self._queued.get(p.ref)
            if q is None or q.agent_leg not in manager.legs:
                manager.hangup(event.leg, now)
                return
            q.leg, q.connected = event.leg, True
            self._by_leg[event.leg] = p.ref
            assert q.agent_leg is not None
            manager.bridge(event.leg, q.agent_leg, now)
            self.feed(ev.CallbackCompleted(p.ref, p.agent or ""), now)
        if p.kind in DIRECT_KINDS and p.agent and event.leg in manager.legs:
            self._direct_answered(event, p, now)

    def _leg_failed(self, event: LegFailed, p: Purpose, now: float) -> None:
        if p.kind == "offer":
            key = (p.ref, p.agent or "")
            ringing = self._ringing.get(key)
            if ringing is None or ringing.leg != event.leg:
                return  # we cancelled it
            del self._ringing[key]
            self._by_leg.pop(event.leg, None)
            self.feed(
                ev.OfferFailed(p.ref, p.agent or "", failure_reason(event.status, event.reason)),
                now,
            )
        elif p.kind == "operator":
            operators = self._operators.get(p.peer or "")
            if operators is None:
                return
            operators.discard(event.leg)
            if not operators:
                del self._operators[p.peer or ""]
                if p.peer in self.manager.legs:
                    self.manager.fail_caller(p.peer or "", event.status, now)
        elif p.kind in ("callback-agent", "callback-customer"):
            q = self._queued.get(p.ref)
            if q is None:
                return
            if p.kind == "callback-customer" and q.agent_leg is not None:
                self.manager.hangup(q.agent_leg, now)
            self._finish(q)
            why = "no_answer" if p.kind == "callback-customer" else "agent"
            self.feed(ev.CallbackFailed(p.ref, p.agent or "", why), now)

    def _direct_answered(self, event: LegAnswered, p: Purpose, now: float) -> None:
        """An agent's phone answered a call no queue offered (their extension dialled,
        click-to-call, the operator, a preview dial): the ACD offers them nothing more
        until it ends."""
        agent = self.distributor_agent(p.agent or "")
        if agent is None:
            return
        call = self.manager.calls.get(event.call)
        campaign = str(call.data.get("campaign", "")) if call is not None else ""
        self._direct[event.leg] = (agent, event.call, self.campaign_wrap_up.get(campaign))
        self.feed(ev.DirectCallStarted(agent, event.call), now)

    def _direct_ended(self, leg: str, now: float) -> None:
        agent, call_id, wrap_up = self._direct.pop(leg)
        self.feed(ev.DirectCallEnded(agent, call_id, wrap_up), now)

    def _leg_ended(self, event: LegEnded, now: float) -> None:
        if event.leg in self._direct:
            self._direct_ended(event.leg, now)
            return
        if self.supervision.leg_ended(event.leg, now):
            return
        for other in self._operators.pop(event.leg, set()):
            self.manager.hangup(other, now)  # the caller left while operators rang
        deferred = self._after_feature.pop(event.leg, None)
        if deferred is not None:
            self.feed(deferred, now)
            return
        acd_call = self._by_leg.pop(event.leg, None)
        q = self._queued.get(acd_call or "")
        if q is None:
            return
        if event.leg == q.leg:
            if q.callback:
                return  # the caller hung up after asking for a callback: place kept
            self._finish(q)
            if q.connected and q.agent is not None:
                self.feed(ev.CallCompleted(q.acd_call, q.agent, "caller"), now)
            else:
                # The distributor withdraws its offers: the agents' phones stop ringing.
                self.feed(ev.CallAbandoned(q.acd_call), now)
        elif event.leg == q.agent_leg and q.connected and q.agent is not None:
            self._finish(q)
            self.feed(ev.CallCompleted(q.acd_call, q.agent, "agent"), now)

    def _playback_done(self, event: PlaybackDone, now: float) -> None:
        q = self._queued.get(self._by_leg.get(event.leg, ""))
        if q is None:
            return
        if q.whispering and event.leg == q.agent_leg:
            q.whispering = False
            if q.leg in self.manager.legs and q.agent_leg in self.manager.legs:
                self.manager.bridge(q.leg, q.agent_leg, now)
            return
        # Only the announcement's own end: the hold music it replaced also reports a (not
        # completed) PlaybackDone, which must not cut the announcement off.
        if q.announcing and event.leg == q.leg and event.completed:
            q.announcing = False
            if not q.connected:
                self._hold(q, now)

    def _finish(self, q: _Queued) -> None:
        self._queued.pop(q.acd_call, None)
        for leg in (q.leg, q.agent_leg):
            if leg is not None and self._by_leg.get(leg) == q.acd_call:
                del self._by_leg[leg]

    # ============================================================ actions out
    def _perform(self, actions: list[act.AcdAction], now: float) -> None:
        for action in actions:
            for listener in self.listeners:
                listener(action, now)
            handler = self._actions.get(type(action))
            if handler is None:
                continue  # agent states and the like: for the listeners only
            try:
                handler(action, now)
            except Exception:
                log.exception("acd_action_failed", action=type(action).__name__)

    def _log_event(self, a: act.LogEvent, now: float) -> None:
        if a.event == "CALLBACKREQUESTED":
            self._callback_requested(a.call, now)
        if self.store is not None:
            q = self._queued.get(a.call)
            self.store.queue_log(
                self.wall(a.time),
                a.event,
                call_id=q.call if q is not None else (a.call or None),
                queue=a.queue or None,
                agent=a.agent or None,
                data=a.data,
            )

    def _play_hold(self, a: act.PlayHold, now: float) -> None:
        q = self._queued.get(a.call)
        # After an announcement: its PlaybackDone brings the music back.
        if q is not None and not q.connected and not q.announcing:
            self._hold(q, now)

    def _offer_callback(self, a: act.OfferCallback, now: float) -> None:
        q = self._queued.get(a.call)
        if q is not None and not q.connected:
            q.announcing = True
            self._play(q.leg, [f"{q.lang}/callback-offer"], now)

    def _reject(self, a: act.RejectCall, now: float) -> None:
        q = self._queued.pop(a.call, None)
        if q is not None:
            self._by_leg.pop(q.leg, None)
            self.manager.hangup(q.leg, now, status=486)

    def _hold(self, q: _Queued, now: float) -> None:
        leg = self.manager.legs.get(q.leg)
        if leg is None or leg.channel is None:
            return
        call = self.manager.calls.get(q.call)
        music = self.manager.music(call.music_class if call is not None else "")
        self.manager.play(q.leg, music, now, loop=True)

    def _items(self, names: Sequence[str]) -> list[PlayItem]:
        """The prompts of ``names`` that are loaded (a beep when none is)."""
        items: list[PlayItem] = [PromptItem(n) for n in names if self.manager.has_prompt(n)]
        return items or [ToneItem(tone("beep"))]

    def _play(self, leg_id: str, names: Sequence[str], now: float) -> None:
        self.manager.play(leg_id, self._items(names), now)

    def _announce(self, a: act.Announce, now: float) -> None:
        q = self._queued.get(a.call)
        if q is None or q.connected:
            return
        if q.announcing:
            # The previous announcement (or the callback offer) is still playing: never
            # cut it off; the next period brings the next one.
            return
        lang = q.lang if q.lang in ("en", "ru") else "en"
        names = [f"{lang}/queue-position", *(f"{lang}/{n}" for n in say_number(a.position, lang))]
        minutes = int(round(a.ewt_seconds / 60))
        names.append(f"{lang}/queue-wait")
        if minutes < 1:
            names.append(f"{lang}/less-than-a-minute")
        else:
            names += [f"{lang}/{n}" for n in say_number(minutes, lang, "f")]
            if lang == "ru":
                names.append(f"ru/{plural_ru(minutes, 'minute', 'minutes-few', 'minutes')}")
            else:
                names.append("en/minute" if minutes == 1 else "en/minutes")
        q.announcing = True
        self._play(q.leg, names, now)

    # -- offers --------------------------------------------------------------------------
    def _offer(self, a: act.OfferToAgent, now: float) -> None:
        q = self._queued.get(a.call)
        manager = self.manager
        device = next((d for d in a.devices if manager.registered(d, now)), None)
        if q is None or q.call not in manager.calls or device is None:
            self._pending.append(ev.OfferFailed(a.call, a.agent, "unavailable"))
            return
        call = manager.calls[q.call]
        caller = call.caller.presented if call.caller is not None else None
        headers = [("X-Queue", a.queue)]
        for key, value in a.data.items():
            if isinstance(value, (str, int, float)) and key.isidentifier():
                headers.append((f"X-Data-{key}", str(value)[:200]))
        leg_id = manager.dial(
            q.call,
            device,
            now,
            purpose=Purpose("offer", ref=a.call, agent=a.agent),
            from_number=caller.number if caller is not None else None,
            from_name=caller.name if caller is not None else None,
            ring_timeout=a.ring_timeout + 5.0,  # the ACD decides ring-no-answer
            extra=headers,
        )
        self._ringing[(a.call, a.agent)] = _Ringing(leg_id, a.whisper or "")

    def _cancel_offer(self, a: act.CancelOffer, now: float) -> None:
        ringing = self._ringing.pop((a.call, a.agent), None)
        if ringing is not None:
            self.manager.hangup(ringing.leg, now)

    def _connect(self, a: act.ConnectCall, now: float) -> None:
        q = self._queued.get(a.call)
        manager = self.manager
        ringing = self._ringing.pop((a.call, a.agent), None)
        agent_leg = ringing.leg if ringing is not None else None
        if q is None or agent_leg not in manager.legs or q.leg not in manager.legs:
            if agent_leg is not None:
                manager.hangup(agent_leg, now)
            return
        assert agent_leg is not None and ringing is not None
        q.agent, q.agent_leg, q.connected = a.agent, agent_leg, True
        self._by_leg[agent_leg] = q.acd_call
        prompt = f"{q.lang}/queue-{ringing.whisper}" if ringing.whisper else ""
        if prompt and manager.has_prompt(prompt):
            # Whisper the queue's name to the agent alone; bridge when it ends.
            q.whispering = True
            manager.play(agent_leg, [PromptItem(prompt)], now)
        else:
            manager.bridge(q.leg, agent_leg, now)
        call = manager.calls[q.call]
        call.agent = a.agent
        call.data["agent"] = a.agent
        call.waiting = None
        if a.record:
            manager.record_call(call, manager.leg(q.leg), manager.leg(agent_leg), now)

    # -- leaving the queue ------------------------------------------------------------
    def _overflow(self, a: act.Overflow, now: float) -> None:
        q = self._queued.pop(a.call, None)
        if q is None:
            return
        self._by_leg.pop(q.leg, None)
        manager = self.manager
        call = manager.calls.get(q.call)
        leg = manager.legs.get(q.leg)
        if call is None or leg is None:
            return
        call.waiting = None
        manager.stop_playback(leg.id)
        target = a.target
        if target.kind == "queue":
            self.enqueue(call, leg, target.name, now, lang=q.lang)
        elif target.kind == "number":
            manager.connect(leg.id, Target("extension", target.name), now, agent=target.name)
        else:
            manager.route(call, leg, Target(target.kind, target.name), now)

    def operator(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The ``operator`` target: ring every logged-in agent's phone at once; the first
        to answer takes the call."""
        view = self.snapshot(now)
        agents = [a.id for a in view.agents if a.state.name != "LOGGED_OUT"]
        ringing: set[str] = set()
        for agent in agents:
            if manager.registered(agent, now):
                purpose = Purpose("operator", ref=call.id, peer=leg.id, agent=agent)
                ringing.add(manager.dial(call.id, agent, now, purpose=purpose))
        if ringing:
            self._operators[leg.id] = ringing
        else:
            manager.hangup(leg.id, now, status=480)

    # -- callbacks --------------------------------------------------------------------
    def _callback_requested(self, acd_call: str, now: float) -> None:
        """The caller asked for a callback: confirm and let them go, place kept."""
        q = self._queued.get(acd_call)
        if q is None or q.leg not in self.manager.legs:
            return
        q.callback = True
        call = self.manager.calls.get(q.call)
        if call is not None:
            call.waiting = None
        self.manager.play(q.leg, self._items([f"{q.lang}/callback-confirm"]), now, then_hangup=True)

    def _place_callback(self, a: act.PlaceCallback, now: float) -> None:
        """Ring the reserved agent; when they answer, call the customer back."""
        manager = self.manager
        original = self._queued.get(a.call)
        lang = original.lang if original is not None else "en"
        queue = original.queue if original is not None else ""
        contact = original.contact if original is not None else None
        call_id = manager.originate(now, number=a.number, data=dict(a.data))
        call = manager.calls[call_id]
        call.queue = queue
        call.agent = a.agent
        call.contact = contact
        q = _Queued(a.call, call_id, "", queue, lang, contact=contact)
        self._queued[a.call] = q
        if not manager.registered(a.agent, now):
            self.feed(ev.CallbackFailed(a.call, a.agent, "unavailable"), now)
            return
        manager.dial(
            call_id,
            a.agent,
            now,
            purpose=Purpose("callback-agent", ref=a.call, agent=a.agent),
            from_number=a.number,
            extra=[("X-Queue", queue), ("X-Callback", a.number)],
        )

    def _callback_agent_answered(self, event: LegAnswered, p: Purpose, now: float) -> None:
        manager = self.manager
        q = self._queued.get(p.ref)
        if q is None:
            manager.hangup(event.leg, now)
            return
        q.agent, q.agent_leg = p.agent, event.leg
        self._by_leg[event.leg] = p.ref
        manager.play(event.leg, [ToneItem(tone("ringback"))], now, loop=True)
        # The customer: the address they called from (a SIP trunk simulation or a SIP
        # customer), or the number at the pbx's own host.
        call = manager.call(q.call)
        shown = q.queue or "pbx"
        customer: DialTo
        if self.callback_trunk is not None:
            customer = Target("trunk", self.callback_trunk, number=call.number)
            shown = self.callback_caller_id or shown
        elif q.contact is not None:
            customer = SipUri.parse(q.contact)
        else:
            customer = manager.uri_at_host(call.number)
        manager.dial(
            q.call,
            customer,
            now,
            purpose=Purpose("callback-customer", ref=p.ref, agent=p.agent),
            from_number=shown,
        )

    # ============================================================ feature codes
    def feature(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """``*1`` log in, ``*2`` log out, ``*3`` pause, ``*4`` unpause, ``*8`` ready (ends
        wrap-up), ``*5``/``*6``/``*7`` + extension: listen, whisper, barge (supervisors
        only)."""
        user = call.caller.number if call.caller is not None else ""
        code = call.number
        if call.origin != "user" or user not in self.users:
            manager.hangup(leg.id, now, status=403)
            return
        if code[:2] in ("*5", "*6", "*7"):
            self._monitor(leg, user, code[1], code[2:], now)
            return
        agent = self.distributor_agent(user)
        if agent is None:
            manager.hangup(leg.id, now, status=404)
            return
        reason = str(call.target.options.get("reason", "pause")) if call.target else "pause"
        events: dict[str, ev.AcdEvent] = {
            "*1": ev.AgentLogin(agent),
            "*2": ev.AgentLogout(agent),
            "*3": ev.AgentPause(agent, reason),
            "*4": ev.AgentUnpause(agent),
            "*8": ev.AgentReady(agent),
        }
        event = events.get(code)
        if event is None:
            manager.hangup(leg.id, now, status=404)
            return
        if code in ("*1", "*4", "*8"):
            # Available once the feature call is over: an offer now would find the
            # phone busy with this very call (486) and cost the agent the caller.
            self._after_feature[leg.id] = event
        else:
            self.feed(event, now)
        manager.answer(leg.id, now)
        manager.play(leg.id, [ToneItem(tone("beep"))], now, then_hangup=True)

    def _monitor(self, leg: Leg, user: str, digit: str, extension: str, now: float) -> None:
        manager = self.manager
        if not self.users[user].supervisor:
            log.info("supervise_refused", user=user, agent=extension)
            manager.hangup(leg.id, now, status=403)
            return
        target = agent_leg(manager, extension)
        if target is None:
            manager.hangup(leg.id, now, status=480)
            return
        manager.answer(leg.id, now)
        if not self.supervision.join(leg.id, extension, target, SUPERVISOR_ROLES[digit]):
            manager.hangup(leg.id, now, status=480)
