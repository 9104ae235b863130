"""``/api/campaigns``: outbound campaigns — counters, lead import, start/pause/resume/stop.

Supervisors of a campaign's queue and admins act on it; an agentless campaign (no
queue) is an admin's. A lead list is a CSV body (``text/csv``); it is imported whole or
not at all, and a refusal lists every row's problem (row, field, problem, value).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request

from pbx.api.auth import Principal
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.hub import to_json
from pbx.api.problems import Problem
from pbx.dialer.campaign import CampaignConfig
from pbx.errors import InvalidStateError

router = APIRouter(prefix="/api", tags=["campaigns"])

MAX_CSV = 20 * 1024 * 1024


def runs(ctx: ApiContext, who: Principal, config: CampaignConfig) -> bool:
    """May ``who`` run the campaign? An admin any; a supervisor one that serves a queue
    of theirs, or whose agents are all agents of their queues."""
    if who.role == "admin":
        return True
    if who.role == "agent":
        return False
    if config.queue is not None:
        return who.sees_queue(config.queue)
    agents = config.agents
    return bool(agents) and all(who.sees_agent(a, ctx.agent_queues(a)) for a in agents)


def find_campaign(ctx: ApiContext, who: Principal, name: str) -> str:
    config = ctx.app.config.campaigns.get(name)
    if config is None:
        raise Problem(404, f"no campaign {name!r}")
    if runs(ctx, who, config):
        return name
    if who.role == "agent":
        raise Problem(403, "supervisors and admins run campaigns")
    raise Problem(403, f"campaign {name!r} is not yours to run")


def _view(ctx: ApiContext, name: str) -> dict[str, Any]:
    view = ctx.app.dialer.snapshot(name, ctx.now())
    return dict(to_json(view))


@router.get("/campaigns", summary="Every campaign the caller may run, with its counters")
async def campaigns(ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    ctx.staff(who)
    out = []
    for name, config in ctx.app.config.campaigns.items():
        if runs(ctx, who, config):
            out.append(_view(ctx, name))
    return out


@router.get("/campaigns/{name}", summary="One campaign: state, leads by state, lines, abandon")
async def campaign(name: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    return _view(ctx, find_campaign(ctx, who, name))


@router.post("/campaigns/{name}/leads", summary="Import a CSV lead list (all rows or none)")
async def import_leads(name: str, request: Request, ctx: Ctx, who: Caller) -> dict[str, Any]:
    find_campaign(ctx, who, name)
    body = await request.body()
    if len(body) > MAX_CSV:
        raise Problem(413, "a lead list is limited to 20 MiB")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(415, "the lead list must be UTF-8 CSV") from None
    service = ctx.app.campaigns
    known = service.known_numbers(name)
    # Parsing and checking a long list takes a while: off the loop, so calls keep their
    # audio; the leads are stored and handed to the dialer back on it.
    report = await asyncio.to_thread(service.check_leads, name, text, known)
    if report.ok:
        meanwhile = service.known_numbers(name) - known
        if any(lead.phone in meanwhile for lead in report.leads):
            raise Problem(409, "another import added some of these numbers meanwhile: retry")
        now = ctx.now()
        service.add_leads(report, now)
        ctx.app.sip.flush(now)
    if not report.ok:
        errors = [
            {"field": f"row {e.row}: {e.field}", "problem": e.problem, "value": e.value}
            for e in report.errors
        ]
        first = report.errors[0]
        raise Problem(422, f"row {first.row}: {first.field}: {first.problem}", errors=errors)
    return {"campaign": name, "rows": report.rows, "imported": len(report.leads)}


@router.post("/campaigns/{name}/{verb}", summary="Start, pause, resume or stop a campaign")
async def command(
    name: str, verb: Literal["start", "pause", "resume", "stop"], ctx: Ctx, who: Caller
) -> dict[str, Any]:
    find_campaign(ctx, who, name)
    now = ctx.now()
    try:
        ctx.app.campaigns.command(name, verb, now)
    except InvalidStateError as exc:
        raise Problem(409, str(exc)) from None
    ctx.app.sip.flush(now)
    return _view(ctx, name)
