"""``/api/cdr`` and ``/api/queue-log``: the records, filtered, paged, read off the loop.

An agent reads their own rows only; a supervisor the rows of their queues (all of them,
or the one named with ``queue=``); an admin any.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from pbx.api.auth import Principal
from pbx.api.context import ApiContext, Caller, Ctx
from pbx.api.problems import Problem
from pbx.api.records import RecordQuery, query

router = APIRouter(prefix="/api", tags=["records"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


def when(value: str | None, name: str) -> float | None:
    """An ISO 8601 time or epoch seconds from a query parameter."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise Problem(
            422,
            f"{name}: expected an ISO 8601 time or epoch seconds, got {value!r}",
            errors=[{"field": name, "problem": "not a time"}],
        ) from None


def filters(
    who: Principal,
    since: str | None,
    until: str | None,
    queue: str | None,
    agent: str | None,
    time_column: str,
) -> list[tuple[str, str, Any]]:
    """The WHERE terms for ``who``'s query, its scope enforced."""
    if who.role == "agent":
        if agent not in (None, who.user):
            raise Problem(403, "an agent sees their own records only")
        agent = who.user
    elif queue is not None and not who.sees_queue(queue):
        raise Problem(403, f"queue {queue!r} is not yours to see")
    where: list[tuple[str, str, Any]] = []
    if queue is None and who.role != "agent" and not who.all_queues:
        where.append(("queue", "in", tuple(sorted(who.queues))))
    if (start := when(since, "since")) is not None:
        where.append((time_column, ">=", start))
    if (end := when(until, "until")) is not None:
        where.append((time_column, "<", end))
    if queue is not None:
        where.append(("queue", "=", queue))
    if agent is not None:
        where.append(("agent", "=", agent))
    return where


Format = Annotated[Literal["json", "csv"], Query(description="csv: a spreadsheet's file")]


def as_csv(rows: list[dict[str, Any]], name: str) -> Response:
    """Rows as CSV (attached data as JSON in its column)."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}
            )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


class Page:
    """The filters and page every record query takes (a FastAPI dependency)."""

    def __init__(
        self,
        since: str | None = None,
        until: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> None:
        self.since, self.until, self.queue, self.agent = since, until, queue, agent
        self.limit, self.offset = limit, offset

    def where(self, who: Principal, time_column: str) -> list[tuple[str, str, Any]]:
        return filters(who, self.since, self.until, self.queue, self.agent, time_column)


Paged = Annotated[Page, Depends()]


async def rows(
    ctx: ApiContext, who: Principal, page: Page, table: str, time_column: str
) -> list[dict[str, Any]]:
    """One page of ``table`` as ``who`` may read it, off the loop."""
    where = page.where(who, time_column)
    return await query(ctx.app.store.path, RecordQuery(table, where, page.limit, page.offset))


@router.get("/cdr", summary="Call detail records, filtered and paged (JSON or CSV)")
async def cdr(ctx: Ctx, who: Caller, page: Paged, format: Format = "json") -> Any:
    found = await rows(ctx, who, page, "cdr", "start_time")
    return as_csv(found, "cdr") if format == "csv" else found


@router.get("/queue-log", summary="Queue and agent events, filtered and paged (JSON or CSV)")
async def queue_log(ctx: Ctx, who: Caller, page: Paged, format: Format = "json") -> Any:
    found = await rows(ctx, who, page, "queue_log", "time")
    return as_csv(found, "queue-log") if format == "csv" else found
