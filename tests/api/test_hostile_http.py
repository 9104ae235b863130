"""Malformed HTTP, JSON, CSV and WebSocket bytes against the API while a call has audio:
each gets a clear refusal (or a closed connection), the call keeps its audio, and the API
keeps answering."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from pbx.app import Application
from tests.net.test_app_peers import with_app
from tests.net.test_hardening_wire import good_call


async def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh TCP connection; what came back before it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(65536), 3.0)
        except (TimeoutError, ConnectionError):
            return b""
    finally:
        writer.close()


def test_malformed_http_never_costs_a_call_its_audio(tmp_path: Path) -> None:
    async def body(app: Application) -> None:
        port = app.http_port
        assert port is not None
        good = await good_call(app, b"http")
        try:
            assert await good.echo_ratio(25, tag=1) >= 0.9
            garbage = [
                b"\x00\xff\xfe garbage that is no HTTP\r\n\r\n",
                b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
                b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                b"\xff\xfe\xfd\xfc\xfb",
                b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n{",
                b"GET /api/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
                b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bad\r\n\r\n\x81\xff",
            ]
            for data in garbage:
                answer = await raw(port, data)
                assert b"500" not in answer.split(b"\r\n", 1)[0]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                r = await client.post(
                    "/api/login",
                    content=b'{"user": "\xff\xfe", "password": 1}',
                    headers={"Content-Type": "application/json"},
                )
                assert r.status_code in (400, 422) and r.headers["content-type"].startswith(
                    "application/problem+json"
                )
                token = (
                    await client.post("/api/login", json={"user": "admin", "password": "admin"})
                ).json()["token"]
                auth = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
                r = await client.post(
                    "/api/campaigns/sales-out/leads", content=b"phone\n\xff\xfe\x00\n", headers=auth
                )
                assert r.status_code == 415 and "UTF-8" in r.json()["detail"]
                r = await client.post(
                    "/api/campaigns/sales-out/leads",
                    content="phone,name\n" + "+1212555\x00,x\n" * 3,
                    headers=auth,
                )
                assert r.status_code == 422 and r.json()["errors"]
                assert app.dialer.leads("sales-out") == []
                # Do-not-call bodies: wrong types, bytes that are not numbers, nothing kept.
                json_auth = {**auth, "Content-Type": "application/json"}
                for bad in (
                    b'{"numbers": "+12125550123"}',
                    b'{"numbers": [1, null]}',
                    rb'{"numbers": ["+1\u0000212"]}',
                    b"\xff\xfe",
                ):
                    r = await client.post("/api/dnc/global", content=bad, headers=json_auth)
                    assert r.status_code in (400, 422), (bad, r.status_code)
                    assert r.headers["content-type"].startswith("application/problem+json")
                assert app.dialer.dnc.numbers("global") in (None, frozenset())
                assert app.store.dnc_changes() == []
                assert (await client.get("/api/health")).json()["store"]["status"] == "ok"
            assert await good.echo_ratio(50, tag=2) >= 0.9
            assert await good.bye() == 200
        finally:
            good.close()

    with_app(tmp_path, body)
