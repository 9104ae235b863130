"""The control API: HTTP and WebSocket on the application's own event loop.

:mod:`pbx.api.server` runs uvicorn as a task of the loop SIP and media run on (never a
second thread touching the cores); :mod:`pbx.api.routes` is the FastAPI application —
the same operations a Python embedder calls, behind bearer tokens and roles
(:mod:`pbx.api.auth`), with RFC 9457 problem bodies for every refusal
(:mod:`pbx.api.problems`); :mod:`pbx.api.hub` numbers every event and fans it out to
WebSocket clients with a bounded replay buffer; :mod:`pbx.api.metrics` exposes
Prometheus text.
"""
