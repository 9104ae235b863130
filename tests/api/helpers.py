"""The example call center with its HTTP API on a free port, for tests over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
from attrs import evolve

from pbx.app import Application
from pbx.config import AppConfig, RtpConfig, load_config
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "callcenter.toml"
T = TypeVar("T")


def example(tmp_path: Path) -> AppConfig:
    config = load_config(EXAMPLE)
    rtp = free_port()
    return evolve(
        config,
        sip=evolve(config.sip, port=free_port()),
        http=evolve(config.http, port=0),
        rtp=RtpConfig(rtp + 100, rtp + 300),
        store_path=str(tmp_path / "callcenter.db"),
        recordings_dir=str(tmp_path / "recordings"),
        voicemail_dir=str(tmp_path / "voicemail"),
    )


def with_api(
    tmp_path: Path,
    body: Callable[[Application, httpx.AsyncClient], Awaitable[T]],
    configure: Callable[[AppConfig], AppConfig] | None = None,
) -> T:
    """Run ``body`` with the started example application and an HTTP client on its API."""

    async def main() -> T:
        config = example(tmp_path)
        app = Application(configure(config) if configure else config)
        await app.start()
        try:
            base = f"http://127.0.0.1:{app.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
                return await body(app, client)
        finally:
            await app.close()

    return asyncio.run(main())


async def token(client: httpx.AsyncClient, user: str, password: str | None = None) -> str:
    """A bearer token for ``user`` (password: the example's ``pw<user>``)."""
    r = await client.post("/api/login", json={"user": user, "password": password or f"pw{user}"})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}
