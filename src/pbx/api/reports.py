"""``/api/reports/*`` and ``/api/staffing``: the reports of :mod:`pbx.reports` over the
store, for a period and interval, as JSON or CSV.

Every report reads the store on a worker thread over a read-only connection of its own
(:class:`~pbx.store.readonly.ReportReader`) and computes there, so a year of records
never holds up a call. Times are ISO 8601: with an offset, or read in the reports' time
zone (``[reports] timezone``, else the server's). ``from`` defaults to today's local
midnight and ``to`` to now. A supervisor sees the queues (and their agents) that are
theirs; an agent their own agent report; an admin everything.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pbx.api.auth import Principal
from pbx.api.campaigns import find_campaign, runs
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.reports.agents import AGENT_FIELDS, agent_report
from pbx.reports.calls import BY, CALLS_FIELDS, calls_report, ivr_report
from pbx.reports.campaigns import CAMPAIGN_FIELDS, campaign_report
from pbx.reports.custom import ReportError
from pbx.reports.periods import Intervals, PeriodError, intervals
from pbx.reports.plan import STAFFING_FIELDS, members_of, staffing_plan
from pbx.reports.queues import QUEUE_FIELDS, QueueSettings, queue_report
from pbx.reports.service_level import AbandonTreatment
from pbx.store.readonly import ReportReader

router = APIRouter(prefix="/api", tags=["reports"])

T = TypeVar("T")

Interval = Annotated[
    Literal["15", "30", "60", "day", "week"],
    Query(description="15, 30 or 60 minutes, day or week"),
]
From = Annotated[
    str | None,
    Query(alias="from", description="ISO 8601 start (default: today's midnight)"),
]
To = Annotated[str | None, Query(alias="to", description="ISO 8601 end (default: now)")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: a spreadsheet's file")]
Treatment = Annotated[
    Literal["ignored", "against", "for"] | None,
    Query(description="abandons in the service level (default: [reports] treatment)"),
]
AFTER = 6 * 3600.0
"""Rows read past ``to``: calls that began in the period and ended after it."""
BEFORE = 24 * 3600.0
"""Rows read before ``from``: the agents' state when the period began."""


# ------------------------------------------------------------------ the period
def zone(ctx: ApiContext) -> tzinfo:
    name = ctx.app.config.reports.timezone
    if name:
        return ZoneInfo(name)
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def moment(value: str | None, name: str, tz: tzinfo, default: datetime) -> datetime:
    if value is None or value == "":
        return default
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(
            422,
            f"{name}: expected an ISO 8601 time, got {value!r}",
            errors=[{"field": name, "problem": "not a time"}],
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=tz)


def period(
    ctx: ApiContext, start: str | None, end: str | None, interval: str
) -> tuple[Intervals, tzinfo]:
    tz = zone(ctx)
    now = datetime.now(tz)
    first = moment(start, "from", tz, now.replace(hour=0, minute=0, second=0, microsecond=0))
    last = moment(end, "to", first.tzinfo or tz, max(now, first + timedelta(minutes=1)))
    try:
        return intervals(first, last, interval), first.tzinfo or tz
    except PeriodError as exc:
        raise Problem(422, str(exc), errors=[{"field": "interval", "problem": str(exc)}]) from None


