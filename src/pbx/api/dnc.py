"""``/api/dnc/{list}``: the do-not-call lists the dialer checks — read, add, remove.

Admins only. The lists are the ``global`` one and those of ``[dnc.lists]``; another name
is a 404. A body is ``{"numbers": ["+12125550123", ...]}``, each number with its country
code (it is normalised to E.164); one bad number refuses the whole body (422, every bad
number listed). An added number is refused at the next dial of any lead holding it, and
a call to it still ringing is hung up. Each change is written to the store (and the
audit log) before it takes effect, and applied over the configured lists at every
start: a number put on a list here stays on it across restarts until it is taken off.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from pbx.api.auth import Principal
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.dialer import events as de
from pbx.dialer.compliance import GLOBAL_DNC
from pbx.dialer.dnc import dnc_number

router = APIRouter(prefix="/api", tags=["dnc"])

MAX_NUMBERS = 100_000
"""Numbers in one request at most."""


class Numbers(BaseModel):
    """The numbers to add or remove."""

    numbers: list[str]


def _list(ctx: ApiContext, who: Principal, name: str) -> str:
    if who.role != "admin":
        raise Problem(403, "admins only")
    if name != GLOBAL_DNC and name not in ctx.app.config.dnc:
        known = ", ".join(sorted({GLOBAL_DNC, *ctx.app.config.dnc}))
        raise Problem(404, f"no do-not-call list {name!r} (lists: {known})")
    return name


def _view(ctx: ApiContext, name: str) -> dict[str, Any]:
    numbers = ctx.app.dialer.dnc.numbers(name) or frozenset()
    return {"list": name, "count": len(numbers), "numbers": sorted(numbers)}


def _numbers(body: Numbers) -> tuple[str, ...]:
    if len(body.numbers) > MAX_NUMBERS:
        raise Problem(413, f"at most {MAX_NUMBERS} numbers in one request")
    numbers: dict[str, None] = {}
    errors = []
    for i, text in enumerate(body.numbers):
        try:
            numbers[dnc_number(text, None)] = None
        except ValueError as exc:
            errors.append({"field": f"numbers[{i}]", "problem": str(exc), "value": text})
    if errors:
        first = errors[0]
        raise Problem(
            422, f"{first['field']}: {first['value']!r} {first['problem']}", errors=errors
        )
    return tuple(numbers)


def _change(ctx: ApiContext, who: Principal, name: str, body: Numbers, *, listed: bool) -> None:
    """Put ``body``'s numbers on the list or take them off: in the store (and the audit
    log) first, so a restart keeps the change, then in the dialer."""
    _list(ctx, who, name)
    numbers = _numbers(body)
    now = ctx.now()
    at = ctx.app.wall(now)
    store = ctx.app.store
    store.dnc_change(name, numbers, listed, at, who.user)
    action = "dnc_add" if listed else "dnc_remove"
    store.audit(at, who.user, action, f"dnc/{name}", {"numbers": len(numbers)})
    event = de.DncAdded(name, numbers) if listed else de.DncRemoved(name, numbers)
    ctx.app.campaigns.feed(event, now)
    ctx.app.sip.flush(now)


@router.get("/dnc/{name}", summary="The numbers on a do-not-call list")
async def get_list(name: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    return _view(ctx, _list(ctx, who, name))


@router.post("/dnc/{name}", summary="Add numbers to a do-not-call list")
async def add_numbers(name: str, body: Numbers, ctx: Ctx, who: Caller) -> dict[str, Any]:
    _change(ctx, who, name, body, listed=True)
    return _view(ctx, name)


@router.delete("/dnc/{name}", summary="Take numbers off a do-not-call list")
async def remove_numbers(name: str, body: Numbers, ctx: Ctx, who: Caller) -> dict[str, Any]:
    _change(ctx, who, name, body, listed=False)
    return _view(ctx, name)
