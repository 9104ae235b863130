"""SIP, SIPS and other URIs, and name-addr values (RFC 3261 §19.1, §20.10, §25.1).

``SipUri`` and ``NameAddr`` are frozen values: ``SipUri.parse(text)`` reads one and
``str(uri)`` writes it back as written. The user part is kept escaped as it arrived;
:meth:`SipUri.equivalent` compares two URIs by the rules of §19.1.4 (case-insensitive
scheme, host and parameter names, unescaped user, the transport/user/method/ttl/maddr
parameters must match when present on either side). Any other scheme parses to an
:class:`AbsoluteUri` (``tel:``, ``http:`` ...), so a UAS can answer 416 itself.
"""

from __future__ import annotations

import re
from urllib.parse import unquote as pct_unquote

from attrs import frozen

from pbx.sip.errors import SipParseError
from pbx.sip.grammar import (
    PARAMS,
    QUOTED,
    TOKEN,
    WSP,
    Params,
    format_params,
    get_param,
    parse_params,
    quote,
    set_param,
    simple_params,
    split_quoted,
    unquote,
)

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_BAD_URI_CHARS = frozenset(' \t\r\n<>"')
_COMPARED_PARAMS = ("user", "ttl", "method", "maddr", "transport")


class UriError(SipParseError):
    """A URI does not follow RFC 3261 §25.1."""


@frozen
class SipUri:
    """A ``sip:`` or ``sips:`` URI."""

    scheme: str = "sip"
    """``sip`` or ``sips``, lowercase."""
    user: str | None = None
    """The user part as written (escaped), or None."""
    password: str | None = None
    """The password part as written, or None."""
    host: str = ""
    """Host name, IPv4 address or bracketed IPv6 reference (``[::1]``)."""
    port: int | None = None
    """Port, or None for the default of the transport."""
    params: Params = ()
    """uri-parameters, in order, names and values as written."""
    headers: str | None = None
    """The ``?h=v&...`` part without the ``?``, or None."""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a sip/sips URI; raises :class:`UriError` with the reason."""
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise UriError(f"URI scheme {uri.scheme!r} is not sip or sips", 416)
        return uri

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":")
                out.append(self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        if self.params:
            out.append(format_params(self.params))
        if self.headers is not None:
            out.append("?")
            out.append(self.headers)
        return "".join(out)

    @property
    def secure(self) -> bool:
        """True for a ``sips:`` URI."""
        return self.scheme == "sips"

    @property
    def host_bare(self) -> str:
        """The host without IPv6 brackets, lowercased."""
        h = self.host
        if h.startswith("["):
            h = h[1:-1]
        return h.lower()

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %-escapes decoded."""
        return None if self.user is None else pct_unquote(self.user)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter lowercased (``udp``, ``tcp``, ``tls``...), or None."""
        value = get_param(self.params, "transport")
        return None if value is None else value.lower()

    def param(self, name: str) -> str | None:
        """The value of uri-parameter ``name`` (case-insensitive); ``""`` for a flag."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> SipUri:
        """A copy with uri-parameter ``name`` set."""
        return SipUri(
            self.scheme,
            self.user,
            self.password,
            self.host,
            self.port,
            set_param(self.params, name, value),
            self.headers,
        )

    def without_headers(self) -> SipUri:
        """A copy without the ``?headers`` part (as used in a Request-URI, §19.1.5)."""
        if self.headers is None:
            return self  # frozen: the same value
        return SipUri(self.scheme, self.user, self.password, self.host, self.port, self.params)

    def default_port(self) -> int:
        """The port to use: the explicit one, else 5061 for sips and 5060 for sip."""
        if self.port is not None:
            return self.port
        return 5061 if self.scheme == "sips" else 5060

    def equivalent(self, other: object) -> bool:
        """URI comparison by RFC 3261 §19.1.4."""
        if not isinstance(other, SipUri):
            return False
        if self.scheme != other.scheme:
            return False
        if self.user_unescaped != other.user_unescaped or self.password != other.password:
            return False
        if self.host_bare != other.host_bare or self.port != other.port:
            return False
        # Parameter names and values are compared unescaped (§19.1.4).
        mine = {pct_unquote(k).lower(): (v or "") for k, v in self.params}
        theirs = {pct_unquote(k).lower(): (v or "") for k, v in other.params}
        for name in _COMPARED_PARAMS:
            if (name in mine) != (name in theirs):
                return False
        for name in mine.keys() & theirs.keys():
            if pct_unquote(mine[name]).lower() != pct_unquote(theirs[name]).lower():
                return False
        return _headers_set(self.headers) == _headers_set(other.headers)


