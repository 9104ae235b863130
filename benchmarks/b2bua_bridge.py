"""A signalling-only back-to-back user agent on pbx: the peer of the sippy B2BUA.

Theory of operation
-------------------
One :class:`~pbx.sip.endpoint.SipEndpoint` plays both sides (RFC 3261 §6 "back-to-back
user agent"): every ``IncomingCall`` (the A leg) makes it place a call (the B leg) to the
same user at a fixed downstream ``HOST:PORT`` with the caller's SDP as the offer, the way
the sippy B2BUA's static route (``-s HOST:PORT``) does. Then each side mirrors the other:

=========================  =============================================
B leg                      A leg
=========================  =============================================
``CallProgress`` 180/183   ``ring`` (183 keeps the early-media SDP)
``CallAnswered``           ``answer`` with the B side's SDP
``CallFailed`` (status)    ``reject`` with the same status
``DialogEnded``            ``hangup`` (BYE)
=========================  =============================================

and a ``DialogEnded``/``CallCancelled`` on the A leg hangs up the B leg (BYE, or CANCEL
while it is still ringing, RFC 3261 §9.1). No media passes through it: SDP is relayed
untouched, as sippy does without an RTP proxy.

Like ``uas_answer.py`` it runs on uvloop when installed, logs at WARNING, prints
``listening HOST:PORT`` when bound and one JSON line of counters when stopped.

Run: ``.venv/bin/python benchmarks/b2bua_bridge.py --port 5080 --target 127.0.0.1:5090``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
from pathlib import Path

import structlog

from pbx.net.pump import SipService
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import (
    CallAnswered,
    CallCancelled,
    CallFailed,
    CallProgress,
    DialogEnded,
    EndpointEvent,
    IncomingCall,
)
from pbx.sip.uri import SipUri

sys.path.insert(0, str(Path(__file__).resolve().parent))
from uas_answer import configure_logging, install_fast_loop, tune_gc  # noqa: E402

log = structlog.get_logger(__name__)


class Bridge:
    """Bridges every incoming call to ``target_host:target_port``, signalling only."""

    def __init__(self, host: str, port: int, target_host: str, target_port: int) -> None:
        self.host = host
        self.port = port
        self.target_host = target_host
        self.target_port = target_port
        self.endpoint = SipEndpoint(EndpointConfig(host=host, port=port), random.Random())
        self.service = SipService(self.endpoint, self.on_event)
        self.a_of_b: dict[str, str] = {}
        """A leg of each live B leg."""
        self.b_of_a: dict[str, str] = {}
        """B leg of each live A leg."""
        self.counters = {"bridged": 0, "answered": 0, "failed": 0, "ended": 0, "cancelled": 0}

    def _unlink(self, leg: str) -> str | None:
        """Forget the pair ``leg`` belongs to; return the other leg of the pair."""
        other = self.a_of_b.pop(leg, None)
        if other is not None:
            self.b_of_a.pop(other, None)
            return other
        other = self.b_of_a.pop(leg, None)
        if other is not None:
            self.a_of_b.pop(other, None)
        return other

    def on_event(self, event: EndpointEvent, now: float) -> None:
        """Mirror each happening of one leg onto the other leg of its pair."""
        ep = self.endpoint
        if isinstance(event, IncomingCall):
            uri = event.request.uri
            user = uri.user if isinstance(uri, SipUri) and uri.user else "service"
            caller = event.request.from_.uri
            from_user = caller.user if isinstance(caller, SipUri) and caller.user else "anonymous"
            target = SipUri("sip", user, None, self.target_host, self.target_port)
            b_leg = ep.invite(target, now, from_user=from_user, sdp=event.sdp)
            self.a_of_b[b_leg] = event.leg
            self.b_of_a[event.leg] = b_leg
            self.counters["bridged"] += 1
        elif isinstance(event, CallProgress):
            a_leg = self.a_of_b.get(event.leg)
            if a_leg is not None and event.status in (180, 183):
                ep.ring(a_leg, now, sdp=event.sdp if event.status == 183 else None)
        elif isinstance(event, CallAnswered):
            a_leg = self.a_of_b.get(event.leg)
            if a_leg is not None:
                ep.answer(a_leg, event.sdp, now)
                self.counters["answered"] += 1
            else:
                ep.hangup(event.leg, now)  # the caller went away meanwhile
        elif isinstance(event, CallFailed):
            a_leg = self._unlink(event.leg)
            if a_leg is not None:
                ep.reject(a_leg, event.status if event.status >= 300 else 500, now)
                self.counters["failed"] += 1
        elif isinstance(event, (DialogEnded, CallCancelled)):
            other = self._unlink(event.leg)
            if other is not None:
                ep.hangup(other, now)
                self.counters["cancelled" if isinstance(event, CallCancelled) else "ended"] += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        await self.service.start(self.host, self.port)
        print(f"listening {self.host}:{self.port}", flush=True)
        try:
            await stop.wait()
        finally:
            self.service.close()
        counters = dict(self.counters)
        counters["live_legs"] = len(self.endpoint.legs)
        counters["live_pairs"] = len(self.b_of_a)
        print(json.dumps(counters), flush=True)


async def serve(host: str, port: int, target_host: str, target_port: int) -> None:
    """Run the bridge until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Bridge(host, port, target_host, target_port).run(stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--target", required=True, metavar="HOST:PORT", help="downstream UAS")
    args = parser.parse_args()
    target_host, _, target_port = args.target.rpartition(":")
    configure_logging()
    install_fast_loop()
    tune_gc()
    asyncio.run(serve(args.host, args.port, target_host, int(target_port)))


if __name__ == "__main__":
    main()
