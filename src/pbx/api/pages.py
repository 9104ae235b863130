"""The pages people work in, served as plain HTML from :data:`pbx.web.PAGES`.

A page carries no data of its own: it logs in with ``/api/login`` and reads the same
resources and event stream as any other client, so what it shows is exactly what the
API grants its user.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from pbx.web import PAGES

router = APIRouter()


def _page(name: str) -> HTMLResponse:
    html = (PAGES / f"{name}.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/wallboard")


@router.get("/wallboard", include_in_schema=False)
async def wallboard() -> HTMLResponse:
    """Queues, agents and campaigns, live (supervisors and admins)."""
    return _page("wallboard")