def _headers_set(headers: str | None) -> frozenset[tuple[str, str]]:
    if not headers:
        return frozenset()
    out = set()
    for item in headers.split("&"):
        k, _, v = item.partition("=")
        out.add((pct_unquote(k).lower(), pct_unquote(v)))
    return frozenset(out)


@frozen
class AbsoluteUri:
    """A URI of a scheme other than sip/sips (``tel:+1555``, ``http://...``), kept opaque."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"

    @property
    def user(self) -> str | None:
        """For ``tel:`` the number (without parameters); None otherwise."""
        if self.scheme == "tel":
            return self.rest.split(";", 1)[0]
        return None

    def equivalent(self, other: object) -> bool:
        """Opaque comparison, case-insensitive scheme."""
        return isinstance(other, AbsoluteUri) and (self.scheme, self.rest) == (
            other.scheme,
            other.rest,
        )


Uri = SipUri | AbsoluteUri


def _check_host(host: str, text: str) -> None:
    if not host:
        raise UriError(f"URI {text!r} has no host")
    if host[0] == "[":
        if host[-1] != "]" or not set(host[1:-1]) <= _IPV6_CHARS or ":" not in host:
            raise UriError(f"URI {text!r} has an invalid IPv6 reference")
        return
    if not set(host) <= _HOST_CHARS or host[0] in "-." or host[-1] == "-":
        raise UriError(f"URI {text!r} has an invalid host {host!r}")


def _parse_port(port: str, text: str) -> int:
    if not port.isdigit() or not port.isascii() or len(port) > 5 or int(port) > 65535:
        raise UriError(f"URI {text!r} has an invalid port {port!r}")
    return int(port)


def split_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 references bracketed); raises :class:`UriError`."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise UriError(f"URI {text!r} has an invalid IPv6 reference")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise UriError(f"URI {text!r} has an invalid host {hostport!r}")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
    _check_host(host, text)
    return host, (None if port is None else _parse_port(port, text))


# RFC 3261 §25.1 SIP-URI, as one expression: userinfo, hostport, uri-parameters, headers.
_SIP_URI = re.compile(
    r"(?P<user>[A-Za-z0-9\-_.!~*'()%&=+$,;?/]+)"
    r"(?::(?P<password>[A-Za-z0-9\-_.!~*'()%&=+$,]*))?@"
    r"|"
)
_HOSTPORT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<params>;[^?]*)?(?:\?(?P<headers>.*))?"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# RFC 3261 §25.1 display-name as unquoted tokens separated by LWS.
_DISPLAY_TOKENS = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*").fullmatch
_ADDR_SPEC_BAD = re.compile(r"[ \t,?]").search
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]"
# RFC 3261 §25.1 SIP-URI in its common form (parameters without LWS or quotes), as one
# match; anything else takes the careful path below with the same result.
_SIP_USERINFO = (
    r"(sips?):"
    r"(?:([A-Za-z0-9\-_.!~*'()%&=+$,;?/]+)(?::([A-Za-z0-9\-_.!~*'()%&=+$,]*))?@)?"
    r"(" + _HOST + r")(?::([0-9]{1,5}))?"
)
# In an addr-spec (no <>), a URI must not contain ",", "?" or ";" (§20.10).
_ADDR_SPEC_USERINFO = (
    r"(sips?):"
    r"(?:([A-Za-z0-9\-_.!~*'()%&=+$/]+)(?::([A-Za-z0-9\-_.!~*'()%&=+$]*))?@)?"
    r"(" + _HOST + r")(?::([0-9]{1,5}))?"
)
_SIP_URI_BODY = _SIP_USERINFO + r"((?:;" + TOKEN + r"(?:=[^;?\s<>\"]+)?)*)" + r"(?:\?([^\s<>\"]*))?"
_SIP_URI_FAST = re.compile(_SIP_URI_BODY).fullmatch
_DISPLAY = r"[ \t]*(?:(" + QUOTED + r")[ \t]*|(" + TOKEN + r"(?:[ \t]+" + TOKEN + r")*)?[ \t]*)"
# RFC 3261 §25.1 name-addr in its common form: display name, <SIP URI>, header params;
# and the addr-spec form of §20.10 (no URI parameters: a ";" starts the header's).
_NAME_ADDR_SIP = re.compile(
    _DISPLAY + "<" + _SIP_URI_BODY + ">(" + PARAMS + r")[ \t]*", re.S
).fullmatch
_ADDR_SPEC_SIP = re.compile(
    r"[ \t]*" + _ADDR_SPEC_USERINFO + "(" + PARAMS + r")[ \t]*", re.S
).fullmatch
# Any other name-addr with a URI in <>; the URI is then parsed on its own.
_NAME_ADDR_FAST = re.compile(
    _DISPLAY + r'<([^<>\s"]+)>(' + PARAMS + r")[ \t]*",
    re.S,
).fullmatch


def parse_uri(text: str) -> SipUri | AbsoluteUri:
    """Parse any absolute URI; sip/sips URIs fully, others kept opaque (§19.1.1, §25.1)."""
    m = _SIP_URI_FAST(text)
    if m is not None:
        scheme, user, password, host, port_text, ptext, headers = m.groups()
        port = None
        if port_text is not None:
            port = int(port_text)
            if port > 65535:
                raise UriError(f"URI {text!r} has an invalid port {port_text!r}")
        return SipUri(
            scheme, user, password, host, port, simple_params(ptext) if ptext else (), headers
        )
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME.fullmatch(scheme) is None:
        raise UriError(f"invalid URI {text!r}")
    lscheme = scheme if scheme in ("sip", "sips") else scheme.lower()
    if not rest or not _BAD_URI_CHARS.isdisjoint(rest):
        raise UriError(f"invalid URI {text!r}")
    if lscheme not in ("sip", "sips"):
        return AbsoluteUri(lscheme, rest)
    user = password = None
    start = 0
    if "@" in rest:
        m = _SIP_URI.match(rest)
        if m is None or m.end() == 0:
            raise UriError(f"URI {text!r} has an invalid user part")
        user, password = m.group("user"), m.group("password")
        start = m.end()
    h = _HOSTPORT.fullmatch(rest, start)
    if h is None:
        raise UriError(f"URI {text!r} has an invalid host or port")
    host, port_text, ptext, headers = h.group("host", "port", "params", "headers")
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise UriError(f"URI {text!r} has an invalid port {port_text!r}")
    params: Params = ()
    if ptext:
        try:
            params = parse_params(ptext)
        except ValueError as exc:
            raise UriError(f"URI {text!r}: {exc}") from None
    if host[0] == "[" and ":" not in host:
        raise UriError(f"URI {text!r} has an invalid IPv6 reference")
    return SipUri(lscheme, user, password, host, port, params, headers)


@frozen
class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header parameters."""

    uri: SipUri | AbsoluteUri
    display_name: str | None = None
    """The display name as written (quoted or a token sequence), or None."""
    params: Params = ()
    """Header parameters (``tag``, ``expires``, ``q`` ...)."""
    bracketed: bool = True
    """False when it arrived as a bare addr-spec; serialization then writes it bare."""

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse a name-addr or addr-spec with header parameters (§20.10, §25.1)."""
        m = _NAME_ADDR_SIP(text)
        if m is not None:
            quoted, tokens, scheme, user, pw, host, port_text, uparams, hdrs, ptext = m.groups()
            port = None if port_text is None else int(port_text)
            if port is None or port <= 65535:
                uri = SipUri(
                    scheme, user, pw, host, port, simple_params(uparams) if uparams else (), hdrs
                )
                params = simple_params(ptext) if ptext else ()
                return cls(uri, quoted or tokens, params, True)
        m = _ADDR_SPEC_SIP(text)
        if m is not None:
            scheme, user, pw, host, port_text, ptext = m.groups()
            port = None if port_text is None else int(port_text)
            if port is None or port <= 65535:
                uri = SipUri(scheme, user, pw, host, port, (), None)
                return cls(uri, None, simple_params(ptext) if ptext else (), False)
        m = _NAME_ADDR_FAST(text)
        if m is not None:
            quoted, tokens, uri_text, ptext = m.groups()
            params = simple_params(ptext) if ptext else ()
            return cls(parse_uri(uri_text), quoted or tokens, params, True)
        text = text.strip(WSP)
        display: str | None = None
        if text.startswith('"'):
            end = _end_of_quoted(text)
            display = text[: end + 1]
            text = text[end + 1 :].lstrip(WSP)
            if not text.startswith("<"):
                raise UriError("display name must be followed by <URI>")
        lt = text.find("<")
        if lt >= 0:
            if display is None and lt > 0:
                display = text[:lt].strip(WSP) or None
                # RFC 3261 §25.1: display-name = *(token LWS) / quoted-string
                if display is not None and _DISPLAY_TOKENS(display) is None:
                    raise UriError(f"invalid display name {display!r}")
            gt = text.find(">", lt)
            if gt < 0:
                raise UriError("'<' without '>' in name-addr")
            uri_text = text[lt + 1 : gt]
            rest = text[gt + 1 :]
            bracketed = True
        else:
            # addr-spec: parameters after the URI belong to the header (§20.10).
            semi = text.find(";")
            uri_text, rest = (text, "") if semi < 0 else (text[:semi], text[semi:])
            bracketed = False
            uri_text = uri_text.strip(WSP)
            # RFC 3261 §20.10: a URI with a comma, question mark or semicolon must be
            # enclosed in <>; whitespace never belongs to an addr-spec.
            if _ADDR_SPEC_BAD(uri_text) is not None:
                raise UriError(f"invalid addr-spec {text!r}")
        rest = rest.strip(WSP)
        if rest and not rest.startswith(";"):
            raise UriError(f"unexpected text {rest!r} after URI")
        try:
            params = parse_params(rest)
        except ValueError as exc:
            raise UriError(str(exc)) from None
        return cls(parse_uri(uri_text), display, params, bracketed)

    def __str__(self) -> str:
        params = format_params(self.params)
        if not self.bracketed and self.display_name is None:
            return f"{self.uri}{params}"
        if self.display_name:
            return f"{self.display_name} <{self.uri}>{params}"
        return f"<{self.uri}>{params}"

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter, or None."""
        return get_param(self.params, "tag")

    @property
    def display(self) -> str | None:
        """The display name unquoted, or None."""
        return None if self.display_name is None else unquote(self.display_name)

    def param(self, name: str) -> str | None:
        """Header parameter ``name`` unquoted; ``""`` for a flag; None when absent."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        """A copy with header parameter ``name`` set."""
        params = set_param(self.params, name, value)
        return NameAddr(self.uri, self.display_name, params, self.bracketed)

    @classmethod
    def of(
        cls, uri: SipUri | AbsoluteUri | str, display: str | None = None, **params: str
    ) -> NameAddr:
        """Build a name-addr: ``NameAddr.of("sip:2001@pbx", "Alice", tag="x")``."""
        if isinstance(uri, str):
            uri = parse_uri(uri)
        disp = None if display is None else quote(display)
        return cls(uri, disp, tuple((k, v) for k, v in params.items()), True)


def parse_name_addrs(value: str) -> list[NameAddr]:
    """Parse a comma-separated list of name-addr values (Contact, Route, Record-Route)."""
    try:
        parts = split_quoted(value, ",")
    except ValueError as exc:
        raise UriError(str(exc)) from None
    return [NameAddr.parse(p) for p in parts if p]


def _end_of_quoted(text: str) -> int:
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i
        i += 1
    raise UriError("unterminated quoted display name")
