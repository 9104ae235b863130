"""Reading the store for reports: a read-only connection of its own, for another thread.

Reports read many rows; they must not hold up the loop that carries the calls. A
:class:`ReportReader` opens the database file read-only (``mode=ro``; WAL lets it read
while the pbx writes), with ``query_only`` set and an authorizer that allows reading and
nothing else, so a custom report's SQL cannot change a row whatever it says. Each query
is bounded in rows and time (a progress handler interrupts it).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pbx.reports.custom import CustomReport, ReportError

ALLOWED = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, 33}  # 33: RECURSIVE
)
"""What a report may do (sqlite3 authorizer action codes): read, call functions, recurse."""

MAX_ROWS = 10_000
"""Rows a custom report returns at most."""
MAX_SECONDS = 10.0
"""How long one report query may run."""

CDR_REPORT_COLUMNS = (
    "call_id, direction, trunk, did, caller, start_time, answer_time, end_time, "
    "talk_seconds, hold_seconds, disposition, agent, queue, data"
)


def _authorize(action: int, *args: object) -> int:
    return sqlite3.SQLITE_OK if action in ALLOWED else sqlite3.SQLITE_DENY


class ReportReader:
    """A read-only view of the store at ``path`` (use in a ``with`` block, one thread)."""

    def __init__(self, path: str | Path, *, max_seconds: float = MAX_SECONDS) -> None:
        self.path = str(path)
        self.max_seconds = max_seconds
        uri = Path(self.path).resolve().as_uri() + "?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise ReportError(f"store {self.path}: cannot open for reading: {exc}") from None
        self.db.execute("PRAGMA query_only=ON")
        self.db.set_authorizer(_authorize)
        self._deadline = math.inf
        self.db.set_progress_handler(self._progress, 10_000)

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    @contextmanager
    def _timed(self) -> Iterator[None]:
        self._deadline = time.monotonic() + self.max_seconds
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise ReportError(f"the query ran longer than {self.max_seconds:g} s") from None
            raise
        finally:
            self._deadline = math.inf

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ReportReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the rows the built-in reports read -------------------------------------------
    def queue_log(self, since: float, until: float) -> list[dict[str, Any]]:
        """Queue-log rows with ``since <= time < until`` (``data`` decoded), in order."""
        with self._timed():
            cur = self.db.execute(
                "SELECT id, time, call_id, queue, agent, event, data FROM queue_log "
                "WHERE time >= ? AND time < ? ORDER BY time, id",
                (since, until),
            )
            return [
                {
                    "id": r[0],
                    "time": r[1],
                    "call_id": r[2],
                    "queue": r[3],
                    "agent": r[4],
                    "event": r[5],
                    "data": _json(r[6]),
                }
                for r in cur
            ]

    def cdr(self, since: float, until: float, *, data: bool = True) -> list[dict[str, Any]]:
        """CDR rows of calls that started in ``[since, until)``."""
        names = [c.strip() for c in CDR_REPORT_COLUMNS.split(",")]
        with self._timed():
            cur = self.db.execute(
                f"SELECT {CDR_REPORT_COLUMNS} FROM cdr WHERE start_time >= ? AND start_time < ?",
                (since, until),
            )
            rows = [dict(zip(names, r, strict=True)) for r in cur]
        if data:
            for row in rows:
                row["data"] = _json(row["data"])
        return rows

    def leads(self, campaign: str | None = None) -> list[dict[str, Any]]:
        """Stored lead bodies (of one campaign)."""
        sql = "SELECT body FROM lead" + (" WHERE campaign=?" if campaign else "")
        with self._timed():
            cur = self.db.execute(sql, (campaign,) if campaign else ())
            return [_json(r[0]) for r in cur]

    # -- custom reports -----------------------------------------------------------------
    def run(
        self, report: CustomReport, values: Mapping[str, str], *, max_rows: int = MAX_ROWS
    ) -> tuple[list[str], list[list[Any]]]:
        """Run a custom report: its column names and up to ``max_rows`` rows."""
        params = report.bind(values)
        try:
            with self._timed():
                cur = self.db.execute(report.sql, params)
                columns = [d[0] for d in cur.description or ()]
                rows = [list(r) for r in cur.fetchmany(max_rows + 1)]
        except ReportError as exc:
            raise ReportError(f"report {report.name!r}: {exc}") from None
        except sqlite3.Error as exc:
            raise ReportError(f"report {report.name!r}: {exc}") from None
        if len(rows) > max_rows:
            raise ReportError(
                f"report {report.name!r}: more than {max_rows} rows; narrow it (LIMIT, WHERE)"
            )
        return columns, rows


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
