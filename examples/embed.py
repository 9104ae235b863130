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

from pbx import Application, Call, CallManager, Leg, Route, Target, load_config
from pbx.acd.actions import OfferToAgent
from pbx.calls.dialplan import NumberPattern
from pbx.config import parse_hostport
from pbx.media.say import say_digits

HERE = Path(__file__).parent


def hello(app: Application):  # type: ignore[no-untyped-def]
    """DID 500: answer, play a tone, read back each digit, # joins the sales queue."""

    def start(manager: CallManager, call: Call, leg: Leg, now: float) -> None:
        manager.answer(leg.id, now)
        manager.play(leg.id, ["en/welcome"], now)

        def digit(d: str, t: float) -> None:
            if d == "#":
                manager.on_digit(leg.id, None)
                app.queues.enqueue(call, leg, "sales", t)
                return
            call.data.setdefault("pressed", "")
            call.data["pressed"] += d
            manager.play(leg.id, [f"en/{n}" for n in say_digits(d)], t)

        manager.on_digit(leg.id, digit)

    return start


async def main(sip: str | None) -> None:
    config = load_config(HERE / "callcenter.toml")
    if sip:
        host, port = parse_hostport(sip, "--sip")
        config = evolve(config, sip=evolve(config.sip, host=host, port=port))
    app = Application(config)
    app.calls.dialplan.routes.insert(
        0, Route(Target("app", "hello"), NumberPattern("500"), origin="any")
    )
    app.route("app:hello", hello(app))

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
    asyncio.run(main(parser.parse_args().sip))
