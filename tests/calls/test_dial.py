"""The one dial path: outcomes as events carrying the purpose, failures at once, routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.calls.events import (
    CallRouted,
    CallStarted,
    LegAnswered,
    LegEnded,
    LegFailed,
    Purpose,
)
from pbx.calls.manager import CallError, CallManager
from pbx.errors import ResourceExhausted
from pbx.net.pump import CallRouter
from pbx.sip.events import CallAnswered, CallFailed, IncomingCall
from pbx.sip.transport import Destination
from pbx.store import Store
from tests.calls.helpers import Net, route, sdp

AGENT = Destination("UDP", "127.0.0.1", 5081)


def _answered_call(net: Net) -> str:
    net.trunk.ep.invite("sip:600@127.0.0.1:5060", net.now, from_user="5551234", sdp=sdp(4000))
    net.run()
    return net.events_of(CallStarted)[0].call


def test_a_dialled_legs_outcome_events_carry_its_purpose() -> None:
    net = Net([route("600", "echo")])
    agent = net.add_phone("agent", AGENT, register_as="2001")
    call = _answered_call(net)
    purpose = Purpose("survey", ref="lead-7", agent="2001")
    leg = net.manager.dial(call, "2001", net.now, purpose=purpose)
    net.run()
    [incoming] = agent.take(IncomingCall)
    agent.ep.answer(incoming.leg, sdp(5000), net.now)
    net.run()
    answered = [e for e in net.events_of(LegAnswered) if e.leg == leg]
    assert answered == [LegAnswered(call, leg, purpose)]
    # A module's own purpose: the manager bridges nothing by itself.
    assert net.manager.leg(leg).bridge is None
    agent.ep.bye(incoming.leg, net.now)
    net.run()
    [ended] = [e for e in net.events_of(LegEnded) if e.leg == leg]
    assert ended.purpose == purpose and ended.by == "remote"


def test_a_rejected_leg_fails_with_status_reason_and_purpose() -> None:
    net = Net([route("600", "echo")])
    agent = net.add_phone("agent", AGENT, register_as="2001")
    call = _answered_call(net)
    purpose = Purpose("offer", ref=call, agent="2001")
    leg = net.manager.dial(call, "2001", net.now, purpose=purpose)
    net.run()
    [incoming] = agent.take(IncomingCall)
    agent.ep.reject(incoming.leg, 486, net.now)
    net.run()
    [failed] = net.events_of(LegFailed)
    assert (failed.leg, failed.status, failed.purpose) == (leg, 486, purpose)
    assert leg not in net.manager.legs


def test_dialling_an_unregistered_extension_fails_at_once_as_an_event() -> None:
    net = Net([route("600", "echo")])
    call = _answered_call(net)
    purpose = Purpose("offer", ref=call, agent="2009")
    leg = net.manager.dial(call, "2009", net.now, purpose=purpose)
    net.run()
    [failed] = net.events_of(LegFailed)
    assert failed == LegFailed(call, leg, 480, "Not Registered", purpose)
    assert leg not in net.manager.legs and net.pbx.datagrams_to_send() == []


def test_no_free_rtp_port_is_a_503_failure_not_an_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = Net([route("600", "echo")])
    net.add_phone("agent", AGENT, register_as="2001")
    call = _answered_call(net)

    def exhausted() -> int:
        raise ResourceExhausted("no free RTP port", retry_after=5)

    monkeypatch.setattr(net.transport, "open", exhausted)
    leg = net.manager.dial(call, "2001", net.now, purpose=Purpose("callback", ref="1"))
    net.run()
    [failed] = net.events_of(LegFailed)
    assert (failed.leg, failed.status, failed.reason) == (leg, 503, "No Media Port")
    assert call in net.manager.calls  # the call that asked goes on


def test_connect_to_an_unknown_trunk_gives_the_caller_503() -> None:
    from pbx.calls.dialplan import NumberPattern, Route, Target

    forward = Target("trunk", "nowhere", options={"dial": "5550199"})
    net = Net([Route(forward, NumberPattern.parse("700", "test"))])
    net.trunk.ep.invite("sip:700@127.0.0.1:5060", net.now, from_user="5551234", sdp=sdp(4000))
    net.run()
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 503
    assert net.transport.open_ports == {}


def test_dialling_a_module_target_is_a_programming_error() -> None:
    net = Net([route("600", "echo")])
    call = _answered_call(net)
    from pbx.calls.dialplan import Target

    with pytest.raises(CallError, match="cannot dial a 'queue' target"):
        net.manager.dial(call, Target("queue", "sales"), net.now, purpose=Purpose("x"))


def test_internal_bookkeeping_never_reaches_the_attached_data(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    net = Net([route("2001-2010", "extension")], store=store)
    agent = net.add_phone("agent", AGENT, register_as="2001")
    net.trunk.ep.invite("sip:2001@127.0.0.1:5060", net.now, from_user="555", sdp=sdp(4000))
    net.run()
    [incoming] = agent.take(IncomingCall)
    agent.ep.reject(incoming.leg, 486, net.now)
    net.run()
    [row] = store.cdrs()
    assert row["disposition"] == "busy"
    assert not [k for k in (row["data"] or {}) if k.startswith("_")]


class _Routes:
    def __init__(self) -> None:
        self.taken: list[str] = []

    def take(self, manager: CallManager, call: object, leg: object, now: float) -> None:
        self.taken.append(getattr(call, "id", ""))
        manager.answer(getattr(leg, "id", ""), now)

    def broken(self, manager: CallManager, call: object, leg: object, now: float) -> None:
        raise RuntimeError("module bug")


def _routed(routes: dict[str, object], number: str) -> tuple[Net, CallRouter]:
    net = Net([route("5*", "app", "hello"), route("6*", "queue", "sales")])
    router = CallRouter(
        net.manager,
        routes=routes,  # type: ignore[arg-type]
        subscribers=[lambda event, now: net.call_events.append(event)],
    )
    net.drain = router.drain
    net.trunk.ep.invite(f"sip:{number}@127.0.0.1:5060", net.now, from_user="5", sdp=sdp(4000))
    net.run()
    return net, router


def test_the_router_hands_a_routed_call_to_the_module_registered_for_it() -> None:
    routes = _Routes()
    net, _ = _routed({"app:hello": routes.take}, "500")
    [routed] = net.events_of(CallRouted)
    assert routed.target.kind == "app" and routed.target.name == "hello"
    assert routes.taken == [routed.call]
    [answered] = net.trunk.take(CallAnswered)  # the module answered the caller
    assert net.manager.legs_of(routed.call)


def test_a_target_nobody_registered_for_gets_480() -> None:
    net, _ = _routed({}, "600")
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 480
    assert net.transport.open_ports == {}


def test_a_module_that_raises_does_not_strand_the_caller() -> None:
    routes = _Routes()
    net, _ = _routed({"queue": routes.broken}, "600")
    [failed] = net.trunk.take(CallFailed)
    assert failed.status == 500
    assert net.manager.calls == {} and net.transport.open_ports == {}


def test_trust_is_decided_once_per_invite_and_carried_on_the_event() -> None:
    net = Net([route("600", "echo")])
    asked: list[tuple[str, int, float]] = []

    def trust(request: object, source: Destination, now: float) -> str | None:
        asked.append((getattr(request, "method", ""), source.port, now))
        return "carrier"

    net.pbx.trust = trust
    net.now = 12.5
    net.trunk.ep.invite("sip:600@127.0.0.1:5060", net.now, from_user="555", sdp=sdp(4000))
    net.run()
    assert asked == [("INVITE", 5070, 12.5)]
    [started] = net.events_of(CallStarted)
    assert net.manager.call(started.call).trunk == "carrier"


def test_a_machine_verdict_and_the_greetings_end_become_events_of_the_leg() -> None:
    from pbx.calls.events import AnsweringMachine, MachineGreetingEnded
    from pbx.media.events import AmdDetected, GreetingEnded

    net = Net([route("600", "echo")])
    agent = net.add_phone("agent", AGENT, register_as="2001")
    call = _answered_call(net)
    leg = net.manager.dial(call, "2001", net.now, purpose=Purpose("campaign", ref="a1"))
    net.run()
    [incoming] = agent.take(IncomingCall)
    agent.ep.answer(incoming.leg, sdp(5000), net.now)
    net.run()
    net.manager.detect_machine(leg)
    channel = net.manager.leg(leg).channel
    assert channel is not None and net.engine.amd_on(channel)
    net.manager.handle_media(
        AmdDetected(channel, "machine", "long_greeting", 2.4, net.now), net.now
    )
    net.manager.handle_media(GreetingEnded(channel, "beep", 6.0, net.now), net.now)
    net.run()
    assert net.events_of(AnsweringMachine) == [
        AnsweringMachine(call, leg, "machine", "long_greeting", 2.4)
    ]
    assert net.events_of(MachineGreetingEnded) == [MachineGreetingEnded(call, leg, "beep")]
