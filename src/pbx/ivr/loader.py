"""IVR graphs from TOML files that a non-programmer edits.

Theory of operation: a file has one ``[ivr]`` table (``name``, ``start``,
``languages``, and ``prompts``, the prompt directory relative to the file) and one
``[nodes.<id>]`` table per node with its ``kind`` and the same keys as the keyword
arguments of the :class:`~pbx.ivr.graph.Graph` builder method of that kind::

    [ivr]
    name = "main"
    start = "welcome"
    languages = ["en", "ru"]
    prompts = "../prompts"

    [nodes.welcome]
    kind = "play"
    prompt = ["{lang}/welcome"]
    next = "menu"

Each table is checked against the schema of its kind (unknown kinds and keys, values of
the wrong type, missing required keys) and then handed to the builder, so a file and
the equivalent Python code produce equal graphs.  Every problem names the file and the
node; when the prompt directory is known each prompt must exist there as a file, in
addition to whatever a ``prompt_exists`` callback says.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pbx.ivr.errors import IvrGraphError
from pbx.ivr.graph import Graph, IvrGraph
from pbx.ivr.validate import PromptExists
from pbx.media.prompts import EXTENSIONS

__all__ = ["KINDS", "file_prompt_exists", "load_graph", "loads_graph"]

Check = Callable[[object], bool]


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_bool(v: object) -> bool:
    return isinstance(v, bool)


def _is_prompt(v: object) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v))


def _is_list_str(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(i, str) for i in v)


def _is_table_str(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(i, str) for i in v.values())


def _is_table_int(v: object) -> bool:
    return isinstance(v, dict) and all(_is_int(i) for i in v.values())


def _is_table_literal(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(i, str | int | float) for i in v.values())


def _is_hours(v: object) -> bool:
    return isinstance(v, dict) and all(_is_prompt(i) for i in v.values())


def _is_conditions(v: object) -> bool:
    return isinstance(v, list) and all(
        isinstance(i, dict)
        and set(i) == {"when", "goto"}
        and all(isinstance(x, str) for x in i.values())
        for i in v
    )


_TYPES: dict[Check, str] = {
    _is_str: "a string",
    _is_int: "an integer",
    _is_num: "a number",
    _is_bool: "true or false",
    _is_prompt: "a prompt name or a list of them",
    _is_list_str: "a list of strings",
    _is_table_str: "a table of strings",
    _is_table_int: "a table of integers",
    _is_table_literal: "a table of strings, numbers or booleans",
    _is_hours: "a table of weekday ranges",
    _is_conditions: "a list of { when = ..., goto = ... } tables",
}

S, INT, NUM, BOOL, P = _is_str, _is_int, _is_num, _is_bool, _is_prompt
_GATHER: dict[str, Check] = {
    "timeout": NUM,
    "retries": INT,
    "no_input_prompt": P,
    "invalid_prompt": P,
    "interruptible": BOOL,
}

#: Node kind → (required keys, key → type check).
KINDS: dict[str, tuple[tuple[str, ...], dict[str, Check]]] = {
    "play": (("prompt",), {"prompt": P, "next": S, "interruptible": BOOL}),
    "menu": (
        ("prompt", "options"),
        {
            "prompt": P,
            "options": _is_table_str,
            "no_input": S,
            "invalid": S,
            "var": S,
            **_GATHER,
        },
    ),
    "collect": (
        ("prompt", "var"),
        {
            "prompt": P,
            "var": S,
            "next": S,
            "min_length": INT,
            "max_length": INT,
            "terminator": S,
            "first_digit_timeout": NUM,
            "inter_digit_timeout": NUM,
            "pattern": S,
            "retries": INT,
            "no_input": S,
            "invalid": S,
            "no_input_prompt": P,
            "invalid_prompt": P,
            "secret": BOOL,
            "interruptible": BOOL,
        },
    ),
    "say": (
        ("what", "value"),
        {"what": S, "value": S, "next": S, "currency": S, "gender": S, "interruptible": BOOL},
    ),
    "set": (
        (),
        {"values": _is_table_literal, "exprs": _is_table_str, "increment": _is_list_str, "next": S},
    ),
    "branch": (("conditions",), {"conditions": _is_conditions, "default": S}),
    "lookup": (
        ("source", "name"),
        {
            "source": S,
            "name": S,
            "params": _is_table_str,
            "query": S,
            "timeout": NUM,
            "into": S,
            "next": S,
            "not_found": S,
            "error": S,
        },
    ),
    "identify": (
        ("source", "name"),
        {
            "source": S,
            "name": S,
            "by": S,
            "prompt": P,
            "wrong_prompt": P,
            "var": S,
            "min_length": INT,
            "max_length": INT,
            "attempts": INT,
            "secret": BOOL,
            "timeout": NUM,
            "query": S,
            "into": S,
            "next": S,
            "failed": S,
            "error": S,
        },
    ),
    "time": (
        ("tz", "hours"),
        {
            "tz": S,
            "hours": _is_hours,
            "holidays": _is_list_str,
            "open": S,
            "closed": S,
            "holiday": S,
        },
    ),
    "language": (
        ("prompt", "options"),
        {"prompt": P, "options": _is_table_str, "next": S, **_GATHER},
    ),
    "record": (
        (),
        {
            "prompt": P,
            "var": S,
            "max_seconds": NUM,
            "beep": BOOL,
            "terminator": S,
            "next": S,
        },
    ),
    "callback": (
        (),
        {
            "next": S,
            "number": S,
            "number_prompt": P,
            "min_length": INT,
            "max_length": INT,
            "slots": _is_table_str,
            "slot_prompt": P,
            "timeout": NUM,
            "retries": INT,
        },
    ),
    "queue": (("queue",), {"queue": S, "priority": INT, "skills": _is_table_int}),
    "transfer": (("to",), {"to": S, "target": S}),
    "voicemail": (("mailbox",), {"mailbox": S}),
    "hangup": ((), {}),
}
_IVR_KEYS: dict[str, Check] = {"name": S, "start": S, "languages": _is_list_str, "prompts": S}


def file_prompt_exists(directory: str | Path) -> PromptExists:
    """A ``prompt_exists`` callback: ``name`` is a file ``directory/name.{wav,flac,ogg}``."""
    root = Path(directory)

    def exists(name: str) -> bool:
        base = root / name
        if base.suffix.lower() in EXTENSIONS:
            return base.is_file()
        return any(base.with_name(base.name + ext).is_file() for ext in EXTENSIONS)

    return exists


def _check_table(
    where: str, table: Mapping[str, Any], schema: Mapping[str, Check], out: list[str]
) -> dict[str, Any]:
    good: dict[str, Any] = {}
    for key, value in table.items():
        check = schema.get(key)
        if check is None:
            out.append(f"{where}: unknown key '{key}'")
        elif not check(value):
            out.append(f"{where}: '{key}' must be {_TYPES[check]}")
        else:
            good[key] = value
    return good


def _node_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    if kind == "branch":
        args["conditions"] = [(c["when"], c["goto"]) for c in args["conditions"]]
    if kind == "set" and "values" in args:
        args["values"] = dict(args["values"])
    return args


def _build(
    doc: Mapping[str, Any],
    *,
    default_name: str,
    prompt_exists: PromptExists | None,
    prompt_dir: Path | None,
    base_dir: Path | None,
) -> IvrGraph:
    out: list[str] = []
    for key in doc:
        if key not in ("ivr", "nodes"):
            out.append(f"unknown table '{key}' (expected [ivr] and [nodes.<id>])")
    head = doc.get("ivr")
    if not isinstance(head, dict):
        raise IvrGraphError([*out, "missing the [ivr] table"])
    head = _check_table("[ivr]", head, _IVR_KEYS, out)
    if "start" not in head:
        out.append("[ivr]: 'start' is missing")
    nodes = doc.get("nodes", {})
    if not isinstance(nodes, dict) or not all(isinstance(t, dict) for t in nodes.values()):
        raise IvrGraphError([*out, "[nodes] must hold one table per node"])
    languages = tuple(head.get("languages", ("en",)))
    builder = Graph(head.get("name", default_name), head.get("start", ""), languages)
    for node_id, table in nodes.items():
        where = f"node '{node_id}'"
        kind = table.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            shown = kind if isinstance(kind, str) else "(missing)"
            out.append(f"{where}: unknown kind '{shown}' (expected one of {', '.join(KINDS)})")
            continue
        required, schema = KINDS[kind]
        args = _check_table(where, {k: v for k, v in table.items() if k != "kind"}, schema, out)
        missing = [k for k in required if k not in table]
        for key in missing:
            out.append(f"{where}: '{key}' is missing")
        if missing or len(args) != len(table) - 1:
            continue
        getattr(builder, kind)(node_id, **_node_args(kind, args))
    if out:
        raise IvrGraphError(out)
    checks: list[PromptExists] = []
    if prompt_dir is None and "prompts" in head and base_dir is not None:
        prompt_dir = base_dir / head["prompts"]
    if prompt_dir is not None:
        checks.append(file_prompt_exists(prompt_dir))
    if prompt_exists is not None:
        checks.append(prompt_exists)
    exists: PromptExists | None = None
    if checks:

        def exists(name: str) -> bool:
            return all(check(name) for check in checks)

    return builder.build(prompt_exists=exists)


def loads_graph(
    text: str,
    *,
    source: str = "<string>",
    base_dir: str | Path | None = None,
    prompt_exists: PromptExists | None = None,
    prompt_dir: str | Path | None = None,
) -> IvrGraph:
    """Build a graph from TOML ``text``; problems are prefixed with ``file '<source>'``.

    ``prompts`` in the ``[ivr]`` table is resolved against ``base_dir``; ``prompt_dir``
    overrides it.
    """
    try:
        doc = tomllib.loads(text)
        return _build(
            doc,
            default_name=Path(source).stem,
            prompt_exists=prompt_exists,
            prompt_dir=Path(prompt_dir) if prompt_dir is not None else None,
            base_dir=Path(base_dir) if base_dir is not None else None,
        )
    except tomllib.TOMLDecodeError as exc:
        raise IvrGraphError(f"file '{source}': not valid TOML: {exc}") from None
    except IvrGraphError as exc:
        raise IvrGraphError([f"file '{source}': {p}" for p in exc.problems]) from None


def load_graph(
    path: str | Path,
    *,
    prompt_exists: PromptExists | None = None,
    prompt_dir: str | Path | None = None,
) -> IvrGraph:
    """Load and validate the TOML file ``path`` (prompts checked as files when the
    ``[ivr]`` table names a ``prompts`` directory, or ``prompt_dir`` is given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IvrGraphError(f"file '{path}': cannot be read: {exc.strerror}") from None
    return loads_graph(
        text,
        source=str(path),
        base_dir=path.parent,
        prompt_exists=prompt_exists,
        prompt_dir=prompt_dir,
    )
