"""The SQLite store (stdlib sqlite3, WAL): schema, migrations, crash recovery.

Every write is its own committed transaction, made when the state change is made, so a
crash of the process loses nothing that was reported (WAL with ``synchronous=NORMAL``
survives a killed process; ``durable=True`` selects ``FULL`` for power loss too).
Migrations are a list of SQL scripts; ``PRAGMA user_version`` says how many ran. On open,
CDR rows still marked ``in_progress`` belong to calls a crash interrupted: in one
transaction they are closed with disposition ``interrupted`` and completed from what the
store and the recordings directory know — end time, agent, queue, the recovered
recording — and each queue visit they left open gets its closing queue-log event
(``ABANDON`` or ``COMPLETEINTERRUPTED`` with reason ``interrupted``; see
:mod:`pbx.store.recovery`). A row once completed has an end time, so a second open
changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from pbx.errors import ConfigError
from pbx.store.recovery import (
    Completion,
    InterruptedCall,
    LogRow,
    close_agent_sessions,
    complete_call,
    find_recording,
)

log = structlog.get_logger(__name__)

MIGRATIONS: list[str] = [
    # 1: call detail records and the queue/agent event log
    """
    CREATE TABLE cdr (
        id            INTEGER PRIMARY KEY,
        call_id       TEXT NOT NULL,
        sip_call_id   TEXT,
        direction     TEXT NOT NULL,
        trunk         TEXT,
        did           TEXT,
        caller        TEXT,
        caller_name   TEXT,
        callee        TEXT,
        start_time    REAL NOT NULL,
        answer_time   REAL,
        end_time      REAL,
        ring_seconds  REAL,
        talk_seconds  REAL,
        hold_seconds  REAL,
        disposition   TEXT NOT NULL,
        hangup_side   TEXT,
        hangup_cause  TEXT,
        agent         TEXT,
        queue         TEXT,
        recording     TEXT,
        data          TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX cdr_start ON cdr (start_time);
    CREATE INDEX cdr_call ON cdr (call_id);
    CREATE TABLE queue_log (
        id        INTEGER PRIMARY KEY,
        time      REAL NOT NULL,
        call_id   TEXT,
        queue     TEXT,
        agent     TEXT,
        event     TEXT NOT NULL,
        data      TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX queue_log_time ON queue_log (time);
    CREATE INDEX queue_log_call ON queue_log (call_id);
    """,
    # 2: voicemail messages and callback requests
    """
    CREATE TABLE voicemail (
        id        INTEGER PRIMARY KEY,
        mailbox   TEXT NOT NULL,
        caller    TEXT,
        time      REAL NOT NULL,
        seconds   REAL NOT NULL,
        path      TEXT NOT NULL,
        heard     INTEGER NOT NULL DEFAULT 0,
        call_id   TEXT
    );
    CREATE INDEX voicemail_box ON voicemail (mailbox);
    CREATE TABLE callback (
        id          INTEGER PRIMARY KEY,
        number      TEXT NOT NULL,
        queue       TEXT,
        requested   REAL NOT NULL,
        due         REAL NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending',
        attempts    INTEGER NOT NULL DEFAULT 0,
        call_id     TEXT,
        data        TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX callback_due ON callback (status, due);
    """,
    # 2: the webhook outbox (at-least-once delivery across restarts).
    """
    CREATE TABLE webhook_outbox (
        id          INTEGER PRIMARY KEY,
        hook        TEXT NOT NULL,
        event       TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        key         TEXT NOT NULL UNIQUE,
        body        TEXT NOT NULL,
        created     REAL NOT NULL,
        due         REAL NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        status      TEXT NOT NULL DEFAULT 'pending',
        last_error  TEXT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (status, due);
    """,
    # 3: who listened to or deleted which recording or message.
    """
    CREATE TABLE audit (
        id        INTEGER PRIMARY KEY,
        time      REAL NOT NULL,
        user      TEXT NOT NULL,
        action    TEXT NOT NULL,
        resource  TEXT NOT NULL,
        detail    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_time ON audit (time);
    """,
    # 4: outbound campaigns: every lead as the dialer holds it, and each campaign's state.
    """
    CREATE TABLE lead (
        id          TEXT PRIMARY KEY,
        campaign    TEXT NOT NULL,
        phone       TEXT NOT NULL,
        state       TEXT NOT NULL,
        disposition TEXT,
        body        TEXT NOT NULL
    );
    CREATE INDEX lead_campaign ON lead (campaign, state);
    CREATE TABLE campaign_state (
        name     TEXT PRIMARY KEY,
        state    TEXT NOT NULL,
        updated  REAL NOT NULL
    );
    """,
    # 6: do-not-call changes made at run time (the API), applied over the configured
    # lists at every start
    """
    CREATE TABLE dnc_change (
        list    TEXT NOT NULL,
        number  TEXT NOT NULL,
        listed  INTEGER NOT NULL,
        updated REAL NOT NULL,
        user    TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (list, number)
    );
    """,
    # 7: the agent's wrap-up of a call: disposition code and notes.
    """
    ALTER TABLE cdr ADD COLUMN wrap_code TEXT;
    ALTER TABLE cdr ADD COLUMN wrap_notes TEXT;
    ALTER TABLE cdr ADD COLUMN wrap_agent TEXT;
    """,
    # 8: a customer's earlier calls (the agent's card) found by number, not by a scan.
    """
    CREATE INDEX cdr_caller ON cdr (caller);
    CREATE INDEX cdr_callee ON cdr (callee);
    """,
    # 9: agents' queue memberships and skills changed at run time (over the config).
    """
    CREATE TABLE agent_profile (
        agent   TEXT PRIMARY KEY,
        queues  TEXT NOT NULL,
        skills  TEXT NOT NULL,
        updated REAL NOT NULL,
        user    TEXT NOT NULL DEFAULT ''
    );
    """,
]

CDR_COLUMNS = frozenset(
    {
        "call_id", "sip_call_id", "direction", "trunk", "did", "caller", "caller_name",
        "callee", "start_time", "answer_time", "end_time", "ring_seconds", "talk_seconds",
        "hold_seconds", "disposition", "hangup_side", "hangup_cause", "agent", "queue",
        "recording", "data", "wrap_code", "wrap_notes", "wrap_agent",
    }
)  # fmt: skip


class Store:
    """One SQLite database file; safe to use from the loop's thread only."""

    def __init__(
        self, path: str | Path, *, durable: bool = False, recordings: str | Path | None = None
    ) -> None:
        """Open (and create, migrate, recover) the database at ``path``.

        ``recordings``: the directory the call manager records calls to, where the
        recordings of interrupted calls are looked for (their ``.part`` recovered).
        """
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ConfigError(f"store {self.path}: cannot open: {exc}") from None
        self.db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        #: How many agent sessions (per queue) the crash left open and this open closed.
        self.sessions_closed = 0
        #: How many interrupted calls this open completed.
        self.interrupted = self._recover(None if recordings is None else Path(recordings))

    # -- schema ------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise ConfigError(
                f"store {self.path}: schema version {version} is newer than this pbx "
                f"({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self.db.execute("BEGIN")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self.db.execute("ROLLBACK")
                raise
            log.info("store_migrated", path=self.path, version=number)

    def _recover(self, recordings: Path | None) -> int:
        """Complete the records of the calls a crash interrupted; return how many.

        One transaction: every CDR row still in progress (or left ``interrupted`` without
        an end time) gets its end time, agent, queue and recording, and every queue visit
        of those calls with no outcome its closing event.
        """
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                done = [self._complete(call, recordings) for call in self._interrupted_calls()]
                for completion in done:
                    self._write_completion(completion)
                sessions = self._open_sessions()
                for row in sessions:
                    self._insert_log_row(row)
                self.sessions_closed = len(sessions)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        if sessions:
            log.warning("store_interrupted_sessions", count=len(sessions))
        if done:
            log.warning(
                "store_interrupted_calls",
                count=len(done),
                agents=sum(1 for c in done if c.values.get("agent")),
                recordings=sum(1 for c in done if c.values.get("recording")),
                queue_abandoned=sum(c.abandoned for c in done),
                queue_completed=sum(c.completed for c in done),
            )
        return len(done)

    def _interrupted_calls(self) -> list[InterruptedCall]:
        rows = self.db.execute(
            "SELECT id, call_id, start_time, answer_time, agent, queue, recording, "
            "ring_seconds, talk_seconds FROM cdr WHERE disposition='in_progress' "
            "OR (disposition='interrupted' AND end_time IS NULL) ORDER BY id"
        ).fetchall()
        return [
            InterruptedCall(
                row=r["id"],
                call_id=r["call_id"],
                start_time=r["start_time"],
                answer_time=r["answer_time"],
                agent=r["agent"],
                queue=r["queue"],
                recording=r["recording"],
                ring_seconds=r["ring_seconds"],
                talk_seconds=r["talk_seconds"],
            )
            for r in rows
        ]

    def _complete(self, call: InterruptedCall, recordings: Path | None) -> Completion:
        # The call's rows, and those an overflow logged as "<call id>:<queue>".
        rows = self.db.execute(
            "SELECT time, event, call_id, queue, agent, data FROM queue_log "
            "WHERE call_id=? OR (call_id>=? AND call_id<?) ORDER BY id",
            (call.call_id, call.call_id + ":", call.call_id + ";"),
        ).fetchall()
        events = [
            LogRow(r["time"], r["event"], r["call_id"], r["queue"], r["agent"], _json(r["data"]))
            for r in rows
            if r["call_id"] == call.call_id or r["call_id"] == f"{call.call_id}:{r['queue']}"
        ]
        recording = find_recording(recordings, call.call_id, call.recording)
        return complete_call(call, events, recording)

    def _write_completion(self, completion: Completion) -> None:
        values = _cdr_values(completion.values)
        sets = ", ".join(f"{k}=?" for k in values)
        self.db.execute(
            f"UPDATE cdr SET {sets} WHERE id=?", (*_params(values.values()), completion.row)
        )
        for e in completion.events:
            self._insert_log_row(e)

    def _insert_log_row(self, e: LogRow) -> None:
        self.db.execute(
            "INSERT INTO queue_log (time, call_id, queue, agent, event, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            _params((e.time, e.call_id, e.queue, e.agent, e.event, json.dumps(dict(e.data)))),
        )

    def _open_sessions(self, at: float | None = None, reason: str = "interrupted") -> list[LogRow]:
        """AGENTLOGOFF rows for the agents' sessions left open, at ``at`` — by default,
        after a crash, the last moment the store knows of (computed after the calls were
        completed, so their closing rows count)."""
        rows = self.db.execute(
            "SELECT time, event, call_id, queue, agent FROM queue_log "
            "WHERE event IN ('AGENTLOGIN', 'AGENTLOGOFF') ORDER BY id"
        ).fetchall()
        if not rows:
            return []
        if at is None:
            last = self.db.execute(
                "SELECT MAX(t) FROM (SELECT MAX(time) AS t FROM queue_log "
                "UNION ALL SELECT MAX(COALESCE(end_time, answer_time, start_time)) FROM cdr)"
            ).fetchone()[0]
            at = float(last or 0.0)
        return close_agent_sessions(
            (LogRow(r["time"], r["event"], r["call_id"], r["queue"], r["agent"]) for r in rows),
            at,
            reason,
        )

    def close_sessions(self, at: float, reason: str = "shutdown") -> int:
        """Log every agent still logged in off at ``at`` (wall clock) with ``reason``, in
        one transaction — a clean stop, so the next start finds no session open."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                sessions = self._open_sessions(at, reason)
                for row in sessions:
                    self._insert_log_row(row)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        if sessions:
            log.info("store_sessions_closed", count=len(sessions), reason=reason)
        return len(sessions)

    @property
    def version(self) -> int:
        """The schema version."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- writes ------------------------------------------------------------------------
    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            cur = self.db.execute(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})", _params(values.values())
            )
        return int(cur.lastrowid or 0)

    def cdr_insert(self, values: Mapping[str, Any]) -> int:
        """Insert a CDR row (``data`` may be a mapping: it is stored as JSON)."""
        return self._insert("cdr", _cdr_values(values))

    def cdr_update(self, row: int, values: Mapping[str, Any]) -> None:
        """Update columns of CDR row ``row``."""
        clean = _cdr_values(values)
        if not clean:
            return
        sets = ", ".join(f"{k}=?" for k in clean)
        with self._lock:
            self.db.execute(f"UPDATE cdr SET {sets} WHERE id=?", (*_params(clean.values()), row))

    def queue_log(
        self,
        time: float,
        event: str,
        *,
        call_id: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one queue/agent event (ENTERQUEUE, CONNECT, RINGNOANSWER, PAUSE ...;
        crash recovery adds COMPLETEINTERRUPTED, see :mod:`pbx.store.recovery`)."""
        return self._insert(
            "queue_log",
            {
                "time": time,
                "call_id": call_id,
                "queue": queue,
                "agent": agent,
                "event": event,
                "data": json.dumps(dict(data or {}), default=str),
            },
        )

    def voicemail_insert(self, values: Mapping[str, Any]) -> int:
        """Record a voicemail message."""
        return self._insert("voicemail", values)

    def lead_save(self, body: Mapping[str, Any]) -> None:
        """Store a lead as the dialer now holds it (replacing what was stored)."""
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO lead (id, campaign, phone, state, disposition, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                _params(
                    (
                        body["id"],
                        body["campaign"],
                        body["phone"],
                        body["state"],
                        body.get("disposition"),
                        json.dumps(dict(body), default=str),
                    )
                ),
            )

    def leads_save(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Store many leads at once (an import): all of them, or none."""
        rows = [
            _params(
                (
                    b["id"],
                    b["campaign"],
                    b["phone"],
                    b["state"],
                    b.get("disposition"),
                    json.dumps(dict(b), default=str),
                )
            )
            for b in bodies
        ]
        with self._lock:
            self.db.execute("BEGIN")
            try:
                self.db.executemany(
                    "INSERT OR REPLACE INTO lead (id, campaign, phone, state, disposition, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def leads(self, campaign: str | None = None) -> list[dict[str, Any]]:
        """Stored leads (of one campaign), in the order they were first stored."""
        sql = (
            "SELECT body FROM lead" + (" WHERE campaign=?" if campaign else "") + " ORDER BY rowid"
        )
        rows = self.db.execute(sql, (campaign,) if campaign else ()).fetchall()
        return [json.loads(r["body"]) for r in rows]

    def campaign_state(self, name: str, state: str, at: float) -> None:
        """Remember a campaign's state (running, paused, stopped) across restarts."""
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO campaign_state (name, state, updated) VALUES (?, ?, ?)",
                (name, state, at),
            )

    def dnc_change(
        self, list_name: str, numbers: Sequence[str], listed: bool, at: float, user: str
    ) -> None:
        """Remember that ``numbers`` were put on (``listed``) or taken off a do-not-call
        list at run time; the last change of a number wins."""
        with self._lock:
            self.db.execute("BEGIN")
            try:
                self.db.executemany(
                    "INSERT OR REPLACE INTO dnc_change (list, number, listed, updated, user) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(list_name, n, int(listed), at, user) for n in numbers],
                )
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def dnc_changes(self) -> list[tuple[str, str, bool]]:
        """Every run-time do-not-call change: (list, number, listed), oldest first."""
        rows = self.db.execute(
            "SELECT list, number, listed FROM dnc_change ORDER BY updated"
        ).fetchall()
        return [(r["list"], r["number"], bool(r["listed"])) for r in rows]

    def agent_profile(
        self,
        agent: str,
        queues: Sequence[tuple[str, int]],
        skills: Mapping[str, int],
        at: float,
        user: str,
    ) -> None:
        """Remember an agent's memberships ``(queue, penalty)`` and skill levels as a
        supervisor changed them at run time; they replace the configured ones."""
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO agent_profile (agent, queues, skills, updated, user)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    agent,
                    json.dumps([[q, p] for q, p in queues]),
                    json.dumps(dict(skills), sort_keys=True),
                    at,
                    user,
                ),
            )

    def agent_profiles(self) -> dict[str, tuple[list[tuple[str, int]], dict[str, int]]]:
        """Every agent changed at run time: agent → (memberships, skills)."""
        rows = self.db.execute("SELECT agent, queues, skills FROM agent_profile").fetchall()
        return {
            r["agent"]: (
                [(str(q), int(p)) for q, p in json.loads(r["queues"])],
                {str(k): int(v) for k, v in json.loads(r["skills"]).items()},
            )
            for r in rows
        }

    def campaign_states(self) -> dict[str, str]:
        """Every campaign's last state."""
        rows = self.db.execute("SELECT name, state FROM campaign_state").fetchall()
        return {r["name"]: r["state"] for r in rows}

    def audit(
        self, time: float, user: str, action: str, resource: str, detail: Mapping[str, Any]
    ) -> int:
        """One audit row: ``user`` did ``action`` (download, delete ...) to ``resource``."""
        return self._insert(
            "audit",
            {
                "time": time,
                "user": user,
                "action": action,
                "resource": resource,
                "detail": json.dumps(dict(detail), default=str),
            },
        )

    def callback_insert(self, values: Mapping[str, Any]) -> int:
        """Record a callback request (``data`` as JSON)."""
        v = dict(values)
        if "data" in v and not isinstance(v["data"], str):
            v["data"] = json.dumps(v["data"], default=str)
        return self._insert("callback", v)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """Run one statement (for updates by modules that own their table)."""
        with self._lock:
            return self.db.execute(sql, _params(params))

    # -- reads -------------------------------------------------------------------------
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; JSON ``data`` columns decoded."""
        rows = [dict(r) for r in self.db.execute(sql, tuple(params)).fetchall()]
        for row in rows:
            if isinstance(row.get("data"), str):
                try:
                    row["data"] = json.loads(row["data"])
                except ValueError:
                    pass
        return rows

    # -- the webhook outbox ----------------------------------------------------------------
    def outbox_add(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Queue webhook deliveries (hook, event, seq, key, body, created, due); a key
        already queued is skipped. Returns how many were added."""
        added = 0
        with self._lock:
            for row in rows:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO webhook_outbox "
                    "(hook, event, seq, key, body, created, due) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _params(
                        (
                            row["hook"],
                            row["event"],
                            row["seq"],
                            row["key"],
                            row["body"],
                            row["created"],
                            row["due"],
                        )
                    ),
                )
                added += cur.rowcount
        return added

    def outbox_due(self, at: float, limit: int = 100) -> list[dict[str, Any]]:
        """Pending deliveries due at ``at`` (wall clock), oldest first."""
        return self.query(
            "SELECT * FROM webhook_outbox WHERE status='pending' AND due<=? ORDER BY id LIMIT ?",
            (at, limit),
        )

    def outbox_result(
        self,
        row_id: int,
        *,
        delivered: bool,
        due: float = 0.0,
        error: str = "",
        give_up: bool = False,
    ) -> None:
        """Record a delivery attempt: delivered, retry at ``due``, or given up."""
        status = "delivered" if delivered else ("failed" if give_up else "pending")
        with self._lock:
            self.db.execute(
                "UPDATE webhook_outbox SET attempts=attempts+1, status=?, due=?, last_error=? "
                "WHERE id=?",
                (status, due, error[:500] or None, row_id),
            )

    def outbox_backlog(self) -> int:
        """Deliveries not yet made."""
        row = self.db.execute("SELECT COUNT(*) FROM webhook_outbox WHERE status='pending'")
        return int(row.fetchone()[0])

    def wrap_up(
        self, call_id: str, *, agent: str, code: str, notes: str, queue: str | None, at: float
    ) -> bool:
        """The agent's disposition and notes on the call's record (and a ``DISPOSITION``
        queue-log row for the reports); False when the store has no such call."""
        with self._lock:
            cur = self.db.execute(
                "UPDATE cdr SET wrap_code=?, wrap_notes=?, wrap_agent=? WHERE call_id=?",
                _params((code, notes, agent, call_id)),
            )
        if cur.rowcount == 0:
            return False
        self.queue_log(
            at, "DISPOSITION", call_id=call_id, queue=queue, agent=agent, data={"code": code}
        )
        return True

    def cdr_of(self, call_id: str) -> dict[str, Any] | None:
        """The (latest) CDR row of ``call_id``, or None."""
        rows = self.query("SELECT * FROM cdr WHERE call_id=? ORDER BY id DESC LIMIT 1", (call_id,))
        return rows[0] if rows else None

    def cdrs(self, **where: Any) -> list[dict[str, Any]]:
        """CDR rows matching every ``column=value`` given, oldest first."""
        for key in where:
            if key not in CDR_COLUMNS:
                raise ValueError(f"unknown CDR column {key!r}")
        cond = " AND ".join(f"{k}=?" for k in where) or "1"
        return self.query(f"SELECT * FROM cdr WHERE {cond} ORDER BY id", where.values())

    def events(self, **where: Any) -> list[dict[str, Any]]:
        """Queue-log rows matching ``column=value``, oldest first."""
        allowed = {"call_id", "queue", "agent", "event"}
        for key in where:
            if key not in allowed:
                raise ValueError(f"unknown queue_log column {key!r}")
        cond = " AND ".join(f"{k}=?" for k in where) or "1"
        return self.query(f"SELECT * FROM queue_log WHERE {cond} ORDER BY id", where.values())

    def close(self) -> None:
        """Close the database (every write is already committed)."""
        self.db.close()


def store_text(text: str) -> str:
    """``text`` as SQLite can hold it: unchanged when it is valid Unicode, else escaped.

    Received bytes that were not UTF-8 reach us as surrogate escapes (``\\udcff`` for the
    byte 0xff); they are written as ``\\xff`` so a row always keeps what arrived, and a
    caller's malformed From or Call-ID can never make a write fail.
    """
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no received byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _params(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(store_text(v) if isinstance(v, str) else v for v in values)


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _cdr_values(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in CDR_COLUMNS:
            raise ValueError(f"unknown CDR column {key!r}")
        if key == "data" and not isinstance(value, str):
            value = json.dumps(dict(value), default=str)
        out[key] = value
    return out
