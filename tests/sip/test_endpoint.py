"""Two endpoints moving bytes between them on a hand-driven clock (RFC 3261 §8, §12–§15)."""

from __future__ import annotations

import random

import pytest

from pbx.errors import InvalidStateError
from pbx.sip import auth
from pbx.sip.endpoint import EndpointConfig, SipEndpoint, SipLegState
from pbx.sip.events import (
    CallAnswered,
    CallCancelled,
    CallConfirmed,
    CallFailed,
    CallProgress,
    DeviceRegistered,
    DialogEnded,
    IncomingCall,
    InDialogRequest,
    MessageRejected,
    RegistrationStatus,
    ReinviteAnswered,
    RequestAnswered,
)
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.registration import LocationService, Registrar
from pbx.sip.transport import Destination

A_ADDR = Destination("UDP", "127.0.0.1", 5070)
B_ADDR = Destination("UDP", "127.0.0.1", 5060)
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)


class Pair:
    """A caller endpoint ``a`` and a callee endpoint ``b`` joined by a lossy wire."""

    def __init__(self, b: SipEndpoint | None = None) -> None:
        self.a = SipEndpoint(EndpointConfig(host="127.0.0.1", port=5070), random.Random(1))
        self.b = b or SipEndpoint(EndpointConfig(host="127.0.0.1", port=5060), random.Random(2))
        self.now = 0.0
        self.drop_next: dict[str, int] = {"a": 0, "b": 0}
        self.wire: list[tuple[str, bytes]] = []

    def transfer(self) -> None:
        """Deliver everything queued, both ways, until quiet."""
        for _ in range(50):
            moved = False
            for name, src, dst, src_addr in (
                ("a", self.a, self.b, A_ADDR),
                ("b", self.b, self.a, B_ADDR),
            ):
                for data, _dest in src.datagrams_to_send():
                    moved = True
                    self.wire.append((name, data))
                    if self.drop_next[name]:
                        self.drop_next[name] -= 1
                        continue
                    dst.receive_datagram(data, src_addr, self.now)
            if not moved:
                return

    def advance(self, to: float) -> None:
        """Run both clocks to ``to``, firing timers in order and delivering in between."""
        while True:
            deadlines = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            if not deadlines or min(deadlines) > to:
                break
            self.now = max(self.now, min(deadlines))
            self.a.handle_timer(self.now)
            self.b.handle_timer(self.now)
            self.transfer()
        self.now = to

    def sent_by(self, name: str, start: str) -> list[bytes]:
        return [d for n, d in self.wire if n == name and d.startswith(start.encode())]


def events(ep: SipEndpoint) -> list[object]:
    out = []
    while (ev := ep.next_event()) is not None:
        out.append(ev)
    return out


def call(p: Pair) -> tuple[str, str]:
    leg_a = p.a.invite("sip:100@127.0.0.1:5060", p.now, from_user="caller", sdp=SDP)
    p.transfer()
    [incoming] = events(p.b)
    assert isinstance(incoming, IncomingCall)
    return leg_a, incoming.leg


def test_basic_call_ring_answer_ack_bye() -> None:
    p = Pair()
    leg_a, leg_b = call(p)
    assert p.sent_by("b", "SIP/2.0 100")
    p.b.ring(leg_b, p.now)
    p.transfer()
    [progress] = events(p.a)
    assert isinstance(progress, CallProgress) and progress.status == 180
    p.b.answer(leg_b, SDP, p.now)
    p.transfer()
    [answered] = events(p.a)
    assert isinstance(answered, CallAnswered) and answered.sdp == SDP
    [confirmed] = events(p.b)
    assert isinstance(confirmed, CallConfirmed)
    assert p.a.leg(leg_a).state is SipLegState.CONFIRMED
    assert p.b.leg(leg_b).state is SipLegState.CONFIRMED
    p.a.bye(leg_a, p.now)
    p.transfer()
    [ended_b] = events(p.b)
    assert isinstance(ended_b, DialogEnded) and ended_b.by == "remote"
    [ended_a] = events(p.a)
    assert isinstance(ended_a, DialogEnded) and ended_a.by == "local"
    assert p.a.legs == {} and p.b.legs == {}


def test_uas_retransmits_2xx_until_ack_13_3_1_4() -> None:
    p = Pair()
    leg_a, leg_b = call(p)
    p.b.answer(leg_b, SDP, p.now)
    # The 200 OK is lost twice; the UAS resends it at T1 and 2·T1, then the ACK arrives.
    p.drop_next["b"] = 2
    p.transfer()
    assert events(p.a) == []
    p.advance(0.6)
    assert events(p.a) == []
    p.advance(1.6)
    assert [type(e) for e in events(p.a)] == [CallAnswered]
    assert [type(e) for e in events(p.b)] == [CallConfirmed]
    oks = p.sent_by("b", "SIP/2.0 200")
    assert len(oks) == 3 and oks[0] == oks[1] == oks[2]
    p.advance(40.0)
    assert len(p.sent_by("b", "SIP/2.0 200")) == 3  # no more after the ACK


