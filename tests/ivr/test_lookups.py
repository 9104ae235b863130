"""LookupService: Python functions, sqlite queries and HTTP endpoints (loopback only)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from pbx.ivr import Lookup, LookupFailed, LookupResult, LookupService, demo_balance


def test_demo_balance() -> None:
    assert demo_balance({"pin": "1234"}) == {"balance": "42.50"}
    assert demo_balance({"pin": "0000"}) == {}


def test_python_lookup() -> None:
    service = LookupService()
    service.register("demo_balance", demo_balance)
    action = Lookup("python", "demo_balance", {"pin": "1234"}, seq=7)
    assert service.perform(action) == LookupResult({"balance": "42.50"}, 7)
    assert service.perform(Lookup("python", "nope", seq=8)) == LookupFailed(
        "no lookup function 'nope'", 8
    )


def test_a_failing_function_becomes_lookup_failed() -> None:
    def broken(params: dict[str, object]) -> dict[str, object]:
        raise KeyError("account")

    service = LookupService(functions={"broken": broken})
    assert service.perform(Lookup("python", "broken", seq=1)) == LookupFailed(
        "KeyError: 'account'", 1
    )
    assert service.perform(Lookup("ldap", "x", seq=2)) == LookupFailed(
        "unknown lookup kind 'ldap'", 2
    )


def test_sql_lookup(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (phone TEXT, name TEXT, tier TEXT)")
        conn.execute("INSERT INTO customers VALUES ('5550100', 'Ann', 'gold')")
    conn.close()
    service = LookupService(databases={"crm": db})
    query = "SELECT name, tier FROM customers WHERE phone = :phone"
    found = service.perform(Lookup("sql", "crm", {"phone": "5550100"}, query=query, seq=1))
    assert found == LookupResult({"name": "Ann", "tier": "gold"}, 1)
    assert service.perform(Lookup("sql", "crm", {"phone": "1"}, query=query)) == LookupResult({}, 0)
    bad = service.perform(Lookup("sql", "crm", {}, query="SELECT * FROM nowhere"))
    assert bad == LookupFailed("OperationalError: no such table: nowhere", 0)
    # Read-only: a lookup cannot change the database.
    write = service.perform(Lookup("sql", "crm", {}, query="DELETE FROM customers"))
    assert write == LookupFailed("OperationalError: attempt to write a readonly database", 0)
    assert service.perform(Lookup("sql", "other", query=query)) == LookupFailed(
        "no database 'other'", 0
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        url = urlparse(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/customer" and params.get("phone") == "5550100":
            self._reply(200, json.dumps({"name": "Ann", "tier": "gold"}).encode())
        elif url.path == "/customer":
            self._reply(404, b"")
        elif url.path == "/broken":
            self._reply(500, b"oops")
        elif url.path == "/list":
            self._reply(200, b"[1, 2]")
        else:
            self._reply(200, b"<html>")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_lookup(http_base: str) -> None:
    service = LookupService()
    url = f"{http_base}/customer"
    assert service.perform(Lookup("http", url, {"phone": "5550100"}, 2.0, seq=3)) == (
        LookupResult({"name": "Ann", "tier": "gold"}, 3)
    )
    assert service.perform(Lookup("http", url, {"phone": "1"}, 2.0)) == LookupResult({}, 0)
    assert service.perform(Lookup("http", f"{http_base}/broken", {}, 2.0)) == LookupFailed(
        "HTTP 500 Internal Server Error", 0
    )
    assert service.perform(Lookup("http", f"{http_base}/list", {}, 2.0)) == LookupFailed(
        "the response is not a JSON object", 0
    )
    assert service.perform(Lookup("http", f"{http_base}/page", {}, 2.0)) == LookupFailed(
        "the response is not JSON", 0
    )


def test_http_lookup_unreachable() -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    result = LookupService().perform(Lookup("http", "http://127.0.0.1:9/x", {}, 1.0))
    assert isinstance(result, LookupFailed)
    assert result.reason.startswith("cannot reach http://127.0.0.1:9/x: ")
