"""SIP requests and responses: parse, inspect, build, serialize (RFC 3261 §7, §8, §18.3).

``parse_message(data)`` reads one datagram (or one frame cut from a stream by
:mod:`pbx.sip.framing`) and returns a :class:`Request` or :class:`Response`. It checks
eagerly only what every receiver needs — the start line, the header-field syntax,
Content-Length, CSeq, the top Via and the mandatory fields of §8.1.1 — and leaves every
other field as text until someone asks for it. Whatever is wrong raises
:class:`~pbx.sip.errors.SipParseError` with one sentence and the status to answer.

Messages are mutable while they are being built (``msg.headers.set(...)``); ``bytes(msg)``
writes the start line, the fields in order, and a Content-Length that always matches the
body.
"""

from __future__ import annotations

import re

from pbx.sip.errors import SipParseError
from pbx.sip.grammar import TOKEN, WSP, is_token
from pbx.sip.headers import CSeq, Headers, Via, canonical_key, display_name
from pbx.sip.uri import AbsoluteUri, NameAddr, SipUri, UriError, parse_uri

MAX_MESSAGE_SIZE = 65_535
"""Largest message we accept (§18.1.1 leaves it to us; 64 KiB like most stacks)."""

REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

_MANDATORY = ("to", "from", "cseq", "call-id", "via")
# Methods this stack knows (RFC 3261 §27.4 and the extensions it registers); a CSeq that
# disagrees with an unknown method is answered 501, as RFC 4475 §3.1.2.18 prefers.
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)
# RFC 3261 §25.1 rfc1123-date; the only time zone is GMT (RFC 4475 §3.1.2.12).
_SIP_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
).fullmatch


