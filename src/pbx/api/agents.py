"""``/api/agents`` and ``/api/queues``: agents' states and the queues' live view.

A state change is an ACD event fed to the distributor, exactly what the phone's feature
codes do: ``ready`` logs a logged-out agent in, ends a pause, or ends wrap-up;
``paused`` (with a reason) pauses; ``logged_in``/``logged_out`` log in and out.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pbx.acd import events as acd
from pbx.api.auth import Principal
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.api.views import agent_view, queue_view

router = APIRouter(prefix="/api", tags=["agents and queues"])


class AgentStateBody(BaseModel):
    state: Literal["ready", "paused", "logged_in", "logged_out"]
    reason: str = Field(default="pause", min_length=1, max_length=64)


def _agent(ctx: ApiContext, who: Principal, agent: str) -> dict[str, Any]:
    ctx.find_agent(who, agent)
    now = ctx.now()
    for a in ctx.app.queues.snapshot(now).agents:
        if a.id == agent:
            return agent_view(a, ctx.agent_queues(a.id), ctx.app.wall, now)
    raise Problem(404, f"no agent {agent!r}")


@router.get("/queues", summary="Every queue: waiting callers, agents by state, statistics")
async def queues(ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    ctx.staff(who)
    view = ctx.app.queues.snapshot(ctx.now())
    return [queue_view(q) for q in view.queues if who.sees_queue(q.name)]


@router.get("/queues/{name}", summary="One queue")
async def queue(name: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    for q in ctx.app.queues.snapshot(ctx.now()).queues:
        if q.name == name and who.sees_queue(name):
            return queue_view(q)
    raise Problem(404, f"no queue {name!r}")


@router.get("/agents", summary="Agents with state, time in state, current call")
async def agents(ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    now = ctx.now()
    return [
        agent_view(a, ctx.agent_queues(a.id), ctx.app.wall, now)
        for a in ctx.app.queues.snapshot(now).agents
        if who.sees_agent(a.id, ctx.agent_queues(a.id))
    ]


@router.get("/agents/{agent}", summary="One agent")
async def agent(agent: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    return _agent(ctx, who, agent)


@router.post("/agents/{agent}/state", summary="Log in or out, pause with a reason, be ready")
async def agent_state(agent: str, body: AgentStateBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    current = _agent(ctx, who, agent)["state"]
    events: list[acd.AcdEvent] = []
    if body.state == "logged_out":
        events.append(acd.AgentLogout(agent))
    elif current == "logged_out":
        events.append(acd.AgentLogin(agent))
    if body.state == "paused":
        events.append(acd.AgentPause(agent, body.reason))
    elif body.state == "ready" and current == "not_ready":
        events.append(acd.AgentUnpause(agent))
    elif body.state == "ready" and current == "wrap_up":
        events.append(acd.AgentReady(agent))
    now = ctx.now()
    for event in events:
        ctx.app.queues.feed(event, now)
    ctx.app.sip.flush(now)
    return _agent(ctx, who, agent)
