"""Small pieces of the RFC 3261 §25 grammar shared by the URI and header parsers.

The parsers run compiled regular expressions over the common forms (one C-level match
instead of a Python loop per character) and fall back to a careful hand-written path for
the rest: values are split on separators that are not inside a quoted string or an angle
bracketed URI, and generic parameters are kept as an ordered tuple of (name, value)
with the value as written (``None`` for a parameter without ``=``).
"""

from __future__ import annotations

import re

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
# RFC 3261 §25.1: LWS and SWS; HTAB and SP are the whitespace we strip.
WSP = " \t"

Params = tuple[tuple[str, str | None], ...]


_TOKEN_MATCH = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+").fullmatch
_UNESCAPE = re.compile(r"\\(.)", re.S).sub


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_MATCH(text) is not None


# RFC 3261 §25.1 quoted-string, written as an unrolled loop (fast in ``re``).
QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'


def _item_pattern(sep: str) -> re.Pattern[str]:
    # One list item: quoted strings and <...> kept whole, anything else up to ``sep``.
    # Possessive quantifiers: a failed match never backtracks into the runs.
    return re.compile(r"(?:" + QUOTED + r"|<[^>]*+>|[^" + '"<' + re.escape(sep) + "]++)*+", re.S)


_ITEMS = {",": _item_pattern(","), ";": _item_pattern(";")}


def split_quoted(value: str, sep: str) -> list[str]:
    """Split ``value`` on ``sep`` outside quoted strings and ``<...>``; strip whitespace.

    Raises ``ValueError`` for an unterminated quoted string or angle bracket.
    """
    if '"' not in value and "<" not in value:
        if sep not in value:
            return [value.strip(WSP)]
        return [part.strip(WSP) for part in value.split(sep)]
    item = _ITEMS.get(sep) or _item_pattern(sep)
    if sep not in value and item.fullmatch(value) is not None:
        return [value.strip(WSP)]
    parts: list[str] = []
    pos = 0
    n = len(value)
    while True:
        end = item.match(value, pos).end()  # type: ignore[union-attr]  # matches ""
        parts.append(value[pos:end].strip(WSP))
        if end == n:
            return parts
        if value[end] == sep:
            pos = end + 1
        elif value[end] == '"':
            raise ValueError("unterminated quoted string")
        else:
            raise ValueError("unterminated '<' in value")


# RFC 3261 §25.1 token, as a regular expression.
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# RFC 3261 §25.1 generic-param: token [ EQUAL gen-value ], gen-value a token, host or
# quoted-string; PARAMS matches a whole ``;name=value;flag`` list (LWS allowed around
# the separators) so one C-level match validates it and one findall extracts it.
_GEN_VALUE = r"(?:" + QUOTED + r'|[^;\s"]+)'
PARAMS = r"(?:[ \t]*;[ \t]*" + TOKEN + r"(?:[ \t]*=[ \t]*" + _GEN_VALUE + r")?)*"
_SIMPLE_PARAMS = re.compile(PARAMS + r"[ \t]*", re.S).fullmatch
_PARAM_ITEMS = re.compile(
    r"[ \t]*;[ \t]*(" + TOKEN + r")(?:[ \t]*(=)[ \t]*(" + _GEN_VALUE + r"))?", re.S
).findall


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag`` (the leading ``;`` optional) into ordered pairs.

    Names are compared case-insensitively but kept as written; values keep their
    quotes. Raises ``ValueError`` for an empty or invalid parameter name.
    """
    if not text:
        return ()
    if _SIMPLE_PARAMS(text) is not None:
        return simple_params(text)
    text = text.strip(WSP)
    if not text:
        return ()
    if text[0] == ";":
        text = text[1:]
    out: list[tuple[str, str | None]] = []
    for item in split_quoted(text, ";"):
        name, eq, val = item.partition("=")
        name = name.strip(WSP)
        if not is_token(name):
            raise ValueError(f"invalid parameter name {name!r}")
        out.append((name, val.strip(WSP) if eq else None))
    return tuple(out)


def simple_params(text: str) -> Params:
    """Parameters of ``text`` already known to match :data:`PARAMS` (with its ``;``)."""
    if '"' in text or " " in text or "\t" in text:
        return tuple([(k, v if eq else None) for k, eq, v in _PARAM_ITEMS(text)])
    # No quotes or LWS: the separators can only be the ";" and the first "=" of each.
    out: list[tuple[str, str | None]] = []
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def format_params(params: Params) -> str:
    """Serialize parameters as ``;name=value;flag``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def get_param(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` (case-insensitive), unquoted; ``""`` for a flag."""
    lname = name.lower()
    for k, v in params:
        if k.lower() == lname:
            return "" if v is None else unquote(v)
    return None


def has_param(params: Params, name: str) -> bool:
    """True when parameter ``name`` is present (with or without a value)."""
    lname = name.lower()
    return any(k.lower() == lname for k, _ in params)


def set_param(params: Params, name: str, value: str | None) -> Params:
    """A copy of ``params`` with ``name`` set (replaced in place or appended)."""
    lname = name.lower()
    out = []
    found = False
    for k, v in params:
        if k.lower() == lname:
            if not found:
                out.append((k, value))
                found = True
        else:
            out.append((k, v))
    if not found:
        out.append((name, value))
    return tuple(out)


def remove_param(params: Params, name: str) -> Params:
    """A copy of ``params`` without ``name``."""
    lname = name.lower()
    return tuple((k, v) for k, v in params if k.lower() != lname)


def unquote(text: str) -> str:
    """Remove the quotes and backslash escapes of a quoted-string (RFC 3261 §25.1)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        return _UNESCAPE(r"\1", inner)
    return text


def quote(text: str) -> str:
    """Make a quoted-string of ``text`` (escaping ``\\`` and ``\"``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