class Message:
    """What requests and responses share: header fields, body, typed shortcuts."""

    __slots__ = ("headers", "body")

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body

    # -- typed shortcuts -----------------------------------------------------------
    @property
    def call_id(self) -> str:
        """The Call-ID (§20.8)."""
        value = self.headers.get("call-id")
        if value is None:
            raise SipParseError("missing Call-ID header")
        return value.strip(WSP)

    @property
    def cseq(self) -> CSeq:
        """The CSeq (§20.16)."""
        return self.headers.cseq()

    @property
    def vias(self) -> list[Via]:
        """Every Via, topmost first (§20.42)."""
        return self.headers.via()

    @property
    def top_via(self) -> Via:
        """The topmost Via."""
        vias = self.headers.via()
        if not vias:
            raise SipParseError("missing Via header")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        """The From name-addr (§20.20)."""
        value: NameAddr | None = self.headers.name_addr("from")
        if value is None:
            raise SipParseError("missing From header")
        return value

    @property
    def to(self) -> NameAddr:
        """The To name-addr (§20.39)."""
        value: NameAddr | None = self.headers.name_addr("to")
        if value is None:
            raise SipParseError("missing To header")
        return value

    @property
    def from_tag(self) -> str | None:
        """The From tag."""
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        """The To tag."""
        return self.to.tag

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact name-addr (empty for ``Contact: *``; see :attr:`contact_star`)."""
        if self.contact_star:
            return []
        result: list[NameAddr] = self.headers.name_addrs("contact")
        return result

    @property
    def contact_star(self) -> bool:
        """True for ``Contact: *`` (§10.2.2)."""
        value = self.headers.get("contact")
        return value is not None and value.strip(WSP) == "*"

    @property
    def record_route(self) -> list[NameAddr]:
        """Record-Route name-addrs, in order."""
        result: list[NameAddr] = self.headers.name_addrs("record-route")
        return result

    @property
    def route(self) -> list[NameAddr]:
        """Route name-addrs, in order."""
        result: list[NameAddr] = self.headers.name_addrs("route")
        return result

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, or None when absent (§20.22)."""
        return self.headers.int_value("max-forwards")

    @property
    def expires(self) -> int | None:
        """Expires in seconds, or None (§20.19)."""
        return self.headers.int_value("expires")

    @property
    def content_type(self) -> str | None:
        """The media type of the body, lowercased, without parameters."""
        value = self.headers.get("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip(WSP).lower()

    def check(self) -> None:
        """Parse every field a UA relies on (Via, From, To, Call-ID, Max-Forwards, Contact
        where a UA reads it: not in ACK, BYE or CANCEL).

        :func:`parse_message` leaves these as text so that paths which never read them
        pay nothing; a UA calls this once before acting on a message. Raises
        :class:`SipParseError` (the message's start line and fields attached) when one
        is invalid.
        """
        headers = self.headers
        try:
            headers.via()
            call_id = headers.get("call-id")
            if call_id is None:
                raise SipParseError("missing Call-ID header")
            if not call_id:
                raise SipParseError("empty Call-ID header")
            if headers.name_addr("from") is None:
                raise SipParseError("missing From header")
            if headers.name_addr("to") is None:
                raise SipParseError("missing To header")
            headers.int_value("max-forwards")
            headers.int_value("expires")
            contact = headers.get("contact")
            if contact is not None and contact != "*" and self._reads_contact():
                headers.name_addrs("contact")
            date = headers.get("date")
            if date is not None and _SIP_DATE(date) is None:
                raise SipParseError(f"invalid Date header {date[:40]!r}")
        except SipParseError as exc:
            if exc.fields is None:
                exc.start_line = self.start_line()
                exc.fields = list(self.headers)
            raise

    def start_line(self) -> str:
        """The start line as it would be written."""
        raise NotImplementedError

    def _reads_contact(self) -> bool:
        """Whether a UA acts on this message's Contact (§12.1, §12.2.1.2, §10.3)."""
        return True

    def header_tokens(self, name: str) -> list[str]:
        """Token list of Allow/Supported/Require/Unsupported/Proxy-Require."""
        return self.headers.tokens(name)

    def _fields_bytes(self) -> list[str]:
        out: list[str] = []
        length_written = False
        for name, value in self.headers:
            # Only a name starting with c or l can be Content-Length (or its compact "l").
            if name[:1] in "cClL" and canonical_key(name) == "content-length":
                if length_written:
                    continue
                value = str(len(self.body))
                length_written = True
            out.append(f"{name}: {value}\r\n")
        if not length_written:
            out.append(f"Content-Length: {len(self.body)}\r\n")
        return out


class Request(Message):
    """A SIP request (§7.1)."""

    __slots__ = ("method", "uri")

    def __init__(
        self,
        method: str,
        uri: SipUri | AbsoluteUri,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.method = method
        self.uri = uri

    def start_line(self) -> str:
        """``METHOD uri SIP/2.0``."""
        return f"{self.method} {self.uri} SIP/2.0"

    def _reads_contact(self) -> bool:
        # ACK, BYE and CANCEL neither create a dialog nor refresh its target (§12.2.1.2):
        # a UA never reads their Contact, so it is left as text.
        return self.method not in _CONTACT_UNREAD

    def __bytes__(self) -> bytes:
        lines = [f"{self.method} {self.uri} SIP/2.0\r\n", *self._fields_bytes(), "\r\n"]
        return "".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response (§7.2)."""

    __slots__ = ("status", "reason")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.status = status
        self.reason = REASON_PHRASES.get(status, "Unknown") if reason is None else reason

    def start_line(self) -> str:
        """``SIP/2.0 code reason``."""
        return f"SIP/2.0 {self.status} {self.reason}"

    def __bytes__(self) -> bytes:
        lines = [f"SIP/2.0 {self.status} {self.reason}\r\n", *self._fields_bytes(), "\r\n"]
        return "".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"

    @property
    def provisional(self) -> bool:
        """1xx."""
        return self.status < 200

    @property
    def success(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


_CONTACT_UNREAD = frozenset({"ACK", "BYE", "CANCEL"})

_CRLF = frozenset((b"\r", b"\n"))


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    # A message without a body may end right after its last field's CRLF.
    if data.endswith(b"\r\n"):
        return data[:-2], b""
    raise SipParseError("message has no empty line after the header fields")


_KNOWN_KEYS: dict[str, str] = {}
"""Field names seen before, mapped to their lookup key (bounded: names come off the wire)."""


def _split_fields(head: str) -> tuple[str, list[tuple[str, str]], dict[str, list[int]]]:
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    fields: list[tuple[str, str]] = []
    index: dict[str, list[int]] = {}
    known = _KNOWN_KEYS
    append = fields.append
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            # §7.3.1 line folding: a continuation joins the previous field with one SP.
            if not fields:
                raise SipParseError("header continuation line before any header field")
            name, value = fields[-1]
            folded = line.strip(WSP)
            fields[-1] = (name, f"{value} {folded}" if value else folded)
            continue
        name, colon, value = line.partition(":")
        key = known.get(name)
        if key is None or not colon:
            name = name.rstrip(WSP)
            if not colon or not is_token(name):
                raise SipParseError(f"header line {line[:40]!r} has no valid field name and colon")
            key = canonical_key(name)
            if len(known) < 512:
                known[name] = key
        positions = index.get(key)
        if positions is None:
            index[key] = [len(fields)]
        else:
            positions.append(len(fields))
        append((name, value.strip(" \t")))
    return lines[0], fields, index


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one SIP message.

    Checks the start line, the field syntax, Content-Length, CSeq and the presence of
    the mandatory fields; :meth:`Message.check` parses the rest of what a UA relies on.
    ``stream`` is True for a frame from a TCP/TLS connection, where Content-Length is
    mandatory (§18.3, §20.14); over UDP a missing Content-Length means the rest of the
    datagram is the body.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError("message is larger than 64 KiB", 513)
    if data[:1] in _CRLF:
        data = data.lstrip(b"\r\n")  # §7.5: CRLFs before the start line are ignored.
        if not data:
            raise SipParseError("message is empty")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head = data[:end].decode("utf-8", "surrogateescape")
        body = data[end + 4 :]
    else:
        head_bytes, body = _split_head(data)
        head = head_bytes.decode("utf-8", "surrogateescape")
    start_line, fields, index = _split_fields(head)
    try:
        return _build(start_line, fields, index, body, stream)
    except SipParseError as exc:
        if exc.start_line is None:
            exc.start_line = start_line
            exc.fields = fields
        raise


# RFC 3261 §7.1, §7.2: the start lines in their only valid spelling, matched at once;
# anything else takes the step-by-step path that names what is wrong.
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?", re.S).fullmatch
_REQUEST_LINE = re.compile(r"(" + TOKEN + r") ([^ ]+) SIP/2\.0").fullmatch


def _request_uri(text: str) -> SipUri | AbsoluteUri:
    try:
        uri = parse_uri(text)
    except UriError as exc:
        raise SipParseError(f"invalid Request-URI: {exc}") from None
    if isinstance(uri, SipUri) and uri.headers is not None:
        # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI.
        raise SipParseError("Request-URI must not contain headers")
    return uri


def _build(
    start_line: str,
    fields: list[tuple[str, str]],
    index: dict[str, list[int]],
    body: bytes,
    stream: bool,
) -> Request | Response:
    headers = Headers(fields, index)
    msg: Request | Response
    m = _STATUS_LINE(start_line)
    if m is not None:
        code, reason = m.groups()
        msg = Response(int(code), reason or "", headers, b"")
    elif (m := _REQUEST_LINE(start_line)) is not None:
        msg = Request(m.group(1), _request_uri(m.group(2)), headers, b"")
    elif start_line.startswith("SIP/"):
        parts = start_line.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError(f"invalid status line {start_line[:60]!r}")
        version, code = parts[0], parts[1]
        if version.upper() != "SIP/2.0":
            raise SipParseError(f"unsupported SIP version {version!r}", 505)
        if len(code) != 3 or not code.isdigit() or not "100" <= code <= "699":
            raise SipParseError(f"invalid status code {code!r}")
        msg = Response(int(code), parts[2] if len(parts) > 2 else "", headers, b"")
    else:
        parts = start_line.split(" ")
        if len(parts) != 3:
            raise SipParseError(f"invalid request line {start_line[:60]!r}")
        method, uri_text, version = parts
        if not is_token(method):
            raise SipParseError(f"invalid method {method!r}")
        if version != "SIP/2.0":
            if not version.startswith("SIP/"):
                raise SipParseError(f"invalid request line {start_line[:60]!r}")
            if version.upper() != "SIP/2.0":
                raise SipParseError(f"unsupported SIP version {version!r}", 505)
        msg = Request(method, _request_uri(uri_text), headers, b"")
    for key in _MANDATORY:
        positions = index.get(key)
        if positions is None:
            raise SipParseError(f"missing {display_name(key)} header")
        if len(positions) > 1 and key != "via":
            raise SipParseError(f"more than one {display_name(key)} header")
    # Content-Length (§18.3, §20.14)
    positions = index.get("content-length")
    if positions is None:
        if stream:
            raise SipParseError("missing Content-Length header on a stream transport")
    else:
        if len(positions) > 1:
            raise SipParseError("more than one Content-Length header")
        raw = fields[positions[0]][1]
        if not raw.isdigit() or not raw.isascii() or len(raw) > 10:
            raise SipParseError(f"invalid Content-Length value {raw!r}")
        length = int(raw)
        if length > len(body):
            raise SipParseError("Content-Length is larger than the body")
        if length < len(body):
            body = body[:length]
    msg.body = body
    positions = index.get("max-forwards")
    if positions is not None and len(positions) > 1:
        raise SipParseError("more than one Max-Forwards header")
    cseq = headers._cache["cseq"] = CSeq.parse(fields[index["cseq"][0]][1])
    if isinstance(msg, Request) and cseq.method != msg.method:
        # RFC 3261 §8.1.1.5; RFC 4475 §3.1.2.17-18
        status = 400 if msg.method in KNOWN_METHODS else 501
        raise SipParseError("CSeq method does not match the request method", status)
    return msg


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Response:
    """A response to ``request`` per §8.2.6: Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added to To when the request's To has none (and status is not 100).
    """
    headers = request.headers
    index = headers._index
    if index is None:
        index = headers._idx()
    items = headers._items
    fields: list[tuple[str, str]] = [("Via", items[i][1]) for i in index.get("via", ())]
    record_route = index.get("record-route") if 100 < status < 300 else None
    if record_route:
        # Via and Record-Route in the order the request had them.
        named = [(i, "Via") for i in index.get("via", ())]
        named += [(i, "Record-Route") for i in record_route]
        fields = [(name, items[i][1]) for i, name in sorted(named)]
    to_value = headers.get("to", "")
    assert to_value is not None
    if to_tag is not None and status != 100 and request.to_tag is None:
        to_value = f"{to_value};tag={to_tag}"
    fields.append(("From", headers.get("from", "") or ""))
    fields.append(("To", to_value))
    fields.append(("Call-ID", headers.get("call-id", "") or ""))
    fields.append(("CSeq", headers.get("cseq", "") or ""))
    if status == 100:
        timestamp = headers.get("timestamp")
        if timestamp is not None:
            fields.append(("Timestamp", timestamp))  # §8.2.6.1
    if extra:
        fields.extend(extra)
    return Response(status, reason, Headers(fields), body)


def error_response_for(exc: SipParseError) -> Response | None:
    """A response to a request that failed to parse, when one can be built (§8.2, §18).

    It needs a parseable top Via to know where to send it and the fields a response must
    echo; anything less is dropped (None).
    """
    if not exc.is_request or exc.fields is None:
        return None
    headers = Headers(exc.fields)
    try:
        vias = headers.via()
    except SipParseError:
        return None
    if not vias:
        return None
    fields: list[tuple[str, str]] = [("Via", str(v)) for v in vias]
    placeholders = {
        "from": "<sip:invalid@invalid>",
        "to": "<sip:invalid@invalid>",
        "call-id": "invalid",
        "cseq": "1 INVALID",
    }
    for key, placeholder in placeholders.items():
        # A response without them would itself be malformed; fill in what we can.
        fields.append((display_name(key), headers.get(key) or placeholder))
    reason = REASON_PHRASES.get(exc.status_hint, "Bad Request")
    status = exc.status_hint if exc.status_hint in REASON_PHRASES else 400
    phrase = f"{reason} ({exc.reason})"[:200].replace("\r", " ").replace("\n", " ")
    return Response(status, phrase, Headers(fields))
