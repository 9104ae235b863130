"""The SQLite store: migrations, CDR rows, the queue log, and what a crash leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx.errors import ConfigError
from pbx.store import Store
from pbx.store.db import MIGRATIONS


def test_new_store_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    assert store.version == len(MIGRATIONS)
    store.close()
    again = Store(tmp_path / "cc.db")
    assert again.version == len(MIGRATIONS)


def test_cdr_insert_update_and_query(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    row = store.cdr_insert(
        {
            "call_id": "c1",
            "direction": "inbound",
            "did": "200",
            "caller": "5551234",
            "start_time": 1000.0,
            "disposition": "in_progress",
            "data": {"pin": "1234"},
        }
    )
    store.cdr_update(
        row,
        {
            "answer_time": 1003.0,
            "end_time": 1010.0,
            "talk_seconds": 7.0,
            "disposition": "answered",
            "hangup_side": "caller",
        },
    )
    [cdr] = store.cdrs(call_id="c1")
    assert cdr["disposition"] == "answered" and cdr["talk_seconds"] == 7.0
    assert cdr["data"] == {"pin": "1234"}
    with pytest.raises(ValueError, match="unknown CDR column 'nope'"):
        store.cdr_update(row, {"nope": 1})


def test_queue_log_rows_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    store.queue_log(1.0, "ENTERQUEUE", call_id="c1", queue="sales", data={"position": 1})
    store.queue_log(2.0, "CONNECT", call_id="c1", queue="sales", agent="2001", data={"wait": 1.0})
    events = store.events(call_id="c1")
    assert [e["event"] for e in events] == ["ENTERQUEUE", "CONNECT"]
    assert events[1]["data"] == {"wait": 1.0} and events[1]["agent"] == "2001"


def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "cc.db")
    store.db.execute("PRAGMA user_version=999")
    store.close()
    with pytest.raises(ConfigError, match="schema version 999 is newer"):
        Store(tmp_path / "cc.db")


def test_killed_process_leaves_its_in_progress_row_marked_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "cc.db"
    code = (
        "import sys, time\n"
        "from pbx.store import Store\n"
        f"s = Store({str(db)!r})\n"
        "s.cdr_insert({'call_id': 'live', 'direction': 'inbound', 'start_time': 1.0,"
        " 'disposition': 'in_progress'})\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        lines = iter(proc.stdout.readline, b"")
        assert any(line.strip() == b"written" for line in lines)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.05)
    store = Store(db)
    assert store.interrupted == 1
    [row] = store.cdrs(call_id="live")
    assert row["disposition"] == "interrupted"
