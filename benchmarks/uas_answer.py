"""A UAS that answers every call at once: the pbx side of the call set-up benchmark.

Theory of operation
-------------------
One :class:`~pbx.sip.endpoint.SipEndpoint` run by one :class:`~pbx.net.pump.SipService`
on ``127.0.0.1:PORT`` (UDP and TCP). Every ``IncomingCall`` is answered with 200 OK and a
fixed PCMU SDP (RFC 3264 §6) in the same event callback, with no 180 Ringing first; the
caller's ACK and BYE are handled by the endpoint itself (RFC 3261 §13.3.1.4, §15.1.2).

It runs on uvloop when that is installed, logs at WARNING (so a failure under load shows
up on stderr and nothing is written per call), prints ``listening HOST:PORT`` once it is
bound and, when stopped by SIGTERM or SIGINT, one JSON line with its counters.

Run: ``.venv/bin/python benchmarks/uas_answer.py --port 5070``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import random
import signal
import sys

import structlog

from pbx.net.pump import SipService
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import CallCancelled, DialogEnded, EndpointEvent, IncomingCall, MessageRejected

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)

log = structlog.get_logger(__name__)


def configure_logging(level: int = logging.WARNING) -> None:
    """structlog at ``level`` to stderr; disabled levels cost a ``return None``."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def install_fast_loop() -> str:
    """Make uvloop the event loop when it is installed; return the loop's name."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def tune_gc() -> None:
    """Collect the young generation less often and leave start-up objects out of it.

    The same two lines as ``pbx run`` (``pbx.cli``): a switch keeps many objects alive
    for the 32 s of a transaction's life.
    """
    gc.set_threshold(20_000, 20, 20)
    gc.freeze()


class AnsweringUas:
    """Answers every INVITE with 200 OK + SDP; counts what happened."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.endpoint = SipEndpoint(EndpointConfig(host=host, port=port), random.Random())
        self.service = SipService(self.endpoint, self.on_event)
        self.counters = {"answered": 0, "ended": 0, "cancelled": 0, "rejected_messages": 0}

    def on_event(self, event: EndpointEvent, now: float) -> None:
        """Answer calls; count endings."""
        if isinstance(event, IncomingCall):
            self.endpoint.answer(event.leg, SDP, now)
            self.counters["answered"] += 1
        elif isinstance(event, DialogEnded):
            self.counters["ended"] += 1
        elif isinstance(event, CallCancelled):
            self.counters["cancelled"] += 1
        elif isinstance(event, MessageRejected):
            self.counters["rejected_messages"] += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        await self.service.start(self.host, self.port)
        print(f"listening {self.host}:{self.port}", flush=True)
        try:
            await stop.wait()
        finally:
            self.service.close()
        self.counters["live_legs"] = len(self.endpoint.legs)
        print(json.dumps(self.counters), flush=True)


async def serve(host: str, port: int) -> None:
    """Run the UAS until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await AnsweringUas(host, port).run(stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=5070)
    args = parser.parse_args()
    configure_logging()
    install_fast_loop()
    tune_gc()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
