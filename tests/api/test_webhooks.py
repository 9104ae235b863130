"""Webhooks: signed, retried while the receiver is down, delivered once each by key, and
still delivered after a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from attrs import evolve

from pbx.api.webhooks import signature
from pbx.app import Application
from pbx.config import AppConfig, WebhookConfig
from tests.api.helpers import bearer, token, with_api
from tests.conftest import free_port


class Receiver:
    """A minimal HTTP server that records what it is sent; refuses the first ``fail``."""

    def __init__(self, port: int, fail: int = 0) -> None:
        self.port = port
        self.fail = fail
        self.requests: list[dict[str, Any]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        headers = {k.lower(): v for k, v in headers.items()}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if self.fail > 0:
            self.fail -= 1
            status = "503 Service Unavailable"
        else:
            status = "200 OK"
            self.requests.append({"headers": headers, "body": body})
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


def _hooked(port: int) -> Any:
    def configure(config: AppConfig) -> AppConfig:
        hook = WebhookConfig(
            "crm", f"http://127.0.0.1:{port}/hook", ("AgentStateChanged",), "s3cret", 20
        )
        return evolve(config, http=evolve(config.http, webhooks=(hook,)))

    return configure


async def _wait_for(condition: Any, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


def test_events_reach_a_receiver_that_was_down_once_each_and_signed(tmp_path: Path) -> None:
    port = free_port()
    receiver = Receiver(port, fail=2)

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        admin = bearer(await token(client, "admin", "admin"))
        for state in ("paused", "ready", "logged_out"):
            r = await client.post("/api/agents/2001/state", json={"state": state}, headers=admin)
            assert r.status_code == 200
        await asyncio.sleep(1.5)  # down: every attempt so far failed
        assert receiver.requests == [] and app.store.outbox_backlog() > 0
        await receiver.start()
        try:
            await _wait_for(lambda: app.store.outbox_backlog() == 0, 15.0)
        finally:
            await receiver.stop()

    with_api(tmp_path, body, _hooked(port))
    keys = [r["headers"]["idempotency-key"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) >= 4  # login, pause, unpause, logout
    # Retried deliveries may overtake: the sequence numbers give the order.
    events = sorted((json.loads(r["body"]) for r in receiver.requests), key=lambda e: e["seq"])
    states = [e["state"] for e in events]
    assert states[-1] == "logged_out" and "not_ready" in states
    for r in receiver.requests:
        assert r["headers"]["x-pbx-event"] == "AgentStateChanged"
        assert r["headers"]["x-pbx-signature"] == signature("s3cret", r["body"])


def test_deliveries_left_pending_at_a_stop_are_made_after_the_next_start(tmp_path: Path) -> None:
    port = free_port()
    receiver = Receiver(port)

    async def first(app: Application, client: httpx.AsyncClient) -> int:
        admin = bearer(await token(client, "admin", "admin"))
        await client.post("/api/agents/2002/state", json={"state": "paused"}, headers=admin)
        return app.store.outbox_backlog()

    pending = with_api(tmp_path, first, _hooked(port))
    assert pending >= 2

    async def second(app: Application, client: httpx.AsyncClient) -> None:
        await receiver.start()
        try:
            await _wait_for(lambda: len(receiver.requests) >= pending, 10.0)
        finally:
            await receiver.stop()

    with_api(tmp_path, second, _hooked(port))
    agents = {json.loads(r["body"])["agent"] for r in receiver.requests}
    assert agents == {"2002"}
