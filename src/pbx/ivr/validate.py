"""Validation of an IVR graph: every problem as one sentence naming the node.

Theory of operation: :func:`structural_problems` checks what makes a graph unable to
run whatever prompts exist — the start node, exits that are missing or go to unknown
nodes, keys that are not DTMF, regular expressions and expressions that do not parse,
values out of range, nodes that cannot be reached from the start, and cycles through
nodes that neither wait for the caller nor play audio (such a cycle would spin forever
without input).  :func:`prompt_problems` asks a ``prompt_exists(name)`` callback — the
application's prompt cache or a check of the files — about every prompt a node can play
in every language of the graph, including the fragments a ``say`` node composes
numbers from.  Both return lists; :class:`~pbx.ivr.graph.IvrGraph` raises
:class:`~pbx.ivr.errors.IvrGraphError` with all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pbx.ivr.errors import IvrExpressionError
from pbx.ivr.expr import parse_expr
from pbx.ivr.nodes import (
    BranchNode,
    CallbackNode,
    CollectNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    Prompt,
    QueueNode,
    RecordNode,
    SayNode,
    SetNode,
    TransferNode,
)
from pbx.ivr.say import CURRENCIES, DEFAULT_CURRENCY, SAY_KINDS, say_fragments

__all__ = [
    "DTMF_KEYS",
    "LOOKUP_SOURCES",
    "TRANSFER_KINDS",
    "expand_prompt",
    "prompt_problems",
    "structural_problems",
]

#: The sixteen DTMF keys (RFC 4733 §3.2 events 0–15).
DTMF_KEYS = frozenset("0123456789*#ABCD")
LOOKUP_SOURCES = ("python", "http", "sql")
TRANSFER_KINDS = ("agent", "extension", "external", "operator")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PromptExists = Callable[[str], bool]


def expand_prompt(name: str, languages: Iterable[str]) -> list[str]:
    """``"{lang}/welcome"`` → one name per language; a name without placeholder as is."""
    if "{lang}" not in name:
        return [name]
    return [name.replace("{lang}", lang) for lang in languages]


def _check_expr(node: Node, what: str, source: str, out: list[str]) -> None:
    try:
        parse_expr(source)
    except IvrExpressionError as exc:
        out.append(f"node '{node.id}': {what} '{source}' is not a valid expression: {exc}")


def _check_var(node: Node, what: str, name: str, out: list[str]) -> None:
    if not _IDENT.match(name):
        out.append(f"node '{node.id}': {what} '{name}' is not a variable name")


def _check_keys(node: Node, keys: Sequence[str], out: list[str], what: str = "option") -> None:
    for key in keys:
        if key not in DTMF_KEYS:
            out.append(f"node '{node.id}': {what} '{key}' is not a DTMF key")


def _check_positive(node: Node, what: str, value: float, out: list[str]) -> None:
    if not value > 0:
        out.append(f"node '{node.id}': {what} must be greater than 0 (got {value})")


def _check_retries(node: Node, retries: int, out: list[str]) -> None:
    if retries < 1:
        out.append(f"node '{node.id}': retries must be at least 1 (got {retries})")


def _check_choice(node: MenuNode | LanguageNode, out: list[str]) -> None:
    """What a menu and a language choice share: keys to press, a timeout, retries."""
    if not node.options:
        out.append(f"node '{node.id}': has no options")
    _check_keys(node, [k for k, _ in node.options], out)
    _check_positive(node, "timeout", node.timeout, out)
    _check_retries(node, node.retries, out)


def _check_lengths(node: CollectNode | CallbackNode, minimum: int, out: list[str]) -> None:
    """``min_length..max_length``: a range of at least one digit, from ``minimum`` up."""
    if node.min_length < minimum or node.max_length < 1 or node.min_length > node.max_length:
        out.append(
            f"node '{node.id}': lengths {node.min_length}..{node.max_length} are not a range"
        )


# One checker per node kind: the problems of the node's own values, appended to ``out``.


def _menu_problems(node: MenuNode, languages: Sequence[str], out: list[str]) -> None:
    _check_choice(node, out)
    if node.var is not None:
        _check_var(node, "var", node.var, out)


def _language_problems(node: LanguageNode, languages: Sequence[str], out: list[str]) -> None:
    _check_choice(node, out)
    for key, lang in node.options:
        if lang not in languages:
            out.append(
                f"node '{node.id}': option '{key}' selects language '{lang}' "
                f"that the graph does not list ({', '.join(languages)})"
            )


def _collect_problems(node: CollectNode, languages: Sequence[str], out: list[str]) -> None:
    _check_var(node, "var", node.var, out)
    _check_lengths(node, 0, out)
    if node.terminator:
        _check_keys(node, [node.terminator], out, "terminator")
    _check_positive(node, "first_digit_timeout", node.first_digit_timeout, out)
    _check_positive(node, "inter_digit_timeout", node.inter_digit_timeout, out)
    _check_retries(node, node.retries, out)
    if node.pattern is not None:
        try:
            re.compile(node.pattern)
        except re.error as exc:
            out.append(
                f"node '{node.id}': pattern '{node.pattern}' is not a valid "
                f"regular expression: {exc}"
            )


def _say_problems(node: SayNode, languages: Sequence[str], out: list[str]) -> None:
    if node.what not in SAY_KINDS:
        out.append(
            f"node '{node.id}': cannot say '{node.what}' (expected one of {', '.join(SAY_KINDS)})"
        )
    _check_expr(node, "value", node.value, out)
    if node.currency is not None and node.currency not in CURRENCIES:
        out.append(f"node '{node.id}': unknown currency '{node.currency}'")
    if node.gender not in ("m", "f", "n"):
        out.append(f"node '{node.id}': gender '{node.gender}' is not m, f or n")


def _set_problems(node: SetNode, languages: Sequence[str], out: list[str]) -> None:
    for key, _ in node.values:
        _check_var(node, "key", key, out)
    for key, source in node.exprs:
        _check_var(node, "key", key, out)
        _check_expr(node, f"value of '{key}'", source, out)
    for key in node.increment:
        _check_var(node, "counter", key, out)


def _branch_problems(node: BranchNode, languages: Sequence[str], out: list[str]) -> None:
    for i, (source, _) in enumerate(node.conditions, 1):
        _check_expr(node, f"condition {i}", source, out)


def _lookup_problems(node: LookupNode, languages: Sequence[str], out: list[str]) -> None:
    if node.source not in LOOKUP_SOURCES:
        out.append(
            f"node '{node.id}': unknown lookup source '{node.source}' (expected one of "
            f"{', '.join(LOOKUP_SOURCES)})"
        )
    if node.source == "sql" and not node.query:
        out.append(f"node '{node.id}': an sql lookup needs a query")
    if node.source == "http" and not node.name.startswith(("http://", "https://")):
        out.append(f"node '{node.id}': '{node.name}' is not an http(s) URL")
    for key, source in node.params:
        _check_expr(node, f"parameter '{key}'", source, out)
    _check_positive(node, "timeout", node.timeout, out)


def _record_problems(node: RecordNode, languages: Sequence[str], out: list[str]) -> None:
    _check_var(node, "var", node.var, out)
    _check_positive(node, "max_seconds", node.max_seconds, out)
    if node.terminator:
        _check_keys(node, [node.terminator], out, "terminator")


def _callback_problems(node: CallbackNode, languages: Sequence[str], out: list[str]) -> None:
    if node.number not in ("caller", "enter"):
        out.append(f"node '{node.id}': number must be 'caller' or 'enter'")
    _check_keys(node, [k for k, _ in node.slots], out, "slot key")
    _check_positive(node, "timeout", node.timeout, out)
    _check_retries(node, node.retries, out)
    _check_lengths(node, 1, out)


def _queue_problems(node: QueueNode, languages: Sequence[str], out: list[str]) -> None:
    if not node.queue:
        out.append(f"node '{node.id}': queue name is empty")


def _transfer_problems(node: TransferNode, languages: Sequence[str], out: list[str]) -> None:
    if node.to not in TRANSFER_KINDS:
        out.append(
            f"node '{node.id}': cannot transfer to '{node.to}' (expected one of "
            f"{', '.join(TRANSFER_KINDS)})"
        )
    elif node.to != "operator" and not node.target:
        out.append(f"node '{node.id}': a transfer to {node.to} needs a target")


_NodeChecker = Callable[[Any, Sequence[str], list[str]], None]

_CHECKERS: dict[type, _NodeChecker] = {
    MenuNode: _menu_problems,
    LanguageNode: _language_problems,
    CollectNode: _collect_problems,
    SayNode: _say_problems,
    SetNode: _set_problems,
    BranchNode: _branch_problems,
    LookupNode: _lookup_problems,
    RecordNode: _record_problems,
    CallbackNode: _callback_problems,
    QueueNode: _queue_problems,
    TransferNode: _transfer_problems,
}
"""Node kind → the checker of its own values. Play, time, voicemail and hangup nodes have
nothing to check beyond their exits (a time node's schedule is checked as it is built,
a mailbox against the configuration)."""


def _node_problems(node: Node, languages: Sequence[str]) -> list[str]:
    """The problems of ``node``'s own values, in the order its checker finds them."""
    out: list[str] = []
    checker = _CHECKERS.get(type(node))
    if checker is not None:
        checker(node, languages, out)
    return out


