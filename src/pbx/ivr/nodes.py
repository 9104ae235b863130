"""The node kinds of an IVR graph: frozen values, one class per kind.

Theory of operation: a node is a value — its id, what it plays or asks, and the ids of
the nodes it can go to.  Nodes hold no state of a call (the runner does) and no parsed
objects that would make two equal graphs compare unequal: expressions are kept as their
source text, mappings as tuples of pairs sorted by key, prompts as tuples of play items
(a prompt name string, possibly with a ``{lang}`` placeholder, a
:class:`~pbx.media.prompts.ToneItem` or a :class:`~pbx.media.prompts.SilenceItem`).

Each node says where it can go (:meth:`exits`, a missing required exit is ``None``),
which prompts it may play (:meth:`prompts`), whether it waits for the caller or plays
audio (:attr:`waits` — a cycle through nodes that do neither would spin forever) and
whether it ends the IVR (:attr:`terminal`).
"""

from __future__ import annotations

from typing import ClassVar

from attrs import frozen

from pbx.ivr.timecond import Schedule
from pbx.media.prompts import SilenceItem, ToneItem

__all__ = [
    "BranchNode",
    "CallbackNode",
    "CollectNode",
    "HangupNode",
    "LanguageNode",
    "LookupNode",
    "MenuNode",
    "Node",
    "PlayEntry",
    "PlayNode",
    "Prompt",
    "QueueNode",
    "RecordNode",
    "SayNode",
    "SetNode",
    "TimeNode",
    "TransferNode",
    "VoicemailNode",
]

PlayEntry = str | ToneItem | SilenceItem
Prompt = tuple[PlayEntry, ...]
Pairs = tuple[tuple[str, str], ...]
Exit = tuple[str, str | None]


class _Step:
    """What most nodes share: one way on (``next``) and no prompt of their own; a node
    with more exits or with prompts says so itself."""

    __slots__ = ()
    next: str | None

    def exits(self) -> list[Exit]:
        return [("next", self.next)]

    def prompts(self) -> list[Prompt]:
        return []


@frozen
class PlayNode(_Step):
    """Play a prompt, then go to ``next``."""

    kind: ClassVar[str] = "play"
    terminal: ClassVar[bool] = False
    id: str
    prompt: Prompt
    next: str | None = None
    #: The caller's first key stops the prompt (and is kept for the next menu).
    interruptible: bool = True

    @property
    def waits(self) -> bool:
        return True

    def prompts(self) -> list[Prompt]:
        return [self.prompt]


@frozen
class MenuNode:
    """Play a prompt and branch on one key; retry on no input or an invalid key."""

    kind: ClassVar[str] = "menu"
    terminal: ClassVar[bool] = False
    id: str
    prompt: Prompt
    #: Key → node id.
    options: Pairs
    #: Seconds to wait for a key after the prompt ends.
    timeout: float = 5.0
    #: Failed attempts (no input or invalid key, counted together) before giving up.
    retries: int = 3
    #: Where to go when the caller pressed nothing ``retries`` times.
    no_input: str | None = None
    #: Where to go when the last attempt was an invalid key (default: ``no_input``).
    invalid: str | None = None
    no_input_prompt: Prompt = ()
    invalid_prompt: Prompt = ()
    #: Call-data key of the chosen key (default: the node id).
    var: str | None = None
    interruptible: bool = True

    @property
    def waits(self) -> bool:
        return True

    def exits(self) -> list[Exit]:
        out: list[Exit] = [(f"option '{k}'", t) for k, t in self.options]
        out.append(("no_input", self.no_input))
        if self.invalid is not None:
            out.append(("invalid", self.invalid))
        return out

    def prompts(self) -> list[Prompt]:
        return [self.prompt, self.no_input_prompt, self.invalid_prompt]


