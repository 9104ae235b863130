"""The FastAPI application: every resource router, problem bodies, CORS when configured.

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

from pbx.api import (
    agents,
    calls,
    campaigns,
    files,
    history,
    problems,
    session,
    stream,
    system,
)
from pbx.api.auth import Authenticator
from pbx.api.context import ApiContext
from pbx.api.hub import EventHub
from pbx.api.metrics import Metrics
from pbx.version import __version__

if TYPE_CHECKING:
    from pbx.app import Application


def build_api(app: Application, auth: Authenticator, hub: EventHub, metrics: Metrics) -> FastAPI:
    """The FastAPI application for ``app``."""
    api = FastAPI(
        title="pbx",
        version=__version__,
        description="Control API of a pbx call center: agents, queues, calls, records, events.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
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
    for module in (session, agents, calls, history, files, campaigns, system, stream):
        api.include_router(module.router)
    return api
