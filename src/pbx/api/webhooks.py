"""Webhooks: events POSTed to integrators' URLs, at least once, across restarts.

Every event the hub publishes that a configured hook wants is written to the store's
outbox at once (one row per hook and event, with an idempotency key unique across
restarts: the hook, this run's id and the event's sequence number). A task of the loop
sends due rows with an async HTTP client — never blocking calls — as JSON with the
headers ``X-Pbx-Event``, ``Idempotency-Key`` and, when the hook has a secret,
``X-Pbx-Signature: sha256=<hex HMAC-SHA256 of the body>``. A 2xx is delivered; anything
else (an error, a timeout, no answer) is retried after 1 s, doubling up to 5 minutes,
until ``max_attempts``; rows still pending when the pbx stops are sent after it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence

import httpx
import structlog

from pbx.api.hub import HubEvent
from pbx.config import WebhookConfig
from pbx.store import Store

log = structlog.get_logger(__name__)

MAX_BACKOFF = 300.0


def signature(secret: str, body: bytes) -> str:
    """The ``X-Pbx-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks:
    """The outbox writer (a hub tap) and the delivery task."""

    def __init__(
        self,
        hooks: Sequence[WebhookConfig],
        store: Store,
        wall: Callable[[], float],
        *,
        timeout: float = 5.0,
    ) -> None:
        self.hooks = {h.name: h for h in hooks}
        self.store = store
        self.wall = wall
        self.timeout = timeout
        self.run_id = secrets.token_hex(6)
        self.delivered = 0
        self.failed_attempts = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: HubEvent) -> None:
        """Queue ``event`` for every hook that wants it (on the loop, one transaction)."""
        rows = []
        for hook in self.hooks.values():
            if hook.events and event.type not in hook.events:
                continue
            body = json.dumps(event.message(), separators=(",", ":"), default=str)
            rows.append(
                {
                    "hook": hook.name,
                    "event": event.type,
                    "seq": event.seq,
                    "key": f"{hook.name}-{self.run_id}-{event.seq}",
                    "body": body,
                    "created": event.time,
                    "due": event.time,
                }
            )
        if rows:
            self.store.outbox_add(rows)
            self._wake.set()

    def start(self) -> None:
        """Start delivering (pending rows from an earlier run first)."""
        if self.hooks and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                rows = self.store.outbox_due(self.wall(), 50)
                for row in rows:
                    await self._deliver(client, row)
                if len(rows) < 50:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=0.5)

    async def _deliver(self, client: httpx.AsyncClient, row: dict[str, object]) -> None:
        hook = self.hooks.get(str(row["hook"]))
        row_id = int(row["id"])  # type: ignore[call-overload]
        if hook is None:
            self.store.outbox_result(row_id, delivered=False, error="hook removed", give_up=True)
            return
        body = str(row["body"]).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Pbx-Event": str(row["event"]),
            "Idempotency-Key": str(row["key"]),
        }
        if hook.secret:
            headers["X-Pbx-Signature"] = signature(hook.secret, body)
        try:
            response = await client.post(hook.url, content=body, headers=headers)
            ok, error = response.is_success, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self.delivered += 1
            self.store.outbox_result(row_id, delivered=True)
            return
        self.failed_attempts += 1
        attempts = int(row["attempts"]) + 1  # type: ignore[call-overload]
        give_up = attempts >= hook.max_attempts
        due = self.wall() + min(MAX_BACKOFF, 2.0 ** (attempts - 1))
        self.store.outbox_result(row_id, delivered=False, due=due, error=error, give_up=give_up)
        if give_up:
            log.warning("webhook_given_up", hook=hook.name, key=row["key"], error=error)
