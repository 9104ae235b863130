"""IVR graphs run over the call manager: one sans-I/O :class:`pbx.ivr.IvrRunner` per call.

A call routed to an ``ivr`` target is answered and gets a runner for the named graph in
the target's language (``options.lang``). The caller's digits (RFC 4733, SIP INFO or
in-band), prompt ends and hang-up become runner events; the runner's actions become call
operations: prompts, attached data, lookups (Python functions at once; HTTP and SQL on a
worker thread the shell provides, so the loop never blocks), recordings, and the exits —
a queue (with priority and skills), a transfer (extension, number, or the operator: every
logged-in agent rings and the first to answer takes the call), voicemail, a callback
request (stored, and placed by :class:`~pbx.calls.callbacks.CallbackScheduler`), or
hang-up. Exits to a queue, the operator or voicemail are routes (``CallRouted``) the
modules registered for them take. Where the caller left and the path taken are attached
to the call (``ivr_exit``, ``ivr_path``) for drop-off reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from attrs import define, field

from pbx.calls.dialplan import Target
from pbx.calls.events import CallEvent, DigitReceived, LegEnded, PlaybackDone
from pbx.calls.manager import Call, CallManager, Leg, LegState
from pbx.ivr import actions as ia
from pbx.ivr import events as ie
from pbx.ivr.graph import IvrGraph
from pbx.ivr.lookups import LookupService
from pbx.ivr.runner import IvrRunner
from pbx.ivr.slots import slot_due
from pbx.media.prompts import PlayItem, PromptItem, ToneItem
from pbx.media.tones import tone
from pbx.store import Store

log = structlog.get_logger(__name__)

Submit = Callable[[Callable[[], Any], Callable[[Any, float], None], float], None]
"""``submit(work, done, now)``: run ``work`` off the loop, then ``done(result, now)`` on
the loop with the time it finished (the shell stamps it)."""


def run_inline(work: Callable[[], Any], done: Callable[[Any, float], None], now: float) -> None:
    """A :data:`Submit` for tests and scripts without a loop: run now."""
    done(work(), now)


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
    lookups: LookupService = field(factory=LookupService)
    store: Store | None = None
    recordings: Path = Path("voicemail")
    submit: Submit = run_inline
    wall: Callable[[float], float] = field(default=lambda now: now)
    callback_queue: str = "support"
    """Where callbacks requested in the IVR are queued when placed."""
    callback_zone: ZoneInfo | None = None
    """The zone of clock-time callback slots (None: the server's local zone)."""
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
        self._perform(run, runner.start(now), now)

    def handle_call_event(self, event: CallEvent, now: float) -> None:
        """Feed every call-manager event here."""
        if isinstance(event, PlaybackDone):
            if event.leg in self._runs:
                self._event(event.leg, ie.PlayEnded(None, event.completed), now)
        elif isinstance(event, LegEnded):
            run = self._runs.get(event.leg)
            if run is not None:
                self._stop_recording(run, now, report=False)
                self._event(event.leg, ie.HungUp(), now)
                self._runs.pop(event.leg, None)
        elif isinstance(event, DigitReceived):
            if event.leg in self._runs:
                self._event(event.leg, ie.Digit(event.digit), now)

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
                call.data["ivr_end"] = a.reason
                call.data["ivr_path"] = list(a.path)
            log.info("ivr_finished", call=run.call, reason=a.reason, node=a.node)
            return
        if call is None or leg is None:
            return
        if isinstance(a, ia.Play):
            items: list[PlayItem] = []
            for item in a.items:
                if isinstance(item, str):
                    if manager.has_prompt(item):
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
            self._lookup(run, a, now)
        elif isinstance(a, ia.StartRecording):
            self._start_recording(run, call, leg, a, now)
        elif isinstance(a, ia.StopRecording):
            self._stop_recording(run, now, report=True)
        elif isinstance(a, ia.Enqueue):
            options = {
                "priority": a.priority,
                "skills": dict(a.skills),
                "lang": str(call.data.get("lang", "en")),
            }
            manager.route(call, leg, Target("queue", a.queue, options=options), now)
        elif isinstance(a, ia.Transfer):
            self._transfer(call, leg, a, now)
        elif isinstance(a, ia.Voicemail):
            manager.route(call, leg, Target("voicemail", a.mailbox), now)
        elif isinstance(a, ia.RequestCallback):
            self._request_callback(call, a, now)
        elif isinstance(a, ia.Hangup):
            manager.hangup(leg.id, now)

    def _lookup(self, run: _Run, a: ia.Lookup, now: float) -> None:
        def work() -> ie.LookupResult | ie.LookupFailed:
            return self.lookups.perform(a)

        def done(result: ie.LookupResult | ie.LookupFailed, now: float) -> None:
            if run.leg in self._runs:
                self._perform(run, run.runner.handle(result, now), now)

        if a.kind == "python":
            done(work(), now)  # in-process functions answer at once
        else:
            self.submit(work, done, now)

    def _start_recording(
        self, run: _Run, call: Call, leg: Leg, a: ia.StartRecording, now: float
    ) -> None:
        if leg.channel is None:
            return
        mailbox = str(call.data.get("mailbox", "ivr"))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.wall(now)))
        path = self.recordings / mailbox / f"{stamp}-{call.id}.wav"
        key = f"ivr:{leg.id}"
        self.manager.record_leg(leg.id, key, path)
        run.recording = (key, path, now)

    def _stop_recording(self, run: _Run, now: float, *, report: bool) -> None:
        if run.recording is None:
            return
        key, path, started = run.recording
        run.recording = None
        self.manager.stop_recording(key)
        if report:
            self._perform(
                run, run.runner.handle(ie.RecordingDone(str(path), now - started), now), now
            )

    def _transfer(self, call: Call, leg: Leg, a: ia.Transfer, now: float) -> None:
        manager = self.manager
        if a.kind == "operator":
            manager.route(call, leg, Target("operator"), now)
        elif a.kind in ("extension", "agent"):
            manager.connect(leg.id, Target("extension", a.target), now, agent=a.target)
        elif a.target.startswith("sip:"):
            manager.connect(leg.id, a.target, now)
        else:
            match = manager.dialplan.resolve(origin="user", number=a.target, caller="", trunk=None)
            if match is None:
                manager.hangup(leg.id, now, status=404)
            else:
                manager.route(call, leg, match.target, now)

    def _due(self, slot: str, wall: float) -> float:
        try:
            return slot_due(slot, wall, self.callback_zone)
        except ValueError:  # refused at load: a graph built in Python may still hold one
            log.warning("ivr_callback_slot_unknown", slot=slot)
            return wall

    def _request_callback(self, call: Call, a: ia.RequestCallback, now: float) -> None:
        if self.store is None:
            return
        self.store.callback_insert(
            {
                "number": a.number,
                "queue": self.callback_queue,
                "requested": self.wall(now),
                "due": self._due(a.slot, self.wall(now)),
                "call_id": call.id,
                "data": {"slot": a.slot, "contact": call.contact, **call.data},
            }
        )
        call.data["callback"] = a.number
        log.info("ivr_callback_requested", call=call.id, number=a.number, slot=a.slot)
