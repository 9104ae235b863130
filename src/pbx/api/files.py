"""``/api/voicemail`` and ``/api/recordings``: messages and call recordings.

An agent reaches their own mailbox (their extension) and the recordings of their own
calls; a supervisor their agents' mailboxes and their queues' recordings; an admin all.
Files are streamed from disk (never read into memory on the loop), and every download
and deletion is written to the store's ``audit`` table with who, when and what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from pbx.api.auth import Principal
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.history import Paged
from pbx.api.problems import Problem
from pbx.api.records import RecordQuery, query

router = APIRouter(prefix="/api", tags=["voicemail and recordings"])


class HeardBody(BaseModel):
    heard: bool = True


def _mailbox(ctx: ApiContext, who: Principal, mailbox: str) -> None:
    if who.role == "admin":
        return
    if who.role == "agent":
        if mailbox != who.user:
            raise Problem(403, "an agent reaches their own mailbox only")
        return
    if ctx.app.config.user(mailbox) is not None and who.sees_agent(
        mailbox, ctx.agent_queues(mailbox)
    ):
        return
    raise Problem(403, f"mailbox {mailbox!r} is not yours to see")


def _message(ctx: ApiContext, mailbox: str, message: int) -> dict[str, Any]:
    rows = ctx.app.store.query(
        "SELECT * FROM voicemail WHERE id=? AND mailbox=?", (message, mailbox)
    )
    if not rows:
        raise Problem(404, f"no message {message} in mailbox {mailbox!r}")
    return rows[0]


def _audit(ctx: ApiContext, who: Principal, action: str, resource: str, **detail: Any) -> None:
    ctx.app.store.audit(ctx.app.wall(ctx.now()), who.user, action, resource, detail)


@router.get("/voicemail/{mailbox}", summary="A mailbox's messages, newest first")
async def messages(mailbox: str, ctx: Ctx, who: Caller) -> list[dict[str, Any]]:
    _mailbox(ctx, who, mailbox)
    rows = ctx.app.voicemail.messages(mailbox)
    return [{**r, "heard": bool(r["heard"]), "path": None} for r in rows]


@router.get("/voicemail/{mailbox}/{message}/audio", summary="A message's audio (WAV)")
async def message_audio(mailbox: str, message: int, ctx: Ctx, who: Caller) -> FileResponse:
    _mailbox(ctx, who, mailbox)
    row = _message(ctx, mailbox, message)
    path = Path(row["path"])
    if not path.is_file():
        raise Problem(404, f"the audio of message {message} is gone")
    _audit(ctx, who, "download", f"voicemail:{message}", mailbox=mailbox)
    return FileResponse(path, media_type="audio/wav", filename=f"{mailbox}-{message}.wav")


@router.post("/voicemail/{mailbox}/{message}/heard", summary="Mark a message heard or new")
async def mark_heard(
    mailbox: str, message: int, body: HeardBody, ctx: Ctx, who: Caller
) -> dict[str, Any]:
    _mailbox(ctx, who, mailbox)
    _message(ctx, mailbox, message)
    now = ctx.now()
    ctx.app.voicemail.mark_heard(message, now, body.heard)
    ctx.app.sip.flush(now)
    return {"id": message, "heard": body.heard}


@router.delete("/voicemail/{mailbox}/{message}", summary="Delete a message and its audio")
async def delete_message(mailbox: str, message: int, ctx: Ctx, who: Caller) -> dict[str, Any]:
    _mailbox(ctx, who, mailbox)
    _message(ctx, mailbox, message)
    now = ctx.now()
    ctx.app.voicemail.delete(message, now, by=who.user)
    ctx.app.sip.flush(now)
    return {"id": message, "deleted": True}


def _recording(ctx: ApiContext, who: Principal, call_id: str) -> dict[str, Any]:
    rows = ctx.app.store.query(
        "SELECT * FROM cdr WHERE call_id=? AND recording IS NOT NULL", (call_id,)
    )
    if not rows:
        raise Problem(404, f"no recording of call {call_id!r}")
    row = rows[0]
    allowed = (
        who.role == "admin"
        or (who.role == "agent" and row["agent"] == who.user)
        or (who.role == "supervisor" and who.sees_queue(row["queue"]))
    )
    if not allowed:
        raise Problem(404, f"no recording of call {call_id!r}")
    return row


@router.get("/recordings", summary="Recorded calls by time, agent, queue, caller or call id")
async def recordings(
    ctx: Ctx, who: Caller, page: Paged, caller: str | None = None, call: str | None = None
) -> list[dict[str, Any]]:
    where = page.where(who, "start_time")
    where.append(("recording", ">=", ""))  # recorded calls only
    if caller is not None:
        where.append(("caller", "=", caller))
    if call is not None:
        where.append(("call_id", "=", call))
    found = await query(ctx.app.store.path, RecordQuery("cdr", where, page.limit, page.offset))
    return [
        {
            "call": r["call_id"],
            "start_time": r["start_time"],
            "talk_seconds": r["talk_seconds"],
            "caller": r["caller"],
            "did": r["did"],
            "queue": r["queue"],
            "agent": r["agent"],
        }
        for r in found
    ]


@router.get("/recordings/{call_id}/audio", summary="A call's recording (stereo WAV)")
async def recording_audio(call_id: str, ctx: Ctx, who: Caller) -> FileResponse:
    row = _recording(ctx, who, call_id)
    path = Path(row["recording"])
    if not path.is_file():
        raise Problem(404, f"the recording of call {call_id!r} is gone")
    _audit(ctx, who, "download", f"recording:{call_id}")
    return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")


@router.delete("/recordings/{call_id}", summary="Delete a call's recording")
async def delete_recording(call_id: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    if who.role == "agent":
        raise Problem(403, "supervisors and admins delete recordings")
    row = _recording(ctx, who, call_id)
    Path(row["recording"]).unlink(missing_ok=True)
    ctx.app.store.execute("UPDATE cdr SET recording=NULL WHERE call_id=?", (call_id,))
    _audit(ctx, who, "delete", f"recording:{call_id}", path=row["recording"])
    return {"call": call_id, "deleted": True}
