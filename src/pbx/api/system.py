"""``/api/health``, ``/api/version`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pbx.api.context import Caller, Ctx
from pbx.api.hub import to_json
from pbx.api.problems import Problem
from pbx.version import __version__

router = APIRouter(tags=["system"])


@router.get("/api/health", summary="SIP, the media tick and the store")
async def health(ctx: Ctx) -> dict[str, Any]:
    return ctx.app.health()


@router.get("/api/version", summary="The pbx version")
async def version() -> dict[str, str]:
    return {"version": __version__}


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: Ctx) -> Response:
    return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)


@router.get("/api/config", summary="The configuration in effect, without passwords or tokens")
async def config_summary(ctx: Ctx, who: Caller) -> dict[str, Any]:
    if who.role != "admin":
        raise Problem(403, "admins only")
    c = ctx.app.config
    return {
        "source": c.source,
        "sip": {
            "listen": f"{c.sip.host}:{c.sip.port}",
            "udp": c.sip.udp,
            "tcp": c.sip.tcp,
            "realm": c.sip.realm,
            "trusted_networks": list(c.sip.trusted_networks),
        },
        "http": {
            "listen": f"{c.http.host}:{c.http.port}" if c.http.enabled else "",
            "admins": [a.name for a in c.http.admins],
            "tokens": [{"name": t.name, "role": t.role} for t in c.http.tokens],
            "webhooks": [
                {"name": w.name, "url": w.url, "events": list(w.events)} for w in c.http.webhooks
            ],
        },
        "users": [
            {
                "extension": u.extension,
                "name": u.name,
                "role": "supervisor" if u.supervisor else "agent",
                "queues": list(u.queues),
            }
            for u in c.users
        ],
        "trunks": [
            {
                "name": t.name,
                "host": t.host,
                "port": t.port,
                "transport": t.transport,
                "register": t.register,
            }
            for t in c.trunks
        ],
        "queues": {name: to_json(q) for name, q in c.queues.items()},
        "ivr": sorted(c.ivr),
        "dialplan": [
            {
                "number": r.number.text,
                "origin": r.origin,
                "target": r.target.kind,
                "name": r.target.name,
            }
            for r in c.dialplan
        ],
    }
