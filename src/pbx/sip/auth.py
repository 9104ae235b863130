"""HTTP digest authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760).

Theory of operation: a server answers an unauthenticated request with 401/407 carrying
one ``WWW-Authenticate``/``Proxy-Authenticate`` challenge per algorithm (SHA-256 first,
RFC 8760 §2.4); the client repeats the request with ``Authorization`` credentials whose
``response`` is a hash over its password, the nonce and the request (RFC 7616 §3.4.1).

* :class:`Challenge` and :class:`Credentials` parse and serialize the header values.
* :func:`ha1`, :func:`digest_response` and :func:`response_from_ha1` are the hashes of
  RFC 7616 §3.4.1–§3.4.3 (MD5, SHA-256, SHA-512-256 and their ``-sess`` forms; ``qop``
  ``auth``, ``auth-int``, or absent as in RFC 2069).
* :func:`answer_challenge` is the client side.
* :class:`NonceManager` issues stateless nonces (issue time and a counter, signed with an
  HMAC of a server secret), tells authentic from forged and fresh from stale ones, and
  remembers the highest nonce count seen per nonce so a replayed request is refused
  (RFC 7616 §3.3, §5.4). Its memory is bounded: a nonce is forgotten once it is stale.
* :class:`DigestAuthenticator` is the registrar/proxy side: challenge, then verify.

Nothing here reads the clock: every time is a ``now`` argument in seconds.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import hmac
import re
import struct
from collections.abc import Callable, Iterator

from attrs import define, field, frozen

from pbx.errors import ConfigError, LocalProtocolError, ProtocolError

__all__ = [
    "AuthError",
    "AuthParseError",
    "AuthResult",
    "Challenge",
    "Credentials",
    "DigestAuthenticator",
    "NonceManager",
    "NonceStatus",
    "answer_challenge",
    "is_supported_algorithm",
    "digest_response",
    "ha1",
    "response_from_ha1",
]


class AuthError(ProtocolError):
    """A peer's digest exchange cannot be carried out (unsupported algorithm or qop)."""

    def __init__(self, reason: str, status_hint: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


class AuthParseError(AuthError):
    """A received authentication header value is malformed (RFC 7616 §3.3, §3.4)."""


# -- hashes: RFC 7616 §3.4.1-§3.4.3 ---------------------------------------------------------

# RFC 7616 §3.2, RFC 8760 §2: algorithm name (upper case, without -sess) -> hashlib name.
_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def _hash_name(algorithm: str | None) -> tuple[str, bool]:
    """(hashlib name, is -sess) for an algorithm; ``None`` means MD5 (RFC 2617 §3.2.1)."""
    name = (algorithm or "MD5").upper()
    sess = name.endswith("-SESS")
    if sess:
        name = name[: -len("-SESS")]
    try:
        return _HASHES[name], sess
    except KeyError:
        raise AuthError(f"Digest algorithm {algorithm} is not supported") from None


def is_supported_algorithm(algorithm: str | None) -> bool:
    """True when :func:`digest_response` can compute ``algorithm``."""
    try:
        hashlib.new(_hash_name(algorithm)[0])
    except (AuthError, ValueError):
        return False
    return True


def _h(hash_name: str, data: str | bytes) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.new(hash_name, raw).hexdigest()


def ha1(username: str, realm: str, password: str, algorithm: str | None = "MD5") -> str:
    """H(username:realm:password) (RFC 7616 §3.4.2): what a registrar may store instead of
    the password. For a ``-sess`` algorithm this is still the stored form; the session
    key is derived per nonce by :func:`response_from_ha1`."""
    hash_name, _ = _hash_name(algorithm)
    return _h(hash_name, f"{username}:{realm}:{password}")


def response_from_ha1(
    algorithm: str | None,
    ha1_value: str,
    method: str,
    uri: str,
    nonce: str,
    nc: int | None,
    cnonce: str | None,
    qop: str | None,
    body: bytes = b"",
) -> str:
    """The ``response`` value from a stored HA1 (RFC 7616 §3.4.1; RFC 2069 if no qop)."""
    hash_name, sess = _hash_name(algorithm)
    key = ha1_value.lower()
    if sess:  # RFC 7616 §3.4.2: HA1 = H(H(user:realm:pass):nonce:cnonce)
        key = _h(hash_name, f"{key}:{nonce}:{cnonce or ''}")
    qop_name = qop.lower() if qop is not None else None
    if qop_name == "auth-int":  # RFC 7616 §3.4.3: A2 = method:uri:H(entity-body)
        ha2 = _h(hash_name, f"{method}:{uri}:{_h(hash_name, body)}")
    elif qop_name in (None, "auth"):
        ha2 = _h(hash_name, f"{method}:{uri}")
    else:
        raise AuthError(f"Digest qop {qop} is not supported")
    if qop_name is None:  # RFC 2069 compatibility (RFC 2617 §3.2.2.1)
        return _h(hash_name, f"{key}:{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise LocalProtocolError("a Digest response with qop needs nc and cnonce")
    return _h(hash_name, f"{key}:{nonce}:{nc:08x}:{cnonce}:{qop_name}:{ha2}")


def digest_response(
    algorithm: str | None,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: int | None,
    cnonce: str | None,
    qop: str | None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1): lowercase hex of the chosen hash."""
    key = ha1(username, realm, password, algorithm)
    return response_from_ha1(algorithm, key, method, uri, nonce, nc, cnonce, qop, body)


# -- header values: RFC 7616 §3.3, §3.4; RFC 7235 §2.1 --------------------------------------

# RFC 7230 §3.2.6: tchar
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LWS = " \t\r\n"

Param = tuple[str, str, bool]
"""An auth-param kept as written: (name, unquoted value, was quoted)."""


def _scan(value: str, what: str) -> Iterator[Param]:
    """Yield the auth-params of ``Digest a=b, c="d"`` (RFC 7235 §2.1) after the scheme."""
    text = value.strip(_LWS)
    if not text:
        raise AuthParseError(f"{what} {'are' if what.endswith('s') else 'is'} empty")
    end = 0
    while end < len(text) and text[end] not in _LWS:
        end += 1
    scheme, rest = text[:end], text[end:]
    if scheme.lower() != "digest":
        raise AuthParseError("authentication scheme is not Digest")
    i, n = 0, len(rest)
    while i < n:
        while i < n and (rest[i] in _LWS or rest[i] == ","):
            i += 1
        if i >= n:
            break
        start = i
        while i < n and rest[i] in _TCHARS:
            i += 1
        name = rest[start:i]
        while i < n and rest[i] in _LWS:
            i += 1
        if not name or i >= n or rest[i] != "=":
            raise AuthParseError("Digest parameter is not of the form <name>=<value>")
        i += 1
        while i < n and rest[i] in _LWS:
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:  # RFC 7230 §3.2.6 quoted-pair
                    i += 1
                chars.append(rest[i])
                i += 1
            if i >= n:
                raise AuthParseError("Digest parameter has an unterminated quoted string")
            i += 1
            yield name, "".join(chars), True
        else:
            start = i
            while i < n and rest[i] in _TCHARS:
                i += 1
            if i == start:
                raise AuthParseError(f"Digest parameter {name} has no value")
            yield name, rest[start:i], False
        while i < n and rest[i] in _LWS:
            i += 1
        if i < n and rest[i] != ",":
            raise AuthParseError("Digest parameters are not separated by commas")


_TOKEN_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_HEAD = re.compile(r"[ \t\r\n]*[Dd][Ii][Gg][Ee][Ss][Tt][ \t\r\n]+")
_PARAM = re.compile(
    rf"[ \t\r\n,]*({_TOKEN_RE})[ \t\r\n]*=[ \t\r\n]*"
    rf'(?:"([^"\\]*(?:\\.[^"\\]*)*)"|({_TOKEN_RE}))[ \t\r\n]*(?:,|\Z)',
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _params(value: str, what: str) -> dict[str, Param]:
    """Auth-params by lowercase name. A regular expression reads well-formed values; the
    character scanner :func:`_scan` reads the rest and names the first error."""
    head = _HEAD.match(value)
    if head is not None:
        fast: dict[str, Param] = {}
        pos = head.end()
        match = _PARAM.match(value, pos)
        while match is not None:
            name, quoted, token = match.groups()
            key = name.lower()
            if key in fast:
                raise AuthParseError(f"Digest parameter {key} appears twice")
            if quoted is None:
                fast[key] = (name, token, False)
            elif "\\" in quoted:
                fast[key] = (name, _QUOTED_PAIR.sub(r"\1", quoted), True)
            else:
                fast[key] = (name, quoted, True)
            pos = match.end()
            match = _PARAM.match(value, pos)
        if not value[pos:].strip(_LWS + ","):
            return fast
    out: dict[str, Param] = {}
    for param in _scan(value, what):
        key = param[0].lower()
        if key in out:
            raise AuthParseError(f"Digest parameter {key} appears twice")
        out[key] = param
    return out


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_token(value: str) -> bool:
    return bool(value) and all(ch in _TCHARS for ch in value)


def _format(pairs: list[tuple[str, str, bool]], extra: tuple[Param, ...]) -> str:
    parts = []
    for name, value, quoted in [*pairs, *extra]:
        # A value that is not a token must be quoted whatever the peer did.
        parts.append(f"{name}={_quote(value) if quoted or not _is_token(value) else value}")
    return "Digest " + ", ".join(parts)


def _require(params: dict[str, Param], name: str, what: str) -> str:
    param = params.pop(name, None)
    if param is None:
        verb = "are" if what.endswith("s") else "is"
        raise AuthParseError(f"Digest {what} {verb} missing the {name} parameter")
    return param[1]


def _optional(params: dict[str, Param], name: str) -> str | None:
    param = params.pop(name, None)
    return param[1] if param is not None else None


@frozen
class Challenge:
    """A ``WWW-Authenticate``/``Proxy-Authenticate`` Digest challenge (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str | None = None
    """``MD5``, ``SHA-256``… as written; ``None`` when absent (means MD5)."""
    qop: tuple[str, ...] = ()
    """Offered qop options (``auth``, ``auth-int``); empty when absent (RFC 2069)."""
    opaque: str | None = None
    stale: bool = False
    """True: the previous request was refused only because its nonce was stale."""
    domain: str | None = None
    extra: tuple[Param, ...] = ()
    """Other parameters kept as (name, value, quoted): ``charset``, ``userhash``…"""

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Parse a challenge header value; raises :class:`AuthParseError` (400)."""
        params = _params(value, "Digest challenge")
        realm = _require(params, "realm", "challenge")
        nonce = _require(params, "nonce", "challenge")
        qop_text = _optional(params, "qop")
        qop = tuple(q.strip(_LWS) for q in qop_text.split(",")) if qop_text else ()
        stale = _optional(params, "stale")
        return cls(
            realm=realm,
            nonce=nonce,
            algorithm=_optional(params, "algorithm"),
            qop=tuple(q for q in qop if q),
            opaque=_optional(params, "opaque"),
            stale=stale is not None and stale.lower() == "true",
            domain=_optional(params, "domain"),
            extra=tuple(params.values()),
        )

    def __str__(self) -> str:
        pairs: list[tuple[str, str, bool]] = [("realm", self.realm, True)]
        if self.domain is not None:
            pairs.append(("domain", self.domain, True))
        pairs.append(("nonce", self.nonce, True))
        if self.opaque is not None:
            pairs.append(("opaque", self.opaque, True))
        if self.stale:
            pairs.append(("stale", "TRUE", False))
        if self.algorithm is not None:
            pairs.append(("algorithm", self.algorithm, False))
        if self.qop:
            pairs.append(("qop", ",".join(self.qop), True))
        return _format(pairs, self.extra)


@frozen
class Credentials:
    """``Authorization``/``Proxy-Authorization`` Digest credentials (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    response: str
    """Lowercase hex digest (RFC 7616 §3.4.1)."""
    uri: str | None = None
    """The digest-uri; required by :meth:`DigestAuthenticator.verify`."""
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    """The chosen qop (a token), or ``None`` (RFC 2069)."""
    nc: int | None = None
    """Nonce count, written as eight hex digits."""
    extra: tuple[Param, ...] = ()
    """Other parameters kept as (name, value, quoted): ``userhash``…"""

    @classmethod
    def parse(cls, value: str) -> Credentials:
        """Parse a credentials header value; raises :class:`AuthParseError` (400)."""
        params = _params(value, "Digest credentials")
        username = _require(params, "username", "credentials")
        realm = _require(params, "realm", "credentials")
        nonce = _require(params, "nonce", "credentials")
        response = _require(params, "response", "credentials")
        nc_text = _optional(params, "nc")
        nc: int | None = None
        if nc_text is not None:
            # RFC 7616 §3.4: nc = 8LHEX
            if len(nc_text) != 8 or not all(ch in "0123456789abcdefABCDEF" for ch in nc_text):
                raise AuthParseError("Digest nc is not eight hexadecimal digits")
            nc = int(nc_text, 16)
        return cls(
            username=username,
            realm=realm,
            nonce=nonce,
            response=response,
            uri=_optional(params, "uri"),
            algorithm=_optional(params, "algorithm"),
            cnonce=_optional(params, "cnonce"),
            opaque=_optional(params, "opaque"),
            qop=_optional(params, "qop"),
            nc=nc,
            extra=tuple(params.values()),
        )

    def __str__(self) -> str:
        pairs: list[tuple[str, str, bool]] = [
            ("username", self.username, True),
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
        ]
        if self.uri is not None:
            pairs.append(("uri", self.uri, True))
        pairs.append(("response", self.response, True))
        if self.algorithm is not None:
            pairs.append(("algorithm", self.algorithm, False))
        if self.cnonce is not None:
            pairs.append(("cnonce", self.cnonce, True))
        if self.opaque is not None:
            pairs.append(("opaque", self.opaque, True))
        if self.qop is not None:
            pairs.append(("qop", self.qop, False))
        if self.nc is not None:
            pairs.append(("nc", f"{self.nc:08x}", False))
        return _format(pairs, self.extra)


def answer_challenge(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Credentials answering ``challenge`` (RFC 7616 §3.4): qop ``auth`` when offered, else
    ``auth-int`` (over ``body``), else none (RFC 2069). ``cnonce`` comes from the caller's
    random source. Raises :class:`AuthError` for an algorithm or qop we cannot compute."""
    offered = [q.lower() for q in challenge.qop]
    qop: str | None = None
    if offered:
        if "auth" in offered:
            qop = "auth"
        elif "auth-int" in offered:
            qop = "auth-int"
        else:
            raise AuthError("Digest challenge offers no supported qop")
    if not is_supported_algorithm(challenge.algorithm):
        raise AuthError(f"Digest algorithm {challenge.algorithm} is not supported")
    response = digest_response(
        challenge.algorithm,
        username,
        challenge.realm,
        password,
        method,
        uri,
        challenge.nonce,
        nc if qop else None,
        cnonce if qop else None,
        qop,
        body,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        response=response,
        uri=uri,
        algorithm=challenge.algorithm,
        cnonce=cnonce if qop else None,
        opaque=challenge.opaque,
        qop=qop,
        nc=nc if qop else None,
    )


# -- server side ----------------------------------------------------------------------------


class NonceStatus(enum.Enum):
    """What :meth:`NonceManager.check` found."""

    VALID = "valid"
    """Issued by us, not expired, nonce count (if any) new."""
    STALE = "stale"
    """Issued by us but expired: re-challenge with ``stale=TRUE`` (RFC 7616 §3.3)."""
    INVALID = "invalid"
    """Not issued by us (forged, corrupted, or made with another secret)."""
    REPLAY = "replay"
    """Issued by us and fresh, but the nonce count was already seen (RFC 7616 §5.4)."""


_NONCE_BODY = struct.Struct(">qI")  # issue time in ms, per-manager counter
_MAC_BYTES = 16
_NONCE_BYTES = _NONCE_BODY.size + _MAC_BYTES


@define
class NonceManager:
    """Stateless nonces: ``hex(body ‖ HMAC-SHA256(secret, body)[:16])``.

    ``body`` is the issue time in ms (signed 64 bits) and a per-manager counter (32 bits),
    so two nonces issued at the same ``now`` still differ.

    Any node holding ``secret`` can check a nonce without having stored it; only the
    highest nonce count per nonce in use is remembered, and a nonce is forgotten once
    older than ``lifetime``, so memory stays bounded by the request rate × lifetime.
    """

    secret: bytes
    lifetime: float = 300.0
    """Seconds a nonce stays fresh."""
    _counter: int = field(default=0, init=False)
    _highest_nc: dict[str, int] = field(factory=dict, init=False)
    _issued: list[tuple[float, str]] = field(factory=list, init=False)
    """Heap of (issue time, nonce) for the nonces in ``_highest_nc``."""

    def __attrs_post_init__(self) -> None:
        if not self.secret:
            raise ConfigError("NonceManager.secret: must not be empty")
        if self.lifetime <= 0:
            raise ConfigError("NonceManager.lifetime: must be positive")

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.secret, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, now: float) -> str:
        """A new nonce issued at ``now``."""
        self._prune(now)
        self._counter = (self._counter + 1) & 0xFFFFFFFF
        body = _NONCE_BODY.pack(round(now * 1000), self._counter)
        return (body + self._mac(body)).hex()

    def issued_at(self, nonce: str) -> float | None:
        """Issue time of an authentic nonce, ``None`` for a forged one."""
        if len(nonce) != 2 * _NONCE_BYTES:
            return None
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            return None
        if raw.hex() != nonce:  # one spelling per nonce: lowercase, no spaces
            return None
        body, mac = raw[: _NONCE_BODY.size], raw[_NONCE_BODY.size :]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        issued_ms, _ = _NONCE_BODY.unpack(body)
        return float(issued_ms / 1000)

    def check(self, nonce: str, nc: int | None, now: float) -> NonceStatus:
        """Authenticity, freshness and (when ``nc`` is given) replay of ``nonce`` at ``now``.

        A VALID answer with an ``nc`` records it: the next check needs a greater one.
        """
        self._prune(now)
        issued = self.issued_at(nonce)
        if issued is None:
            return NonceStatus.INVALID
        if now - issued > self.lifetime:
            return NonceStatus.STALE
        if nc is None:
            return NonceStatus.VALID
        last = self._highest_nc.get(nonce)
        if last is not None and nc <= last:
            return NonceStatus.REPLAY
        if last is None:
            heapq.heappush(self._issued, (issued, nonce))
        self._highest_nc[nonce] = nc
        return NonceStatus.VALID

    @property
    def tracked(self) -> int:
        """How many nonces have a remembered nonce count."""
        return len(self._highest_nc)

    def _prune(self, now: float) -> None:
        # Forget exactly the nonces check() would call STALE (same comparison).
        issued = self._issued
        while issued and now - issued[0][0] > self.lifetime:
            _, nonce = heapq.heappop(issued)
            self._highest_nc.pop(nonce, None)


@frozen
class AuthResult:
    """The verdict of :meth:`DigestAuthenticator.verify`."""

    ok: bool
    username: str | None
    """The username the credentials claim (``None`` only when unreadable)."""
    stale: bool
    """True when only the nonce's age failed: re-challenge with ``stale=TRUE``."""
    reason: str
    """One sentence for logs; never sent to the peer."""


def _fail(reason: str, username: str | None = None, *, stale: bool = False) -> AuthResult:
    return AuthResult(ok=False, username=username, stale=stale, reason=reason)


@define
class DigestAuthenticator:
    """Server-side digest authentication for a registrar or proxy (RFC 3261 §22.4).

    ``lookup(username)`` returns the user's password, or with ``lookup_gives_ha1`` the
    stored HA1 (:func:`ha1`) for the single algorithm in ``algorithms``; ``None`` for an
    unknown user. Only ``qop=auth`` is offered, so nc and cnonce are required.
    """

    realm: str
    lookup: Callable[[str], str | None]
    nonces: NonceManager
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    """Offered in this order, one challenge each (RFC 8760 §2.4: strongest first)."""
    lookup_gives_ha1: bool = False
    opaque: str | None = None
    """Sent in each challenge and required back unchanged when set."""
    allow_rfc2069: bool = True
    """Accept credentials without qop (RFC 2617 §3.2.2 keeps RFC 2069 compatibility; some
    softphones and SIP libraries, pyVoIP among them, never send qop). Such credentials
    have no nonce count, so only the nonce lifetime limits their replay."""

    def __attrs_post_init__(self) -> None:
        if not self.algorithms:
            raise ConfigError("DigestAuthenticator.algorithms: must not be empty")
        for algorithm in self.algorithms:
            if not is_supported_algorithm(algorithm):
                raise ConfigError(f"DigestAuthenticator.algorithms: {algorithm} is not supported")
        if self.lookup_gives_ha1 and len(self.algorithms) != 1:
            raise ConfigError(
                "DigestAuthenticator.algorithms: an HA1 lookup serves exactly one algorithm"
            )

    def challenges(self, now: float, stale: bool = False) -> list[str]:
        """``WWW-Authenticate``/``Proxy-Authenticate`` values for a 401/407, one nonce."""
        nonce = self.nonces.issue(now)
        return [
            str(
                Challenge(
                    realm=self.realm,
                    nonce=nonce,
                    algorithm=algorithm,
                    qop=("auth",),
                    opaque=self.opaque,
                    stale=stale,
                )
            )
            for algorithm in self.algorithms
        ]

    def verify(self, authorization_value: str, method: str, now: float) -> AuthResult:
        """Check an ``Authorization``/``Proxy-Authorization`` value for a ``method`` request.

        Raises :class:`AuthParseError` (400) for a malformed value; every other failure
        is an :class:`AuthResult` with ``ok=False`` and a reason.
        """
        creds = Credentials.parse(authorization_value)
        user = creds.username
        if creds.realm != self.realm:
            return _fail("the realm is not ours", user)
        offered = {a.upper() for a in self.algorithms}
        if (creds.algorithm or "MD5").upper() not in offered:
            return _fail("the algorithm was not offered", user)
        if creds.uri is None:
            return _fail("the credentials have no uri", user)
        if creds.qop is None:
            if not self.allow_rfc2069:
                return _fail("the credentials have no qop", user)
        elif creds.qop.lower() != "auth":
            return _fail("the qop was not offered", user)
        elif creds.nc is None or creds.cnonce is None:
            return _fail("qop=auth requires nc and cnonce", user)
        if self.opaque is not None and creds.opaque != self.opaque:
            return _fail("the opaque value is not ours", user)
        status = self.nonces.check(creds.nonce, None, now)
        if status is NonceStatus.INVALID:
            return _fail("the nonce is not ours", user)
        secret = self.lookup(user)
        if secret is None:
            return _fail("the username is unknown", user)
        key = secret if self.lookup_gives_ha1 else ha1(user, self.realm, secret, creds.algorithm)
        qop = "auth" if creds.qop is not None else None
        expected = response_from_ha1(
            creds.algorithm, key, method, creds.uri, creds.nonce, creds.nc, creds.cnonce, qop
        )
        if not hmac.compare_digest(expected.encode(), creds.response.lower().encode()):
            return _fail("the response is wrong", user)
        if status is NonceStatus.STALE:
            return _fail("the nonce is stale", user, stale=True)
        # Record the nonce count only now, so wrong responses cannot burn counts. RFC 2069
        # credentials carry none: the nonce's lifetime is their only replay limit.
        if qop is not None and self.nonces.check(creds.nonce, creds.nc, now) is NonceStatus.REPLAY:
            return _fail("the nonce count was already used", user)
        return AuthResult(ok=True, username=user, stale=False, reason="authenticated")