@frozen
class CollectNode:
    """Collect a string of digits into a variable."""

    kind: ClassVar[str] = "collect"
    terminal: ClassVar[bool] = False
    id: str
    prompt: Prompt
    #: Call-data key the digits go to.
    var: str
    next: str | None = None
    min_length: int = 1
    max_length: int = 20
    #: Key that ends the entry early ("" for none).
    terminator: str = "#"
    first_digit_timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    #: A regular expression the whole entry must match.
    pattern: str | None = None
    retries: int = 3
    no_input: str | None = None
    #: Where to go after the last invalid entry (default: ``no_input``).
    invalid: str | None = None
    no_input_prompt: Prompt = ()
    invalid_prompt: Prompt = ()
    #: Keep the entry out of the call data (a PIN): usable by lookups, never shown.
    secret: bool = False
    interruptible: bool = True

    @property
    def waits(self) -> bool:
        return True

    def exits(self) -> list[Exit]:
        out: list[Exit] = [("next", self.next), ("no_input", self.no_input)]
        if self.invalid is not None:
            out.append(("invalid", self.invalid))
        return out

    def prompts(self) -> list[Prompt]:
        return [self.prompt, self.no_input_prompt, self.invalid_prompt]


@frozen
class SayNode(_Step):
    """Speak a value (digits, number, amount, date) from prompt fragments."""

    kind: ClassVar[str] = "say"
    terminal: ClassVar[bool] = False
    id: str
    #: ``"digits"``, ``"number"``, ``"amount"`` or ``"date"``.
    what: str
    #: An expression giving the value, usually a variable name.
    value: str
    next: str | None = None
    #: ISO 4217 code for amounts (default: the language's currency).
    currency: str | None = None
    #: Russian gender of the counted noun for numbers: ``"m"``, ``"f"`` or ``"n"``.
    gender: str = "m"
    interruptible: bool = True

    @property
    def waits(self) -> bool:
        return True


@frozen
class SetNode(_Step):
    """Attach data to the call: literal values, expression values, counters."""

    kind: ClassVar[str] = "set"
    terminal: ClassVar[bool] = False
    id: str
    #: Key → literal value (string, number or boolean).
    values: tuple[tuple[str, str | int | float | bool], ...] = ()
    #: Key → expression source.
    exprs: Pairs = ()
    #: Keys to add one to (a missing key counts from 0).
    increment: tuple[str, ...] = ()
    next: str | None = None

    @property
    def waits(self) -> bool:
        return False


@frozen
class BranchNode:
    """Go to the target of the first condition that holds, else to ``default``."""

    kind: ClassVar[str] = "branch"
    terminal: ClassVar[bool] = False
    id: str
    #: (expression source, node id) in order.
    conditions: Pairs = ()
    default: str | None = None

    @property
    def waits(self) -> bool:
        return False

    def exits(self) -> list[Exit]:
        out: list[Exit] = [(f"condition {i}", t) for i, (_, t) in enumerate(self.conditions, 1)]
        out.append(("default", self.default))
        return out

    def prompts(self) -> list[Prompt]:
        return []


@frozen
class LookupNode(_Step):
    """Ask a Python function, an HTTP endpoint or an SQL query for data about the call."""

    kind: ClassVar[str] = "lookup"
    terminal: ClassVar[bool] = False
    id: str
    #: ``"python"``, ``"http"`` or ``"sql"``.
    source: str
    #: Registered function name, URL, or configured database name.
    name: str
    #: Parameter → expression source.
    params: Pairs = ()
    #: The SQL query with ``:name`` parameters (``source = "sql"``).
    query: str = ""
    timeout: float = 5.0
    #: Prefix of the call-data keys the result's fields are stored under.
    into: str = ""
    next: str | None = None
    #: Where to go on an empty result (default: ``next``).
    not_found: str | None = None
    #: Where to go when the lookup failed or timed out.
    error: str | None = None

    @property
    def waits(self) -> bool:
        return False

    def exits(self) -> list[Exit]:
        out: list[Exit] = [("next", self.next)]
        if self.not_found is not None:
            out.append(("not_found", self.not_found))
        out.append(("error", self.error))
        return out


@frozen
class TimeNode:
    """Branch on business hours and holidays at the call's wall-clock time."""

    kind: ClassVar[str] = "time"
    terminal: ClassVar[bool] = False
    id: str
    schedule: Schedule
    open: str | None = None
    closed: str | None = None
    #: Where to go on a holiday (default: ``closed``).
    holiday: str | None = None

    @property
    def waits(self) -> bool:
        return False

    def exits(self) -> list[Exit]:
        out: list[Exit] = [("open", self.open), ("closed", self.closed)]
        if self.holiday is not None:
            out.append(("holiday", self.holiday))
        return out

    def prompts(self) -> list[Prompt]:
        return []


