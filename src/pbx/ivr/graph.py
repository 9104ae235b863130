"""An IVR graph: the frozen, validated :class:`IvrGraph` and the :class:`Graph` builder.

Theory of operation: an IVR is a directed graph of nodes (see :mod:`pbx.ivr.nodes`).
It is written in Python with the builder — ``g = Graph("main", start="welcome")``, one
method per node kind (``g.play``, ``g.menu``, ``g.collect`` …), then ``g.build()`` — or
in TOML (:mod:`pbx.ivr.loader`, which drives the same builder, so both produce equal
graphs).  Building collects every problem (bad arguments, then the checks of
:mod:`pbx.ivr.validate`, then missing prompts when a ``prompt_exists`` callback is
given) and raises one :class:`~pbx.ivr.errors.IvrGraphError` listing them all, so a
graph that fails validation never takes a call.  The result is an :class:`IvrGraph`:
frozen, its nodes sorted by id so equal graphs compare equal, with the expressions of
its nodes parsed once for the runner.

Some kinds are composed of simpler ones: :meth:`Graph.identify` (identify the caller by
caller ID and/or an entered PIN, with an attempts limit) expands into ``set``,
``lookup``, ``collect``, ``branch`` and ``play`` nodes named ``<id>.<step>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define, field, frozen

from pbx.errors import ConfigError
from pbx.ivr.errors import IvrGraphError
from pbx.ivr.expr import Expr, parse_expr
from pbx.ivr.nodes import (
    BranchNode,
    CallbackNode,
    CollectNode,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
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
from pbx.ivr.timecond import Schedule, TimeSpecError
from pbx.ivr.validate import PromptExists, prompt_problems, structural_problems
from pbx.media.prompts import SilenceItem, ToneItem
from pbx.media.tones import tone

__all__ = ["Graph", "IvrGraph", "PromptSpec", "parse_prompt"]

#: What a builder method accepts as a prompt: one item or a sequence of them.
PromptSpec = str | ToneItem | SilenceItem | Sequence[str | ToneItem | SilenceItem]


def _parse_item(item: str | ToneItem | SilenceItem) -> PlayEntry:
    """``"tone:beep"``, ``"tone:ringback:2"``, ``"silence:0.5"`` or a prompt name."""
    if not isinstance(item, str):
        return item
    if item.startswith("tone:"):
        parts = item.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"prompt item '{item}' is not tone:NAME or tone:NAME:SECONDS")
        try:
            spec = tone(parts[1])
            seconds = float(parts[2]) if len(parts) == 3 else None
        except (ValueError, ConfigError) as exc:
            raise ValueError(f"prompt item '{item}': {exc}") from None
        return ToneItem(spec, seconds)
    if item.startswith("silence:"):
        try:
            seconds = float(item.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"prompt item '{item}' is not silence:SECONDS") from None
        return SilenceItem(seconds)
    if not item or item.startswith("/") or ".." in item.split("/"):
        raise ValueError(f"prompt name '{item}' is not a relative prompt name")
    return item


def parse_prompt(spec: PromptSpec) -> Prompt:
    """Normalise a prompt: a single item or a sequence, strings parsed as play items."""
    if isinstance(spec, str | ToneItem | SilenceItem):
        return (_parse_item(spec),)
    return tuple(_parse_item(i) for i in spec)


def _pairs(
    mapping: Mapping[str, str] | Sequence[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    if mapping is None:
        return ()
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    return tuple(sorted((str(k), v) for k, v in items))


@frozen
class IvrGraph:
    """A validated IVR: its name, start node, languages and nodes (sorted by id)."""

    name: str
    start: str
    #: Languages the prompts exist in; ``"{lang}"`` in a prompt name expands to each.
    languages: tuple[str, ...]
    nodes: tuple[Node, ...]
    _index: dict[str, Node] = field(init=False, eq=False, repr=False)
    _exprs: dict[str, Expr] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        problems = structural_problems(self.name, self.start, self.languages, self.nodes)
        if problems:
            raise IvrGraphError(problems)
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=lambda n: n.id)))
        object.__setattr__(self, "_index", {n.id: n for n in self.nodes})
        exprs: dict[str, Expr] = {}
        for node in self.nodes:
            sources: list[str] = []
            if isinstance(node, BranchNode):
                sources += [s for s, _ in node.conditions]
            elif isinstance(node, SetNode):
                sources += [s for _, s in node.exprs]
            elif isinstance(node, LookupNode):
                sources += [s for _, s in node.params]
            elif isinstance(node, SayNode):
                sources.append(node.value)
            for source in sources:
                exprs[source] = parse_expr(source)
        object.__setattr__(self, "_exprs", exprs)

    def node(self, node_id: str) -> Node:
        """The node ``node_id`` (KeyError for an unknown id)."""
        return self._index[node_id]

    def expr(self, source: str) -> Expr:
        """The parsed form of an expression used by one of the nodes."""
        return self._exprs[source]

    def check_prompts(self, prompt_exists: PromptExists) -> None:
        """Raise :class:`IvrGraphError` if a prompt the graph may play does not exist."""
        problems = prompt_problems(self.nodes, self.languages, prompt_exists)
        if problems:
            raise IvrGraphError(problems)


@frozen
class _CustomerLookup:
    """The lookup :meth:`Graph.identify` asks, by caller ID or by PIN: where to ask, and
    where the caller goes when found (``next``) or when the lookup fails (``error``)."""

    source: str
    name: str
    query: str
    timeout: float
    into: str
    next: str | None
    error: str | None


@frozen
class _PinEntry:
    """How :meth:`Graph.identify` asks for a PIN: prompts, digits, attempts."""

    prompt: PromptSpec
    wrong_prompt: PromptSpec
    var: str
    min_length: int
    max_length: int
    attempts: int
    secret: bool


@define
class Graph:
    """Builds an :class:`IvrGraph` node by node; :meth:`build` validates and freezes it."""

    name: str
    start: str
    languages: tuple[str, ...] = ("en",)
    _nodes: list[Node] = field(factory=list)
    _problems: list[str] = field(factory=list)

    def add(self, node: Node) -> str:
        """Add a node built by hand; returns its id."""
        self._nodes.append(node)
        return node.id

    def _prompt(self, node_id: str, spec: PromptSpec) -> Prompt:
        try:
            return parse_prompt(spec)
        except ValueError as exc:
            self._problems.append(f"node '{node_id}': {exc}")
            return ()

    def play(
        self,
        id: str,
        prompt: PromptSpec,
        *,
        next: str | None = None,
        interruptible: bool = True,
    ) -> str:
        """Play ``prompt`` and go to ``next``; the first key stops it when interruptible."""
        return self.add(PlayNode(id, self._prompt(id, prompt), next, interruptible))

    def menu(
        self,
        id: str,
        prompt: PromptSpec,
        *,
        options: Mapping[str, str],
        timeout: float = 5.0,
        retries: int = 3,
        no_input: str | None = None,
        invalid: str | None = None,
        no_input_prompt: PromptSpec = (),
        invalid_prompt: PromptSpec = (),
        var: str | None = None,
        interruptible: bool = True,
    ) -> str:
        """A one-key menu: ``options`` maps keys to node ids; see :class:`MenuNode`."""
        return self.add(
            MenuNode(
                id,
                self._prompt(id, prompt),
                _pairs(options),
                float(timeout),
                retries,
                no_input,
                invalid,
                self._prompt(id, no_input_prompt),
                self._prompt(id, invalid_prompt),
                var,
                interruptible,
            )
        )

    def collect(
        self,
        id: str,
        prompt: PromptSpec,
        *,
        var: str,
        next: str | None = None,
        min_length: int = 1,
        max_length: int = 20,
        terminator: str = "#",
        first_digit_timeout: float = 5.0,
        inter_digit_timeout: float = 3.0,
        pattern: str | None = None,
        retries: int = 3,
        no_input: str | None = None,
        invalid: str | None = None,
        no_input_prompt: PromptSpec = (),
        invalid_prompt: PromptSpec = (),
        secret: bool = False,
        interruptible: bool = True,
    ) -> str:
        """Collect digits into ``var``; see :class:`CollectNode`."""
        return self.add(
            CollectNode(
                id,
                self._prompt(id, prompt),
                var,
                next,
                min_length,
                max_length,
                terminator,
                float(first_digit_timeout),
                float(inter_digit_timeout),
                pattern,
                retries,
                no_input,
                invalid,
                self._prompt(id, no_input_prompt),
                self._prompt(id, invalid_prompt),
                secret,
                interruptible,
            )
        )

    def say(
        self,
        id: str,
        what: str,
        value: str,
        *,
        next: str | None = None,
        currency: str | None = None,
        gender: str = "m",
        interruptible: bool = True,
    ) -> str:
        """Speak the value of the expression ``value`` as ``what``; see :class:`SayNode`."""
        return self.add(SayNode(id, what, value, next, currency, gender, interruptible))

    def set(
        self,
        id: str,
        *,
        values: Mapping[str, str | int | float | bool] | None = None,
        exprs: Mapping[str, str] | None = None,
        increment: Sequence[str] = (),
        next: str | None = None,
    ) -> str:
        """Attach data to the call; see :class:`SetNode`."""
        vals = tuple(sorted((values or {}).items(), key=lambda kv: kv[0]))
        return self.add(SetNode(id, vals, _pairs(exprs), tuple(increment), next))

    def branch(
        self,
        id: str,
        *,
        conditions: Sequence[tuple[str, str]] | Mapping[str, str],
        default: str | None = None,
    ) -> str:
        """Go to the target of the first true condition (kept in order), else ``default``."""
        items = conditions.items() if isinstance(conditions, Mapping) else conditions
        return self.add(BranchNode(id, tuple((c, t) for c, t in items), default))

    def lookup(
        self,
        id: str,
        *,
        source: str,
        name: str,
        params: Mapping[str, str] | None = None,
        query: str = "",
        timeout: float = 5.0,
        into: str = "",
        next: str | None = None,
        not_found: str | None = None,
        error: str | None = None,
    ) -> str:
        """Ask a function, URL or SQL database; see :class:`LookupNode`."""
        return self.add(
            LookupNode(
                id,
                source,
                name,
                _pairs(params),
                query,
                float(timeout),
                into,
                next,
                not_found,
                error,
            )
        )

    def time(
        self,
        id: str,
        *,
        tz: str,
        hours: Mapping[str, str | Sequence[str]],
        holidays: Sequence[str] = (),
        open: str | None = None,
        closed: str | None = None,
        holiday: str | None = None,
    ) -> str:
        """Branch on business hours in ``tz``; see :class:`TimeNode` and :class:`Schedule`."""
        try:
            schedule = Schedule.of(tz, hours, holidays)
        except TimeSpecError as exc:
            self._problems.append(f"node '{id}': {exc}")
            schedule = Schedule()
        return self.add(TimeNode(id, schedule, open, closed, holiday))

    def language(
        self,
        id: str,
        prompt: PromptSpec,
        *,
        options: Mapping[str, str],
        next: str | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        no_input_prompt: PromptSpec = (),
        invalid_prompt: PromptSpec = (),
        interruptible: bool = True,
    ) -> str:
        """Let the caller choose the language; see :class:`LanguageNode`."""
        return self.add(
            LanguageNode(
                id,
                self._prompt(id, prompt),
                _pairs(options),
                next,
                float(timeout),
                retries,
                self._prompt(id, no_input_prompt),
                self._prompt(id, invalid_prompt),
                interruptible,
            )
        )

    def record(
        self,
        id: str,
        prompt: PromptSpec = (),
        *,
        var: str = "recording",
        max_seconds: float = 120.0,
        beep: bool = True,
        terminator: str = "#",
        next: str | None = None,
    ) -> str:
        """Record a message into ``var``; see :class:`RecordNode`."""
        node = RecordNode(
            id, self._prompt(id, prompt), var, float(max_seconds), beep, terminator, next
        )
        return self.add(node)

    def callback(
        self,
        id: str,
        *,
        next: str | None = None,
        number: str = "caller",
        number_prompt: PromptSpec = (),
        min_length: int = 3,
        max_length: int = 15,
        slots: Mapping[str, str] | None = None,
        slot_prompt: PromptSpec = (),
        timeout: float = 5.0,
        retries: int = 3,
    ) -> str:
        """Request a callback; see :class:`CallbackNode`."""
        return self.add(
            CallbackNode(
                id,
                next,
                number,
                self._prompt(id, number_prompt),
                min_length,
                max_length,
                _pairs(slots),
                self._prompt(id, slot_prompt),
                float(timeout),
                retries,
            )
        )

    def queue(
        self,
        id: str,
        queue: str,
        *,
        priority: int = 0,
        skills: Mapping[str, int] | None = None,
    ) -> str:
        """End the IVR in the ACD queue ``queue``; ``skills`` maps skill → minimum level."""
        return self.add(QueueNode(id, queue, priority, tuple(sorted((skills or {}).items()))))

    def transfer(self, id: str, to: str, target: str = "") -> str:
        """End the IVR with a transfer to an agent, extension, external number or operator."""
        return self.add(TransferNode(id, to, target))

    def voicemail(self, id: str, mailbox: str) -> str:
        """End the IVR in the voicemail box ``mailbox``."""
        return self.add(VoicemailNode(id, mailbox))

    def hangup(self, id: str) -> str:
        """End the IVR and hang up."""
        return self.add(HangupNode(id))

    def identify(
        self,
        id: str,
        *,
        source: str,
        name: str,
        by: str = "pin",
        prompt: PromptSpec = (),
        wrong_prompt: PromptSpec = (),
        var: str = "pin",
        min_length: int = 4,
        max_length: int = 4,
        attempts: int = 3,
        secret: bool = True,
        timeout: float = 5.0,
        query: str = "",
        into: str = "",
        next: str | None = None,
        failed: str | None = None,
        error: str | None = None,
    ) -> str:
        """Identify the caller: ``by`` is ``"caller"`` (caller ID in a customer table),
        ``"pin"`` (an entered PIN or account number) or ``"caller_then_pin"``.

        The lookup gets ``caller`` or ``var`` as its parameter; an empty result means
        "not found".  A wrong, malformed or missing entry costs one of ``attempts``
        (``wrong_prompt`` is played before the next); after the last the caller goes
        to ``failed``.  Expands into ``set`` (the counter ``<id>_attempts``),
        ``lookup``, ``collect``, ``branch`` and ``play`` nodes named ``<id>.<step>``."""
        by = self._identify_method(id, by, failed)
        counter = f"{id.replace('.', '_')}_attempts"
        customer = _CustomerLookup(source, name, query, timeout, into, next, error or failed)
        self.set(id, values={counter: 0}, next=f"{id}.caller" if by != "pin" else f"{id}.enter")
        if by != "pin":
            # caller_then_pin: a caller ID not found (or a failed lookup) asks for the PIN.
            then_pin = by == "caller_then_pin"
            self._customer_lookup(
                f"{id}.caller",
                customer,
                {"caller": "caller"},
                not_found=f"{id}.enter" if then_pin else failed,
                error=f"{id}.enter" if then_pin else customer.error,
            )
        if by != "caller":
            pin = _PinEntry(prompt, wrong_prompt, var, min_length, max_length, attempts, secret)
            self._identify_by_pin(id, customer, pin, counter, failed)
        return id

    def _identify_method(self, id: str, by: str, failed: str | None) -> str:
        """Check :meth:`identify`'s ``by`` (a wrong one is a problem; PIN is assumed) and
        that ``failed`` is given."""
        if by not in ("caller", "pin", "caller_then_pin"):
            self._problems.append(
                f"node '{id}': identify by '{by}' (expected caller, pin or caller_then_pin)"
            )
            by = "pin"
        if failed is None:
            self._problems.append(f"node '{id}': failed is missing")
        return by

    def _identify_by_pin(
        self,
        id: str,
        customer: _CustomerLookup,
        pin: _PinEntry,
        counter: str,
        failed: str | None,
    ) -> None:
        """The PIN steps of :meth:`identify`: ``enter`` it, ``check`` it with the lookup;
        a wrong entry counts an attempt (``wrong``), then ``retry`` plays ``again`` and
        asks anew while attempts remain, else goes to ``failed``."""
        self.collect(
            f"{id}.enter",
            pin.prompt,
            var=pin.var,
            next=f"{id}.check",
            min_length=pin.min_length,
            max_length=pin.max_length,
            retries=1,
            no_input=f"{id}.wrong",
            invalid=f"{id}.wrong",
            secret=pin.secret,
        )
        self._customer_lookup(
            f"{id}.check",
            customer,
            {pin.var: pin.var},
            not_found=f"{id}.wrong",
            error=customer.error,
        )
        self.set(f"{id}.wrong", increment=[counter], next=f"{id}.retry")
        self.branch(
            f"{id}.retry",
            conditions=[(f"{counter} < {pin.attempts}", f"{id}.again")],
            default=failed,
        )
        self.play(f"{id}.again", pin.wrong_prompt or "silence:0.2", next=f"{id}.enter")

    def _customer_lookup(
        self,
        id: str,
        customer: _CustomerLookup,
        params: Mapping[str, str],
        *,
        not_found: str | None,
        error: str | None,
    ) -> str:
        """One of :meth:`identify`'s lookups: found goes to ``customer.next``."""
        return self.lookup(
            id,
            source=customer.source,
            name=customer.name,
            params=params,
            query=customer.query,
            timeout=customer.timeout,
            into=customer.into,
            next=customer.next,
            not_found=not_found,
            error=error,
        )

    def build(self, *, prompt_exists: PromptExists | None = None) -> IvrGraph:
        """Validate and freeze; raises :class:`IvrGraphError` listing every problem."""
        problems = list(self._problems)
        problems += structural_problems(self.name, self.start, self.languages, self._nodes)
        if prompt_exists is not None:
            problems += prompt_problems(self._nodes, self.languages, prompt_exists)
        if problems:
            raise IvrGraphError(problems)
        return IvrGraph(self.name, self.start, tuple(self.languages), tuple(self._nodes))
