"""Header fields: an ordered, case-insensitive multi-map with typed views (RFC 3261 §7.3, §20).

Fields are stored as written, in order, as ``(name, value)`` pairs; lookups go through a
canonical lowercase key in which the compact forms of §7.3.3 are expanded (``v`` is
``via``, ``i`` is ``call-id`` ...). Typed views (:class:`Via`, :class:`CSeq`, name-addrs)
are parsed on first access and cached until the fields change, so a proxy-like path that
only reads Via, CSeq and Call-ID never parses the rest.

Multi-valued fields (Via, Contact, Route, Record-Route, Allow, Supported ...) may arrive as
repeated fields or as one comma-separated value; :meth:`Headers.values` returns them
flattened in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from attrs import frozen

from pbx.sip.errors import SipParseError
from pbx.sip.grammar import (
    PARAMS,
    TOKEN,
    WSP,
    Params,
    format_params,
    get_param,
    has_param,
    is_token,
    parse_params,
    set_param,
    simple_params,
    split_quoted,
)
from pbx.sip.uri import NameAddr, UriError, split_hostport

_MISSING: Any = object()

# RFC 3261 §7.3.3 compact forms, plus those of later RFCs (3515, 3841, 4028, 4474, 3265).
COMPACT_FORMS = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "e": "content-encoding",
    "k": "supported",
    "s": "subject",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}

# Canonical spelling for fields we write ourselves.
CANONICAL_NAMES = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "contact": "Contact",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "max-forwards": "Max-Forwards",
    "www-authenticate": "WWW-Authenticate",
    "proxy-authenticate": "Proxy-Authenticate",
    "proxy-authorization": "Proxy-Authorization",
    "record-route": "Record-Route",
    "mime-version": "MIME-Version",
    "rseq": "RSeq",
    "rack": "RAck",
    "p-asserted-identity": "P-Asserted-Identity",
    "remote-party-id": "Remote-Party-ID",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

# Fields whose values are comma-separated lists (§7.3.1); others are single values even
# when they contain commas (dates, WWW-Authenticate ...).
LIST_FIELDS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "alert-info",
        "call-info",
        "error-info",
        "warning",
        "p-asserted-identity",
        "diversion",
        "path",
        "service-route",
    }
)


_KEYS: dict[str, str] = {}
"""Field names seen before, mapped to their key (bounded: names come off the wire)."""


def canonical_key(name: str) -> str:
    """The lookup key of a field name: lowercase, compact forms expanded."""
    key = _KEYS.get(name)
    if key is None:
        key = name.lower()
        key = COMPACT_FORMS.get(key, key)
        if len(_KEYS) < 1024:
            _KEYS[name] = key
    return key


# RFC 3261 §20.42 Via in its common form: SIP/2.0/transport host[:port] params, with the
# LWS §25.1 allows around "/" and ":"; anything else takes the careful path.
_VIA_FAST = re.compile(
    r"[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*(" + TOKEN + r")[ \t]+"
    r"([A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\])"
    r"(?:[ \t]*:[ \t]*([0-9]{1,5}))?(" + PARAMS + r")[ \t]*",
    re.S,
).fullmatch


def display_name(name: str) -> str:
    """The spelling we use when we write a field named ``name``."""
    key = canonical_key(name)
    return CANONICAL_NAMES.get(key) or "-".join(p.capitalize() for p in key.split("-"))


@frozen
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK...`` (§20.42)."""

    transport: str
    """Transport token, uppercase (UDP, TCP, TLS, SCTP, WS ...)."""
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, value: str) -> Via:
        """Parse one Via value, tolerating LWS around ``/`` and ``:`` (§25.1 SLASH, HCOLON)."""
        m = _VIA_FAST(value)
        if m is not None:
            transport, host, port_text, params_text = m.groups()
            port = None if port_text is None else int(port_text)
            if port is None or port <= 65535:
                params = simple_params(params_text) if params_text else ()
                return cls(transport.upper(), host, port, params, "SIP/2.0")

        sent_protocol, sent_by, params_text = _split_via(value)
        parts = [p.strip(WSP) for p in sent_protocol.split("/")]
        if len(parts) != 3 or not all(is_token(p) for p in parts):
            raise SipParseError(f"invalid Via sent-protocol {sent_protocol!r}")
        try:
            host, port = split_hostport(sent_by, value)
        except UriError:
            raise SipParseError(f"invalid Via sent-by {sent_by!r}") from None
        try:
            params = parse_params(params_text)
        except ValueError as exc:
            raise SipParseError(f"invalid Via parameter: {exc}") from None
        # Any protocol name and version is syntactically valid here; the start line's
        # version decides (a 505 still copies this Via, RFC 4475 §3.1.2.16).
        return cls(parts[2].upper(), host, port, params, f"{parts[0]}/{parts[1]}")

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        """The branch parameter, or None."""
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The received parameter, or None."""
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The rport value when one was filled in, else None."""
        value = get_param(self.params, "rport")
        return int(value) if value and value.isdigit() else None

    @property
    def wants_rport(self) -> bool:
        """True when the rport parameter is present (RFC 3581)."""
        return has_param(self.params, "rport")

    @property
    def maddr(self) -> str | None:
        """The maddr parameter, or None."""
        return get_param(self.params, "maddr")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """(host without brackets, port) of sent-by."""
        h = self.host[1:-1] if self.host.startswith("[") else self.host
        return h, self.port

    def with_param(self, name: str, value: str | None) -> Via:
        """A copy with parameter ``name`` set."""
        return Via(
            self.transport, self.host, self.port, set_param(self.params, name, value), self.protocol
        )