def test_uas_ends_call_with_bye_when_ack_never_comes() -> None:
    p = Pair()
    _, leg_b = call(p)
    p.b.answer(leg_b, SDP, p.now)
    p.drop_next["b"] = 100  # nothing from b reaches a
    p.advance(40.0)
    evs = events(p.b)
    assert any(isinstance(e, DialogEnded) and e.reason == "no ACK" for e in evs)
    oks = p.sent_by("b", "SIP/2.0 200")
    # T1-doubling capped at T2: 0.5, 1.5, 3.5, 7.5, 11.5, ... until 64·T1 = 32 s.
    assert 9 <= len(oks) <= 11
    assert p.sent_by("b", "BYE ")


def test_caller_cancels_before_answer_and_gets_487_9_1() -> None:
    p = Pair()
    leg_a, leg_b = call(p)
    p.b.ring(leg_b, p.now)
    p.transfer()
    events(p.a)
    p.a.cancel(leg_a, p.now)
    p.transfer()
    [cancelled] = events(p.b)
    assert isinstance(cancelled, CallCancelled) and cancelled.leg == leg_b
    [failed] = events(p.a)
    assert isinstance(failed, CallFailed) and failed.status == 487
    assert p.sent_by("a", "ACK ")  # the transaction ACKs the 487
    assert p.sent_by("b", "SIP/2.0 200") and p.sent_by("b", "SIP/2.0 487")


def test_cancel_before_any_provisional_waits_for_one_9_1() -> None:
    p = Pair()
    leg_a = p.a.invite("sip:100@127.0.0.1:5060", p.now, from_user="caller", sdp=SDP)
    p.a.cancel(leg_a, p.now)
    [(invite, _)] = p.a.datagrams_to_send()  # no CANCEL yet: nothing came back
    assert invite.startswith(b"INVITE ")
    p.b.receive_datagram(invite, A_ADDR, p.now)
    p.transfer()  # b's 100 Trying reaches a, which now sends the CANCEL
    assert p.sent_by("a", "CANCEL ")
    assert any(isinstance(e, CallCancelled) for e in events(p.b))
    [failed] = events(p.a)
    assert isinstance(failed, CallFailed) and failed.status == 487


def test_rejected_call_reports_status_and_is_acked() -> None:
    p = Pair()
    leg_a, leg_b = call(p)
    p.b.reject(leg_b, 486, p.now)
    p.transfer()
    [failed] = events(p.a)
    assert isinstance(failed, CallFailed) and failed.status == 486
    assert p.sent_by("a", "ACK ")
    with pytest.raises(InvalidStateError):
        p.b.answer(leg_b, SDP, p.now)


def test_invite_timeout_is_408() -> None:
    p = Pair()
    leg_a = p.a.invite("sip:100@127.0.0.1:5060", p.now, from_user="caller", sdp=SDP)
    p.drop_next["a"] = 100
    p.advance(40.0)
    [failed] = events(p.a)
    assert isinstance(failed, CallFailed) and failed.status == 408 and failed.leg == leg_a


def test_reinvite_hold_and_in_dialog_info() -> None:
    p = Pair()
    leg_a, leg_b = call(p)
    p.b.answer(leg_b, SDP, p.now)
    p.transfer()
    events(p.a), events(p.b)
    hold = SDP + b"a=sendonly\r\n"
    p.a.reinvite(leg_a, hold, p.now)
    p.transfer()
    [offer] = events(p.b)
    assert isinstance(offer, InDialogRequest) and offer.sdp == hold
    p.b.respond(
        offer.transaction, 200, p.now, body=SDP + b"a=recvonly\r\n", content_type="application/sdp"
    )
    p.transfer()
    [answered] = events(p.a)
    assert isinstance(answered, ReinviteAnswered) and answered.status == 200
    assert answered.sdp is not None and b"recvonly" in answered.sdp
    handle = p.a.request(
        leg_a,
        "INFO",
        p.now,
        body=b"Signal=5\r\nDuration=160\r\n",
        content_type="application/dtmf-relay",
    )
    p.transfer()
    [info] = events(p.b)
    assert isinstance(info, InDialogRequest) and info.request.method == "INFO"
    p.b.respond(info.transaction, 200, p.now)
    p.transfer()
    [done] = events(p.a)
    assert isinstance(done, RequestAnswered) and done.handle == handle
    assert done.response.status == 200
    # CSeq grows inside the dialog: INVITE 1, re-INVITE 2, INFO 3.
    info_req = parse_message(p.sent_by("a", "INFO ")[0])
    assert info_req.cseq.seq == 3


