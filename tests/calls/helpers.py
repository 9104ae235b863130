"""A pbx call manager and SIP phones on one hand-driven clock, joined by an in-memory wire."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from pbx.calls.dialplan import Dialplan, NumberPattern, Route, Target
from pbx.calls.manager import CallManager
from pbx.media.engine import MediaEngine
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import EndpointEvent
from pbx.sip.registration import Binding, LocationService
from pbx.sip.transport import Destination
from pbx.sip.uri import NameAddr, SipUri
from pbx.store import Store

PBX = Destination("UDP", "127.0.0.1", 5060)
TRUNK = Destination("UDP", "127.0.0.1", 5070)


def sdp(port: int, extra: str = "") -> bytes:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        f"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n{extra}"
    ).encode()


class FakeMediaTransport:
    """Allocates port numbers without sockets."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.next = 30000
        self.open_ports: dict[int, int | None] = {}

    def open(self) -> int:
        port = self.next
        self.next += 2
        self.open_ports[port] = None
        return port

    def attach(self, port: int, channel: int) -> None:
        self.open_ports[port] = channel

    def close(self, port: int) -> None:
        del self.open_ports[port]


class Phone:
    """A SIP user agent with its own address (a softphone or a carrier)."""

    def __init__(self, name: str, addr: Destination, seed: int) -> None:
        self.name = name
        self.addr = addr
        self.ep = SipEndpoint(EndpointConfig(host=addr.host, port=addr.port), random.Random(seed))
        self.events: list[EndpointEvent] = []

    def take(self, kind: type) -> list:  # type: ignore[type-arg]
        found = [e for e in self.events if isinstance(e, kind)]
        self.events = [e for e in self.events if not isinstance(e, kind)]
        return found


class Net:
    """The pbx (endpoint + call manager) and phones exchanging datagrams by address."""

    def __init__(self, routes: list[Route] | None = None, store: Store | None = None) -> None:
        self.now = 0.0
        self.location = LocationService()
        self.pbx = SipEndpoint(
            EndpointConfig(host="127.0.0.1", port=5060),
            random.Random(1),
            trust=lambda req, src, now: "local" if src.port == TRUNK.port else None,
        )
        self.engine = MediaEngine()
        self.engine.prompts.add("moh", np.zeros(800, dtype=np.int16))
        self.engine.prompts.add("hello", np.full(1600, 1000, dtype=np.int16))
        self.transport = FakeMediaTransport()
        self.manager = CallManager(
            self.pbx,
            self.engine,
            self.transport,
            Dialplan(routes or []),
            location=self.location,
            store=store,
            rng=random.Random(2),
        )
        self.phones: dict[tuple[str, int], Phone] = {}
        self.trunk = self.add_phone("trunk", TRUNK)
        self.call_events: list[object] = []
        self.drain: Callable[[float], bool] | None = None
        """Hands the manager's events on instead of collecting them (a router's drain)."""

    def add_phone(self, name: str, addr: Destination, register_as: str | None = None) -> Phone:
        phone = Phone(name, addr, seed=len(self.phones) + 10)
        self.phones[(addr.host, addr.port)] = phone
        if register_as is not None:
            contact = NameAddr(SipUri("sip", register_as, None, addr.host, addr.port))
            self.location.set(
                register_as, [Binding(register_as, contact, 1e9, 1.0, "c", 1, addr, 0.0)]
            )
        return phone

    def run(self) -> None:
        """Deliver datagrams and events until nothing moves."""
        for _ in range(200):
            moved = False
            for data, dest in self.pbx.datagrams_to_send():
                moved = True
                phone = self.phones.get((dest.host, dest.port))
                if phone is not None:
                    phone.ep.receive_datagram(data, PBX, self.now)
            for phone in self.phones.values():
                for data, dest in phone.ep.datagrams_to_send():
                    moved = True
                    if (dest.host, dest.port) == (PBX.host, PBX.port):
                        self.pbx.receive_datagram(data, phone.addr, self.now)
                while (ev := phone.ep.next_event()) is not None:
                    moved = True
                    phone.events.append(ev)
            while (sev := self.pbx.next_event()) is not None:
                moved = True
                self.manager.handle_sip(sev, self.now)
            if self.drain is not None:
                moved = self.drain(self.now) or moved
            while (cev := self.manager.next_event()) is not None:
                moved = True
                self.call_events.append(cev)
            if not moved:
                return
        raise AssertionError("the network did not settle")

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer of every party in order."""
        end = self.now + seconds
        while True:
            parties = [self.pbx, self.manager, *(p.ep for p in self.phones.values())]
            deadlines = [t for t in (x.get_timer() for x in parties) if t is not None]
            if not deadlines or min(deadlines) > end:
                break
            self.now = max(self.now, min(deadlines))
            for x in parties:
                x.handle_timer(self.now)
            self.run()
        self.now = end

    def events_of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.call_events if isinstance(e, kind)]


def route(number: str, kind: str, name: str = "", origin: str = "trunk") -> Route:
    return Route(Target(kind, name), NumberPattern.parse(number, "test"), origin=origin)
