"""RFC 4028 session timers: negotiation, refreshes, and BYE when the refreshes stop."""

from __future__ import annotations

import random

import pytest

from pbx.sip.endpoint import EndpointConfig, SipEndpoint, SipLegState
from pbx.sip.errors import SipParseError
from pbx.sip.events import DialogEnded, InDialogRequest
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.session_timer import (
    Negotiated,
    SessionTimer,
    SessionTimerConfig,
    TooSmall,
    uac_timer,
    uas_negotiate,
)
from tests.sip.test_endpoint import SDP, Pair, call, events


def invite(*fields: str) -> Request:
    data = (
        "INVITE sip:600@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKst\r\n"
        "From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:600@127.0.0.1>\r\n"
        "Call-ID: st\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        + "".join(f"{f}\r\n" for f in fields)
        + "Content-Length: 0\r\n\r\n"
    ).encode()
    req = parse_message(data)
    assert isinstance(req, Request)
    return req


CONFIG = SessionTimerConfig(expires=1800, min_se=90)
REQUIRE = ("Require", "timer")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # The UAC supports timers and leaves the choice to us: it refreshes.
        (("Supported: timer", "Session-Expires: 1200"),
         Negotiated(1200, "uac", (("Session-Expires", "1200;refresher=uac"), REQUIRE))),
        # Its choice is kept; a long interval is lowered to ours.
        (("Supported: timer", "Session-Expires: 7200;refresher=uas"),
         Negotiated(1800, "uas", (("Session-Expires", "1800;refresher=uas"), REQUIRE))),
        # No support: we refresh, and Require is not sent (§9).
        ((), Negotiated(1800, "uas", (("Session-Expires", "1800;refresher=uas"),))),
        (("Session-Expires: 600;refresher=uac",),
         Negotiated(600, "uas", (("Session-Expires", "600;refresher=uas"),))),
        # Never below the request's Min-SE.
        (("Supported: timer", "x: 100", "Min-SE: 3000"),
         Negotiated(3000, "uac", (("Session-Expires", "3000;refresher=uac"), REQUIRE))),
        # Below our Min-SE: 422.
        (("Supported: timer", "Session-Expires: 60"), TooSmall(90)),
    ],
)  # fmt: skip
def test_uas_negotiation_9(fields: tuple[str, ...], expected: object) -> None:
    assert uas_negotiate(invite(*fields), CONFIG) == expected


@pytest.mark.parametrize(
    "field", ["Session-Expires: soon", "Session-Expires: 900;refresher=me", "Min-SE: -1"]
)
def test_malformed_fields_are_parse_errors(field: str) -> None:
    with pytest.raises(SipParseError):
        uas_negotiate(invite(field), CONFIG)


def test_deadlines_10() -> None:
    t = SessionTimer(1800, True, 100.0)
    assert t.refresh_at == 1000.0 and t.expires_at == 1868.0 and t.deadline == 1000.0
    short = SessionTimer(90, False, 0.0)
    assert short.expires_at == 60.0 and short.deadline == 60.0


def test_uac_timer_from_the_2xx_7_2() -> None:
    def ok(*fields: str) -> Response:
        data = (
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKst\r\n"
            "From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:600@127.0.0.1>;tag=b\r\n"
            "Call-ID: st\r\nCSeq: 1 INVITE\r\n"
            + "".join(f"{f}\r\n" for f in fields)
            + "Content-Length: 0\r\n\r\n"
        ).encode()
        resp = parse_message(data)
        assert isinstance(resp, Response)
        return resp

    assert uac_timer(ok(), 0.0) is None
    assert uac_timer(ok("Session-Expires: 900;refresher=uac"), 5.0) == SessionTimer(900, True, 5.0)
    assert uac_timer(ok("Session-Expires: 900;refresher=uas"), 5.0) == SessionTimer(900, False, 5.0)
    assert uac_timer(ok("Session-Expires: 900"), 5.0) == SessionTimer(900, True, 5.0)


def answered_pair(b_config: EndpointConfig | None = None) -> tuple[Pair, str, str]:
    p = Pair(SipEndpoint(b_config, random.Random(2)) if b_config is not None else None)
    leg_a, leg_b = call(p)
    p.b.answer(leg_b, SDP, p.now)
    p.transfer()
    events(p.a)
    events(p.b)
    return p, leg_a, leg_b


def answer_updates(p: Pair, until: float, *, status: int = 200) -> list[InDialogRequest]:
    """Run to ``until``, answering every UPDATE the callee is handed."""
    seen: list[InDialogRequest] = []
    while p.now < until:
        p.advance(min(until, p.now + 10.0))
        for ev in events(p.b):
            if isinstance(ev, InDialogRequest) and ev.request.method == "UPDATE":
                seen.append(ev)
                p.b.respond(ev.transaction, status, p.now)
                p.transfer()
    return seen


