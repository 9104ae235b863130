"""A client that reconnects with a sequence number this process never gave out (it saw
a server that has restarted since) is told of the gap, so it reloads its picture."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import websockets

from pbx.api.hub import Scope
from pbx.app import Application
from tests.api.helpers import token, with_api


def test_a_number_from_before_a_restart_is_a_gap(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        t = await token(client, "admin", "admin")
        events = f"ws://127.0.0.1:{app.http_port}/api/events?token={t}"
        async with websockets.connect(f"{events}&since=100000") as ws:
            first = json.loads(await ws.recv())
        assert first["type"] == "Gap" and first["since"] == 100000
        assert first["first"] <= app.hub.seq + 1
        # A number it did give out: what follows it, and no gap.
        async with websockets.connect(f"{events}&since={app.hub.seq}") as ws:
            app.hub.publish("Probe", {"n": 1}, Scope(), 0.0)
            kinds = []
            async with asyncio.timeout(5.0):
                while "Probe" not in kinds:
                    kinds.append(json.loads(await ws.recv())["type"])
        assert "Gap" not in kinds

    with_api(tmp_path, body)
