"""``/api/agents`` and ``/api/queues``: agents' states and the queues' live view.

A state change is an ACD event fed to the distributor, exactly what the phone's feature
codes do: ``ready`` logs a logged-out agent in, ends a pause, or ends wrap-up;
``paused`` (with a reason) pauses; ``logged_in``/``logged_out`` log in and out.

Supervisors staff their queues at run time: ``PUT``/``DELETE
/api/agents/{id}/queues/{queue}`` (with a tier, ``penalty``) and ``PUT
/api/agents/{id}/skills``; each change is stored and audited before the ACD applies it,
and is applied again over the configuration at every start.

In a preview campaign the agent's current lead (``GET /api/agents/{id}/preview``) is
dialled or skipped with ``POST /api/agents/{id}/preview``: dialling rings the agent's
phone, then the lead.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pbx.acd import events as acd
from pbx.acd.models import Target as QueueTarget
from pbx.api.auth import Principal
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.hub import to_json
from pbx.api.problems import Problem
from pbx.api.views import agent_view, queue_view
from pbx.calls.manager import CallError
from pbx.calls.supervision import MODES

router = APIRouter(prefix="/api", tags=["agents and queues"])
SKILL = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class MonitorBody(BaseModel):
    mode: Literal["listen", "whisper", "barge"]
    device: str | None = Field(
        default=None,
        max_length=32,
        description="the supervisor's extension to ring (default: the caller's own)",
    )


class PriorityBody(BaseModel):
    priority: int = Field(ge=-1000, le=1000)


class MoveBody(BaseModel):
    to: str = Field(
        min_length=3,
        max_length=80,
        description="queue:NAME, ivr:NAME, voicemail:BOX or number:EXTENSION",
    )


MOVE_KINDS = ("queue", "ivr", "voicemail", "number")


class PreviewBody(BaseModel):
    lead: str = Field(min_length=1, max_length=64, description="the lead offered")
    action: Literal["dial", "skip"]


class MembershipBody(BaseModel):
    penalty: int = Field(default=0, ge=0, le=100, description="tier: lower is offered first")


class SkillsBody(BaseModel):
    skills: dict[str, int] = Field(
        max_length=64, description="skill → level 1–100 (replaces every level; 0 removes)"
    )


class AgentStateBody(BaseModel):
    state: Literal["ready", "paused", "logged_in", "logged_out"]
    reason: str = Field(default="pause", min_length=1, max_length=64)


def _agent(ctx: ApiContext, who: Principal, agent: str) -> dict[str, Any]:
    ctx.find_agent(who, agent)
    now = ctx.now()
    for a in ctx.app.queues.snapshot(now).agents:
        if a.id == agent:
            view = agent_view(a, ctx.agent_queues(a.id), ctx.app.wall, now)
            config = ctx.app.acd.agent(agent).config
            view["members"] = [{"queue": m.queue, "penalty": m.penalty} for m in config.queues]
            view["skills"] = dict(config.skills)
            return view
    raise Problem(404, f"no agent {agent!r}")


def _changeable(ctx: ApiContext, who: Principal, agent: str, queue: str | None) -> None:
    """Supervisors change the agents of their queues, in their queues; admins anyone."""
    ctx.staff(who)
    ctx.find_agent(who, agent)
    if queue is None:
        return
    if queue not in ctx.app.config.queues:
        raise Problem(404, f"no queue {queue!r}")
    if not who.sees_queue(queue):
        raise Problem(403, f"queue {queue!r} is not yours to staff")


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


@router.get("/queues/{name}/calls", summary="The queue's callers in the order they are served")
async def queue_calls(name: str, ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    ctx.staff(who)
    if name not in ctx.app.config.queues or not who.sees_queue(name):
        raise Problem(404, f"no queue {name!r}")
    now = ctx.now()
    return [
        {
            "call": c.call.split(":")[0],
            "position": n,
            "wait": round(now - c.enqueued, 3),
            "priority": c.priority,
            "state": c.state.value,
            "caller": c.caller,
            "data": to_json(c.data),
        }
        for n, c in enumerate(ctx.app.queues.distributor.waiting(name), start=1)
    ]


@router.post(
    "/queues/{name}/calls/{call_id}/priority", summary="Change a waiting caller's priority"
)
async def queue_call_priority(
    name: str, call_id: str, body: PriorityBody, ctx: Ctx, who: Caller
) -> dict[str, Any]:
    ctx.staff(who)
    if name not in ctx.app.config.queues or not who.sees_queue(name):
        raise Problem(404, f"no queue {name!r}")
    waiting = {c.call.split(":")[0]: c for c in ctx.app.queues.distributor.waiting(name)}
    caller = waiting.get(call_id)
    if caller is None:
        raise Problem(404, f"call {call_id!r} is not waiting in {name!r}")
    now = ctx.now()
    ctx.app.queues.feed(acd.PriorityChanged(caller.call, body.priority), now)
    ctx.app.sip.flush(now)
    position = ctx.app.queues.distributor.position(caller.call)
    return {"call": call_id, "priority": body.priority, "position": position}


@router.post(
    "/queues/{name}/calls/{call_id}/move",
    summary="Send a waiting caller to another queue, an IVR, voicemail or a number",
)
async def queue_call_move(
    name: str, call_id: str, body: MoveBody, ctx: Ctx, who: Caller
) -> dict[str, Any]:
    """The caller leaves this queue as an overflow would (``EXITMOVED``, counted as an
    overflow out and, in a queue, an overflow in) with their attached data."""
    ctx.staff(who)
    if name not in ctx.app.config.queues or not who.sees_queue(name):
        raise Problem(404, f"no queue {name!r}")
    kind, _, target = body.to.partition(":")
    if kind not in MOVE_KINDS or not target:
        raise Problem(
            422,
            f"to: expected queue:NAME, ivr:NAME, voicemail:BOX or number:N, got {body.to!r}",
            errors=[{"field": "to", "problem": "bad target"}],
        )
    known = {"queue": ctx.app.config.queues, "ivr": ctx.app.config.ivr}.get(kind)
    if known is not None and target not in known:
        raise Problem(
            422, f"to: no {kind} {target!r}", errors=[{"field": "to", "problem": f"no {kind}"}]
        )
    if kind == "queue" and not who.sees_queue(target):
        raise Problem(403, f"queue {target!r} is not yours")
    if kind == "queue" and target == name:
        raise Problem(
            422, "to: the caller is in that queue", errors=[{"field": "to", "problem": "same"}]
        )
    waiting = {c.call.split(":")[0]: c for c in ctx.app.queues.distributor.waiting(name)}
    caller = waiting.get(call_id)
    if caller is None:
        raise Problem(404, f"call {call_id!r} is not waiting in {name!r}")
    now = ctx.now()
    ctx.app.queues.feed(acd.CallMoved(caller.call, QueueTarget(kind, target)), now)
    ctx.app.sip.flush(now)
    return {"call": call_id, "from": name, "to": body.to}


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


@router.post(
    "/agents/{agent}/monitor",
    summary="Listen, whisper or barge on the agent's call through the supervisor's phone",
)
async def monitor(agent: str, body: MonitorBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    ctx.find_agent(who, agent)
    device = body.device or who.user
    user = ctx.app.config.user(device)
    if user is None:
        raise Problem(
            422,
            f"device: {device!r} is not an extension; give the phone to ring",
            errors=[{"field": "device", "problem": "not an extension"}],
        )
    if who.role != "admin" and device != who.user:
        raise Problem(403, "a supervisor monitors through their own phone")
    now = ctx.now()
    try:
        leg = ctx.app.queues.supervision.ring(device, agent, MODES[body.mode], now)
    except CallError as exc:
        raise Problem(409, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"agent": agent, "mode": body.mode, "device": device, "leg": leg}


def _preview_view(ctx: ApiContext, agent: str) -> dict[str, Any] | None:
    offer = ctx.app.campaigns.preview(agent)
    return None if offer is None else to_json(offer)


@router.get(
    "/agents/{agent}/preview",
    summary="The lead a preview campaign offers the agent (null when none)",
)
async def preview(agent: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.find_agent(who, agent)
    return {"agent": agent, "offer": _preview_view(ctx, agent)}


@router.post(
    "/agents/{agent}/preview",
    summary="Dial or skip the lead offered: dial rings the agent's phone, then the lead",
)
async def preview_decision(agent: str, body: PreviewBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.find_agent(who, agent)
    now = ctx.now()
    try:
        ctx.app.campaigns.decide_preview(agent, body.lead, body.action == "dial", now)
    except LookupError as exc:
        raise Problem(409, str(exc), errors=[{"field": "lead", "problem": "not offered"}]) from None
    ctx.app.sip.flush(now)
    return {"agent": agent, "lead": body.lead, "action": body.action}


@router.put(
    "/agents/{agent}/queues/{queue}",
    summary="Add the agent to a queue (or change their tier in it), at once and for good",
)
async def join_queue(
    agent: str, queue: str, body: MembershipBody, ctx: Ctx, who: Caller
) -> dict[str, Any]:
    _changeable(ctx, who, agent, queue)
    now = ctx.now()
    ctx.app.queues.change_agent(agent, now, user=who.user, join=(queue, body.penalty))
    ctx.app.sip.flush(now)
    return _agent(ctx, who, agent)


@router.delete("/agents/{agent}/queues/{queue}", summary="Take the agent out of a queue")
async def leave_queue(agent: str, queue: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    _changeable(ctx, who, agent, queue)
    if queue not in ctx.agent_queues(agent):
        raise Problem(404, f"agent {agent!r} is not a member of queue {queue!r}")
    now = ctx.now()
    ctx.app.queues.change_agent(agent, now, user=who.user, leave=queue)
    ctx.app.sip.flush(now)
    return _agent(ctx, who, agent)


@router.put("/agents/{agent}/skills", summary="Set the agent's skill levels")
async def set_skills(agent: str, body: SkillsBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    _changeable(ctx, who, agent, None)
    for name, level in body.skills.items():
        if not SKILL.fullmatch(name):
            raise Problem(
                422,
                f"skills.{name}: a skill is 1-32 letters, digits, '_', '-' or '.'",
                errors=[{"field": f"skills.{name}", "problem": "bad name"}],
            )
        if not 0 <= level <= 100:
            raise Problem(
                422,
                f"skills.{name}: the level must be 0 to 100, got {level}",
                errors=[{"field": f"skills.{name}", "problem": "out of range"}],
            )
    now = ctx.now()
    ctx.app.queues.change_agent(agent, now, user=who.user, skills=body.skills)
    ctx.app.sip.flush(now)
    return _agent(ctx, who, agent)
