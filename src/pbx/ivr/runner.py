"""The IVR runner: one call through a graph, sans-I/O — events in, actions out.

Theory of operation: an :class:`IvrRunner` walks one call through an
:class:`~pbx.ivr.graph.IvrGraph`.  It never plays, waits or looks anything up itself:
:meth:`IvrRunner.start`, :meth:`~IvrRunner.handle` (a :mod:`~pbx.ivr.events` value) and
:meth:`~IvrRunner.handle_timer` return the :mod:`~pbx.ivr.actions` the shell carries
out, and :meth:`~IvrRunner.get_timer` hands back the one deadline it waits for (a menu
timeout, an inter-digit timeout, a lookup timeout).  Time comes in as ``now``; business
hours use ``wall(now)``, the wall-clock epoch (the identity by default, so a caller
that passes epoch seconds as ``now`` needs no ``wall``).

Entering a node does its work at once (set, branch, lookup request, time condition)
or starts a prompt and waits.  Every key the caller presses goes to one place:

* a *gather* — the keypad state of a menu, a digit collection, a language choice or a
  callback's number/slot entry: one key against a set of options, or a digit string
  ended by the terminator, the maximum length or the inter-digit timeout, checked
  against the length range and pattern; failures (no input, invalid) retry with the
  node's no-input/invalid prompt until ``retries`` attempts are used, then the node's
  failure branch is taken;
* otherwise the *type-ahead buffer*: keys pressed during a prompt or a lookup are kept
  in order and consumed by the next gather before it plays its prompt (so a caller who
  knows the menu presses 1 during the welcome and goes straight to sales).  An
  interruptible prompt is stopped by the first key (``StopPlayback``); a
  non-interruptible one plays on and the keys wait in the buffer.  A terminator pressed
  right after an entry that was complete by length is dropped, not taken as the next
  menu's key.

What the caller chose or entered and what lookups found is attached to the call with
``SetData`` (except ``secret`` entries such as a PIN, which stay in the runner for
lookups and conditions).  The runner records the path (node ids, in visiting order);
the run ends with one :class:`~pbx.ivr.actions.Finished` naming the reason and the node
where the caller left — after a terminal node's action, or at once when the caller
hangs up, wherever the run is.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import structlog
from attrs import define, field

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.ivr.actions import (
    Enqueue,
    Finished,
    Hangup,
    IvrAction,
    Lookup,
    Play,
    RequestCallback,
    SetData,
    StartRecording,
    StopPlayback,
    StopRecording,
    Transfer,
    Voicemail,
)
from pbx.ivr.events import (
    Digit,
    HungUp,
    IvrEvent,
    LookupFailed,
    LookupResult,
    PlayEnded,
    RecordingDone,
)
from pbx.ivr.expr import evaluate, truth
from pbx.ivr.graph import IvrGraph
from pbx.ivr.nodes import (
    BranchNode,
    CallbackNode,
    CollectNode,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    PlayEntry,
    PlayNode,
    Prompt,
    QueueNode,
    RecordNode,
    SayNode,
    SetNode,
    TimeNode,
    TransferNode,
    VoicemailNode,
)
from pbx.ivr.say import say_value
from pbx.ivr.validate import DTMF_KEYS
from pbx.media.numbers import Gender

__all__ = ["RECORD_GRACE", "IvrRunner"]

log = structlog.get_logger(__name__)

#: Seconds past ``max_seconds`` before the runner stops a recording itself, and then
#: waits for the shell's RecordingDone before moving on without it.
RECORD_GRACE = 2.0
#: Node entries within one input beyond which the run is ended (validation forbids
#: input-free cycles, so only a bug can get here).
_MAX_STEPS = 1000

Continuation = Callable[[float], None]


def _wall_identity(now: float) -> float:
    return now


@define
class _Gather:
    """The keypad state of a node that waits for keys."""

    prompt: tuple[PlayEntry, ...]
    #: Valid keys in one-key mode; None for a digit string.
    keys: frozenset[str] | None
    on_done: Callable[[str, float], None]
    on_fail: Callable[[str, float], None]
    retries: int
    first_timeout: float
    inter_timeout: float = 0.0
    min_length: int = 1
    max_length: int = 1
    terminator: str = ""
    pattern: re.Pattern[str] | None = None
    interruptible: bool = True
    no_input_prompt: tuple[PlayEntry, ...] = ()
    invalid_prompt: tuple[PlayEntry, ...] = ()
    attempts: int = 0
    digits: str = ""
    #: Incremented per attempt, so a nested restart is noticed by the outer loop.
    epoch: int = 0


@define
class IvrRunner:
    """Runs one call through ``graph``; see the module docstring for the contract."""

    graph: IvrGraph
    #: The call's id (for logs).
    call: str = field(kw_only=True)
    #: The caller's number (caller ID), the variable ``caller``.
    caller: str = field(kw_only=True, default="")
    #: The call's data so far: initial variables, updated as the run attaches data.
    data: dict[str, object] = field(kw_only=True, factory=dict, converter=dict)
    #: Prompt language (default: the graph's first).
    lang: str = field(kw_only=True, default="")
    #: Monotonic ``now`` → wall-clock epoch, for time conditions.
    wall: Callable[[float], float] = field(kw_only=True, default=_wall_identity)
    #: Node ids in visiting order.
    path: list[str] = field(init=False, factory=list)
    #: The node the caller is at (None before start).
    node: str | None = field(init=False, default=None)
    #: The Finished action once the run ended.
    finished: Finished | None = field(init=False, default=None)
    _secrets: dict[str, object] = field(init=False, factory=dict)
    _out: list[IvrAction] = field(init=False, factory=list)
    _buffer: list[str] = field(init=False, factory=list)
    _swallow: str | None = field(init=False, default=None)
    _started: bool = field(init=False, default=False)
    _steps: int = field(init=False, default=0)
    _play_seq: int = field(init=False, default=0)
    _playing: int | None = field(init=False, default=None)
    _play_interruptible: bool = field(init=False, default=True)
    _after_play: Continuation | None = field(init=False, default=None)
    _gather: _Gather | None = field(init=False, default=None)
    _deadline: float | None = field(init=False, default=None)
    _on_timeout: Continuation | None = field(init=False, default=None)
    _lookup_seq: int = field(init=False, default=0)
    _lookup: LookupNode | None = field(init=False, default=None)
    _record: RecordNode | None = field(init=False, default=None)
    _recording: str = field(init=False, default="")
    _log: Any = field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        if not self.lang:
            self.lang = self.graph.languages[0]
        if self.lang not in self.graph.languages:
            raise LocalProtocolError(
                f"IVR '{self.graph.name}' has no prompts in language '{self.lang}' "
                f"(languages: {', '.join(self.graph.languages)})"
            )
        self.data.update(caller=self.caller, lang=self.lang)
        self._log = log.bind(call=self.call, ivr=self.graph.name)

    # ----------------------------------------------------------------- public API

    def start(self, now: float) -> list[IvrAction]:
        """Enter the start node; the actions to carry out."""
        if self._started:
            raise InvalidStateError(f"IVR run of call {self.call} has already started")
        self._started = True
        self._steps = 0
        self._enter(self.graph.start, now)
        return self._flush()

    def handle(self, event: IvrEvent, now: float) -> list[IvrAction]:
        """Feed one event; the actions to carry out (none once the run has finished)."""
        if not self._started:
            raise InvalidStateError(f"IVR run of call {self.call} has not started")
        if self.finished is not None:
            return []
        self._steps = 0
        if isinstance(event, Digit):
            self._on_digit(event.digit, now)
        elif isinstance(event, PlayEnded):
            self._on_playback_done(event, now)
        elif isinstance(event, LookupResult | LookupFailed):
            self._on_lookup(event, now)
        elif isinstance(event, RecordingDone):
            self._on_recording_done(event, now)
        elif isinstance(event, HungUp):
            self._log.info("ivr_caller_hung_up", node=self.node)
            self._finish("hangup")
        else:
            raise LocalProtocolError(f"not an IVR event: {event!r}")
        return self._flush()

    def get_timer(self) -> float | None:
        """The deadline the run waits for, or None."""
        return None if self.finished is not None else self._deadline

    def handle_timer(self, now: float) -> list[IvrAction]:
        """Fire the deadline if ``now`` reached it; the actions to carry out."""
        if self.finished is not None or self._deadline is None or now < self._deadline:
            return []
        callback = self._on_timeout
        self._deadline = self._on_timeout = None
        self._steps = 0
        if callback is not None:
            callback(now)
        return self._flush()

    @property
    def variables(self) -> Mapping[str, object]:
        """Everything expressions can read: the call data and the secret entries."""
        return ChainMap(self._secrets, self.data)

    # ------------------------------------------------------------------ plumbing

    def _flush(self) -> list[IvrAction]:
        out, self._out = self._out, []
        return out

    def _emit(self, action: IvrAction) -> None:
        self._out.append(action)

    def _set(self, key: str, value: object, *, secret: bool = False) -> None:
        if secret:
            self._secrets[key] = value
            return
        self.data[key] = value
        self._emit(SetData(key, value))

    def _resolve(self, prompt: Prompt) -> tuple[PlayEntry, ...]:
        return tuple(i.replace("{lang}", self.lang) if isinstance(i, str) else i for i in prompt)

    def _set_deadline(self, at: float, callback: Continuation) -> None:
        self._deadline, self._on_timeout = at, callback

    def _clear_deadline(self) -> None:
        self._deadline = self._on_timeout = None

    def _play(self, items: tuple[PlayEntry, ...], interruptible: bool, after: Continuation) -> None:
        self._play_seq += 1
        self._playing = self._play_seq
        self._play_interruptible = interruptible
        self._after_play = after
        self._emit(Play(items, interruptible, self._play_seq))

    def _stop_playing(self) -> None:
        if self._playing is not None:
            self._emit(StopPlayback())
            self._playing = None
            self._after_play = None

    def _go(self, target: str | None, now: float) -> None:
        if target is None:  # validation makes every required exit present
            raise InvalidStateError(f"node '{self.node}' has no exit to take")
        self._enter(target, now)

    def _finish(self, reason: str) -> None:
        if self._recording == "recording" and reason == "hangup":
            self._emit(StopRecording())
        self._clear_deadline()
        self._gather = None
        self._lookup = None
        self._record = None
        self._recording = ""
        self._playing = None
        self._after_play = None
        self._buffer.clear()
        node = self.node or self.graph.start
        self.finished = Finished(reason, node, tuple(self.path))
        self._emit(self.finished)
        self._log.info("ivr_finished", reason=reason, node=node, path=self.path)

    # ------------------------------------------------------------------- events

    def _on_digit(self, digit: str, now: float) -> None:
        if digit not in DTMF_KEYS:
            self._log.warning("ivr_digit_ignored", digit=digit)
            return
        swallow, self._swallow = self._swallow, None
        if swallow is not None and digit == swallow:
            return
        if self._recording:
            if self._recording == "recording" and self._record is not None:
                if digit == self._record.terminator:
                    self._emit(StopRecording())
                    self._recording = "stopping"
                    self._set_deadline(now + RECORD_GRACE, self._record_lost)
                return
            if self._recording == "stopping":
                return
        if self._playing is not None:
            if not self._play_interruptible:
                self._buffer.append(digit)
                return
            after = self._after_play
            self._stop_playing()
            if self._gather is not None:
                self._gather_key(digit, now)
            else:
                self._buffer.append(digit)
                if after is not None:
                    after(now)
            return
        if self._gather is not None:
            self._gather_key(digit, now)
            return
        self._buffer.append(digit)

    def _on_playback_done(self, event: PlayEnded, now: float) -> None:
        if self._playing is None or not event.completed:
            return
        if event.seq is not None and event.seq != self._playing:
            return
        after = self._after_play
        self._playing = None
        self._after_play = None
        if after is not None:
            after(now)

    def _on_lookup(self, event: LookupResult | LookupFailed, now: float) -> None:
        node = self._lookup
        if node is None or (event.seq is not None and event.seq != self._lookup_seq):
            self._log.debug("ivr_stale_lookup", seq=event.seq)
            return
        self._lookup = None
        self._clear_deadline()
        if isinstance(event, LookupFailed):
            self._lookup_error(node, event.reason, now)
            return
        if not event.data and node.not_found is not None:
            self._go(node.not_found, now)
            return
        for key, value in sorted(event.data.items()):
            self._set(node.into + key, value)
        self._go(node.next, now)

    def _on_recording_done(self, event: RecordingDone, now: float) -> None:
        node = self._record
        if node is None or self._recording not in ("recording", "stopping"):
            return
        self._record = None
        self._recording = ""
        self._clear_deadline()
        self._set(node.var, event.path)
        self._set(f"{node.var}_seconds", event.seconds)
        self._go(node.next, now)

    # ------------------------------------------------------------------- gathers

    def _gather_begin(self, gather: _Gather, now: float) -> None:
        self._gather = gather
        self._gather_attempt(now, ())

    def _gather_attempt(self, now: float, pre: tuple[PlayEntry, ...]) -> None:
        g = self._gather
        assert g is not None
        g.digits = ""
        g.epoch += 1
        epoch = g.epoch
        while self._buffer and self._gather is g and g.epoch == epoch:
            self._gather_key(self._buffer.pop(0), now)
        if self._gather is not g or g.epoch != epoch:
            return  # resolved (or restarted) from the type-ahead buffer
        if g.digits:
            self._gather_listen(now)
            return
        items = pre + g.prompt
        if items:
            self._play(items, g.interruptible, self._gather_listen)
        else:
            self._gather_listen(now)

    def _gather_listen(self, now: float) -> None:
        g = self._gather
        if g is None:
            return
        epoch = g.epoch
        while self._buffer and self._gather is g and g.epoch == epoch:
            self._gather_key(self._buffer.pop(0), now)
        if self._gather is not g or g.epoch != epoch:
            return
        wait = g.inter_timeout if g.digits else g.first_timeout
        self._set_deadline(now + wait, self._gather_timeout)

    def _gather_key(self, digit: str, now: float) -> None:
        g = self._gather
        assert g is not None
        if g.keys is not None:
            if digit in g.keys:
                self._gather_done(digit, now)
            else:
                self._gather_fail("invalid", now)
            return
        if g.terminator and digit == g.terminator:
            self._gather_complete(now)
            return
        g.digits += digit
        if len(g.digits) >= g.max_length:
            if g.terminator:
                if self._buffer and self._buffer[0] == g.terminator:
                    self._buffer.pop(0)
                else:
                    self._swallow = g.terminator
            self._gather_complete(now)
            return
        if self._playing is None:
            self._set_deadline(now + g.inter_timeout, self._gather_timeout)

    def _gather_complete(self, now: float) -> None:
        g = self._gather
        assert g is not None
        ok = len(g.digits) >= g.min_length
        if ok and g.pattern is not None:
            ok = g.pattern.fullmatch(g.digits) is not None
        if ok:
            self._gather_done(g.digits, now)
        else:
            self._gather_fail("invalid", now)

    def _gather_timeout(self, now: float) -> None:
        g = self._gather
        if g is None:
            return
        if g.keys is None and g.digits:
            self._gather_complete(now)
        else:
            self._gather_fail("no_input", now)

    def _gather_done(self, value: str, now: float) -> None:
        g = self._gather
        assert g is not None
        self._gather = None
        self._clear_deadline()
        self._stop_playing()
        g.on_done(value, now)

    def _gather_fail(self, kind: str, now: float) -> None:
        g = self._gather
        assert g is not None
        g.attempts += 1
        self._buffer.clear()
        self._swallow = None
        self._clear_deadline()
        self._stop_playing()
        self._log.debug("ivr_input_failed", node=self.node, kind=kind, attempt=g.attempts)
        if g.attempts >= g.retries:
            self._gather = None
            g.on_fail(kind, now)
            return
        self._gather_attempt(now, g.invalid_prompt if kind == "invalid" else g.no_input_prompt)

    # ------------------------------------------------------------------- nodes

    def _enter(self, node_id: str, now: float) -> None:
        self._steps += 1
        if self._steps > _MAX_STEPS:
            self._log.error("ivr_spinning", node=node_id)
            self._finish("error")
            return
        node = self.graph.node(node_id)
        self.node = node_id
        self.path.append(node_id)
        self._log.debug("ivr_node", node=node_id, kind=node.kind)
        match node:
            case PlayNode():
                self._enter_play(node, now)
            case MenuNode():
                self._enter_menu(node, now)
            case CollectNode():
                self._enter_collect(node, now)
            case SayNode():
                self._enter_say(node, now)
            case SetNode():
                self._enter_set(node, now)
            case BranchNode():
                self._enter_branch(node, now)
            case LookupNode():
                self._enter_lookup(node, now)
            case TimeNode():
                self._enter_time(node, now)
            case LanguageNode():
                self._enter_language(node, now)
            case RecordNode():
                self._enter_record(node, now)
            case CallbackNode():
                self._enter_callback(node, now)
            case QueueNode():
                self._emit(Enqueue(node.queue, node.priority, dict(node.skills)))
                self._finish("queue")
            case TransferNode():
                self._emit(Transfer(node.to, node.target))
                self._finish("transfer")
            case VoicemailNode():
                self._emit(Voicemail(node.mailbox))
                self._finish("voicemail")
            case HangupNode():
                self._emit(Hangup())
                self._finish("completed")

    def _enter_play(self, node: PlayNode, now: float) -> None:
        items = self._resolve(node.prompt)
        if not items:
            self._go(node.next, now)
            return
        self._play(items, node.interruptible, lambda t: self._go(node.next, t))

    def _enter_menu(self, node: MenuNode, now: float) -> None:
        options = dict(node.options)

        def done(key: str, t: float) -> None:
            self._set(node.var or node.id, key)
            self._go(options[key], t)

        def fail(kind: str, t: float) -> None:
            if kind == "invalid" and node.invalid is not None:
                self._go(node.invalid, t)
            else:
                self._go(node.no_input, t)

        gather = _Gather(
            prompt=self._resolve(node.prompt),
            keys=frozenset(options),
            on_done=done,
            on_fail=fail,
            retries=node.retries,
            first_timeout=node.timeout,
            interruptible=node.interruptible,
            no_input_prompt=self._resolve(node.no_input_prompt),
            invalid_prompt=self._resolve(node.invalid_prompt),
        )
        self._gather_begin(gather, now)

    def _enter_collect(self, node: CollectNode, now: float) -> None:
        def done(digits: str, t: float) -> None:
            self._set(node.var, digits, secret=node.secret)
            self._go(node.next, t)

        def fail(kind: str, t: float) -> None:
            if kind == "invalid" and node.invalid is not None:
                self._go(node.invalid, t)
            else:
                self._go(node.no_input, t)

        gather = _Gather(
            prompt=self._resolve(node.prompt),
            keys=None,
            on_done=done,
            on_fail=fail,
            retries=node.retries,
            first_timeout=node.first_digit_timeout,
            inter_timeout=node.inter_digit_timeout,
            min_length=node.min_length,
            max_length=node.max_length,
            terminator=node.terminator,
            pattern=re.compile(node.pattern) if node.pattern is not None else None,
            interruptible=node.interruptible,
            no_input_prompt=self._resolve(node.no_input_prompt),
            invalid_prompt=self._resolve(node.invalid_prompt),
        )
        self._gather_begin(gather, now)

    def _enter_language(self, node: LanguageNode, now: float) -> None:
        options = dict(node.options)

        def done(key: str, t: float) -> None:
            self.lang = options[key]
            self._set("lang", self.lang)
            self._go(node.next, t)

        gather = _Gather(
            prompt=self._resolve(node.prompt),
            keys=frozenset(options),
            on_done=done,
            on_fail=lambda kind, t: self._go(node.next, t),
            retries=node.retries,
            first_timeout=node.timeout,
            interruptible=node.interruptible,
            no_input_prompt=self._resolve(node.no_input_prompt),
            invalid_prompt=self._resolve(node.invalid_prompt),
        )
        self._gather_begin(gather, now)

    def _enter_say(self, node: SayNode, now: float) -> None:
        value = evaluate(self.graph.expr(node.value), self.variables)
        gender = cast(Gender, node.gender if node.gender in ("m", "f", "n") else "m")
        try:
            fragments = say_value(
                node.what,
                value,
                self.lang,
                currency=node.currency,
                gender=gender,
            )
        except LocalProtocolError as exc:
            self._log.warning("ivr_cannot_say", node=node.id, value=value, error=str(exc))
            fragments = []
        items = tuple(f"{self.lang}/{f}" for f in fragments)
        if not items:
            self._go(node.next, now)
            return
        self._play(items, node.interruptible, lambda t: self._go(node.next, t))

    def _enter_set(self, node: SetNode, now: float) -> None:
        for key, literal in node.values:
            self._set(key, literal)
        for key, source in node.exprs:
            self._set(key, evaluate(self.graph.expr(source), self.variables))
        for key in node.increment:
            try:
                count = int(Decimal(str(self.variables.get(key) or 0)))
            except InvalidOperation:
                count = 0
            self._set(key, count + 1)
        self._go(node.next, now)

    def _enter_branch(self, node: BranchNode, now: float) -> None:
        for source, target in node.conditions:
            if truth(self.graph.expr(source), self.variables):
                self._go(target, now)
                return
        self._go(node.default, now)

    def _enter_lookup(self, node: LookupNode, now: float) -> None:
        params = {k: evaluate(self.graph.expr(s), self.variables) for k, s in node.params}
        self._lookup_seq += 1
        self._lookup = node
        self._emit(
            Lookup(node.source, node.name, params, node.timeout, node.query, self._lookup_seq)
        )
        self._set_deadline(now + node.timeout, lambda t: self._lookup_timeout(node, t))

    def _lookup_timeout(self, node: LookupNode, now: float) -> None:
        self._lookup = None
        self._lookup_error(node, "timeout", now)

    def _lookup_error(self, node: LookupNode, reason: str, now: float) -> None:
        self._log.warning("ivr_lookup_failed", node=node.id, reason=reason)
        self._set("lookup_error", f"{node.id}: {reason}")
        self._go(node.error, now)

    def _enter_time(self, node: TimeNode, now: float) -> None:
        state = node.schedule.state(self.wall(now))
        if state == "holiday":
            self._go(node.holiday or node.closed, now)
        elif state == "open":
            self._go(node.open, now)
        else:
            self._go(node.closed, now)

    def _enter_record(self, node: RecordNode, now: float) -> None:
        self._record = node
        self._recording = "prompt"
        items = self._resolve(node.prompt)
        if items:
            self._play(items, True, self._start_recording)
        else:
            self._start_recording(now)

    def _start_recording(self, now: float) -> None:
        node = self._record
        assert node is not None
        self._buffer.clear()
        self._recording = "recording"
        self._emit(StartRecording(node.max_seconds, node.beep))
        self._set_deadline(now + node.max_seconds + RECORD_GRACE, self._record_timeout)

    def _record_timeout(self, now: float) -> None:
        self._emit(StopRecording())
        self._recording = "stopping"
        self._set_deadline(now + RECORD_GRACE, self._record_lost)

    def _record_lost(self, now: float) -> None:
        node = self._record
        assert node is not None
        self._log.warning("ivr_recording_lost", node=node.id)
        self._record = None
        self._recording = ""
        self._go(node.next, now)

    def _enter_callback(self, node: CallbackNode, now: float) -> None:
        if node.number != "enter":
            self._callback_slot(node, self.caller, now)
            return
        gather = _Gather(
            prompt=self._resolve(node.number_prompt),
            keys=None,
            on_done=lambda number, t: self._callback_slot(node, number, t),
            on_fail=lambda kind, t: self._callback_slot(node, self.caller, t),
            retries=node.retries,
            first_timeout=node.timeout,
            inter_timeout=node.timeout,
            min_length=node.min_length,
            max_length=node.max_length,
            terminator="#",
        )
        self._gather_begin(gather, now)

    def _callback_slot(self, node: CallbackNode, number: str, now: float) -> None:
        if not node.slots:
            self._callback_request(node, number, "", now)
            return
        slots = dict(node.slots)
        first = node.slots[0][1]
        gather = _Gather(
            prompt=self._resolve(node.slot_prompt),
            keys=frozenset(slots),
            on_done=lambda key, t: self._callback_request(node, number, slots[key], t),
            on_fail=lambda kind, t: self._callback_request(node, number, first, t),
            retries=node.retries,
            first_timeout=node.timeout,
        )
        self._gather_begin(gather, now)

    def _callback_request(self, node: CallbackNode, number: str, slot: str, now: float) -> None:
        self._set("callback_number", number)
        self._set("callback_slot", slot)
        self._emit(RequestCallback(number, slot))
        self._go(node.next, now)
