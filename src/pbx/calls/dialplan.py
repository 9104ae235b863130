"""The dial plan: which target a new call goes to.

A call is classified by where it came from — ``trunk`` (a carrier: the trusted networks,
not a registered user), ``user`` (an authenticated extension) — and matched against an
ordered list of :class:`Route` rules on its origin, the dialled number (the DID for
trunk calls) and the caller's number. The first rule that matches gives the
:class:`Target`. Number patterns are exact (``600``), ranges (``2001-2010``), prefixes
(``9*``) or regular expressions (``re:^9(\\d+)$``, whose first group becomes the number
sent on). No rule matches → 404. A route to an outbound trunk that sends on a number
the caller dialled is only ever taken for an authenticated user (``origin = "user"`` is
forced), so a caller from outside can never dial out through us (toll fraud). The one
exception is a forward to a number the route itself fixes (``dial = "..."``, e.g. a DID
forwarded to an answering service): the caller chooses nothing, so it may come from a
trunk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from pbx.errors import ConfigError

ORIGINS = ("trunk", "user", "any")
TARGET_KINDS = (
    "extension",
    "echo",
    "play",
    "voicemail",
    "queue",
    "ivr",
    "trunk",
    "app",
    "feature",
    "conference",
    "mailbox",
    "hangup",
)
NAME_KEYS = ("name", "queue", "mailbox", "conference", "prompt", "handler", "extension")
"""The keys that may give a target's name; the key named like the target kind
(``ivr = "main"``, ``trunk = "carrier"``) comes right after ``name``."""


@frozen
class Target:
    """Where a call goes: a kind and its parameters."""

    kind: str
    """``extension``, ``echo``, ``play``, ``voicemail``, ``queue``, ``ivr``, ``trunk``, ``app``,
    ``feature``, ``conference``, ``mailbox`` (the mailbox menu) or ``hangup``."""
    name: str = ""
    """Queue, IVR, trunk, mailbox, conference room or application handler name; for
    ``extension`` the extension (empty: the dialled number); for ``play`` the prompt."""
    number: str = ""
    """For ``trunk``: the number to send (after the pattern's rewrite)."""
    options: Mapping[str, Any] = {}  # noqa: RUF012 - frozen, never mutated
    """Anything else the target's module reads (priority, skills, announcement ...)."""


@frozen
class NumberPattern:
    """Exact, range, prefix or regular-expression match on a number."""

    text: str
    _regex: re.Pattern[str] | None = None
    _range: tuple[int, int, int] | None = None

    @classmethod
    def parse(cls, text: str, where: str) -> NumberPattern:
        if text.startswith("re:"):
            try:
                return cls(text, re.compile(text[3:]))
            except re.error as exc:
                raise ConfigError(f"{where}: invalid regular expression: {exc}") from None
        lo, dash, hi = text.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            if len(lo) != len(hi) or int(lo) > int(hi):
                raise ConfigError(f"{where}: invalid range {text!r}")
            return cls(text, None, (int(lo), int(hi), len(lo)))
        return cls(text)

    @property
    def exact(self) -> str | None:
        """The one number this pattern matches, or None for a range, prefix or expression."""
        if self._regex is not None or self._range is not None or self.text.endswith("*"):
            return None
        return self.text

    def match(self, number: str) -> str | None:
        """The number to send on when ``number`` matches, else None."""
        if self._regex is not None:
            m = self._regex.fullmatch(number)
            if m is None:
                return None
            return m.group(1) if m.groups() and m.group(1) is not None else number
        if self._range is not None:
            lo, hi, width = self._range
            if len(number) == width and number.isdigit() and lo <= int(number) <= hi:
                return number
            return None
        if self.text == "*":
            return number
        if self.text.endswith("*"):
            return number if number.startswith(self.text[:-1]) else None
        return number if number == self.text else None


@frozen
class Route:
    """One dial-plan rule."""

    target: Target
    number: NumberPattern = NumberPattern("*")
    caller: NumberPattern = NumberPattern("*")
    origin: str = "any"
    """``trunk``, ``user`` or ``any``."""
    trunk: str | None = None
    """Only calls arriving over this trunk (by name)."""


@frozen
class Match:
    """The target chosen for a call, with the rewritten number."""

    target: Target
    number: str


class Dialplan:
    """An ordered list of routes."""

    def __init__(self, routes: Sequence[Route] = ()) -> None:
        self.routes = list(routes)

    def add(self, route: Route) -> None:
        """Append a rule (matched after the existing ones)."""
        self.routes.append(route)

    def resolve(
        self, *, origin: str, number: str, caller: str, trunk: str | None = None
    ) -> Match | None:
        """The first matching route's target, or None (answer 404)."""
        for route in self.routes:
            if route.origin != "any" and route.origin != origin:
                continue
            if route.trunk is not None and route.trunk != trunk:
                continue
            if route.caller.match(caller) is None:
                continue
            rewritten = route.number.match(number)
            if rewritten is None:
                continue
            target = route.target
            if target.kind == "trunk":
                fixed = target.options.get("dial")
                if fixed:
                    # A forward to a number the route fixes: the caller chooses nothing.
                    target = Target(target.kind, target.name, str(fixed), target.options)
                elif origin != "user":
                    continue  # never dial out where an unauthenticated caller chose the number
                else:
                    target = Target(target.kind, target.name, rewritten, target.options)
            return Match(target, rewritten)
        return None


ROUTE_KEYS = frozenset(
    {
        "target",
        "from",
        "number",
        "did",
        "caller",
        "trunk",
        "name",
        "queue",
        "ivr",
        "mailbox",
        "conference",
        "prompt",
        "handler",
        "options",
        "extension",
        "record",
        "dial",
    }
)
"""The keys a ``[[dialplan]]`` table may have."""


def parse_route(entry: Mapping[str, Any], where: str) -> Route:
    """One ``[[dialplan]]`` table → :class:`Route`; errors start with ``where``
    (``callcenter.toml: dialplan[3]``) and name the key."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table")
    kind = entry.get("target")
    if kind not in TARGET_KINDS:
        raise ConfigError(
            f"{where}.target: expected one of {', '.join(TARGET_KINDS)}, got {kind!r}"
        )
    origin = entry.get("from", "trunk" if kind != "trunk" else "user")
    if origin not in ORIGINS:
        raise ConfigError(f"{where}.from: expected trunk, user or any, got {origin!r}")
    unknown = sorted(set(entry) - ROUTE_KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key")
    name = next((str(entry[k]) for k in ("name", kind, *NAME_KEYS[1:]) if entry.get(k)), "")
    if kind in ("queue", "ivr", "trunk", "app", "play", "conference") and not name:
        raise ConfigError(f"{where}: target {kind} needs a name")
    options = entry.get("options", {})
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}.options: expected a table")
    record = entry.get("record", False)
    if not isinstance(record, bool):
        raise ConfigError(f"{where}.record: expected true or false, got {record!r}")
    if record:
        if kind not in ("extension", "trunk"):
            raise ConfigError(
                f"{where}.record: only extension and trunk targets record here"
                " (queues have their own record setting)"
            )
        options = {**options, "record": True}
    dial = entry.get("dial")
    if dial is not None:
        if kind != "trunk":
            raise ConfigError(f"{where}.dial: only trunk targets dial a fixed number")
        if not isinstance(dial, str) or not dial or any(c in dial for c in "@:;<> "):
            raise ConfigError(f"{where}.dial: expected the number to dial, got {dial!r}")
        options = {**options, "dial": dial}
    number = str(entry.get("number", entry.get("did", "*")))
    return Route(
        target=Target(kind, name, "", dict(options)),
        number=NumberPattern.parse(number, f"{where}.number"),
        caller=NumberPattern.parse(str(entry.get("caller", "*")), f"{where}.caller"),
        origin=origin,
        trunk=str(entry["trunk"]) if kind != "trunk" and "trunk" in entry else None,
    )


def dialplan_from_config(entries: Sequence[Mapping[str, Any]], source: str) -> Dialplan:
    """Build a dial plan from ``[[dialplan]]`` tables; errors name the entry and key."""
    return Dialplan(
        [parse_route(entry, f"{source}: dialplan[{i}]") for i, entry in enumerate(entries)]
    )
