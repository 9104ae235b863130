"""Custom reports: named SQL queries over the store, with typed parameters, run read-only.

In the configuration::

    [reports.custom.busiest-dids]
    title = "Busiest DIDs"
    sql = '''
        SELECT did, COUNT(*) AS calls, SUM(answer_time IS NOT NULL) AS answered
        FROM cdr WHERE start_time >= :from AND start_time < :to
        GROUP BY did ORDER BY calls DESC
    '''
    params = { from = "time", to = "time" }

A parameter is ``time`` (ISO 8601 in the request, epoch seconds in the query, like the
store's columns), ``number`` or ``text``. The SQL is one ``SELECT`` (or ``WITH … SELECT``)
statement whose ``:name`` parameters are exactly the declared ones; the store runs it on
a read-only connection that refuses anything but reading (see
:func:`pbx.store.readonly.run_report`). Every error names the report and the problem.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import frozen

PARAM_TYPES = ("time", "number", "text")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)


class ReportError(ValueError):
    """A custom report that cannot be defined or run; the message names the report."""


@frozen
class CustomReport:
    name: str
    sql: str
    params: Mapping[str, str]
    """Parameter name → ``time``, ``number`` or ``text``, in the order shown to users."""
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title or self.name,
            "params": [{"name": k, "type": v} for k, v in self.params.items()],
        }

    def bind(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The query's parameters from request strings; ReportError naming the field."""
        out: dict[str, Any] = {}
        for name, kind in self.params.items():
            text = values.get(name)
            if text is None or text == "":
                raise ReportError(f"report {self.name!r}: parameter {name!r} is missing")
            if kind == "time":
                try:
                    t = datetime.fromisoformat(text)
                except ValueError:
                    raise ReportError(
                        f"report {self.name!r}: parameter {name!r}: expected an ISO 8601 "
                        f"time, got {text!r}"
                    ) from None
                if t.tzinfo is None:
                    raise ReportError(
                        f"report {self.name!r}: parameter {name!r}: the time needs an "
                        "offset (like +00:00)"
                    )
                out[name] = t.timestamp()
            elif kind == "number":
                try:
                    out[name] = float(text)
                except ValueError:
                    raise ReportError(
                        f"report {self.name!r}: parameter {name!r}: expected a number, got {text!r}"
                    ) from None
            else:
                out[name] = text
        return out


def custom_report(name: str, sql: str, params: Mapping[str, str], title: str = "") -> CustomReport:
    """A checked :class:`CustomReport`; ReportError naming the report and the problem."""
    where = f"report {name!r}"
    for param, kind in params.items():
        if kind not in PARAM_TYPES:
            raise ReportError(
                f"{where}: parameter {param!r}: type must be one of {', '.join(PARAM_TYPES)}, "
                f"not {kind!r}"
            )
    check_sql(sql, where)
    bare = _STRINGS.sub(" ", sql)
    used = set(_NAMED.findall(bare))
    if "?" in bare:
        raise ReportError(f"{where}: use named parameters (:name), not '?'")
    missing = sorted(used - set(params))
    if missing:
        raise ReportError(f"{where}: the SQL uses undeclared parameter(s) {', '.join(missing)}")
    unused = sorted(set(params) - used)
    if unused:
        raise ReportError(f"{where}: declared parameter(s) {', '.join(unused)} not in the SQL")
    return CustomReport(name, sql.strip(), dict(params), title)


def check_sql(sql: str, where: str) -> None:
    """One complete ``SELECT``/``WITH`` statement, or ReportError."""
    text = sql.strip()
    if not text:
        raise ReportError(f"{where}: the SQL is empty")
    bare = _STRINGS.sub(" ", text).strip()
    first = bare.split(None, 1)[0].upper() if bare else ""
    if first not in ("SELECT", "WITH"):
        raise ReportError(f"{where}: only SELECT statements are allowed, not {first or text!r}")
    body = bare.rstrip().rstrip(";")
    if ";" in body:
        raise ReportError(f"{where}: one statement only (found ';' inside)")
    if not sqlite3.complete_statement(text if text.endswith(";") else text + ";"):
        raise ReportError(f"{where}: the SQL is not a complete statement")
