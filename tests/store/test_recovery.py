"""Start-up completes the records of calls a crash interrupted: CDR, recording, queue log."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from structlog.testing import capture_logs

from pbx.media.recorder import RecorderBank
from pbx.store import Store
from pbx.store import db as store_db
from pbx.store.recovery import (
    CALLER_LEFT,
    COMPLETE_INTERRUPTED,
    TALK_ENDED,
    InterruptedCall,
    LogRow,
    RecordingFile,
    close_agent_sessions,
    complete_call,
)

T0 = 1_700_000_000.0
DAY = "20231114"


def open_call(store: Store, call_id: str, start: float, answer: float | None = None) -> int:
    """A CDR row as the call manager opens it (and updates it on answer)."""
    row = store.cdr_insert(
        {
            "call_id": call_id,
            "direction": "inbound",
            "did": "200",
            "caller": "5551234",
            "start_time": start,
            "disposition": "in_progress",
            "data": {},
        }
    )
    if answer is not None:
        store.cdr_update(row, {"answer_time": answer})
    return row


def crashed_recording(
    scratch: Path, recordings: Path, call_id: str, ticks: int, fmt: str = "wav"
) -> Path:
    """``<recordings>/DAY/<call id>.<fmt>.part`` as a killed process leaves it: the blocks
    written so far, no final header, no rename."""
    bank = RecorderBank(block_ticks=10)
    rec = bank.start(call_id, scratch / f"{call_id}.{fmt}", [(0,), (1,)], fmt=fmt)  # type: ignore[arg-type]
    pcm = np.zeros((2, 160), dtype=np.int16)
    for tick in range(ticks):
        pcm[0] = tick
        pcm[1] = -tick
        bank.feed(pcm)
    part = recordings / DAY / f"{call_id}.{fmt}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rec.part_path, part)
    bank.close_all()
    return part


def dump(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every CDR and queue-log row, read without opening a Store (which would recover)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        cdr = conn.execute("SELECT * FROM cdr ORDER BY id").fetchall()
        events = conn.execute("SELECT * FROM queue_log ORDER BY id").fetchall()
    return cdr, events


def files(directory: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    )


def visits(events: list[dict[str, Any]]) -> Counter[str]:
    """Outcomes of every queue visit, per (call, queue), as reports count them."""
    out: Counter[str] = Counter()
    state: dict[tuple[str, str], str] = {}
    for e in events:
        if not e["call_id"]:
            continue
        key = (e["call_id"].split(":")[0], e["queue"])
        name = e["event"]
        if name == "ENTERQUEUE":
            out["entered"] += 1
            state[key] = "waiting"
        elif name == "CONNECT":
            out["connected"] += 1
            state[key] = "connected"
        elif name in TALK_ENDED and state.get(key) == "connected":
            out["talk_ended"] += 1
            del state[key]
        elif name in CALLER_LEFT and state.get(key) == "waiting":
            out[name] += 1
            del state[key]
    out["still_waiting"] = sum(1 for s in state.values() if s == "waiting")
    out["still_talking"] = sum(1 for s in state.values() if s == "connected")
    return out


@pytest.fixture
def crashed(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """A store and a recordings directory as ``kill -9`` leaves them mid-day."""
    db, recordings, scratch = tmp_path / "cc.db", tmp_path / "recordings", tmp_path / "scratch"
    scratch.mkdir()
    store = Store(db)
    store.queue_log(T0 - 100, "AGENTLOGIN", queue="sales", agent="2001")
    # "talking": queued, offered, connected to 2001, recorded; the crash came mid-call.
    talking = open_call(store, "talking", T0, answer=T0 + 1)
    store.queue_log(T0 + 1, "ENTERQUEUE", call_id="talking", queue="sales", data={"position": 1})
    store.queue_log(T0 + 3, "OFFER", call_id="talking", queue="sales", agent="2001")
    store.queue_log(
        T0 + 5,
        "CONNECT",
        call_id="talking",
        queue="sales",
        agent="2001",
        data={"wait": 4.0, "ring": 2.0, "position": 1},
    )
    # 125 ticks fed, 121 written (a 1-tick first block, then blocks of 10): 2.42 s.
    part = crashed_recording(scratch, recordings, "talking", ticks=125)
    os.utime(part, (T0 + 8, T0 + 8))
    # "waiting": queued, offered to 2002 who did not answer, still waiting.
    waiting = open_call(store, "waiting", T0 + 2, answer=T0 + 2.5)
    store.queue_log(T0 + 2.5, "ENTERQUEUE", call_id="waiting", queue="sales", data={"position": 2})
    store.queue_log(T0 + 6, "OFFER", call_id="waiting", queue="sales", agent="2002")
    store.queue_log(T0 + 21, "RINGNOANSWER", call_id="waiting", queue="sales", agent="2002")
    # "ivr": in the IVR, never queued, nothing recorded.
    ivr = open_call(store, "ivr", T0 + 4, answer=T0 + 4)
    # "overflowed": timed out of sales, connected in support; rows of both queues.
    over = open_call(store, "overflowed", T0 - 50, answer=T0 - 49)
    store.queue_log(T0 - 49, "ENTERQUEUE", call_id="overflowed", queue="sales")
    store.queue_log(T0 - 19, "EXITWITHTIMEOUT", call_id="overflowed", queue="sales")
    store.queue_log(T0 - 19, "ENTERQUEUE", call_id="overflowed", queue="support")
    store.queue_log(
        T0 - 9, "CONNECT", call_id="overflowed", queue="support", agent="2006", data={"wait": 10}
    )
    # "done": a call that ended before the crash; recovery must not touch it.
    done = open_call(store, "done", T0 - 30, answer=T0 - 29)
    store.queue_log(T0 - 29, "ENTERQUEUE", call_id="done", queue="sales")
    store.queue_log(T0 - 28, "CONNECT", call_id="done", queue="sales", agent="2003")
    store.queue_log(T0 - 10, "COMPLETECALLER", call_id="done", queue="sales", agent="2003")
    store.cdr_update(done, {"end_time": T0 - 10, "disposition": "answered", "agent": "2003"})
    store.close()
    rows = {
        "talking": talking,
        "waiting": waiting,
        "ivr": ivr,
        "overflowed": over,
        "done": done,
        "part": part,
    }
    return db, recordings, rows


def test_start_up_completes_every_interrupted_call_from_its_rows_and_files(
    crashed: tuple[Path, Path, dict[str, Any]],
) -> None:
    db, recordings, rows = crashed
    _, before = dump(db)
    store = Store(db, recordings=recordings)
    assert store.interrupted == 4
    cdr = {row["call_id"]: row for row in store.cdrs()}
    for call_id in ("talking", "waiting", "ivr", "overflowed"):
        row = cdr[call_id]
        assert row["disposition"] == "interrupted" and row["hangup_cause"] == "pbx stopped"
        assert row["end_time"] is not None and row["end_time"] >= row["start_time"]
    # Recorded from the CONNECT at T0+5 for 2.42 s; its last block was written at T0+8.
    talking = cdr["talking"]
    assert talking["end_time"] == pytest.approx(T0 + 8)
    assert talking["agent"] == "2001" and talking["queue"] == "sales"
    assert talking["talk_seconds"] == pytest.approx(7.0)
    assert talking["ring_seconds"] == pytest.approx(1.0)
    final = rows["part"].with_name("talking.wav")
    assert talking["recording"] == str(final)
    assert not rows["part"].exists()
    audio, rate = sf.read(talking["recording"], dtype="int16")
    assert rate == 8000 and audio.shape == (121 * 160, 2)
    assert np.array_equal(audio[:, 0], np.repeat(np.arange(121), 160))
    assert np.array_equal(audio[:, 1], -np.repeat(np.arange(121), 160))
    # The waiting caller: the last thing known is 2002's ring-no-answer; no agent.
    waiting = cdr["waiting"]
    assert waiting["end_time"] == T0 + 21 and waiting["agent"] is None
    assert waiting["queue"] == "sales" and waiting["recording"] is None
    # Never queued, nothing recorded: it ends where it was last seen, its answer.
    assert cdr["ivr"]["end_time"] == T0 + 4 and cdr["ivr"]["agent"] is None
    assert cdr["ivr"]["queue"] is None and cdr["ivr"]["recording"] is None
    over = cdr["overflowed"]
    assert over["end_time"] == T0 - 9 and over["agent"] == "2006" and over["queue"] == "support"
    assert cdr["done"]["disposition"] == "answered" and cdr["done"]["end_time"] == T0 - 10

    added = store.query("SELECT * FROM queue_log WHERE id > ? ORDER BY id", (len(before),))
    assert [(e["call_id"], e["queue"], e["agent"], e["event"], e["time"]) for e in added] == [
        ("talking", "sales", "2001", COMPLETE_INTERRUPTED, T0 + 8),
        ("waiting", "sales", None, "ABANDON", T0 + 21),
        ("overflowed", "support", "2006", COMPLETE_INTERRUPTED, T0 - 9),
        # 2001's session in sales ends at the last moment the store knows of.
        ("", "sales", "2001", "AGENTLOGOFF", T0 + 21),
    ]
    assert added[3]["data"] == {"reason": "interrupted"} and store.sessions_closed == 1
    assert added[0]["data"] == {
        "wait": 4.0,
        "talk": pytest.approx(3.0),
        "position": 1,
        "reason": "interrupted",
    }
    assert added[1]["data"] == {"original_position": 2, "wait": 18.5, "reason": "interrupted"}
    balance = visits(store.events())
    assert balance["entered"] == 5
    assert balance["entered"] == (
        balance["connected"]
        + balance["ABANDON"]
        + balance["EXITWITHTIMEOUT"]
        + balance["CALLBACKREQUESTED"]
        + balance["still_waiting"]
    )
    assert balance["still_waiting"] == 0 and balance["still_talking"] == 0
    assert balance["talk_ended"] == balance["connected"] == 3
    store.close()


def test_a_second_start_changes_nothing(crashed: tuple[Path, Path, dict[str, Any]]) -> None:
    db, recordings, _ = crashed
    Store(db, recordings=recordings).close()
    rows, listing = dump(db), files(recordings)
    with capture_logs() as logs:
        again = Store(db, recordings=recordings)
    assert again.interrupted == 0
    again.close()
    assert dump(db) == rows and files(recordings) == listing
    assert not [e for e in logs if e["event"] == "store_interrupted_calls"]


def test_recovery_is_logged_once_with_its_counts(
    crashed: tuple[Path, Path, dict[str, Any]],
) -> None:
    db, recordings, _ = crashed
    with capture_logs() as logs:
        Store(db, recordings=recordings).close()
    [entry] = [e for e in logs if e["event"] == "store_interrupted_calls"]
    assert entry == {
        "event": "store_interrupted_calls",
        "log_level": "warning",
        "count": 4,
        "agents": 2,
        "recordings": 1,
        "queue_abandoned": 1,
        "queue_completed": 2,
    }


def test_a_failure_during_recovery_leaves_every_row_as_it_was(
    crashed: tuple[Path, Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, recordings, _ = crashed
    before = dump(db)
    calls = []

    def failing(call: InterruptedCall, *args: Any) -> Any:
        calls.append(call.call_id)
        if len(calls) == 3:
            raise sqlite3.OperationalError("disk I/O error")
        return complete_call(call, *args)

    monkeypatch.setattr(store_db, "complete_call", failing)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        Store(db, recordings=recordings)
    assert dump(db) == before
    monkeypatch.undo()
    assert Store(db, recordings=recordings).interrupted == 4


def test_rows_left_interrupted_without_an_end_time_are_completed(tmp_path: Path) -> None:
    db = tmp_path / "cc.db"
    store = Store(db)
    row = open_call(store, "old", T0, answer=T0 + 1)
    store.queue_log(T0 + 1, "ENTERQUEUE", call_id="old", queue="sales")
    store.cdr_update(row, {"disposition": "interrupted", "hangup_cause": "pbx stopped"})
    store.close()
    store = Store(db)
    assert store.interrupted == 1
    [cdr] = store.cdrs(call_id="old")
    assert cdr["end_time"] == T0 + 1 and cdr["talk_seconds"] == 0.0
    assert [e["event"] for e in store.events(call_id="old")] == ["ENTERQUEUE", "ABANDON"]


def test_a_flac_recording_is_recovered_readable(tmp_path: Path) -> None:
    db, recordings, scratch = tmp_path / "cc.db", tmp_path / "recordings", tmp_path / "scratch"
    scratch.mkdir()
    store = Store(db)
    open_call(store, "flac", T0, answer=T0)
    store.close()
    # 100 ticks: the encoder has emitted its first 4096-sample frames.
    part = crashed_recording(scratch, recordings, "flac", ticks=100, fmt="flac")
    os.utime(part, (T0 + 3, T0 + 3))
    store = Store(db, recordings=recordings)
    [cdr] = store.cdrs(call_id="flac")
    audio, _ = sf.read(cdr["recording"], dtype="int16")
    assert cdr["recording"].endswith("flac.flac") and len(audio) >= 4096
    assert np.array_equal(audio[:, 0], np.repeat(np.arange(100), 160)[: len(audio)])
    assert cdr["end_time"] == pytest.approx(T0 + 3)


def test_a_recording_with_no_audio_left_is_removed_and_not_named(tmp_path: Path) -> None:
    db, recordings, scratch = tmp_path / "cc.db", tmp_path / "recordings", tmp_path / "scratch"
    scratch.mkdir()
    store = Store(db)
    open_call(store, "early", T0, answer=T0)
    store.close()
    part = crashed_recording(scratch, recordings, "early", ticks=5, fmt="flac")
    store = Store(db, recordings=recordings)
    [cdr] = store.cdrs(call_id="early")
    assert cdr["recording"] is None and cdr["end_time"] == T0
    assert not part.exists() and not part.with_name("early.flac").exists()


def test_agent_is_who_answered_not_who_was_offered() -> None:
    call = InterruptedCall(row=1, call_id="c", start_time=0.0, answer_time=1.0)
    offered = [
        LogRow(1.0, "ENTERQUEUE", "c", "sales"),
        LogRow(2.0, "OFFER", "c", "sales", "2001"),
    ]
    done = complete_call(call, offered, None)
    assert "agent" not in done.values and [e.event for e in done.events] == ["ABANDON"]
    callback = [
        LogRow(5.0, "CALLBACKDONE", "c", "sales", "2002"),
        LogRow(5.0, "CONNECT", "c", "sales", "2002", {"wait": 0.0}),
    ]
    done = complete_call(call, callback, None)
    assert done.values["agent"] == "2002"
    assert [(e.event, e.agent) for e in done.events] == [(COMPLETE_INTERRUPTED, "2002")]


def test_a_caller_who_asked_for_a_callback_has_left_the_queue() -> None:
    call = InterruptedCall(row=1, call_id="c", start_time=0.0, answer_time=1.0)
    rows = [
        LogRow(1.0, "ENTERQUEUE", "c", "sales"),
        LogRow(9.0, "CALLBACKREQUESTED", "c", "sales", None, {"number": "5551234"}),
    ]
    done = complete_call(call, rows, None)
    assert done.events == () and done.values["end_time"] == 9.0


def test_the_recording_end_bounds_the_call_even_with_an_old_file_time() -> None:
    call = InterruptedCall(row=1, call_id="c", start_time=0.0, answer_time=2.0)
    recording = RecordingFile("/r/c.wav", seconds=30.0, modified=10.0)
    done = complete_call(call, [], recording)
    assert done.values["end_time"] == 32.0 and done.values["talk_seconds"] == 30.0
    assert done.values["recording"] == "/r/c.wav"


def test_open_agent_sessions_are_closed_once_per_queue_and_agent() -> None:
    rows = [
        LogRow(T0, "AGENTLOGIN", "", "sales", "2001"),
        LogRow(T0, "AGENTLOGIN", "", "support", "2001"),
        LogRow(T0 + 1, "AGENTLOGIN", "", "sales", "2002"),
        LogRow(T0 + 5, "AGENTLOGOFF", "", "sales", "2002"),
        LogRow(T0 + 6, "AGENTLOGOFF", "", "support", "2001"),
        LogRow(T0 + 7, "AGENTLOGIN", "", "support", "2001"),
    ]
    closed = close_agent_sessions(rows, T0 + 60)
    assert [(r.queue, r.agent, r.event, r.time) for r in closed] == [
        ("sales", "2001", "AGENTLOGOFF", T0 + 60),
        ("support", "2001", "AGENTLOGOFF", T0 + 60),
    ]
    assert all(r.data == {"reason": "interrupted"} for r in closed)
    assert close_agent_sessions([*rows, *closed], T0 + 90) == []
