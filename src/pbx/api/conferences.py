"""``/api/conferences``: the dial-in rooms, who is in them, mute, remove, lock.

Supervisors and admins run rooms as a moderator does from the phone: mute or unmute one
member (``POST …/members/{leg}/mute``), all participants (``POST …/mute``), remove a
member (``DELETE …/members/{leg}``, their call is hung up) and lock the room so nobody
else joins (``POST …/lock``). Changes also reach the event stream as
``ConferenceChanged``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.calls.conference import Room
from pbx.calls.manager import CallError

router = APIRouter(prefix="/api/conferences", tags=["conferences"])


class OnBody(BaseModel):
    on: bool = True


def _room(ctx: ApiContext, name: str) -> Room:
    try:
        return ctx.app.conferences.room(name)
    except CallError as exc:
        raise Problem(404, str(exc)) from None


@router.get("", summary="Every conference room with its members")
async def rooms(ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    ctx.staff(who)
    conferences = ctx.app.conferences
    return [conferences.view(room) for room in conferences.rooms.values()]


@router.get("/{name}", summary="One room: members (leg, number, moderator, muted), lock")
async def room(name: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    return ctx.app.conferences.view(_room(ctx, name))


@router.post("/{name}/lock", summary="Lock the room (nobody else joins) or unlock it")
async def lock(name: str, body: OnBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    found = _room(ctx, name)
    ctx.app.conferences.lock(found.name, body.on, ctx.now())
    return ctx.app.conferences.view(found)


@router.post("/{name}/mute", summary="Mute every participant (not moderators), or unmute")
async def mute_all(name: str, body: OnBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    found = _room(ctx, name)
    now = ctx.now()
    ctx.app.conferences.mute_all(found.name, body.on, now)
    ctx.app.sip.flush(now)
    return ctx.app.conferences.view(found)


@router.post("/{name}/members/{leg}/mute", summary="Mute one member, or unmute them")
async def mute(name: str, leg: str, body: OnBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    found = _room(ctx, name)
    now = ctx.now()
    try:
        member = ctx.app.conferences.mute(found.name, leg, body.on, now)
    except CallError as exc:
        raise Problem(404, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"room": found.name, "leg": member.leg, "muted": member.muted}


@router.delete("/{name}/members/{leg}", summary="Remove a member (their call is hung up)")
async def kick(name: str, leg: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    found = _room(ctx, name)
    now = ctx.now()
    try:
        member = ctx.app.conferences.kick(found.name, leg, now)
    except CallError as exc:
        raise Problem(404, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"room": found.name, "leg": member.leg, "removed": True}