def _input_free_cycles(nodes: dict[str, Node]) -> list[list[str]]:
    """Cycles of the subgraph of nodes that neither wait nor play (Tarjan's SCC)."""
    spin = {
        nid: [t for _, t in n.exits() if t is not None and t in nodes and not nodes[t].waits]
        for nid, n in nodes.items()
        if not n.waits
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in spin[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in spin[v]:
                sccs.append(comp)

    for v in sorted(spin):
        if v not in index:
            visit(v)
    cycles = []
    for comp in sccs:
        members = set(comp)
        first = min(comp)
        path = [first]
        seen = {first}
        while True:
            nxt = sorted(t for t in spin[path[-1]] if t in members)
            back = [t for t in nxt if t == first]
            if back:
                path.append(first)
                break
            step = next((t for t in nxt if t not in seen), None)
            if step is None:  # pragma: no cover - an SCC always closes
                break
            path.append(step)
            seen.add(step)
        cycles.append(path)
    return sorted(cycles)


def structural_problems(
    name: str, start: str, languages: Sequence[str], nodes: Sequence[Node]
) -> list[str]:
    """Every structural problem of a graph, in node order."""
    out: list[str] = []
    by_id: dict[str, Node] = {}
    for node in nodes:
        if node.id in by_id:
            out.append(f"node '{node.id}': defined twice")
        by_id[node.id] = node
    if not languages:
        out.append(f"graph '{name}': lists no languages")
    if start not in by_id:
        out.append(f"graph '{name}': start node '{start}' does not exist")
    for node in nodes:
        for label, target in node.exits():
            if target is None:
                out.append(f"node '{node.id}': {label} is missing")
            elif target not in by_id:
                out.append(f"node '{node.id}': {label} goes to unknown node '{target}'")
        out += _node_problems(node, languages)
    if start in by_id:
        reached = {start}
        todo = [start]
        while todo:
            for _, target in by_id[todo.pop()].exits():
                if target is not None and target in by_id and target not in reached:
                    reached.add(target)
                    todo.append(target)
        for node in nodes:
            if node.id not in reached:
                out.append(f"node '{node.id}': unreachable from the start node '{start}'")
    for cycle in _input_free_cycles(by_id):
        out.append(f"node '{cycle[0]}': loop that takes no input ({' -> '.join(cycle)})")
    return out


def _prompt_names(prompt: Prompt, languages: Sequence[str]) -> list[str]:
    return [n for item in prompt if isinstance(item, str) for n in expand_prompt(item, languages)]


def prompt_problems(
    nodes: Sequence[Node], languages: Sequence[str], prompt_exists: PromptExists
) -> list[str]:
    """A problem for every prompt a node may play that ``prompt_exists`` does not know."""
    out: list[str] = []
    for node in nodes:
        names: list[str] = []
        for prompt in node.prompts():
            names += _prompt_names(prompt, languages)
        if isinstance(node, SayNode) and node.what in SAY_KINDS:
            for lang in languages:
                currency = node.currency or DEFAULT_CURRENCY.get(lang, "USD")
                if currency not in CURRENCIES:
                    continue
                fragments = say_fragments(node.what, lang, currency)
                names += [f"{lang}/{f}" for f in sorted(fragments)]
        seen: set[str] = set()
        for prompt_name in names:
            if prompt_name in seen:
                continue
            seen.add(prompt_name)
            if not prompt_exists(prompt_name):
                out.append(f"node '{node.id}': prompt '{prompt_name}' does not exist")
    return out
