"""``/api/calls``: live calls, hang-up, attached data, hold, blind transfer."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from pbx.api.campaigns import runs as campaign_runs
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.api.views import call_view
from pbx.calls.manager import Call, CallError
from pbx.dialer.events import Disposition
from pbx.errors import LocalProtocolError

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["calls"])


class TransferBody(BaseModel):
    to: str = Field(
        min_length=1,
        max_length=128,
        description="an extension, a number the dial plan knows, or a sip: URI",
    )


class HoldBody(BaseModel):
    on: bool = True


class DtmfBody(BaseModel):
    digits: str = Field(pattern=r"^[0-9A-Da-d*#]{1,32}$")


class RecordingBody(BaseModel):
    paused: bool


class DispositionBody(BaseModel):
    code: str = Field(
        min_length=1, max_length=64, description="one of the campaign's or queue's codes"
    )
    notes: str = Field(default="", max_length=4000, description="the agent's notes")
    callback_at: AwareDatetime | None = Field(
        default=None,
        description="a campaign's call: when to call the lead again (ISO time with zone)",
    )


class OriginateBody(BaseModel):
    agent: str = Field(min_length=1, max_length=32, description="whose phone rings first")
    to: str = Field(min_length=1, max_length=64, description="the number to dial for them")
    data: dict[str, Any] = Field(default_factory=dict, description="attached to the call")


def _customer_leg(ctx: ApiContext, call: Call) -> str:
    legs = ctx.app.calls.legs_of(call.id)
    if not legs:
        raise Problem(409, f"call {call.id!r} has no live leg")
    return legs[0].id


@router.get("/calls", summary="Live calls with parties, state, queue, agent, attached data")
async def calls(ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    app = ctx.app
    return [
        call_view(c, app.calls, app.wall)
        for c in list(app.calls.calls.values())
        if ctx.visible_call(who, c)
    ]


@router.post("/calls", status_code=201, summary="Click-to-call: ring the agent, then dial")
async def originate(body: OriginateBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.find_agent(who, body.agent)
    now = ctx.now()
    try:
        call_id = ctx.app.click_to_call.start(body.agent, body.to, now, data=body.data)
    except CallError as exc:
        raise Problem(409, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"call": call_id, "agent": body.agent, "to": body.to}


@router.get("/calls/{call_id}", summary="One live call")
async def call(call_id: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    return call_view(ctx.find_call(who, call_id), ctx.app.calls, ctx.app.wall)


@router.post("/calls/{call_id}/hangup", summary="End every leg of a call")
async def hangup(call_id: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    now = ctx.now()
    ctx.app.calls.hangup_call(c.id, now)
    ctx.app.sip.flush(now)
    return {"call": c.id, "state": "ended"}


@router.patch("/calls/{call_id}/data", summary="Merge attached data into a call")
async def set_data(call_id: str, body: dict[str, Any], ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    for key in body:
        if not key or len(key) > 64:
            raise Problem(
                422,
                f"{key!r}: a data key is 1 to 64 characters",
                errors=[{"field": key, "problem": "bad key"}],
            )
    if len(json.dumps(body, default=str)) > 16_384:
        raise Problem(413, "attached data is limited to 16 KiB per request")
    c.data.update(body)
    return {"call": c.id, "data": c.data}


@router.post("/calls/{call_id}/hold", summary="Put the customer on hold or take them off")
async def hold(call_id: str, body: HoldBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    leg = _customer_leg(ctx, c)
    now = ctx.now()
    ctx.app.calls.hold(leg, now, body.on)
    ctx.app.sip.flush(now)
    return {"call": c.id, "held": body.on}


@router.post("/calls/{call_id}/transfer", summary="Blind transfer of the customer")
async def transfer(call_id: str, body: TransferBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    customer = ctx.app.calls.leg(_customer_leg(ctx, c))
    if customer.peer is None:
        raise Problem(409, f"call {c.id!r} is not bridged: nothing to transfer from")
    now = ctx.now()
    ctx.app.calls.transfer(customer.peer, body.to, now)
    ctx.app.sip.flush(now)
    return {"call": c.id, "transferred_to": body.to}


@router.post("/calls/{call_id}/dtmf", summary="Send DTMF to the customer (RFC 4733)")
async def dtmf(call_id: str, body: DtmfBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    ctx.app.calls.send_dtmf(_customer_leg(ctx, c), body.digits.upper())
    return {"call": c.id, "digits": body.digits.upper()}


@router.post("/calls/{call_id}/recording", summary="Pause or resume the call's recording")
async def recording(call_id: str, body: RecordingBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    if not ctx.app.calls.pause_recording(c.id, body.paused):
        raise Problem(409, f"call {c.id!r} is not being recorded")
    return {"call": c.id, "recording": "paused" if body.paused else "on"}


@router.post(
    "/calls/{call_id}/disposition",
    summary="Wrap-up: the disposition code and notes onto the call's record",
)
async def disposition(call_id: str, body: DispositionBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    """For a live call or one that ended (the agent's wrap-up comes after the hang-up).
    An agent dispositions the calls they talked to; a supervisor those of their queues.
    The code must be one of the queue's ``dispositions`` when it lists any."""
    store = ctx.app.store
    record = store.cdr_of(call_id)
    if record is None:
        raise Problem(404, f"no call {call_id!r}")
    live = ctx.app.calls.calls.get(call_id)
    data = dict(live.data) if live is not None else _stored_data(record)
    owner = (live.agent if live is not None else None) or record.get("agent")
    talks = store.query(
        "SELECT agent, queue FROM queue_log WHERE call_id=? AND event='CONNECT' ORDER BY id",
        (call_id,),
    )
    campaign = ctx.app.config.campaigns.get(str(data.get("campaign", "")))
    if who.role == "agent":
        mine = [t for t in talks if t["agent"] == who.user]
        if not mine and owner != who.user:
            raise Problem(404, f"no call {call_id!r}")  # not theirs: no hint
        queue = mine[-1]["queue"] if mine else record.get("queue")
        agent = who.user
    else:
        queue = talks[-1]["queue"] if talks else record.get("queue")
        mine_to_see = who.sees_queue(queue) or (
            campaign is not None and campaign_runs(ctx, who, campaign)
        )
        if not mine_to_see:
            raise Problem(404, f"no call {call_id!r}")
        agent = talks[-1]["agent"] if talks else (owner or who.user)
    config = ctx.app.config.queues.get(queue or "")
    codes = (campaign.dispositions if campaign is not None else ()) or (
        config.dispositions if config is not None else ()
    )
    if codes and body.code not in codes:
        where = f"campaign {campaign.name!r}" if campaign and campaign.dispositions else ""
        raise Problem(
            422,
            f"code: {body.code!r} is not a disposition of {where or f'queue {queue!r}'} "
            f"({', '.join(codes)})",
            errors=[{"field": "code", "problem": "unknown code"}],
        )
    now = ctx.now()
    callback_at = body.callback_at.timestamp() if body.callback_at is not None else None
    if callback_at is not None and (campaign is None or "lead" not in data):
        raise Problem(
            422,
            "callback_at: only a campaign's call schedules its lead again",
            errors=[{"field": "callback_at", "problem": "not a campaign call"}],
        )
    if callback_at is not None and callback_at <= ctx.app.wall(now):
        raise Problem(
            422,
            "callback_at: must be in the future",
            errors=[{"field": "callback_at", "problem": "in the past"}],
        )
    store.wrap_up(
        call_id,
        agent=agent,
        code=body.code,
        notes=body.notes,
        queue=queue,
        at=ctx.app.wall(now),
    )
    if campaign is not None and "lead" in data:
        lead = str(data["lead"])
        try:
            ctx.app.campaigns.feed(Disposition(lead, body.code, body.notes, callback_at), now)
        except LocalProtocolError:
            log.info("disposition_unknown_lead", call=call_id, lead=lead)
        ctx.app.sip.flush(now)
    return {
        "call": call_id,
        "code": body.code,
        "notes": body.notes,
        "agent": agent,
        "callback_at": callback_at,
    }


def _stored_data(record: dict[str, Any]) -> dict[str, Any]:
    data = record.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}