def _split_via(value: str) -> tuple[str, str, str]:
    """Split a Via value into sent-protocol, sent-by and ``;params`` text."""
    v = value.strip(WSP)
    # sent-protocol is three tokens separated by "/" with optional LWS around each "/".
    slashes = 0
    i = 0
    n = len(v)
    while i < n and slashes < 2:
        if v[i] == "/":
            slashes += 1
        i += 1
    while i < n and v[i] in WSP:
        i += 1
    while i < n and v[i] not in WSP:
        if v[i] in ";":
            break
        i += 1
    sent_protocol = v[:i]
    rest = v[i:].strip(WSP)
    semi = rest.find(";")
    sent_by, params = (rest, "") if semi < 0 else (rest[:semi], rest[semi:])
    sent_by = sent_by.strip(WSP)
    # §25.1 COLON = SWS ":" SWS between host and port (after "]" for IPv6).
    split_at = sent_by.find("]") + 1 if sent_by.startswith("[") else 0
    colon = sent_by.find(":", split_at)
    if colon >= 0:
        sent_by = f"{sent_by[:colon].strip(WSP)}:{sent_by[colon + 1 :].strip(WSP)}"
    if not sent_by or any(c in WSP for c in sent_by):
        raise SipParseError(f"invalid Via {value!r}")
    return sent_protocol, sent_by, params


# RFC 3261 §20.16: CSeq = 1*DIGIT LWS Method
_CSEQ = re.compile(r"[ \t]*([0-9]{1,10})[ \t]+(" + TOKEN + r")[ \t]*").fullmatch


