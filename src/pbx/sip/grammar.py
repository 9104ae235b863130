"""Small pieces of the RFC 3261 §25 grammar shared by the URI and header parsers.

The parsers are hand-written over ``str`` methods (no regular expressions on the hot
path): values are split on separators that are not inside a quoted string or an angle
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


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_MATCH(text) is not None


def split_quoted(value: str, sep: str) -> list[str]:
    """Split ``value`` on ``sep`` outside quoted strings and ``<...>``; strip whitespace.

    Raises ``ValueError`` for an unterminated quoted string or angle bracket.
    """
    if '"' not in value and "<" not in value:
        return [part.strip(WSP) for part in value.split(sep)]
    parts: list[str] = []
    start = 0
    i = 0
    n = len(value)
    in_quotes = False
    in_angle = False
    while i < n:
        ch = value[i]
        if in_quotes:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == "<":
            in_angle = True
        elif ch == sep:
            parts.append(value[start:i].strip(WSP))
            start = i + 1
        i += 1
    if in_quotes:
        raise ValueError("unterminated quoted string")
    if in_angle:
        raise ValueError("unterminated '<' in value")
    parts.append(value[start:].strip(WSP))
    return parts


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag`` (the leading ``;`` optional) into ordered pairs.

    Names are lowercased-insensitive in comparisons but kept as written; values keep
    their quotes. Raises ``ValueError`` for an empty or invalid parameter name.
    """
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
        out = []
        i = 0
        while i < len(inner):
            ch = inner[i]
            if ch == "\\" and i + 1 < len(inner):
                i += 1
                ch = inner[i]
            out.append(ch)
            i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    """Make a quoted-string of ``text`` (escaping ``\\`` and ``\"``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
