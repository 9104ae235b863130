"""The FastAPI application: every resource router, problem bodies, CORS when configured,
and SIP over WebSocket at ``/sip`` (:mod:`pbx.net.sip_ws`) unless ``sip_websocket`` is off.

Every handler runs on the application's loop and calls the same methods a Python
embedder calls (``app.queues.feed``, ``app.calls.hangup_call`` ...), then flushes what
the cores have to send; store queries run on a worker thread (:mod:`pbx.api.records`).
Each resource checks the caller's scope (:mod:`pbx.api.context`): an agent only their
own state and calls, a supervisor their queues, an admin everything; a refusal is a
problem body (:mod:`pbx.api.problems`), an unknown id a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.routing import WebSocketRoute

from pbx.api import (
    agents,
    calls,
    campaigns,
    conferences,
    dnc,
    docs,
    files,
    history,
    pages,
    problems,
    reports,
    session,
    stream,
    system,
)
from pbx.api.auth import Authenticator
from pbx.api.context import ApiContext
from pbx.api.hub import EventHub
from pbx.api.metrics import Metrics
from pbx.version import __version__
from pbx.web import STATIC_ROOT

if TYPE_CHECKING:
    from pbx.app import Application


def build_api(app: Application, auth: Authenticator, hub: EventHub, metrics: Metrics) -> FastAPI:
    """The FastAPI application for ``app``."""
    api = FastAPI(
        title="pbx",
        version=__version__,
        description="Control API of a pbx call center: agents, queues, calls, records, events.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served from the vendored Swagger UI (pbx.api.docs)
        redoc_url=None,
    )
    api.state.ctx = ApiContext(app, auth, hub, metrics)
    problems.install(api)
    origins = list(app.config.http.cors_origins)
    if origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    modules = (
        session, agents, calls, history, reports, files, campaigns, conferences, dnc, system,
        stream, docs, pages,
    )  # fmt: skip
    for module in modules:
        api.include_router(module.router)
    if app.config.http.sip_websocket:
        # SIP over WebSocket (RFC 7118): the SIP service's transport, an ASGI application.
        api.router.routes.append(WebSocketRoute("/sip", app.sip.ws, name="sip"))
    api.mount("/static", StaticFiles(directory=STATIC_ROOT), name="static")
    return api
