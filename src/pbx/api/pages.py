"""The pages people work in, served as plain HTML from :data:`pbx.web.PAGES`.

Each page is its ``<main>`` (``PAGES/NAME.html``) inside the frame every page shares
(``_frame.html``: the header with the live indicator, the login form, the page's ES
module from ``/static``). A page carries no data of its own: it logs in with
``/api/login`` and reads the same resources and event stream as any other client, so
what it shows is exactly what the API grants its user. A page that draws charts loads
the vendored Chart.js (``static/vendor/chartjs``) as a classic script before its module;
the agent's desktop loads JsSIP (``static/vendor/jssip``) to be the agent's phone.
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from pbx.web import PAGES

router = APIRouter()

TITLES = {
    "wallboard": ("Wallboard", "wallboard"),
    "agent": ("Agent desktop", "desktop"),
    "reports": ("Reports", "reports"),
    "staffing": ("Staffing", "staffing"),
}
"""Page → (its English title, the i18n key the page translates it with)."""

VENDOR = {
    "reports": ("chartjs/chart.umd.js",),
    "staffing": ("chartjs/chart.umd.js",),
    "agent": ("jssip/jssip.min.js",),
}
"""Page → the vendored scripts (under ``/static/vendor``) it needs before its module."""


@cache
def _html(name: str) -> str:
    title, heading = TITLES[name]
    frame = (PAGES / "_frame.html").read_text(encoding="utf-8")
    main = (PAGES / f"{name}.html").read_text(encoding="utf-8")
    vendor = "".join(
        f'<script src="/static/vendor/{path}"></script>\n' for path in VENDOR.get(name, ())
    )
    return frame.format(title=title, heading=heading, vendor=vendor, script=name, main=main.strip())


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(_html(name), headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/wallboard")


@router.get("/wallboard", include_in_schema=False)
async def wallboard() -> HTMLResponse:
    """Queues, agents and campaigns, live (supervisors and admins)."""
    return _page("wallboard")


@router.get("/agent", include_in_schema=False)
async def agent() -> HTMLResponse:
    """The agent's desktop: state, the customer's card, call controls."""
    return _page("agent")


@router.get("/reports", include_in_schema=False)
async def reports() -> HTMLResponse:
    """Queue, agent, call, IVR, campaign and custom reports over a period (supervisors
    and admins): a table, a chart, CSV and print."""
    return _page("reports")


@router.get("/staffing", include_in_schema=False)
async def staffing() -> HTMLResponse:
    """Agents needed per interval of a day (Erlang A and C) against those staffed."""
    return _page("staffing")