def test_request_for_unknown_dialog_gets_481_12_2_2() -> None:
    p = Pair()
    raw = (
        b"BYE sip:100@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKnodialog;rport\r\n"
        b"From: <sip:x@127.0.0.1>;tag=aaa\r\nTo: <sip:100@127.0.0.1>;tag=bbb\r\n"
        b"Call-ID: nope\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    p.b.receive_datagram(raw, A_ADDR, 0.0)
    [(data, dest)] = p.b.datagrams_to_send()
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 481 and dest == A_ADDR


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda s: s.replace("OPTIONS sip", "FROB sip").replace("1 OPTIONS", "1 FROB"), 501),
        (lambda s: s.replace("OPTIONS sip:100@127.0.0.1", "OPTIONS http://x"), 416),
        (
            lambda s: s.replace("Max-Forwards: 70", "Max-Forwards: 0").replace(
                "OPTIONS", "MESSAGE"
            ),
            483,
        ),
        (lambda s: s.replace("Max-Forwards: 70", "Require: foo\r\nMax-Forwards: 70"), 420),
        (
            lambda s: s.replace("OPTIONS sip", "SUBSCRIBE sip").replace("1 OPTIONS", "1 SUBSCRIBE"),
            405,
        ),
        (lambda s: s.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"), 400),
        (lambda s: s, 200),
    ],
)
def test_uas_answers_requests_it_cannot_accept(change, status) -> None:  # type: ignore[no-untyped-def]
    p = Pair()
    raw = (
        "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt1;rport\r\n"
        "From: <sip:x@127.0.0.1>;tag=aaa\r\nTo: <sip:100@127.0.0.1>\r\n"
        "Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    p.b.receive_datagram(change(raw).encode(), A_ADDR, 0.0)
    out = p.b.datagrams_to_send()
    resp = parse_message(out[-1][0])
    assert isinstance(resp, Response) and resp.status == status
    if status in (200, 405, 501):
        assert "INVITE" in (resp.headers.get("allow") or "")
    if status == 420:
        assert resp.headers.get("unsupported") == "foo"


def test_garbage_is_rejected_without_crash_and_server_keeps_answering() -> None:
    p = Pair()
    p.b.receive_datagram(b"\x00\xffnot sip at all\r\n\r\n", A_ADDR, 0.0)
    [ev] = events(p.b)
    assert isinstance(ev, MessageRejected) and not ev.answered
    assert p.b.datagrams_to_send() == []
    bad_via = (
        b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt1;rport\r\n"
        b"From: <sip:x@127.0.0.1>;tag=aaa\r\nTo: <sip:100@127.0.0.1>\r\n"
        b"Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 99\r\n\r\n"
    )
    p.b.receive_datagram(bad_via, A_ADDR, 0.0)
    [(data, dest)] = p.b.datagrams_to_send()
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 400 and dest == A_ADDR
    assert "Content-Length" in resp.reason


def test_merged_request_on_another_branch_gets_482_8_2_2_2() -> None:
    p = Pair()
    leg_a = p.a.invite("sip:100@127.0.0.1:5060", p.now, from_user="caller", sdp=SDP)
    [(data, _)] = p.a.datagrams_to_send()
    p.b.receive_datagram(data, A_ADDR, 0.0)
    forked = data.replace(b"branch=z9hG4bK", b"branch=z9hG4bKfork")
    p.b.receive_datagram(forked, Destination("UDP", "127.0.0.1", 5080), 0.0)
    statuses = [parse_message(d).status for d, _ in p.b.datagrams_to_send()]  # type: ignore[union-attr]
    assert statuses == [100, 482]
    assert leg_a


def _registrar_endpoint() -> SipEndpoint:
    users = {"2001": "pw2001"}
    location = LocationService()
    authenticator = auth.DigestAuthenticator(
        realm="pbx",
        lookup=lambda u: users.get(u),
        nonces=auth.NonceManager(secret=b"k" * 32),
    )
    return SipEndpoint(
        EndpointConfig(host="127.0.0.1", port=5060),
        random.Random(3),
        registrar=Registrar(location, lambda u: u in users),
        authenticator=authenticator,
        trust=lambda req, src, now: None,
    )


def test_register_with_digest_challenge_then_refresh_and_unregister() -> None:
    p = Pair(_registrar_endpoint())
    handle = p.a.register(
        "sip:127.0.0.1:5060", p.now, user="2001", credentials=("2001", "pw2001"), expires=120
    )
    p.transfer()
    [status] = events(p.a)
    assert isinstance(status, RegistrationStatus) and status.registered and status.expires == 120
    [reg] = events(p.b)
    assert isinstance(reg, DeviceRegistered) and reg.aor == "2001" and len(reg.bindings) == 1
    assert p.sent_by("b", "SIP/2.0 401")
    # Refreshed before it expires.
    p.advance(100.0)
    refresh = [e for e in events(p.a) if isinstance(e, RegistrationStatus)]
    assert refresh and refresh[-1].registered
    p.a.unregister(handle, p.now)
    p.transfer()
    gone = [e for e in events(p.b) if isinstance(e, DeviceRegistered)]
    assert len(gone) == 2  # the refresh, then the removal
    assert len(gone[0].bindings) == 1 and gone[1].bindings == ()


def test_register_with_wrong_password_fails() -> None:
    p = Pair(_registrar_endpoint())
    p.a.register("sip:127.0.0.1:5060", p.now, user="2001", credentials=("2001", "nope"))
    p.transfer()
    [status] = [e for e in events(p.a) if isinstance(e, RegistrationStatus)]
    assert not status.registered and status.status == 401


def test_invite_answers_401_challenge_when_policy_requires_auth() -> None:
    p = Pair(_registrar_endpoint())
    p.a.invite(
        "sip:200@127.0.0.1:5060", p.now, from_user="2001", sdp=SDP, credentials=("2001", "pw2001")
    )
    p.transfer()
    [incoming] = [e for e in events(p.b) if isinstance(e, IncomingCall)]
    assert incoming.auth_user == "2001"
    assert p.sent_by("b", "SIP/2.0 401")  # a UAS challenges with 401 (RFC 3261 §22.3)
    # The challenge comes first, without a 100 Trying before it.
    assert [d for n, d in p.wire if n == "b"][0].startswith(b"SIP/2.0 401")
    invites = [parse_message(d) for d in p.sent_by("a", "INVITE ")]
    assert [m.cseq.seq for m in invites] == [1, 2]
    assert isinstance(invites[1], Request)
    assert invites[1].headers.get("authorization") is not None


def _register_bytes(cseq: int, authorization: list[str], to: str = "<sip:2001@127.0.0.1>") -> bytes:
    fields = "".join(f"Authorization: {value}\r\n" for value in authorization)
    return (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKreg{cseq};rport\r\n"
        f"From: <sip:2001@127.0.0.1>;tag=r1\r\nTo: {to}\r\n"
        f"Call-ID: reg-schemes\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:2001@127.0.0.1:5070>\r\n{fields}Content-Length: 0\r\n\r\n"
    ).encode()


def _answer(ep: SipEndpoint, data: bytes) -> Response:
    ep.receive_datagram(data, A_ADDR, 0.0)
    [(out, _)] = ep.datagrams_to_send()
    resp = parse_message(out)
    assert isinstance(resp, Response)
    return resp


def test_credentials_in_an_unknown_scheme_get_a_fresh_challenge_rfc4475_3_3_7() -> None:
    ep = _registrar_endpoint()
    resp = _answer(ep, _register_bytes(1, ["NoOneKnowsThisScheme opaque-data=here"]))
    assert resp.status == 401 and resp.headers.get("www-authenticate")
    # Beside a foreign scheme (and a Digest field for another realm), our own Digest
    # credentials are found and accepted (RFC 3261 §22.4).
    challenge = auth.Challenge.parse(resp.headers.get("www-authenticate") or "")
    ours = auth.answer_challenge(
        challenge,
        username="2001",
        password="pw2001",
        method="REGISTER",
        uri="sip:127.0.0.1",
        cnonce="0a4f113b",
    )
    other_realm = str(ours).replace('realm="pbx"', 'realm="elsewhere"')
    assert other_realm != str(ours)
    resp = _answer(ep, _register_bytes(2, ["Bearer abc", other_realm, str(ours)]))
    assert resp.status == 200


def test_register_whose_to_is_not_a_sip_uri_is_a_400_before_any_challenge() -> None:
    resp = _answer(_registrar_endpoint(), _register_bytes(1, [], to="isbn:2983792873"))
    assert resp.status == 400 and "SIP or SIPS" in resp.reason


@pytest.mark.parametrize(
    ("accept", "status"),
    [("text/nobodyKnowsThis", 406), ("", 406), ("application/sdp;level=1, text/x", 100),
     ("application/*", 100), ("*/*", 100), (None, 100)],
)  # fmt: skip
def test_invite_whose_accept_excludes_sdp_is_a_406(accept: str | None, status: int) -> None:
    ep = SipEndpoint(EndpointConfig(host="127.0.0.1", port=5060), random.Random(4))
    field = "" if accept is None else f"Accept: {accept}\r\n"
    data = (
        "INVITE sip:600@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKacc;rport\r\n"
        "From: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:600@127.0.0.1>\r\n"
        f"Call-ID: accept-{status}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{field}"
        f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n"
    ).encode() + SDP
    assert _answer(ep, data).status == status
