"""Carrying out a :class:`~pbx.ivr.actions.Lookup` — for the shell, off the event loop.

Theory of operation: the runner only asks (``Lookup(kind, name, params, timeout)``)
and waits for the answer; :class:`LookupService` is what the shell calls in a worker
thread (``loop.run_in_executor``) to get it.  It is plain blocking code with the
standard library:

* ``python`` — a function registered under ``name``: ``fn(params) -> dict | None``;
* ``http`` — a GET of the URL ``name`` with the parameters as the query string
  (``urllib``, ``timeout`` seconds); a JSON object is the result, 404 is "not found";
* ``sql`` — the query with ``:name`` parameters against the sqlite database configured
  under ``name``, opened read-only; the first row is the result (no row: not found).

Every failure becomes :class:`~pbx.ivr.events.LookupFailed` with one sentence, never
an exception, so a broken backend sends the caller down the node's error branch.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from attrs import define, field

from pbx.ivr.actions import Lookup
from pbx.ivr.events import LookupFailed, LookupResult

__all__ = ["DEMO_ACCOUNTS", "LookupFunction", "LookupService", "demo_balance"]

log = structlog.get_logger(__name__)

#: A registered lookup: the lookup's parameters in, the fields found out (None/{}: none).
LookupFunction = Callable[[dict[str, object]], Mapping[str, object] | None]
Opener = Callable[..., Any]

#: The example call center's demo accounts: PIN → balance.
DEMO_ACCOUNTS = {"1234": "42.50", "5678": "1021.00"}


def demo_balance(params: dict[str, object]) -> dict[str, object]:
    """The example's ``demo_balance`` lookup: ``{"pin": "1234"}`` → ``{"balance": "42.50"}``."""
    balance = DEMO_ACCOUNTS.get(str(params.get("pin", "")))
    return {"balance": balance} if balance is not None else {}


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


@define
class LookupService:
    """Registered functions and databases; :meth:`perform` answers a Lookup action."""

    functions: dict[str, LookupFunction] = field(factory=dict)
    #: Database name → sqlite file path.
    databases: dict[str, str | Path] = field(factory=dict)
    #: ``urllib.request.urlopen`` or a replacement with its signature.
    opener: Opener = field(default=urllib.request.urlopen)

    def register(self, name: str, function: LookupFunction) -> None:
        """Make ``function`` available to ``python`` lookups as ``name``."""
        self.functions[name] = function

    def perform(self, action: Lookup) -> LookupResult | LookupFailed:
        """Run the lookup (blocking); the event to hand back to the runner."""
        try:
            if action.kind == "python":
                return self._python(action)
            if action.kind == "http":
                return self._http(action)
            if action.kind == "sql":
                return self._sql(action)
            return LookupFailed(f"unknown lookup kind '{action.kind}'", action.seq)
        except Exception as exc:  # a lookup backend must never take the call down
            log.warning("ivr_lookup_error", kind=action.kind, name=action.name, error=repr(exc))
            return LookupFailed(f"{type(exc).__name__}: {exc}", action.seq)

    def _python(self, action: Lookup) -> LookupResult | LookupFailed:
        function = self.functions.get(action.name)
        if function is None:
            return LookupFailed(f"no lookup function '{action.name}'", action.seq)
        found = function(dict(action.params)) or {}
        return LookupResult({k: _plain(v) for k, v in found.items()}, action.seq)

    def _http(self, action: Lookup) -> LookupResult | LookupFailed:
        query = urllib.parse.urlencode(
            {k: "" if v is None else v for k, v in action.params.items()}
        )
        url = action.name + (("&" if "?" in action.name else "?") + query if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with self.opener(request, timeout=action.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return LookupResult({}, action.seq)
            return LookupFailed(f"HTTP {exc.code} {exc.reason}", action.seq)
        except urllib.error.URLError as exc:
            return LookupFailed(f"cannot reach {action.name}: {exc.reason}", action.seq)
        try:
            found = json.loads(body) if body.strip() else {}
        except ValueError:
            return LookupFailed("the response is not JSON", action.seq)
        if not isinstance(found, dict):
            return LookupFailed("the response is not a JSON object", action.seq)
        return LookupResult(found, action.seq)

    def _sql(self, action: Lookup) -> LookupResult | LookupFailed:
        path = self.databases.get(action.name)
        if path is None:
            return LookupFailed(f"no database '{action.name}'", action.seq)
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=action.timeout)
        try:
            conn.row_factory = sqlite3.Row
            row = conn.execute(action.query, dict(action.params)).fetchone()
        finally:
            conn.close()
        if row is None:
            return LookupResult({}, action.seq)
        return LookupResult({k: row[k] for k in row.keys()}, action.seq)
