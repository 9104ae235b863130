"""``/api/health``, ``/api/version`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pbx.api.context import Ctx
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
