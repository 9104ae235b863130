"""IVR graphs run over the call manager: one sans-I/O :class:`pbx.ivr.IvrRunner` per call.

A call routed to an ``ivr`` target is answered and gets a runner for the named graph in
the target's language (``options.lang``). The caller's digits (RFC 4733, SIP INFO or
in-band), prompt ends and hang-up become runner events; the runner's actions become call
operations: prompts, attached data, lookups (Python functions at once; HTTP and SQL on a
worker thread the shell provides, so the loop never blocks), recordings, and the exits —
a queue (with priority and skills), a transfer (extension, number, or the operator: every
logged-in agent rings and the first to answer takes the call), voicemail, a callback
request (stored, and placed by :class:`CallbackScheduler`), or hang-up. Where the caller
left and the path taken are attached to the call (``ivr_exit``, ``ivr_path``) for
drop-off reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from attrs import define, field

from pbx.calls.dialplan import Target
from pbx.calls.events import CallEvent, DigitReceived, LegEnded, PlaybackDone
from pbx.calls.manager import Call, CallManager, Leg, LegState
from pbx.calls.queues import QueueService
from pbx.ivr import actions as ia
from pbx.ivr import events as ie
from pbx.ivr.graph import IvrGraph
from pbx.ivr.lookups import LookupService
from pbx.ivr.runner import IvrRunner
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

Submit = Callable[[Callable[[], Any], Callable[[Any], None]], None]
"""Run the first callable off the loop, then the second with its result on the loop."""


def run_inline(work: Callable[[], Any], done: Callable[[Any], None]) -> None:
    """A :data:`Submit` for tests and scripts without a loop: run now."""
    done(work())


@define(slots=True)
class _Run:
    runner: IvrRunner
    call: str
    leg: str
    recording: tuple[str, Path, float] | None = None


@define
class IvrService:
    """Runs IVR graphs; plug :meth:`start` into the ``ivr`` target."""

    manager: CallManager
    graphs: Mapping[str, IvrGraph]
    queues: QueueService | None = None
    lookups: LookupService = field(factory=LookupService)
    store: Store | None = None
    recordings: Path = Path("voicemail")
    submit: Submit = run_inline
    wall: Callable[[float], float] = field(default=lambda now: now)
    callback_queue: str = "support"
    """Where callbacks requested in the IVR are queued when placed."""
    clock: Callable[[], float] = field(default=time.monotonic)
    """The shell's clock, read only when an off-loop lookup finishes."""
    _runs: dict[str, _Run] = field(init=False, factory=dict)
    """leg id → its run."""

    # ============================================================ entry
    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        """The ``ivr`` target handler."""
        target = call.target
        assert target is not None
        graph = self.graphs.get(target.name)
        if graph is None:
            log.warning("ivr_unknown_graph", name=target.name)
            manager.hangup(leg.id, now, status=480)
            return
        lang = str(target.options.get("lang", call.data.get("lang", "en")))
        call.data.setdefault("lang", lang)
        call.data.setdefault("did", call.number)
        caller = call.caller.number if call.caller is not None else ""
        runner = IvrRunner(
            graph, call=call.id, caller=caller, data=dict(call.data), lang=lang, wall=self.wall
        )
        if leg.state is LegState.RINGING:
            manager.answer(leg.id, now)
        run = _Run(runner, call.id, leg.id)
        self._runs[leg.id] = run
        manager.on_digit(leg.id, lambda digit, t: self._event(leg.id, ie.Digit(digit), t))
        self._perform(run, runner.start(now), now)

    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """Feed every call-manager event here."""
        if isinstance(event, PlaybackDone):
            if event.leg in self._runs:
                self._event(event.leg, ie.PlaybackDone(None, event.completed), now)
        elif isinstance(event, LegEnded):
            run = self._runs.get(event.leg)
            if run is not None:
                self._stop_recording(run, now, report=False)
                self._event(event.leg, ie.HungUp(), now)
                self._runs.pop(event.leg, None)
        elif isinstance(event, DigitReceived):
            pass  # delivered through the digit listener

    def get_timer(self) -> float | None:
        """The earliest deadline of any run (menu time-outs, inter-digit time-outs ...)."""
        times = [t for r in self._runs.values() if (t := r.runner.get_timer()) is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Fire due run deadlines."""
        for run in list(self._runs.values()):
            t = run.runner.get_timer()
            if t is not None and t <= now:
                self._perform(run, run.runner.handle_timer(now), now)

    def _event(self, leg_id: str, event: ie.IvrEvent, now: float) -> None:
        run = self._runs.get(leg_id)
        if run is None or run.runner.finished:
            return
        self._perform(run, run.runner.handle(event, now), now)

    # ============================================================ actions
    def _perform(self, run: _Run, actions: list[ia.IvrAction], now: float) -> None:
        for action in actions:
            try:
                self._do(run, action, now)
            except Exception:
                log.exception("ivr_action_failed", action=type(action).__name__, call=run.call)

    def _do(self, run: _Run, a: ia.IvrAction, now: float) -> None:
        manager = self.manager
        call = manager.calls.get(run.call)
        leg = manager.legs.get(run.leg)
        if isinstance(a, ia.Finished):
            self._runs.pop(run.leg, None)
            if call is not None:
                call.data["ivr_exit"] = a.node
                call.data["ivr_path"] = list(a.path)
            log.info("ivr_finished", call=run.call, reason=a.reason, node=a.node)
            # The digit listener is left alone: an exit (queue, voicemail, transfer) has
            # already handed the leg, and its digits, to the next module.
            return
        if call is None or leg is None:
            return
        if isinstance(a, ia.Play):
            prompts = manager.engine.prompts
            items: list[PlayItem] = []
            for item in a.items:
                if isinstance(item, str):
                    if item in prompts:
                        items.append(PromptItem(item))
                    else:
                        log.warning("ivr_prompt_missing", prompt=item)
                else:
                    items.append(item)
            if not items:
                items = [ToneItem(tone("beep"), 0.1)]
            manager.play(leg.id, items, now)
        elif isinstance(a, ia.StopPlayback):
            manager.stop_playback(leg.id)
        elif isinstance(a, ia.SetData):
            call.data[a.key] = a.value
        elif isinstance(a, ia.Lookup):
            self._lookup(run, a)
        elif isinstance(a, ia.StartRecording):
            self._start_recording(run, call, leg, a, now)
        elif isinstance(a, ia.StopRecording):
            self._stop_recording(run, now, report=True)
        elif isinstance(a, ia.Enqueue):
            manager.on_digit(leg.id, None)
            if self.queues is None:
                manager.hangup(leg.id, now, status=480)
                return
            self.queues.enqueue(
                call,
                leg,
                a.queue,
                now,
                priority=a.priority,
                skills=a.skills,
                lang=str(call.data.get("lang", "en")),
            )
        elif isinstance(a, ia.Transfer):
            manager.on_digit(leg.id, None)
            self._transfer(call, leg, a, now)
        elif isinstance(a, ia.Voicemail):
            manager.on_digit(leg.id, None)
            manager.route(call, leg, Target("voicemail", a.mailbox), now)
        elif isinstance(a, ia.RequestCallback):
            self._request_callback(call, a, now)
        elif isinstance(a, ia.Hangup):
            manager.hangup(leg.id, now)

    def _lookup(self, run: _Run, a: ia.Lookup) -> None:
        def work() -> ie.LookupResult | ie.LookupFailed:
            return self.lookups.perform(a)

        def done(result: ie.LookupResult | ie.LookupFailed) -> None:
            now = self.clock()
            if run.leg in self._runs:
                self._perform(run, run.runner.handle(result, now), now)

        if a.kind == "python":
            done(work())  # in-process functions answer at once
        else:
            self.submit(work, done)

    def _start_recording(
        self, run: _Run, call: Call, leg: Leg, a: ia.StartRecording, now: float
    ) -> None:
        if leg.channel is None:
            return
        mailbox = str(call.data.get("mailbox", "ivr"))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.wall(now)))
        path = self.recordings / mailbox / f"{stamp}-{call.id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        key = f"ivr:{leg.id}"
        self.manager.engine.start_recording(key, path, mono=[leg.channel])
        run.recording = (key, path, now)

    def _stop_recording(self, run: _Run, now: float, *, report: bool) -> None:
        if run.recording is None:
            return
        key, path, started = run.recording
        run.recording = None
        self.manager.engine.stop_recording(key)
        if report:
            self._perform(
                run, run.runner.handle(ie.RecordingDone(str(path), now - started), now), now
            )

    def _transfer(self, call: Call, leg: Leg, a: ia.Transfer, now: float) -> None:
        manager = self.manager
        if a.kind == "operator":
            self._ring_operators(call, leg, now)
        elif a.kind in ("extension", "agent"):
            manager.connect_extension(leg.id, a.target, now)
        elif a.target.startswith("sip:"):

            def answered(out: Leg, t: float) -> None:
                manager.bridge_answered(leg.id, out, t)

            def failed(out: Leg, status: int, reason: str, t: float) -> None:
                manager.fail_caller(leg.id, status, t)

            manager.dial(
                call.id, SipUri.parse(a.target), now, on_answer=answered, on_failure=failed
            )
        else:
            match = manager.dialplan.resolve(origin="user", number=a.target, caller="", trunk=None)
            if match is None:
                manager.hangup(leg.id, now, status=404)
            else:
                manager.route(call, leg, match.target, now)

    def _ring_operators(self, call: Call, leg: Leg, now: float) -> None:
        """Ring every logged-in agent's phone at once; the first to answer takes the call."""
        manager = self.manager
        agents: list[str] = []
        if self.queues is not None:
            view = self.queues.snapshot(now)
            agents = [a.id for a in view.agents if a.state.name not in ("LOGGED_OUT",)]
        ringing: list[str] = []
        agent_of: dict[str, str] = {}

        def answered(out: Leg, t: float) -> None:
            for other in ringing:
                if other != out.id:
                    manager.hangup(other, t)
            call.agent = call.agent or agent_of.get(out.id, out.remote)
            manager.bridge_answered(leg.id, out, t)

        def failed(out: Leg, status: int, reason: str, t: float) -> None:
            if out.id in ringing:
                ringing.remove(out.id)
            if not ringing and leg.id in manager.legs:
                manager.fail_caller(leg.id, status, t)

        location = manager.location
        for agent in agents:
            bindings = location.lookup(agent, now) if location is not None else []
            if not bindings:
                continue
            contact = bindings[0].contact.uri
            if not isinstance(contact, SipUri):
                continue
            out_leg = manager.dial(
                call.id,
                contact,
                now,
                destination=bindings[0].source,
                on_answer=answered,
                on_failure=failed,
            )
            ringing.append(out_leg)
            agent_of[out_leg] = agent
        if not ringing:
            manager.hangup(leg.id, now, status=480)

    def _request_callback(self, call: Call, a: ia.RequestCallback, now: float) -> None:
        if self.store is None:
            return
        contact = None
        sip_leg = self.manager.endpoint.legs.get(call.legs[0]) if call.legs else None
        if sip_leg is not None and sip_leg.invite.contacts:
            contact = str(sip_leg.invite.contacts[0].uri)
        self.store.callback_insert(
            {
                "number": a.number,
                "queue": self.callback_queue,
                "requested": self.wall(now),
                "due": self.wall(now),
                "call_id": call.id,
                "data": {
                    "slot": a.slot,
                    "contact": contact,
                    **{k: v for k, v in call.data.items() if not k.startswith("_")},
                },
            }
        )
        call.data["callback"] = a.number
        log.info("ivr_callback_requested", call=call.id, number=a.number, slot=a.slot)


@define
class CallbackScheduler:
    """Places the callbacks the IVR stored: calls the customer back, then queues them.

    Pending rows of the store's ``callback`` table whose time has come are dialled (to
    the SIP contact the customer called from, else the number at the pbx's host); an
    answered callback joins its queue like a new caller, with the data it had; a failed
    one is retried after ``retry_after`` seconds, at most ``attempts`` times.
    """

    manager: CallManager
    queues: QueueService
    store: Store
    wall: Callable[[float], float] = field(default=lambda now: now)
    poll: float = 5.0
    retry_after: float = 60.0
    attempts: int = 3
    _next: float | None = field(init=False, default=None)

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

    def _place(self, row: dict[str, Any], now: float) -> None:
        manager = self.manager
        data = row["data"] if isinstance(row["data"], dict) else {}
        contact = data.get("contact")
        uri = (
            SipUri.parse(contact)
            if isinstance(contact, str)
            else SipUri("sip", row["number"], None, manager.transport.host)
        )
        self.store.execute(
            "UPDATE callback SET status='dialing', attempts=attempts+1 WHERE id=?", (row["id"],)
        )
        call_id = manager.originate(
            now, number=row["number"], data={k: v for k, v in data.items() if k not in ("contact",)}
        )
        call = manager.calls[call_id]
        queue = row["queue"] or "support"

        def answered(out: Leg, t: float) -> None:
            self.store.execute("UPDATE callback SET status='done' WHERE id=?", (row["id"],))
            call.data["callback"] = row["number"]
            self.queues.enqueue(call, out, queue, t, lang=str(call.data.get("lang", "en")))

        def failed(out: Leg, status: int, reason: str, t: float) -> None:
            retry = row["attempts"] + 1 < self.attempts
            self.store.execute(
                "UPDATE callback SET status=?, due=? WHERE id=?",
                ("pending" if retry else "failed", self.wall(t) + self.retry_after, row["id"]),
            )

        manager.dial(call_id, uri, now, from_number=queue, on_answer=answered, on_failure=failed)
        log.info("callback_placed", number=row["number"], queue=queue)
