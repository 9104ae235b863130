"""Reading the store's records for the API, off the event loop.

Queries run on a worker thread over their own read-only SQLite connection (WAL lets
readers run beside the writer), so a large CDR query never holds up SIP or media.
Filters are whitelisted columns and parameters, never SQL from the client.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from attrs import frozen


@frozen
class RecordQuery:
    """A page of rows of one table, filtered."""

    table: str
    where: Sequence[tuple[str, str, Any]] = ()
    """(column, operator, value) with operator one of ``=``, ``>=``, ``<``, ``in`` (a
    tuple of values)."""
    limit: int = 100
    offset: int = 0
    order: str = "id"


TABLES = {"cdr", "queue_log", "voicemail", "callback"}
OPERATORS = {"=", ">=", "<", "in"}


def run_query(path: str, q: RecordQuery) -> list[dict[str, Any]]:
    """The rows (blocking; JSON ``data`` decoded)."""
    if q.table not in TABLES:
        raise ValueError(f"unknown table {q.table!r}")
    clauses, params = [], []
    for column, op, value in q.where:
        if op not in OPERATORS or not column.isidentifier():
            raise ValueError(f"bad filter {column} {op}")
        if op == "in":
            values = list(value)
            clauses.append(f"{column} IN ({', '.join('?' for _ in values)})" if values else "0")
            params += values
        else:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    sql = f"SELECT * FROM {q.table} WHERE {' AND '.join(clauses) or '1'}"
    sql += f" ORDER BY {q.order} LIMIT ? OFFSET ?"
    params += [q.limit, q.offset]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute(sql, params).fetchall()]
    finally:
        db.close()
    for row in rows:
        if isinstance(row.get("data"), str):
            try:
                row["data"] = json.loads(row["data"])
            except ValueError:
                pass
    return rows


async def query(path: str, q: RecordQuery) -> list[dict[str, Any]]:
    """The rows, read on a worker thread."""
    return await asyncio.to_thread(run_query, path, q)
