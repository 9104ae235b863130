"""Session timers (RFC 4028): a call whose refreshes stop is ended, never left a zombie.

Both ends of an INVITE dialog agree on a session interval and on who refreshes it (the
refresher) in the INVITE and its 2xx, and again in every re-INVITE or UPDATE. The
refresher sends a refresh at half the interval; the other end sends BYE when no refresh
came by the interval's end minus min(32 s, interval / 3) (§10).

This module holds the negotiation (sans-I/O, on parsed messages) and the deadlines;
:class:`~pbx.sip.endpoint.SipEndpoint` sends the refreshes and the BYE. ``uac``/``uas``
on the wire name the roles *in the transaction that carries the header*, so a timer
stores the local view instead: ``local_refreshes``.
"""

from __future__ import annotations

from attrs import define, frozen

from pbx.sip.errors import SipParseError
from pbx.sip.headers import params_of
from pbx.sip.message import Request, Response

RFC_MIN_SE = 90
"""The smallest Min-SE RFC 4028 allows (§4)."""


@frozen
class SessionTimerConfig:
    """Our side of the negotiation."""

    expires: int = 1800
    """The session interval we ask for and accept at most (RFC 4028 recommends 1800 s)."""
    min_se: int = RFC_MIN_SE
    """The smallest interval we accept; a shorter request gets 422 (§5)."""


@define(slots=True)
class SessionTimer:
    """One dialog's session timer, restarted by every successful refresh."""

    interval: int
    local_refreshes: bool
    started: float

    @property
    def refresh_at(self) -> float:
        """When the refresher sends its refresh: half the interval (§10)."""
        return self.started + self.interval / 2

    @property
    def expires_at(self) -> float:
        """When the session ends without a refresh: BYE (§10)."""
        return self.started + self.interval - min(32.0, self.interval / 3)

    @property
    def deadline(self) -> float:
        """The next moment the timer needs attention."""
        return self.refresh_at if self.local_refreshes else self.expires_at


@frozen
class Negotiated:
    """What a UAS puts in its 2xx (Session-Expires, maybe Require) and keeps."""

    interval: int
    refresher: str
    """``uac`` or ``uas``, as written in this transaction's response."""
    fields: tuple[tuple[str, str], ...]


@frozen
class TooSmall:
    """The request's interval is below our Min-SE: answer 422 with this Min-SE (§5)."""

    min_se: int


def session_expires(message: Request | Response) -> tuple[int, str | None] | None:
    """The Session-Expires (compact ``x``) interval and refresher, or None when absent."""
    value = message.headers.get("session-expires")
    if value is None:
        return None
    main, params = params_of(value)
    if not main.isdigit() or len(main) > 10:
        raise SipParseError(f"invalid Session-Expires value {main[:40]!r}")
    refresher = None
    for name, param in params:
        if name.lower() == "refresher":
            refresher = (param or "").lower()
            if refresher not in ("uac", "uas"):
                raise SipParseError(f"invalid Session-Expires refresher {refresher[:20]!r}")
    return int(main), refresher


def min_se(message: Request | Response) -> int | None:
    """The Min-SE value, or None when absent."""
    value = message.headers.get("min-se")
    if value is None:
        return None
    main, _ = params_of(value)
    if not main.isdigit() or len(main) > 10:
        raise SipParseError(f"invalid Min-SE value {main[:40]!r}")
    return int(main)


def supports_timer(message: Request | Response) -> bool:
    """Whether the sender lists ``timer`` in Supported (or Require)."""
    tokens = message.header_tokens("supported") + message.header_tokens("require")
    return any(t.lower() == "timer" for t in tokens)


def uas_negotiate(req: Request, config: SessionTimerConfig) -> Negotiated | TooSmall:
    """RFC 4028 §9: a UAS answering an INVITE or UPDATE (initial or refresh).

    A UAC that supports the extension refreshes unless it asked otherwise; for one that
    does not, we refresh ourselves (``refresher=uas``, no Require). Raises
    :class:`SipParseError` for malformed header fields (a 400).
    """
    asked = session_expires(req)
    # The request's Min-SE (absent: the smallest allowed, ours) bounds what we may set.
    floor = max(min_se(req) or config.min_se, config.min_se)
    supported = supports_timer(req)
    if asked is not None:
        interval, refresher = asked
        if interval < config.min_se:
            return TooSmall(config.min_se)
        # We may lower it, never below the request's Min-SE (§9).
        interval = max(min(interval, config.expires), floor)
    else:
        interval, refresher = max(config.expires, floor), None
    if refresher is None or not supported:
        refresher = "uac" if supported else "uas"
    fields: list[tuple[str, str]] = [("Session-Expires", f"{interval};refresher={refresher}")]
    if supported:
        fields.append(("Require", "timer"))
    return Negotiated(interval, refresher, tuple(fields))


def uac_fields(config: SessionTimerConfig, interval: int | None = None) -> list[tuple[str, str]]:
    """What a UAC adds to an INVITE or UPDATE (§7.1); Supported is sent separately."""
    return [
        ("Session-Expires", str(interval or config.expires)),
        ("Min-SE", str(config.min_se)),
    ]


def uac_timer(resp: Response, now: float) -> SessionTimer | None:
    """RFC 4028 §7.2: the timer a 2xx sets up for its UAC, or None when it has none.

    A Session-Expires with no refresher leaves the refreshing to the UAC.
    """
    try:
        got = session_expires(resp)
    except SipParseError:
        return None
    if got is None:
        return None
    interval, refresher = got
    if interval <= 0:
        return None
    return SessionTimer(interval, refresher != "uas", now)
