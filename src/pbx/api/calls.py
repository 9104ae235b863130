"""``/api/calls``: live calls, hang-up, attached data, hold, blind transfer."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from pbx.api.auth import Principal
from pbx.api.campaigns import runs as campaign_runs
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.api.records import RecordQuery, query
from pbx.api.views import call_view
from pbx.calls.manager import Call, CallError
from pbx.calls.targets import DialTo
from pbx.calls.transfer import module_target
from pbx.dialer.events import Disposition
from pbx.errors import LocalProtocolError
from pbx.sip.errors import SipParseError
from pbx.sip.uri import SipUri

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["calls"])


class TransferBody(BaseModel):
    to: str = Field(
        min_length=1,
        max_length=128,
        description="an extension, a number the dial plan knows, a sip: URI, or a module:"
        " queue:NAME, ivr:NAME, voicemail:BOX",
    )
    data: dict[str, Any] | None = Field(
        default=None,
        description="attached data merged into the call first: the next agent's screen pop",
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
        description="when to call the customer back (ISO time with zone): a campaign's"
        " lead is dialled again, an inbound caller gets a callback into the same queue",
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


HISTORY_FIELDS = (
    "call_id", "start_time", "direction", "did", "queue", "agent", "disposition",
    "talk_seconds", "wrap_code", "wrap_notes", "wrap_agent",
)  # fmt: skip


@router.get(
    "/calls/{call_id}/history",
    summary="The customer's earlier calls: from or to the same number, newest first",
)
async def history(call_id: str, ctx: Ctx, who: Caller, limit: int = 10) -> dict[str, Any]:
    """What the customer on a live call did before (the agent's card): their earlier
    calls with queue, agent, outcome and the wrap-up codes and notes, whoever took them.
    An agent may read it for a call offered to them, before they answer."""
    c = offered_call(ctx, who, call_id) or ctx.find_call(who, call_id)
    if not 1 <= limit <= 50:
        raise Problem(
            422, "limit: must be 1 to 50", errors=[{"field": "limit", "problem": "out of range"}]
        )
    number = customer_number(c)
    if not number:
        return {"call": c.id, "number": None, "calls": []}
    rows = await query(
        ctx.app.store.path,
        RecordQuery("cdr", [("caller", "=", number)], limit + 1, order="id DESC"),
    )
    earlier = [r for r in rows if r.get("call_id") != c.id][:limit]
    if c.direction == "outbound":  # a campaign's call: also the calls we placed to them
        where = [("callee", "=", number)]
        placed = await query(
            ctx.app.store.path, RecordQuery("cdr", where, limit + 1, order="id DESC")
        )
        earlier = sorted(
            [*earlier, *(r for r in placed if r.get("call_id") != c.id)],
            key=lambda r: r.get("start_time") or 0,
            reverse=True,
        )[:limit]
    return {
        "call": c.id,
        "number": number,
        "calls": [{k: r.get(k) for k in HISTORY_FIELDS} for r in earlier],
    }


def offered_call(ctx: ApiContext, who: Principal, call_id: str) -> Call | None:
    """The live call ``call_id`` if the ACD is offering it to the agent ``who``."""
    if who.role != "agent" or ctx.app.queues.distributor_agent(who.user) is None:
        return None
    offered = ctx.app.acd.agent(who.user).call
    if offered is None or offered.split(":")[0] != call_id:
        return None
    return ctx.app.calls.calls.get(call_id)


def customer_number(call: Call) -> str:
    """The customer's number: the caller's, or the number a call we placed dialled."""
    if call.origin == "api":
        return call.number
    return call.caller.number if call.caller is not None else ""


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
    _check_data(body, "")
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
    target = module_target(body.to)
    known = {
        "queue": ctx.app.config.queues,
        "ivr": ctx.app.config.ivr,
    }.get(target.kind if target is not None else "")
    if target is not None and known is not None and target.name not in known:
        raise Problem(
            422,
            f"to: no {target.kind} {target.name!r}",
            errors=[{"field": "to", "problem": f"unknown {target.kind}"}],
        )
    if body.data:
        _check_data(body.data, "data.")
        c.data.update(body.data)
    now = ctx.now()
    ctx.app.calls.transfer(customer.peer, body.to, now)
    ctx.app.sip.flush(now)
    return {"call": c.id, "transferred_to": body.to}


class ConsultBody(BaseModel):
    to: str = Field(
        min_length=1,
        max_length=128,
        description="whom to consult: an extension, a number the dial plan knows, a sip: URI",
    )


def _consult_target(ctx: ApiContext, who: Principal, c: Call, to: str) -> tuple[DialTo, str | None]:
    """Where a consultation goes, and the agent whose phone that is (if any)."""
    app = ctx.app
    now = ctx.now()
    if to.startswith("sip:"):
        try:
            return SipUri.parse(to), None
        except SipParseError:
            raise Problem(
                422, f"to: {to!r} is not a SIP URI", errors=[{"field": "to", "problem": "bad URI"}]
            ) from None
    if app.calls.registered(to, now):
        return to, app.queues.distributor_agent(to)
    caller = c.agent or (who.user if who.role == "agent" else "")
    match = app.calls.dialplan.resolve(origin="user", number=to, caller=caller)
    if match is None or match.target.kind not in ("extension", "trunk"):
        raise Problem(
            422,
            f"to: {to!r} is not a person to consult (an extension or a number)",
            errors=[{"field": "to", "problem": "not a person"}],
        )
    agent = match.target.name if match.target.kind == "extension" else None
    return match.target, app.queues.distributor_agent(agent) if agent else None


@router.post(
    "/calls/{call_id}/consult",
    summary="Attended transfer, step 1: hold the customer and call the target for the agent",
)
async def consult(call_id: str, body: ConsultBody, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    target, agent = _consult_target(ctx, who, c, body.to)
    now = ctx.now()
    try:
        leg = ctx.app.consultations.start(
            c.id, _customer_leg(ctx, c), target, body.to, now, agent=agent
        )
    except CallError as exc:
        raise Problem(409, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"call": c.id, "consulting": body.to, "leg": leg}


@router.post(
    "/calls/{call_id}/consult/complete",
    summary="Attended transfer, step 2: hand the customer over to the consulted party",
)
async def consult_complete(call_id: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    now = ctx.now()
    try:
        ctx.app.consultations.complete(c.id, now)
    except CallError as exc:
        raise Problem(409, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"call": c.id, "transferred": True}


@router.post(
    "/calls/{call_id}/consult/cancel",
    summary="End the consultation: the agent is back with the customer",
)
async def consult_cancel(call_id: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    c = ctx.find_call(who, call_id)
    now = ctx.now()
    try:
        ctx.app.consultations.cancel(c.id, now)
    except CallError as exc:
        raise Problem(409, str(exc)) from None
    ctx.app.sip.flush(now)
    return {"call": c.id, "transferred": False}


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
    is_lead = campaign is not None and "lead" in data
    number = str(record.get("caller") or "")
    if callback_at is not None and not is_lead and not (number and queue):
        raise Problem(
            422,
            "callback_at: this call has no caller number or queue to call back into",
            errors=[{"field": "callback_at", "problem": "nothing to call back"}],
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
    if callback_at is not None and not is_lead:
        # The customer of an inbound call: a stored callback into the same queue, dialled
        # at that time by the callback scheduler (over the [callbacks] trunk).
        store.callback_insert(
            {
                "number": number,
                "queue": queue,
                "requested": ctx.app.wall(now),
                "due": callback_at,
                "call_id": call_id,
                "data": {**data, "scheduled_by": agent, "notes": body.notes},
            }
        )
    if is_lead:
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


def _check_data(data: dict[str, Any], prefix: str) -> None:
    """Attached data from a client: keys of 1 to 64 characters, 16 KiB at most."""
    for key in data:
        if not key or len(key) > 64:
            raise Problem(
                422,
                f"{prefix}{key!r}: a data key is 1 to 64 characters",
                errors=[{"field": f"{prefix}{key}", "problem": "bad key"}],
            )
    if len(json.dumps(data, default=str)) > 16_384:
        raise Problem(413, "attached data is limited to 16 KiB per request")


def _stored_data(record: dict[str, Any]) -> dict[str, Any]:
    data = record.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}
