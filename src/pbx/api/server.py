"""The HTTP shell: uvicorn serving the API as a task of the application's own loop.

uvicorn binds its socket and serves from the same asyncio loop as SIP and media, so a
handler touches the cores without locks; it never installs signal handlers (the
application owns SIGINT and SIGTERM). A task publishes each queue's statistics once a
second while anyone listens on ``/api/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import TYPE_CHECKING

import structlog
import uvicorn

from pbx.api.auth import Authenticator
from pbx.api.hub import EventHub, Scope, to_json
from pbx.api.metrics import Metrics
from pbx.api.routes import build_api
from pbx.api.views import queue_view

if TYPE_CHECKING:
    from pbx.app import Application

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the application's own handlers stop it


class HttpService:
    """The control API, live events and metrics over HTTP."""

    def __init__(self, app: Application, hub: EventHub, metrics: Metrics) -> None:
        self.app = app
        self.hub = hub
        self.metrics = metrics
        self.auth = Authenticator.from_config(app.config)
        self.api = build_api(app, self.auth, hub, metrics)
        self._server: _Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0: a free port, then :attr:`port`); HTTPS (and
        ``wss://``) when ``[http]`` names a certificate and its key."""
        http = self.app.config.http
        config = uvicorn.Config(
            self.api,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            ws="websockets-sansio",
            ws_ping_interval=20.0,
            timeout_graceful_shutdown=2,
            ssl_certfile=http.certificate,
            ssl_keyfile=http.private_key,
        )
        server = _Server(config)
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup()
        if server.should_exit or not server.servers:
            raise OSError(f"HTTP cannot listen on {host}:{port}")
        self._server = server
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._tasks = [
            asyncio.ensure_future(server.main_loop()),
            asyncio.ensure_future(self._queue_stats()),
        ]
        scheme = "https" if http.certificate else "http"
        log.info("http_started", http=f"{host}:{self.port}", scheme=scheme)

    async def _queue_stats(self) -> None:
        """Queue figures once a second, campaign counters when they change, while
        anybody follows the stream."""
        app, hub = self.app, self.hub
        campaign_figures: dict[str, dict[str, object]] = {}
        while True:
            await asyncio.sleep(1.0)
            if not hub.subscribers:
                continue
            now = app.sip.now()
            for q in app.queues.snapshot(now).queues:
                hub.publish("QueueStats", queue_view(q), Scope(queue=q.name), app.wall(now))
            # Campaign counters when they changed (an idle campaign fills no replay ring).
            for name, config in app.config.campaigns.items():
                body = dict(to_json(app.dialer.snapshot(name, now)))
                figures = {k: v for k, v in body.items() if k != "abandon"}
                if campaign_figures.get(name) != figures:
                    campaign_figures[name] = figures
                    scope = Scope(queue=config.queue, campaign=name)
                    hub.publish("CampaignStats", body, scope, app.wall(now))

    async def close(self) -> None:
        """Stop listening and end every connection."""
        server = self._server
        if server is None:
            return
        server.should_exit = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await server.shutdown()
        self._server = None