@frozen
class LanguageNode(_Step):
    """Let the caller pick the language: sets ``lang`` for every later prompt."""

    kind: ClassVar[str] = "language"
    terminal: ClassVar[bool] = False
    id: str
    prompt: Prompt
    #: Key → language code.
    options: Pairs
    #: Where to go after choosing (or keeping the current language on no choice).
    next: str | None = None
    timeout: float = 5.0
    retries: int = 3
    no_input_prompt: Prompt = ()
    invalid_prompt: Prompt = ()
    interruptible: bool = True

    @property
    def waits(self) -> bool:
        return True

    def prompts(self) -> list[Prompt]:
        return [self.prompt, self.no_input_prompt, self.invalid_prompt]


@frozen
class RecordNode(_Step):
    """Record the caller (a message): prompt, beep, until the terminator or time limit."""

    kind: ClassVar[str] = "record"
    terminal: ClassVar[bool] = False
    id: str
    prompt: Prompt = ()
    #: Call-data key of the recording's path (``<var>_seconds`` gets its length).
    var: str = "recording"
    max_seconds: float = 120.0
    beep: bool = True
    terminator: str = "#"
    next: str | None = None

    @property
    def waits(self) -> bool:
        return True

    def prompts(self) -> list[Prompt]:
        return [self.prompt]


@frozen
class CallbackNode(_Step):
    """Request a callback: to the caller ID or an entered number, in a chosen time slot."""

    kind: ClassVar[str] = "callback"
    terminal: ClassVar[bool] = False
    id: str
    next: str | None = None
    #: ``"caller"`` (the caller ID) or ``"enter"`` (the caller types it, ``#`` ends).
    number: str = "caller"
    number_prompt: Prompt = ()
    min_length: int = 3
    max_length: int = 15
    #: Key → slot label offered to the caller (none: as soon as possible, slot "").
    slots: Pairs = ()
    slot_prompt: Prompt = ()
    timeout: float = 5.0
    retries: int = 3

    @property
    def waits(self) -> bool:
        return self.number == "enter" or bool(self.slots)

    def prompts(self) -> list[Prompt]:
        return [self.number_prompt, self.slot_prompt]


class _TerminalNode:
    """What every node that ends the IVR shares: it hands the call on, so it waits for
    nothing, has no exits inside the graph and plays no prompt of its own."""

    __slots__ = ()

    @property
    def waits(self) -> bool:
        return True

    def exits(self) -> list[Exit]:
        return []

    def prompts(self) -> list[Prompt]:
        return []


@frozen
class QueueNode(_TerminalNode):
    """End the IVR by putting the caller in an ACD queue."""

    kind: ClassVar[str] = "queue"
    terminal: ClassVar[bool] = True
    id: str
    queue: str
    priority: int = 0
    #: Skill → minimum level the agent needs.
    skills: tuple[tuple[str, int], ...] = ()


@frozen
class TransferNode(_TerminalNode):
    """End the IVR by transferring: ``agent``, ``extension``, ``external`` or ``operator``."""

    kind: ClassVar[str] = "transfer"
    terminal: ClassVar[bool] = True
    id: str
    to: str
    #: Agent id, extension or external number ("" for the operator group).
    target: str = ""


@frozen
class VoicemailNode(_TerminalNode):
    """End the IVR by sending the caller to a voicemail box."""

    kind: ClassVar[str] = "voicemail"
    terminal: ClassVar[bool] = True
    id: str
    mailbox: str


@frozen
class HangupNode(_TerminalNode):
    """End the IVR and the call."""

    kind: ClassVar[str] = "hangup"
    terminal: ClassVar[bool] = True
    id: str


Node = (
    PlayNode
    | MenuNode
    | CollectNode
    | SayNode
    | SetNode
    | BranchNode
    | LookupNode
    | TimeNode
    | LanguageNode
    | RecordNode
    | CallbackNode
    | QueueNode
    | TransferNode
    | VoicemailNode
    | HangupNode
)
