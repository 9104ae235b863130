"""Embedding pbx: the example call center plus your own code.

    .venv/bin/python examples/embed.py [--sip 127.0.0.1:5060]    # Ctrl-C to stop

- a screen pop: every call offered to an agent prints the attached data;
- a route of your own: DID 500 answers, says hello, reads back the digits you press, and
  sends you to the sales queue when you press #;
- a wallboard: the queues' live view every 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from attrs import evolve

from pbx import (
    Application,
    Call,
    CallManager,
    DigitReceived,
    Leg,
    LegEnded,
    Route,
    Target,
    load_config,
)
from pbx.acd.actions import OfferToAgent
from pbx.calls.dialplan import NumberPattern
from pbx.calls.events import CallEvent
from pbx.config import parse_hostport
from pbx.media.numbers import say_digits

HERE = Path(__file__).parent


class Hello:
    """DID 500: answer, play a tone, read back each digit, # joins the sales queue.

    A route handler takes the call; the digits come as ``DigitReceived`` events for the
    legs it owns (every module sees every call event and picks its own)."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.legs: set[str] = set()

    def start(self, manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        manager.answer(leg.id, now)
        manager.play(leg.id, ["en/welcome"], now)
        self.legs.add(leg.id)

    def on_event(self, event: CallEvent, now: float) -> None:
        if isinstance(event, LegEnded):
            self.legs.discard(event.leg)
        if not isinstance(event, DigitReceived) or event.leg not in self.legs:
            return
        manager = self.app.calls
        call, leg = manager.call(event.call), manager.leg(event.leg)
        if event.digit == "#":
            self.legs.discard(leg.id)
            self.app.queues.enqueue(call, leg, "sales", now)
            return
        call.data["pressed"] = call.data.get("pressed", "") + event.digit
        manager.play(leg.id, [f"en/{n}" for n in say_digits(event.digit)], now)


async def main(sip: str | None, http: str | None) -> None:
    config = load_config(HERE / "callcenter.toml")
    if sip:
        host, port = parse_hostport(sip, "--sip")
        config = evolve(config, sip=evolve(config.sip, host=host, port=port))
    if http:
        host, port = parse_hostport(http, "--http")
        config = evolve(config, http=evolve(config.http, host=host, port=port))
    app = Application(config)
    app.calls.dialplan.routes.insert(
        0, Route(Target("app", "hello"), NumberPattern("500"), origin="any")
    )
    hello = Hello(app)
    app.route("app:hello", hello.start)
    app.on_call_event(hello.on_event)

    async def screen_pops() -> None:
        async for event in app.events():
            if isinstance(event, OfferToAgent):
                print(f"screen pop for agent {event.agent}: {dict(event.data)}")

    async def wallboard() -> None:
        while True:
            await asyncio.sleep(10)
            view = app.queues.snapshot(app.sip.now())
            for queue in view.queues:
                print(f"{queue.name}: {queue.waiting} waiting, longest {queue.longest_wait:.0f} s")

    tasks = [asyncio.ensure_future(screen_pops()), asyncio.ensure_future(wallboard())]
    try:
        await app.run()
    finally:
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sip", metavar="HOST:PORT", help="where SIP listens")
    parser.add_argument("--http", metavar="HOST:PORT", help="where the API listens")
    args = parser.parse_args()
    asyncio.run(main(args.sip, args.http))
