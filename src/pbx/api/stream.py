"""``/api/events``: the live event stream over a WebSocket.

The token comes as ``Authorization: Bearer`` or ``?token=`` (browsers cannot set
headers on a WebSocket); ``?since=N`` replays what came after N; ``queue``, ``agent``,
``campaign`` and ``type`` (each repeatable) narrow the stream. Every message is JSON
with ``seq``, ``type`` and ``time``; a ``Ping`` comes after 15 s of quiet. A client too
slow to keep up is closed with code 4008 and reconnects with its last ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from pbx.api.context import context
from pbx.api.hub import Filter, Subscription

router = APIRouter(tags=["events"])


@router.websocket("/api/events")
async def events(ws: WebSocket) -> None:
    ctx = context(ws)
    params = ws.query_params
    header = ws.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() or params.get("token", "")
    who = ctx.auth.verify(token, ctx.now())
    if who is None:
        await ws.close(code=4401, reason="a valid token is needed")
        return
    try:
        since = int(params["since"]) if "since" in params else None
    except ValueError:
        await ws.close(code=4400, reason="since: expected a sequence number")
        return
    wanted = Filter(
        frozenset(params.getlist("queue")),
        frozenset(params.getlist("agent")),
        frozenset(params.getlist("campaign")),
        frozenset(params.getlist("type")),
    )
    await ws.accept()
    sub = ctx.hub.subscribe(who, wanted, since)
    ctx.metrics.websocket_clients.inc()
    try:
        await _pump(ws, sub)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.hub.unsubscribe(sub)
        ctx.metrics.websocket_clients.dec()


async def _pump(ws: WebSocket, sub: Subscription) -> None:
    """Send the subscription's messages until the client goes (or falls behind)."""
    receiver = asyncio.ensure_future(ws.receive())
    try:
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait(
                {getter, receiver}, timeout=15.0, return_when=asyncio.FIRST_COMPLETED
            )
            if receiver in done:
                getter.cancel()
                if receiver.result().get("type") == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(ws.receive())
            elif getter in done:
                await ws.send_json(getter.result())
            else:
                getter.cancel()
                if sub.dropped:
                    await ws.close(code=4008, reason="fell behind; reconnect with since")
                    return
                await ws.send_json({"seq": 0, "type": "Ping"})
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
