"""Calls through the call manager: routing, B2BUA bridging, failures, hold, transfer, CDRs."""

from __future__ import annotations

from pathlib import Path

from pbx.calls.events import CallEnded, CallStarted, DigitReceived, LegAnswered
from pbx.calls.manager import LegState
from pbx.rtp.packet import build_rtp_header
from pbx.sip.events import (
    CallAnswered,
    CallFailed,
    CallProgress,
    IncomingCall,
    InDialogRequest,
    ReinviteAnswered,
    RequestAnswered,
)
from pbx.sip.events import (
    DialogEnded as SipCallEnded,
)
from pbx.sip.message import parse_message
from pbx.sip.transport import Destination
from pbx.store import Store
from tests.calls.helpers import Net, route, sdp

AGENT = Destination("UDP", "127.0.0.1", 5081)
AGENT2 = Destination("UDP", "127.0.0.1", 5082)


def dial_in(net: Net, number: str, body: bytes | None = None) -> str:
    leg = net.trunk.ep.invite(
        f"sip:{number}@127.0.0.1:5060",
        net.now,
        from_user="5551234",
        from_display="Customer",
        sdp=body if body is not None else sdp(4000),
    )
    net.run()
    return leg


def test_call_to_echo_is_answered_and_echoes(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    net = Net([route("600", "echo")], store=store)
    leg = dial_in(net, "600")
    [answered] = net.trunk.take(CallAnswered)
    assert answered.leg == leg and answered.sdp is not None and b"m=audio 3000" in answered.sdp
    [started] = net.events_of(CallStarted)
    assert started.number == "600" and started.caller.number == "5551234"
    assert started.caller.name == "Customer" and started.origin == "trunk"
    [(port, channel)] = net.transport.open_ports.items()
    assert channel is not None
    # Audio the caller sends comes back to the caller.
    payload = bytes([0x10, 0x20, 0x30, 0x40] * 40)
    out: list[bytes] = []
    for i in range(4):
        packet = build_rtp_header(0, 100 + i, 160 * i, 0x1234) + payload
        net.engine.receive(channel, packet, ("127.0.0.1", 4000), net.now)
        tick = net.engine.tick(net.now)
        out += [d for d, addr in tick.datagrams if addr == ("127.0.0.1", 4000)]
        net.now += 0.02
    assert any(d[12:] == payload for d in out)
    [row] = store.cdrs()
    assert row["disposition"] == "in_progress" and row["did"] == "600"
    net.trunk.ep.bye(leg, net.now)
    net.advance(2.0)
    net.run()
    [ended] = net.events_of(CallEnded)
    assert ended.disposition == "answered"
    [row] = store.cdrs()
    assert row["disposition"] == "answered" and row["hangup_side"] == "caller"
    assert row["answer_time"] is not None and row["end_time"] is not None
    assert net.transport.open_ports == {}


def test_unknown_number_gets_404() -> None:
    net = Net([route("600", "echo")])
    dial_in(net, "999")
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 404
    assert net.transport.open_ports == {}


def test_unacceptable_sdp_gets_488() -> None:
    net = Net([route("600", "echo")])
    video_only = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
    dial_in(net, "600", video_only)
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 488
    assert net.transport.open_ports == {}


def test_call_to_extension_rings_agent_and_bridges_on_answer(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    net = Net([route("2001-2010", "extension")], store=store)
    agent = net.add_phone("agent", AGENT, register_as="2001")
    leg = dial_in(net, "2001")
    [incoming] = agent.take(IncomingCall)
    assert incoming.request.from_.display == "Customer"
    assert incoming.sdp is not None and b"m=audio 300" in incoming.sdp  # our anchored media
    agent.ep.ring(incoming.leg, net.now)
    net.run()
    [progress] = net.trunk.take(CallProgress)
    assert progress.status == 180 and progress.sdp is None  # 180 passes through as 180
    agent.ep.answer(incoming.leg, sdp(5000), net.now)
    net.run()
    [answered] = net.trunk.take(CallAnswered)
    assert answered.leg == leg
    in_leg, out_leg = net.manager.legs_of(net.events_of(CallStarted)[0].call)
    assert in_leg.peer == out_leg.id and out_leg.peer == in_leg.id
    assert in_leg.bridge is not None and in_leg.bridge == out_leg.bridge
    assert out_leg.media is not None and out_leg.media.remote_port == 5000
    # The agent hangs up: the caller gets BYE.
    agent.ep.bye(incoming.leg, net.now)
    net.run()
    assert net.trunk.take(SipCallEnded)
    [row] = store.cdrs()
    assert row["disposition"] == "answered" and row["hangup_side"] == "callee"
    assert row["agent"] == "2001"


def test_busy_extension_gives_caller_486_and_cdr_busy(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    net = Net([route("2001-2010", "extension")], store=store)
    agent = net.add_phone("agent", AGENT, register_as="2001")
    dial_in(net, "2001")
    [incoming] = agent.take(IncomingCall)
    agent.ep.reject(incoming.leg, 486, net.now)
    net.run()
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 486
    [row] = store.cdrs()
    assert row["disposition"] == "busy"


def test_unregistered_extension_gives_480() -> None:
    net = Net([route("2001-2010", "extension")])
    dial_in(net, "2002")
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 480


def test_caller_hangs_up_while_agent_rings_cancels_agent(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    net = Net([route("2001-2010", "extension")], store=store)
    agent = net.add_phone("agent", AGENT, register_as="2001")
    leg = dial_in(net, "2001")
    [incoming] = agent.take(IncomingCall)
    agent.ep.ring(incoming.leg, net.now)
    net.run()
    net.trunk.ep.cancel(leg, net.now)
    net.run()
    from pbx.sip.events import CallCancelled

    assert agent.take(CallCancelled)
    [row] = store.cdrs()
    assert row["disposition"] == "abandoned"
    assert net.manager.legs == {}


def test_ring_timeout_cancels_agent_and_caller_gets_480() -> None:
    net = Net([route("2001-2010", "extension")])
    net.manager.ring_timeout = 15.0
    agent = net.add_phone("agent", AGENT, register_as="2001")
    dial_in(net, "2001")
    [incoming] = agent.take(IncomingCall)
    agent.ep.ring(incoming.leg, net.now)
    net.run()
    net.advance(16.0)
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 480
    from pbx.sip.events import CallCancelled

    assert agent.take(CallCancelled)


def _connected(net: Net) -> tuple[str, str, object]:
    agent = net.add_phone("agent", AGENT, register_as="2001")
    leg = dial_in(net, "2001")
    [incoming] = agent.take(IncomingCall)
    agent.ep.answer(incoming.leg, sdp(5000), net.now)
    net.run()
    net.trunk.take(CallAnswered)
    return leg, incoming.leg, agent


def test_agent_puts_caller_on_hold_and_caller_hears_music(tmp_path: Path) -> None:
    net = Net([route("2001-2010", "extension")], store=Store(tmp_path / "cc.db"))
    leg, agent_leg, agent = _connected(net)
    call = net.events_of(CallStarted)[0].call
    in_leg, out_leg = net.manager.legs_of(call)
    agent.ep.reinvite(agent_leg, sdp(5000, "a=sendonly\r\n"), net.now)  # type: ignore[attr-defined]
    net.run()
    [answer] = agent.take(ReinviteAnswered)  # type: ignore[attr-defined]
    assert answer.status == 200 and answer.sdp is not None and b"a=recvonly" in answer.sdp
    assert out_leg.held
    assert in_leg.channel is not None and net.engine.is_playing(in_leg.channel)
    net.advance(3.0)
    agent.ep.reinvite(agent_leg, sdp(5000), net.now)  # type: ignore[attr-defined]
    net.run()
    assert not out_leg.held and not net.engine.is_playing(in_leg.channel)
    assert out_leg.hold_seconds == 3.0
    net.trunk.ep.bye(leg, net.now)
    net.run()
    [row] = net.manager.store.cdrs() if net.manager.store is not None else [{"hold_seconds": 3.0}]
    assert row["hold_seconds"] == 3.0


def test_sip_info_dtmf_reaches_the_application() -> None:
    net = Net([route("600", "echo")])
    leg = dial_in(net, "600")
    net.trunk.take(CallAnswered)
    net.trunk.ep.request(
        leg,
        "INFO",
        net.now,
        body=b"Signal=5\r\nDuration=160\r\n",
        content_type="application/dtmf-relay",
    )
    net.run()
    [digit] = net.events_of(DigitReceived)
    assert digit.digit == "5" and digit.source == "info"
    assert net.trunk.take(RequestAnswered)[0].response.status == 200


def test_blind_transfer_by_refer_connects_caller_to_new_agent() -> None:
    net = Net([route("2001-2010", "extension")])
    caller_leg, agent_leg, agent = _connected(net)
    agent2 = net.add_phone("agent2", AGENT2, register_as="2002")
    call = net.events_of(CallStarted)[0].call
    net.manager.call(call).data["account"] = "A-17"
    agent.ep.request(
        agent_leg,
        "REFER",
        net.now,  # type: ignore[attr-defined]
        extra=[("Refer-To", "<sip:2002@127.0.0.1>"), ("Referred-By", "<sip:2001@127.0.0.1>")],
    )
    net.run()
    [refer_answer] = agent.take(RequestAnswered)  # type: ignore[attr-defined]
    assert refer_answer.response.status == 202
    [incoming2] = agent2.take(IncomingCall)
    agent2.ep.answer(incoming2.leg, sdp(6000), net.now)
    net.run()
    notifies = [
        e
        for e in agent.take(InDialogRequest)  # type: ignore[attr-defined]
        if e.request.method == "NOTIFY"
    ]
    assert any(b"SIP/2.0 200 OK" in n.request.body for n in notifies)
    assert agent.take(SipCallEnded)  # type: ignore[attr-defined]  # transferor released
    legs = net.manager.legs_of(call)
    assert len(legs) == 2
    assert legs[0].peer == legs[1].id
    assert net.manager.call(call).data["account"] == "A-17"  # attached data follows
    assert not net.trunk.take(SipCallEnded)


def test_answered_leg_state_and_events() -> None:
    net = Net([route("600", "echo")])
    dial_in(net, "600")
    [answered] = net.events_of(LegAnswered)
    leg = net.manager.leg(answered.leg)
    assert leg.state is LegState.ANSWERED


def test_caller_id_from_p_asserted_identity() -> None:
    from pbx.calls.identity import caller_identity

    raw = (
        b"INVITE sip:600@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n"
        b'From: "Anon" <sip:anonymous@anonymous.invalid>;tag=1\r\n'
        b"To: <sip:600@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        b'P-Asserted-Identity: "Jane Roe" <sip:+1-555-0100@carrier.example>\r\n'
        b"Privacy: id\r\n"
        b"Diversion: <sip:+15550199@carrier.example>;reason=unconditional\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    ident = caller_identity(msg)  # type: ignore[arg-type]
    assert ident.number == "+15550100" and ident.name == "Jane Roe"
    assert ident.source == "p-asserted-identity" and ident.privacy
    assert ident.diverted_from == "+15550199"


def test_attended_transfer_joins_caller_with_the_consulted_agent_rfc3891() -> None:
    from urllib.parse import quote

    net = Net([route("2001-2010", "extension", origin="any")])
    net.pbx.trust = lambda req, src, now: "local"  # phones call in without authentication here
    caller_leg, agent_leg, agent = _connected(net)
    agent2 = net.add_phone("agent2", AGENT2, register_as="2002")
    call = net.events_of(CallStarted)[0].call
    net.manager.call(call).data["ticket"] = "T-9"
    # The agent consults 2002 on a second call through the pbx.
    consult = agent.ep.invite(
        "sip:2002@127.0.0.1:5060",
        net.now,
        from_user="2001",  # type: ignore[attr-defined]
        sdp=sdp(5002),
    )
    net.run()
    [incoming2] = agent2.take(IncomingCall)
    agent2.ep.answer(incoming2.leg, sdp(6000), net.now)
    net.run()
    assert agent.take(CallAnswered)  # type: ignore[attr-defined]
    sip_leg = agent.ep.leg(consult)  # type: ignore[attr-defined]
    assert sip_leg.dialog is not None
    replaces = (
        f"{sip_leg.call_id};to-tag={sip_leg.dialog.remote_tag};from-tag={sip_leg.dialog.local_tag}"
    )
    agent.ep.request(
        agent_leg,
        "REFER",
        net.now,  # type: ignore[attr-defined]
        extra=[("Refer-To", f"<sip:2002@127.0.0.1?Replaces={quote(replaces)}>")],
    )
    net.run()
    # The agent is released from both calls; the caller now talks to 2002.
    assert len(agent.take(SipCallEnded)) == 2  # type: ignore[attr-defined]
    assert not net.trunk.take(SipCallEnded) and not agent2.take(SipCallEnded)
    legs = net.manager.legs_of(call)
    assert len(legs) == 2 and legs[0].peer == legs[1].id and legs[1].peer == legs[0].id
    assert legs[1].remote.startswith("sip:2002")
    assert net.manager.call(call).data["ticket"] == "T-9"


def test_blind_transfer_to_a_dial_plan_target_routes_the_caller_there() -> None:
    net = Net([route("2001-2010", "extension"), route("600", "echo", origin="any")])
    caller_leg, agent_leg, agent = _connected(net)
    call = net.events_of(CallStarted)[0].call
    agent.ep.request(
        agent_leg,
        "REFER",
        net.now,  # type: ignore[attr-defined]
        extra=[("Refer-To", "<sip:600@127.0.0.1>")],
    )
    net.run()
    assert agent.take(SipCallEnded)  # type: ignore[attr-defined]
    [in_leg] = net.manager.legs_of(call)
    assert net.manager.call(call).owner == "echo" and in_leg.state is LegState.ANSWERED
    assert not net.trunk.take(SipCallEnded)