@frozen
class CSeq:
    """``CSeq: 4711 INVITE`` (§20.16)."""

    seq: int
    method: str

    @classmethod
    def parse(cls, value: str) -> CSeq:
        """Parse a CSeq value; the number must fit in 32 bits (§8.1.1.5)."""
        m = _CSEQ(value)
        if m is not None:
            num, method = m.groups()
            if len(num) < 10 or int(num) <= 0xFFFFFFFF:
                return cls(int(num), method)
        parts = value.split()
        if len(parts) != 2:
            raise SipParseError(f"invalid CSeq {value!r}")
        num, method = parts
        if not num.isdigit() or not num.isascii() or len(num) > 10 or int(num) > 0xFFFFFFFF:
            raise SipParseError(f"invalid CSeq number {num!r}")
        if not is_token(method):
            raise SipParseError(f"invalid CSeq method {method!r}")
        return cls(int(num), method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


class Headers:
    """Ordered, case-insensitive multi-map of header fields with cached typed views."""

    __slots__ = ("_items", "_index", "_cache")

    def __init__(
        self,
        items: Iterable[tuple[str, str]] = (),
        index: dict[str, list[int]] | None = None,
    ) -> None:
        self._items: list[tuple[str, str]] = items if type(items) is list else list(items)
        self._index: dict[str, list[int]] | None = index
        self._cache: dict[str, Any] = {}

    # -- raw access -------------------------------------------------------------
    def _idx(self) -> dict[str, list[int]]:
        index = self._index
        if index is None:
            index = {}
            for i, (name, _) in enumerate(self._items):
                key = name.lower()
                key = COMPACT_FORMS.get(key, key)
                lst = index.get(key)
                if lst is None:
                    index[key] = [i]
                else:
                    lst.append(i)
            self._index = index
        return index

    def _changed(self) -> None:
        self._index = None
        if self._cache:
            self._cache = {}

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_key(name) in self._idx()

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        """A shallow copy (values are immutable strings)."""
        return Headers(list(self._items))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field value of ``name`` as written, or ``default``."""
        index = self._index
        if index is None:
            index = self._idx()
        positions = index.get(_KEYS.get(name) or canonical_key(name))
        if not positions:
            return default
        return self._items[positions[0]][1]

    def get_all(self, name: str) -> list[str]:
        """Every field value of ``name`` as written, one per field line."""
        index = self._index
        if index is None:
            index = self._idx()
        positions = index.get(_KEYS.get(name) or canonical_key(name))
        if not positions:
            return []
        items = self._items
        return [items[i][1] for i in positions]

    def values(self, name: str) -> list[str]:
        """Every value of a list field, comma-separated values split (§7.3.1)."""
        raws = self.get_all(name)
        if len(raws) == 1 and "," not in raws[0] and raws[0]:
            return [raws[0].strip(WSP)]  # one value: nothing to split
        out: list[str] = []
        for raw in raws:
            try:
                out.extend(p for p in split_quoted(raw, ",") if p)
            except ValueError as exc:
                raise SipParseError(f"invalid {display_name(name)} header: {exc}") from None
        return out

    def add(self, name: str, value: str) -> None:
        """Append a field."""
        self._items.append((name, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before every other field (used for Via and Record-Route)."""
        self._items.insert(0, (name, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one field, at the first one's position."""
        key = canonical_key(name)
        positions = self._idx().get(key)
        if not positions:
            self._items.append((display_name(name), value))
        else:
            first = positions[0]
            self._items[first] = (self._items[first][0], value)
            for i in reversed(positions[1:]):
                del self._items[i]
        self._changed()

    def remove(self, name: str) -> None:
        """Remove every field of ``name``."""
        key = canonical_key(name)
        self._items = [(n, v) for n, v in self._items if canonical_key(n) != key]
        self._changed()

    def pop_first_value(self, name: str) -> str | None:
        """Remove and return the first value of a list field (the top Via, the top Route)."""
        positions = self._idx().get(canonical_key(name))
        if not positions:
            return None
        i = positions[0]
        field_name, raw = self._items[i]
        parts = split_quoted(raw, ",")
        if len(parts) <= 1:
            del self._items[i]
        else:
            self._items[i] = (field_name, ", ".join(parts[1:]))
        self._changed()
        return parts[0]

    # -- typed views -------------------------------------------------------------
    # Each view is parsed on first access and cached until the fields change (§7.3:
    # a receiver only pays for the fields it reads).
    def via(self) -> list[Via]:
        """Every Via value, topmost first."""
        cache = self._cache
        vias: list[Via] | None = cache.get("via")
        if vias is None:
            vias = cache["via"] = [Via.parse(v) for v in self.values("via")]
        return vias

    def cseq(self) -> CSeq:
        """The CSeq; raises :class:`SipParseError` when missing or invalid."""
        cache = self._cache
        cseq: CSeq | None = cache.get("cseq")
        if cseq is None:
            value = self.get("cseq")
            if value is None:
                raise SipParseError("missing CSeq header")
            cseq = cache["cseq"] = CSeq.parse(value)
        return cseq

    def name_addr(self, name: str) -> Any:
        """The single name-addr of From/To/Refer-To ... (None when absent)."""
        key = canonical_key(name)
        cache = self._cache
        ckey = "na:" + key
        value = cache.get(ckey, _MISSING)
        if value is _MISSING:
            raw = self.get(key)
            try:
                value = cache[ckey] = None if raw is None else NameAddr.parse(raw)
            except UriError as exc:
                raise SipParseError(f"invalid {display_name(key)} header: {exc.reason}") from None
        return value

    def name_addrs(self, name: str) -> Any:
        """Every name-addr of Contact/Route/Record-Route, in order."""
        key = canonical_key(name)
        cache = self._cache
        ckey = "nas:" + key
        value = cache.get(ckey)
        if value is None:
            try:
                value = cache[ckey] = [NameAddr.parse(v) for v in self.values(key)]
            except UriError as exc:
                raise SipParseError(f"invalid {display_name(key)} header: {exc.reason}") from None
        return value

    def int_value(self, name: str) -> int | None:
        """An integer field (Expires, Max-Forwards, Content-Length, Min-Expires ...)."""
        key = canonical_key(name)
        cache = self._cache
        ckey = "int:" + key
        value = cache.get(ckey, _MISSING)
        if value is _MISSING:
            raw = self.get(key)
            if raw is None:
                value = None
            else:
                raw = raw.strip(WSP)
                if not raw.isdigit() or not raw.isascii() or len(raw) > 10:
                    raise SipParseError(f"invalid {display_name(name)} value {raw!r}")
                value = int(raw)
            cache[ckey] = value
        return value

    def tokens(self, name: str) -> list[str]:
        """A token list field (Allow, Supported, Require ...), as written."""
        return [v for v in self.values(name) if v]


def params_of(value: str) -> tuple[str, Params]:
    """Split ``text;a=b`` into the text and its parameters (Content-Type, Event, ...)."""
    main, semi, rest = value.partition(";")
    try:
        params = parse_params(rest) if semi else ()
    except ValueError as exc:
        raise SipParseError(str(exc)) from None
    return main.strip(WSP), params
