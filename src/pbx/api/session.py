"""``/api/login`` and ``/api/me``: bearer tokens for users and passwords.

``/api/me/phone`` gives a signed-in user with an extension what their browser needs to
be their phone: the SIP over WebSocket path, their address of record and the digest
key (HA1, RFC 2617 §3.2.2.2: ``MD5(user:realm:password)``) that JsSIP authenticates
with, so the page never keeps the password. Each user gets their own key only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from pbx.api.context import Caller, Ctx
from pbx.api.problems import Problem
from pbx.sip.auth import ha1

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


@router.get(
    "/me/phone",
    summary="The signed-in user's browser phone: SIP over WebSocket path, address, digest key",
)
async def phone(who: Caller, ctx: Ctx) -> dict[str, Any]:
    config = ctx.app.config
    user = config.user(who.user)
    if user is None:
        raise Problem(404, f"{who.user!r} has no extension to register")
    if not config.http.sip_websocket:
        raise Problem(409, "SIP over WebSocket is off ([http] sip_websocket = false)")
    realm = config.sip.realm
    return {
        "extension": user.extension,
        "name": user.name,
        "websocket": "/sip",
        "realm": realm,
        "ha1": ha1(user.extension, realm, user.password),
    }
