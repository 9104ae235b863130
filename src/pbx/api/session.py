"""``/api/login`` and ``/api/me``: bearer tokens for users and passwords."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from pbx.api.context import Caller, Ctx
from pbx.api.problems import Problem

router = APIRouter(prefix="/api", tags=["session"])


class Login(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=256)


@router.post("/login", summary="Trade a user and password for a bearer token")
async def login(body: Login, request: Request, ctx: Ctx) -> dict[str, Any]:
    address = request.client.host if request.client else ""
    now = ctx.now()
    wait = ctx.auth.limited(body.user, address, now)
    if wait is not None:
        raise Problem(
            429,
            "too many failed logins; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    token = ctx.auth.login(body.user, body.password, address, now)
    who = ctx.auth.verify(token, now) if token is not None else None
    if token is None or who is None:
        raise Problem(401, "wrong user or password")
    return {"token": token, "user": who.user, "role": who.role, "expires_in": ctx.auth.ttl}


@router.get("/me", summary="Who the token belongs to")
async def me(who: Caller) -> dict[str, Any]:
    return {
        "user": who.user,
        "role": who.role,
        "queues": sorted(who.queues),
        "all_queues": who.all_queues,
    }
