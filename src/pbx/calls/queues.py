"""The contact center's queues: the ACD distributor driven over the call manager.

Theory of operation
-------------------
:class:`pbx.acd.Distributor` decides (sans-I/O, knows no calls); this module is the glue
that makes its decisions happen to real calls and feeds the outcomes back:

* a call routed to a ``queue`` target is answered, hears music on hold, and becomes a
  ``CallQueued``; digits it presses become ``KeyPressed`` (exit keys, the callback key);
  its hang-up becomes ``CallAbandoned`` (or, after an agent answered, ``CallCompleted``);
* ``OfferToAgent`` rings the agent's registered phone (an outbound leg); its answer is
  ``OfferAccepted``, its failure ``OfferFailed`` (busy, rejected, no answer, unavailable);
  ``CancelOffer`` hangs the ringing leg up; ``ConnectCall`` bridges caller and agent and
  starts the stereo recording (caller left, agent right);
* ``Announce`` plays position and estimated wait, ``OfferCallback`` the callback offer;
  ``CallbackRequested`` (the key) keeps the place and lets the caller hang up;
  ``PlaceCallback`` rings the reserved agent first, then calls the customer back;
* ``Overflow`` routes the call on (another queue, an IVR, voicemail, a number),
  ``RejectCall`` refuses it; ``LogEvent`` rows go to the store's queue log;
* agents log in, out, pause and unpause with the feature codes of their phones (``*1`` …
  ``*4``), lose and regain their devices with their registrations, and supervisors listen
  (``*5``), whisper (``*6``) or barge (``*7``) into an agent's call, switching between the
  three with the digits 4, 5 and 6 while connected.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import structlog
from attrs import define, field

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.distributor import Distributor, LiveView
from pbx.acd.models import AgentConfig, Membership
from pbx.calls.dialplan import Target
from pbx.calls.events import CallEvent, DigitReceived, LegEnded, PlaybackDone, TransferRequested
from pbx.calls.manager import Call, CallManager, Leg, LegState
from pbx.config import UserConfig
from pbx.errors import LocalProtocolError
from pbx.media.mixer import Role
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.say import plural_ru, say_number
from pbx.media.tones import tone
from pbx.sip.events import DeviceRegistered, EndpointEvent
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

FAILURE_REASONS = {486: "busy", 600: "busy", 603: "rejected", 403: "rejected"}
SUPERVISOR_ROLES = {"5": Role.LISTEN, "6": Role.WHISPER, "7": Role.BARGE}
SWITCH_DIGITS = {"4": Role.LISTEN, "5": Role.WHISPER, "6": Role.BARGE}
WAITING = "_waiting"
"""Call data key set while the caller waits in a queue: hanging up then is abandoning
(:class:`~pbx.calls.manager.CallManager` writes the CDR disposition ``abandoned``)."""


@define(slots=True)
class _Queued:
    """A caller the ACD knows, with the legs that carry it."""

    acd_call: str
    call: str
    leg: str
    queue: str
    lang: str = "en"
    offers: dict[str, str] = field(factory=dict)
    """agent → ringing leg."""
    agent: str | None = None
    agent_leg: str | None = None
    connected: bool = False
    callback: bool = False
    """The caller asked for a callback and hangs up keeping their place."""
    whisper: dict[str, str] = field(factory=dict)
    """agent → what to whisper to them before the caller is connected (the queue name)."""
    whispering: bool = False
    """The agent answered and hears the whisper; the bridge waits for its end."""
    announcing: bool = False


@define(slots=True)
class _Monitor:
    supervisor_leg: str
    agent: str
    role: Role
    #: The agent's leg being monitored: when it ends, so does the supervisor's call.
    agent_leg: str = ""


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


@define
class QueueService:
    """Runs the ACD over the call manager; plug :meth:`start` into the ``queue`` target."""

    manager: CallManager
    distributor: Distributor
    users: Mapping[str, UserConfig]
    store: Store | None = None
    wall: Callable[[float], float] = field(default=lambda now: now)
    rng: random.Random = field(factory=random.Random)
    listeners: list[Callable[[act.AcdAction, float], None]] = field(factory=list)
    """Called with every ACD action (agent states for wallboards, offers for screen pops)."""
    _queued: dict[str, _Queued] = field(init=False, factory=dict)
    """ACD call id → the caller's legs."""
    _by_leg: dict[str, str] = field(init=False, factory=dict)
    _pending: deque[ev.AcdEvent] = field(init=False, factory=deque)
    _busy: bool = field(init=False, default=False)
    _monitors: dict[str, _Monitor] = field(init=False, factory=dict)
    _after_feature: dict[str, ev.AcdEvent] = field(init=False, factory=dict)
    """Feature-code leg → the log-in or unpause to apply once the phone hung up."""

    # ============================================================ entry points
    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The ``queue`` target: answer, hold music, join the queue."""
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
        q = _Queued(acd_call, call.id, leg.id, queue, lang)
        self._queued[acd_call] = q
        self._by_leg[leg.id] = acd_call
        call.queue = queue
        call.data.setdefault("queue", queue)
        call.data[WAITING] = queue
        sip_leg = self.manager.endpoint.legs.get(leg.id)
        if sip_leg is not None and sip_leg.invite.contacts:
            # Where a callback reaches this caller over a SIP trunk.
            call.data.setdefault("_callback_contact", str(sip_leg.invite.contacts[0].uri))
        self._hold(q, now)
        self.manager.on_digit(leg.id, lambda digit, t: self._caller_digit(acd_call, digit, t))
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
        if isinstance(event, LegEnded):
            self._leg_ended(event, now)
        elif isinstance(event, PlaybackDone):
            acd_call = self._by_leg.get(event.leg)
            q = self._queued.get(acd_call or "")
            if q is not None and q.whispering and event.leg == q.agent_leg:
                q.whispering = False
                if q.leg in self.manager.legs and q.agent_leg in self.manager.legs:
                    self.manager.bridge(q.leg, q.agent_leg, now)
                return
            # Only the announcement's own end: the hold music it replaced also reports
            # a (not completed) PlaybackDone, which must not cut the announcement off.
            if q is not None and q.announcing and event.leg == q.leg and event.completed:
                q.announcing = False
                if not q.connected:
                    self._hold(q, now)
        elif isinstance(event, TransferRequested):
            for q in list(self._queued.values()):
                if q.agent_leg == event.leg and q.agent is not None:
                    self.feed(ev.CallTransferred(q.acd_call, q.agent, event.target), now)
        elif isinstance(event, DigitReceived):
            monitor = self._monitors.get(event.leg)
            if monitor is not None and event.digit in SWITCH_DIGITS:
                self._set_monitor_role(monitor, SWITCH_DIGITS[event.digit])

    def handle_sip_event(self, event: EndpointEvent, now: float) -> None:
        """Registrations tell the ACD when an agent's phone comes and goes."""
        if isinstance(event, DeviceRegistered):
            agent = self.distributor_agent(event.aor)
            if agent is not None:
                kind = ev.DeviceAvailable if event.bindings else ev.DeviceUnavailable
                self.feed(kind(agent), now)

    def distributor_agent(self, extension: str) -> str | None:
        """The agent id whose device is ``extension``, if any."""
        try:
            self.distributor.agent(extension)
        except LocalProtocolError:
            return None
        return extension

    def _leg_ended(self, event: LegEnded, now: float) -> None:
        monitor = self._monitors.pop(event.leg, None)
        if monitor is not None:
            return
        for sup_leg, watching in list(self._monitors.items()):
            if watching.agent_leg == event.leg:
                # The monitored call is over: end the supervisor's call too.
                del self._monitors[sup_leg]
                log.info("supervise_ended", agent=watching.agent, reason="call ended")
                self.manager.hangup(sup_leg, now)
        deferred = self._after_feature.pop(event.leg, None)
        if deferred is not None:
            self.feed(deferred, now)
            return
        acd_call = self._by_leg.pop(event.leg, None)
        if acd_call is None:
            return
        q = self._queued.get(acd_call)
        if q is None:
            return
        if event.leg == q.leg:
            if q.callback:
                return  # the caller hung up after asking for a callback: place kept
            if q.connected and q.agent is not None:
                self._finish(q)
                self.feed(ev.CallCompleted(acd_call, q.agent, "caller"), now)
            else:
                # Agents' phones still ringing with this caller stop ringing.
                offers = list(q.offers.values())
                q.offers.clear()
                for offer_leg in offers:
                    self.manager.hangup(offer_leg, now)
                self._finish(q)
                self.feed(ev.CallAbandoned(acd_call), now)
        elif event.leg == q.agent_leg and q.connected and q.agent is not None:
            self._finish(q)
            self.feed(ev.CallCompleted(acd_call, q.agent, "agent"), now)

    def _finish(self, q: _Queued) -> None:
        self._queued.pop(q.acd_call, None)
        for leg in (q.leg, q.agent_leg, *q.offers.values()):
            if leg is not None and self._by_leg.get(leg) == q.acd_call:
                del self._by_leg[leg]

    def _caller_digit(self, acd_call: str, digit: str, now: float) -> None:
        q = self._queued.get(acd_call)
        if q is not None and not q.connected:
            self.feed(ev.KeyPressed(acd_call, digit), now)

    # ============================================================ actions out
    def _perform(self, actions: list[act.AcdAction], now: float) -> None:
        for action in actions:
            for listener in self.listeners:
                listener(action, now)
            try:
                self._do(action, now)
            except Exception:
                log.exception("acd_action_failed", action=type(action).__name__)

    def _do(self, a: act.AcdAction, now: float) -> None:
        if isinstance(a, act.LogEvent):
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
        elif isinstance(a, act.OfferToAgent):
            self._offer(a, now)
        elif isinstance(a, act.CancelOffer):
            self._cancel_offer(a.call, a.agent, now)
        elif isinstance(a, act.ConnectCall):
            self._connect(a, now)
        elif isinstance(a, act.Announce):
            self._announce(a, now)
        elif isinstance(a, act.PlayHold):
            q = self._queued.get(a.call)
            # After an announcement: its PlaybackDone brings the music back.
            if q is not None and not q.connected and not q.announcing:
                self._hold(q, now)
        elif isinstance(a, act.OfferCallback):
            q = self._queued.get(a.call)
            if q is not None and not q.connected:
                q.announcing = True
                self._play(q.leg, [f"{q.lang}/callback-offer"], now)
        elif isinstance(a, act.Overflow):
            self._overflow(a, now)
        elif isinstance(a, act.RejectCall):
            q = self._queued.pop(a.call, None)
            if q is not None:
                self._by_leg.pop(q.leg, None)
                self.manager.hangup(q.leg, now, status=486)
        elif isinstance(a, act.PlaceCallback):
            self._place_callback(a, now)

    def _hold(self, q: _Queued, now: float) -> None:
        leg = self.manager.legs.get(q.leg)
        if leg is None or leg.channel is None:
            return
        self.manager.play(q.leg, list(self.manager.moh), now, loop=True)

    def _play(self, leg_id: str, names: Sequence[str], now: float) -> None:
        prompts = self.manager.engine.prompts
        items: list[PlayItem] = [PromptItem(n) for n in names if n in prompts]
        if not items:
            items = [ToneItem(tone("beep"))]
        self.manager.play(leg_id, items, now)

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
        if q is None or q.call not in manager.calls:
            self._pending.append(ev.OfferFailed(a.call, a.agent, "unavailable"))
            return
        location = manager.location
        bindings = []
        for device in a.devices:
            bindings = location.lookup(device, now) if location is not None else []
            if bindings:
                break
        if not bindings:
            self._pending.append(ev.OfferFailed(a.call, a.agent, "unavailable"))
            return
        binding = bindings[0]
        contact = binding.contact.uri
        assert isinstance(contact, SipUri)
        call = manager.calls[q.call]
        caller = call.caller
        headers = [("X-Queue", a.queue)]
        for key, value in a.data.items():
            if isinstance(value, (str, int, float)) and key.isidentifier():
                headers.append((f"X-Data-{key}", str(value)[:200]))

        def answered(out: Leg, t: float) -> None:
            if q.offers.get(a.agent) != out.id:
                manager.hangup(out.id, t)
                return
            self.feed(ev.OfferAccepted(a.call, a.agent), t)

        def failed(out: Leg, status: int, reason: str, t: float) -> None:
            if q.offers.get(a.agent) != out.id:
                return  # we cancelled it
            del q.offers[a.agent]
            self._by_leg.pop(out.id, None)
            why = FAILURE_REASONS.get(
                status, "no_answer" if status in (408, 480, 487) else "unavailable"
            )
            self.feed(ev.OfferFailed(a.call, a.agent, why), t)

        leg_id = manager.dial(
            q.call,
            contact,
            now,
            from_number=caller.number if caller is not None else None,
            from_name=caller.name if caller is not None else None,
            destination=binding.source,
            ring_timeout=a.ring_timeout + 5.0,  # the ACD decides ring-no-answer
            on_answer=answered,
            on_failure=failed,
            extra=headers,
        )
        q.offers[a.agent] = leg_id
        if a.whisper:
            q.whisper[a.agent] = a.whisper
        self._by_leg[leg_id] = q.acd_call
        manager.leg(leg_id).peer = None

    def _cancel_offer(self, acd_call: str, agent: str, now: float) -> None:
        q = self._queued.get(acd_call)
        if q is None:
            return
        leg = q.offers.pop(agent, None)
        if leg is not None:
            self._by_leg.pop(leg, None)
            self.manager.hangup(leg, now)

    def _connect(self, a: act.ConnectCall, now: float) -> None:
        q = self._queued.get(a.call)
        manager = self.manager
        if q is None:
            return
        agent_leg = q.offers.pop(a.agent, None)
        if agent_leg is None or agent_leg not in manager.legs or q.leg not in manager.legs:
            if agent_leg is not None:
                manager.hangup(agent_leg, now)
            return
        for other in list(q.offers.values()):
            manager.hangup(other, now)  # ring-all: the others stop ringing
        q.offers.clear()
        q.agent, q.agent_leg, q.connected = a.agent, agent_leg, True
        self._by_leg[agent_leg] = q.acd_call
        whisper = q.whisper.get(a.agent)
        prompt = f"{q.lang}/queue-{whisper}" if whisper else ""
        if prompt and prompt in manager.engine.prompts:
            # Whisper the queue's name to the agent alone; bridge when it ends.
            q.whispering = True
            manager.play(agent_leg, [PromptItem(prompt)], now)
        else:
            manager.bridge(q.leg, agent_leg, now)
        call = manager.calls[q.call]
        call.agent = a.agent
        call.data["agent"] = a.agent
        call.data.pop(WAITING, None)
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
        call.data.pop(WAITING, None)
        manager.stop_playback(leg.id)
        manager.on_digit(leg.id, None)
        target = a.target
        if target.kind == "queue":
            self.enqueue(call, leg, target.name, now, lang=q.lang)
        elif target.kind == "number":
            manager.connect_extension(leg.id, target.name, now)
        else:
            manager.route(call, leg, Target(target.kind, target.name), now)

    # -- callbacks --------------------------------------------------------------------
    def _callback_requested(self, acd_call: str, now: float) -> None:
        """The caller asked for a callback: confirm and let them go, place kept."""
        q = self._queued.get(acd_call)
        if q is None or q.leg not in self.manager.legs:
            return
        q.callback = True
        call = self.manager.calls.get(q.call)
        if call is not None:
            call.data.pop(WAITING, None)
        self.manager.on_digit(q.leg, None)
        names = [f"{q.lang}/callback-confirm"]
        prompts = self.manager.engine.prompts
        items: list[PlayItem] = [PromptItem(n) for n in names if n in prompts] or [
            ToneItem(tone("beep"))
        ]
        self.manager.play(q.leg, items, now, then_hangup=True)

    def _place_callback(self, a: act.PlaceCallback, now: float) -> None:
        manager = self.manager
        original = self._queued.get(a.call)
        lang = original.lang if original is not None else "en"
        queue = original.queue if original is not None else ""
        call_id = manager.originate(now, number=a.number, data=dict(a.data))
        call = manager.calls[call_id]
        call.queue = queue
        call.agent = a.agent
        q = _Queued(a.call, call_id, "", queue, lang)
        self._queued[a.call] = q
        bindings = manager.location.lookup(a.agent, now) if manager.location else []
        if not bindings:
            self.feed(ev.CallbackFailed(a.call, a.agent, "unavailable"), now)
            return
        binding = bindings[0]
        contact = binding.contact.uri
        assert isinstance(contact, SipUri)

        def agent_answered(agent_leg: Leg, t: float) -> None:
            q.agent, q.agent_leg = a.agent, agent_leg.id
            self._by_leg[agent_leg.id] = a.call
            manager.play(agent_leg.id, [ToneItem(tone("ringback"))], t, loop=True)
            customer = self._callback_uri(a.number, a.data)
            manager.dial(
                call_id,
                customer,
                t,
                from_number=queue or "pbx",
                on_answer=customer_answered,
                on_failure=customer_failed,
            )

        def customer_answered(customer: Leg, t: float) -> None:
            q.leg, q.connected = customer.id, True
            self._by_leg[customer.id] = a.call
            assert q.agent_leg is not None
            manager.bridge(customer.id, q.agent_leg, t)
            self.feed(ev.CallbackCompleted(a.call, a.agent), t)

        def customer_failed(customer: Leg, status: int, reason: str, t: float) -> None:
            if q.agent_leg is not None:
                manager.hangup(q.agent_leg, t)
            self._finish(q)
            self.feed(ev.CallbackFailed(a.call, a.agent, "no_answer"), t)

        def agent_failed(agent_leg: Leg, status: int, reason: str, t: float) -> None:
            self._finish(q)
            self.feed(ev.CallbackFailed(a.call, a.agent, "agent"), t)

        manager.dial(
            call_id,
            contact,
            now,
            from_number=a.number,
            destination=binding.source,
            on_answer=agent_answered,
            on_failure=agent_failed,
            extra=[("X-Queue", queue), ("X-Callback", a.number)],
        )

    def _callback_uri(self, number: str, data: Mapping[str, object]) -> SipUri:
        """Where to call the customer back: the address they called from (a SIP trunk
        simulation or a SIP customer), or the number at the callback trunk's host."""
        contact = data.get("_callback_contact")
        if isinstance(contact, str):
            return SipUri.parse(contact)
        return SipUri("sip", number, None, self.manager.transport.host)

    # ============================================================ feature codes
    def feature(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """``*1`` log in, ``*2`` log out, ``*3`` pause, ``*4`` unpause, ``*5``/``*6``/``*7``
        + extension: listen, whisper, barge (supervisors only)."""
        user = call.caller.number if call.caller is not None else ""
        code = call.number
        if call.origin != "user" or user not in self.users:
            manager.hangup(leg.id, now, status=403)
            return
        if code[:2] in ("*5", "*6", "*7"):
            self._monitor(call, leg, user, code[1], code[2:], now)
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
        }
        event = events.get(code)
        if event is None:
            manager.hangup(leg.id, now, status=404)
            return
        if code in ("*1", "*4"):
            # Available once the feature call is over: an offer now would find the
            # phone busy with this very call (486) and cost the agent the caller.
            self._after_feature[leg.id] = event
        else:
            self.feed(event, now)
        manager.answer(leg.id, now)
        manager.play(leg.id, [ToneItem(tone("beep"))], now, then_hangup=True)

    def _monitor(
        self, call: Call, leg: Leg, user: str, digit: str, extension: str, now: float
    ) -> None:
        manager = self.manager
        if not self.users[user].supervisor:
            log.info("supervise_refused", user=user, agent=extension)
            manager.hangup(leg.id, now, status=403)
            return
        target = next(
            (
                q
                for q in self._queued.values()
                if q.agent == extension and q.connected and q.agent_leg
            ),
            None,
        )
        if target is None or q_leg(manager, target) is None:
            manager.hangup(leg.id, now, status=480)
            return
        manager.answer(leg.id, now)
        monitor = _Monitor(leg.id, extension, SUPERVISOR_ROLES[digit])
        self._monitors[leg.id] = monitor
        self._set_monitor_role(monitor, monitor.role, join=True)
        log.info("supervise", user=user, agent=extension, role=monitor.role.name)

    def _set_monitor_role(self, monitor: _Monitor, role: Role, join: bool = False) -> None:
        manager = self.manager
        target = next(
            (
                q
                for q in self._queued.values()
                if q.agent == monitor.agent and q.connected and q.agent_leg
            ),
            None,
        )
        if target is None or target.agent_leg is None:
            return
        agent_leg = manager.legs.get(target.agent_leg)
        sup = manager.legs.get(monitor.supervisor_leg)
        if agent_leg is None or sup is None or agent_leg.bridge is None or sup.channel is None:
            return
        whisper_to = agent_leg.channel if role is Role.WHISPER else None
        if join:
            manager.engine.bridge_join(agent_leg.bridge, sup.channel, role, whisper_to=whisper_to)
            sup.bridge = agent_leg.bridge
            monitor.agent_leg = agent_leg.id
        else:
            manager.engine.bridge_set_role(sup.channel, role, whisper_to=whisper_to)
        monitor.role = role


def q_leg(manager: CallManager, q: _Queued) -> Leg | None:
    """The agent leg of a connected queue call, if it is still up."""
    return manager.legs.get(q.agent_leg or "")