def test_caller_refreshes_with_update_at_half_the_interval_and_the_call_lives_on() -> None:
    p, leg_a, leg_b = answered_pair()
    ok = [parse_message(d) for d in p.sent_by("b", "SIP/2.0 200")][-1]
    assert ok.headers.get("session-expires") == "1800;refresher=uac"
    assert ok.headers.get("require") == "timer"
    updates = answer_updates(p, 3700.0)
    # At 900, 1800, 2700, 3600 s: each UPDATE restarts both ends' timers.
    assert len(updates) == 4
    assert updates[0].request.headers.get("session-expires") == "1800;refresher=uac"
    assert p.a.leg(leg_a).state is SipLegState.CONFIRMED
    assert p.b.leg(leg_b).state is SipLegState.CONFIRMED
    assert not p.sent_by("a", "BYE") and not p.sent_by("b", "BYE")


def test_callee_ends_the_call_when_the_refresher_goes_silent_10() -> None:
    p, leg_a, leg_b = answered_pair()
    p.drop_next["a"] = 1000  # the caller's refreshes never arrive
    # BYE at the interval minus min(32 s, interval/3): 1768 s after the answer.
    p.advance(1767.0)
    assert not [e for e in events(p.b) if isinstance(e, DialogEnded)]
    assert not p.sent_by("b", "BYE")
    p.advance(1769.0)
    ended = [e for e in events(p.b) if isinstance(e, DialogEnded)]
    assert ended and ended[0].reason == "session expired" and ended[0].by == "local"
    assert p.sent_by("b", "BYE")
    assert leg_b not in p.b.legs or p.b.leg(leg_b).state is SipLegState.ENDING
    assert leg_a


def test_we_refresh_a_caller_that_does_not_support_timers() -> None:
    a = SipEndpoint(
        EndpointConfig(host="127.0.0.1", port=5070, session_timer=None), random.Random(1)
    )
    p = Pair()
    p.a = a
    leg_a, leg_b = call(p)
    invite_bytes = p.sent_by("a", "INVITE")[0]
    assert b"Session-Expires" not in invite_bytes and b"timer" not in invite_bytes
    p.b.answer(leg_b, SDP, p.now)
    p.transfer()
    ok = [parse_message(d) for d in p.sent_by("b", "SIP/2.0 200")][-1]
    assert ok.headers.get("session-expires") == "1800;refresher=uas"
    assert ok.headers.get("require") is None
    events(p.a)
    p.advance(901.0)
    # The caller's endpoint hands the UPDATE up; answer it as its application would.
    [update] = [e for e in events(p.a) if isinstance(e, InDialogRequest)]
    assert update.request.method == "UPDATE"
    p.a.respond(update.transaction, 200, p.now)
    p.transfer()
    assert p.b.leg(leg_b).session is not None
    assert p.b.leg(leg_b).session.started == pytest.approx(901.0)  # type: ignore[union-attr]
    # When the refresh fails with 481 the call is over (§10).
    p.advance(1802.0)
    [update] = [e for e in events(p.a) if isinstance(e, InDialogRequest)]
    p.a.respond(update.transaction, 481, p.now)
    p.transfer()
    ended = [e for e in events(p.b) if isinstance(e, DialogEnded)]
    assert ended and ended[0].reason == "session refresh failed (481)"


def test_refresh_falls_back_to_reinvite_when_update_is_refused() -> None:
    a = SipEndpoint(
        EndpointConfig(host="127.0.0.1", port=5070, session_timer=None), random.Random(1)
    )
    p = Pair()
    p.a = a
    _, leg_b = call(p)
    p.b.answer(leg_b, SDP, p.now)
    p.transfer()
    events(p.a)
    p.advance(901.0)
    [update] = [e for e in events(p.a) if isinstance(e, InDialogRequest)]
    p.a.respond(update.transaction, 501, p.now)
    p.transfer()
    [reinvite] = [e for e in events(p.a) if isinstance(e, InDialogRequest)]
    assert reinvite.request.method == "INVITE" and reinvite.sdp == SDP  # the same offer
    p.a.respond(reinvite.transaction, 200, p.now, body=SDP, content_type="application/sdp")
    p.transfer()
    assert p.sent_by("b", "ACK")
    assert p.b.leg(leg_b).state is SipLegState.CONFIRMED
    assert p.b.leg(leg_b).session.started == pytest.approx(901.0)  # type: ignore[union-attr]


def test_invite_below_min_se_gets_422_and_the_caller_retries_with_more() -> None:
    b = SipEndpoint(
        EndpointConfig(
            host="127.0.0.1", port=5060, session_timer=SessionTimerConfig(expires=1800, min_se=600)
        ),
        random.Random(2),
    )
    a = SipEndpoint(
        EndpointConfig(
            host="127.0.0.1", port=5070, session_timer=SessionTimerConfig(expires=300, min_se=90)
        ),
        random.Random(1),
    )
    p = Pair(b)
    p.a = a
    _, leg_b = call(p)
    [rejected] = [parse_message(d) for d in p.sent_by("b", "SIP/2.0 422")]
    assert rejected.headers.get("min-se") == "600"
    invites = [parse_message(d) for d in p.sent_by("a", "INVITE")]
    assert len(invites) == 2 and invites[1].headers.get("session-expires") == "600"
    p.b.answer(leg_b, SDP, p.now)
    p.transfer()
    assert p.b.leg(leg_b).session == SessionTimer(600, False, 0.0)