def iso(t: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(t, tz).isoformat()


# ------------------------------------------------------------------ output
def shaped(rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        r = dict(row)
        for key in ("start", "end"):
            if isinstance(r.get(key), (int, float)):
                r[key] = iso(r[key], tz)
        out.append(r)
    return out


def reply(
    body: dict[str, Any], fields: Sequence[str], fmt: str, name: str
) -> dict[str, Any] | Response:
    """The report as JSON, or its rows and totals as CSV (``fields`` the columns)."""
    if fmt != "csv":
        return body
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", *fields])
    for kind in ("rows", "totals"):
        for row in body.get(kind, ()):
            cells = [row.get(f) for f in fields]
            writer.writerow(
                [
                    "total" if kind == "totals" else "interval",
                    *(json.dumps(c) if isinstance(c, (dict, list)) else c for c in cells),
                ]
            )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


async def off_loop(fn: Callable[[], T]) -> T:
    """Run a report on a worker thread; its errors as problems naming what failed."""
    try:
        return await asyncio.to_thread(fn)
    except ReportError as exc:
        raise Problem(422, str(exc)) from None
    except ValueError as exc:
        raise Problem(422, str(exc)) from None


def staff_or_self(who: Principal, agent: str | None) -> None:
    if who.role == "agent" and agent != who.user:
        raise Problem(403, "an agent sees their own report only (agent=your extension)")


def visible_queues(ctx: ApiContext, who: Principal, queue: str | None) -> list[str]:
    ctx.staff(who)
    known = sorted(ctx.app.config.queues)
    if queue is not None:
        if queue not in ctx.app.config.queues:
            raise Problem(404, f"no queue {queue!r}")
        if not who.sees_queue(queue):
            raise Problem(403, f"queue {queue!r} is not yours to see")
        return [queue]
    return [q for q in known if who.sees_queue(q)]


def settings(ctx: ApiContext) -> dict[str, QueueSettings]:
    short = ctx.app.config.reports.short_abandon
    return {
        name: QueueSettings(q.service_level_threshold, short)
        for name, q in ctx.app.config.queues.items()
    }


def treatment_of(ctx: ApiContext, value: str | None) -> AbandonTreatment:
    return AbandonTreatment(value or ctx.app.config.reports.treatment)


# ------------------------------------------------------------------ reports
@router.get(
    "/reports/queues",
    summary="Per queue and interval: offered, answered, abandoned, service level, ASA, AHT",
)
async def queues_report(
    ctx: Ctx,
    who: Caller,
    start: From = None,
    end: To = None,
    interval: Interval = "15",
    queue: str | None = None,
    treatment: Treatment = None,
    format: Format = "json",
) -> Any:
    span, tz = period(ctx, start, end, interval)
    names = visible_queues(ctx, who, queue)
    chosen = treatment_of(ctx, treatment)
    path, queue_settings = ctx.app.store.path, settings(ctx)

    def build() -> dict[str, Any]:
        with ReportReader(path) as reader:
            rows = reader.queue_log(span.start, span.end + AFTER)
        wanted = set(names)
        report = queue_report(
            (r for r in rows if r["queue"] in wanted),
            span,
            queue_settings,
            treatment=chosen,
            queues=names,
        )
        return {
            "from": iso(span.start, tz),
            "to": iso(span.end, tz),
            "interval": interval,
            "treatment": chosen.value,
            "rows": shaped((r.as_dict() for r in report.rows), tz),
            "totals": shaped((r.as_dict() for r in report.totals), tz),
        }

    return reply(await off_loop(build), QUEUE_FIELDS, format, "queues")


@router.get(
    "/reports/agents",
    summary="Per agent and interval: login, ready, talk, hold, wrap-up, pauses, occupancy",
)
async def agents_report(
    ctx: Ctx,
    who: Caller,
    start: From = None,
    end: To = None,
    interval: Interval = "60",
    agent: str | None = None,
    format: Format = "json",
) -> Any:
    span, tz = period(ctx, start, end, interval)
    staff_or_self(who, agent)
    if agent is not None:
        if who.role != "agent":
            ctx.find_agent(who, agent)
        agents = [agent]
    else:
        agents = [
            u.extension
            for u in ctx.app.config.users
            if u.queues and who.sees_agent(u.extension, u.queues)
        ]
    until = time.time()
    path = ctx.app.store.path

    def build() -> dict[str, Any]:
        with ReportReader(path) as reader:
            rows = reader.queue_log(span.start - BEFORE, span.end)
        wanted = set(agents)
        report = agent_report(
            (r for r in rows if r["agent"] in wanted), span, until=until, agents=agents
        )
        return {
            "from": iso(span.start, tz),
            "to": iso(span.end, tz),
            "interval": interval,
            "rows": shaped((r.as_dict() for r in report.rows), tz),
            "totals": shaped((r.as_dict() for r in report.totals), tz),
        }

    return reply(await off_loop(build), AGENT_FIELDS, format, "agents")


@router.get("/reports/calls", summary="Calls by trunk, DID or direction, per interval")
async def calls_by(
    ctx: Ctx,
    who: Caller,
    by: Annotated[Literal["trunk", "did", "direction"], Query(description=", ".join(BY))],
    start: From = None,
    end: To = None,
    interval: Interval = "60",
    format: Format = "json",
) -> Any:
    ctx.staff(who)
    if not who.all_queues:
        raise Problem(403, "calls across trunks are for admins and all-queue supervisors")
    span, tz = period(ctx, start, end, interval)
    path = ctx.app.store.path

    def build() -> dict[str, Any]:
        with ReportReader(path) as reader:
            rows = reader.cdr(span.start, span.end, data=False)
        report = calls_report(rows, span, by)
        return {
            "from": iso(span.start, tz),
            "to": iso(span.end, tz),
            "interval": interval,
            "by": by,
            "rows": shaped((r.as_dict() for r in report.rows), tz),
            "totals": shaped((r.as_dict() for r in report.totals), tz),
        }

    return reply(await off_loop(build), CALLS_FIELDS, format, f"calls-by-{by}")


@router.get("/reports/ivr", summary="IVR containment and drop-off by node")
async def ivr(
    ctx: Ctx, who: Caller, start: From = None, end: To = None, format: Format = "json"
) -> Any:
    ctx.staff(who)
    span, tz = period(ctx, start, end, "day")
    path = ctx.app.store.path

    def build() -> dict[str, Any]:
        with ReportReader(path) as reader:
            rows = reader.cdr(span.start, span.end)
        body = ivr_report(rows, span.start, span.end).as_dict()
        return {"from": iso(span.start, tz), "to": iso(span.end, tz), **body}

    return reply(
        await off_loop(build), ("node", "visits", "dropped", "contained", "routed"), format, "ivr"
    )


@router.get(
    "/reports/campaigns",
    summary="Per campaign and interval: attempts, contacts, answer rate, AMD, abandons",
)
async def campaigns_report(
    ctx: Ctx,
    who: Caller,
    start: From = None,
    end: To = None,
    interval: Interval = "60",
    campaign: str | None = None,
    format: Format = "json",
) -> Any:
    ctx.staff(who)
    if campaign is not None:
        names = [find_campaign(ctx, who, campaign)]
    else:
        names = [name for name, c in sorted(ctx.app.config.campaigns.items()) if runs(ctx, who, c)]
    span, tz = period(ctx, start, end, interval)
    path = ctx.app.store.path

    def build() -> dict[str, Any]:
        with ReportReader(path) as reader:
            leads = [lead for lead in reader.leads(campaign) if lead.get("campaign") in names]
        report = campaign_report(leads, span, campaigns=names)
        return {
            "from": iso(span.start, tz),
            "to": iso(span.end, tz),
            "interval": interval,
            "rows": shaped((r.as_dict() for r in report.rows), tz),
            "totals": shaped((r.as_dict() for r in report.totals), tz),
        }

    return reply(await off_loop(build), CAMPAIGN_FIELDS, format, "campaigns")


@router.get("/reports/custom", summary="The configured custom reports and their parameters")
async def custom_list(ctx: Ctx, who: Caller) -> dict[str, Any]:
    ctx.staff(who)
    return {"reports": [r.as_dict() for r in ctx.app.config.reports.custom.values()]}


@router.get("/reports/custom/{name}", summary="Run a custom report (read-only SQL)")
async def custom_run(
    ctx: Ctx, who: Caller, name: str, request: Request, format: Format = "json"
) -> Any:
    """The report's parameters are query parameters by their names (``time`` ones in
    ISO 8601)."""
    ctx.staff(who)
    if who.role != "admin" and not who.all_queues:
        raise Problem(403, "custom reports read every record: admins and all-queue supervisors")
    report = ctx.app.config.reports.custom.get(name)
    if report is None:
        raise Problem(404, f"no custom report {name!r}")
    values = {k: v for k, v in request.query_params.items() if k != "format"}
    path = ctx.app.store.path

    def build() -> tuple[list[str], list[list[Any]]]:
        with ReportReader(path) as reader:
            return reader.run(report, values)

    columns, rows = await off_loop(build)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(rows)
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return {"name": name, "title": report.title or name, "columns": columns, "rows": rows}


@router.get(
    "/staffing",
    summary="A day per interval: calls, handle time, patience, agents staffed and needed",
)
async def staffing(
    ctx: Ctx,
    who: Caller,
    queue: str,
    date: str | None = None,
    interval: Annotated[Literal["15", "30", "60"], Query()] = "30",
    target: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    threshold: Annotated[float | None, Query(ge=0)] = None,
    shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0.3,
    format: Format = "json",
) -> Any:
    [name] = visible_queues(ctx, who, queue)
    tz = zone(ctx)
    try:
        day = datetime.fromisoformat(date).date() if date else datetime.now(tz).date()
    except ValueError:
        raise Problem(
            422,
            f"date: expected YYYY-MM-DD, got {date!r}",
            errors=[{"field": "date", "problem": "not a date"}],
        ) from None
    first = datetime(day.year, day.month, day.day, tzinfo=tz)
    span = intervals(first, first + timedelta(days=1), interval)
    config = ctx.app.config
    sl = threshold if threshold is not None else config.queues[name].service_level_threshold
    members = members_of(config.users, name)
    path, queue_settings = ctx.app.store.path, settings(ctx)

    def build() -> dict[str, Any]:
        with ReportReader(path) as reader:
            rows = reader.queue_log(span.start - BEFORE, span.end + AFTER)
        queue_rows = queue_report(
            (r for r in rows if r["queue"] == name), span, queue_settings, queues=[name]
        ).rows
        agent_rows = agent_report(
            (r for r in rows if r["agent"] in set(members)),
            span,
            until=time.time(),
            agents=members,
        ).rows
        plan = staffing_plan(
            queue_rows, agent_rows, members, target=target, threshold=sl, shrinkage=shrinkage
        )
        return {
            "queue": name,
            "date": day.isoformat(),
            "target": target,
            "threshold": sl,
            "shrinkage": shrinkage,
            "rows": shaped((p.as_dict() for p in plan), tz),
        }

    return reply(await off_loop(build), STAFFING_FIELDS, format, f"staffing-{name}")
