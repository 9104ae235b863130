"""Agentless notification throughput on one core: the example's ``reminders`` campaign
dialling out over its trunk to SIPp, with answering-machine detection and a message left
on every machine, at N concurrent lines.

Theory of operation
-------------------
Per step, on 127.0.0.1, each process started in its own session and stopped by PID:

* **pbx**: the example call center (``examples/callcenter.toml`` moved to free ports,
  its store in a temp dir) with the campaign ``reminders`` (agentless, ``amd = true``,
  ``on_machine = "leave_message"``, message ``reminder-voicemail``, 5.85 s) changed in
  three ways: ``max_lines = N``, calling hours all day every day, and one attempt per
  lead (``retry.*.max_attempts = 1``: a failed call is a lead done, not a lead waiting
  an hour, and is counted). Its trunk ``sim`` points at SIPp. It runs as ``pbx run``
  does (uvloop, the same collector settings, warning logs) in
  ``bench_bridged_calls.py``'s ``--serve`` mode: a timer around the media tick and, per
  channel as it is removed, the RTP stream's counters (RFC 3550 A.3 loss, late and
  duplicate packets, packets sent).
* **the called party**: SIPp's uas (``scenarios/uas_pcap.xml``) answering every number
  with PCMA and playing SIPp's bundled ``g711a.pcap`` (7.05 s of speech in 30 ms
  packets) after the ACK — a machine's greeting — then silence until the pbx's BYE.
  The pbx's AMD hears a long greeting (``machine``), waits for its end (the silence),
  plays the message to SIPp and hangs up.
* **this script**: logs in to the control API, imports the lead list
  (``POST /api/campaigns/reminders/leads``, a CSV of L distinct numbers), starts the
  campaign and polls ``GET /api/campaigns/reminders`` every 0.5 s for the lines in use
  and the leads done, until every lead is done. The wall time runs from the start
  command to the last lead done.

"On one core": with two or more CPUs the pbx (all its threads) is pinned to CPU 0 and
SIPp to the others (``taskset``). SIPp's pcap players use their own loopback address
(127.0.0.3), as in ``bench_bridged_calls.py``.

A step passes when every lead was dialled once, answered, classified ``machine`` and
left the message (disposition ``message_left``), and the pbx added no media loss: every
packet SIPp played was read (pcap packets × calls SIPp completed = what the pbx's
streams received), no gap, none too late for its frame, no late tick, no send error, and
every call sent at least the message's frames. The steps search for the highest N that
passes; the full run then dials 10,000 numbers at that N (``--run-leads``).

Run: ``.venv/bin/python benchmarks/bench_agentless.py [--quick] [--lines 100,200,300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_app_calls import example_config  # noqa: E402
from bench_bridged_calls import (  # noqa: E402
    PCAP,
    UAS_MEDIA_IP,
    pcap_packets,
    pinned,
    serve,
    sipp_argv,
)
from bench_sip_load import (  # noqa: E402
    Process,
    _int,
    cpu_seconds,
    exit_on_sigterm,
    free_port,
    last_row,
    running,
    spawn,
    uptime,
    wait_udp_bound,
)

PYTHON = sys.executable
UAS = HERE / "scenarios" / "uas_pcap.xml"
CAMPAIGN = "reminders"
MESSAGE = ROOT / "examples" / "prompts" / "en" / "reminder-voicemail.wav"
CALL_SECONDS = 16.0
"""About one lead's line time: set-up, the 7.05 s greeting, AMD's wait for its end, the
5.85 s message, BYE (the deadline of a step is a multiple of what this predicts)."""
POLL = 0.5
TARGET = 300
"""The issue's target: concurrent outbound lines with AMD and message playback."""


# ------------------------------------------------------------------ pbx
def write_config(work: Path, sip_port: int, http_port: int, uas_port: int, lines: int) -> Path:
    """The example configuration on free ports, ``reminders`` at ``lines`` lines all day
    with one attempt per lead, its trunk ``sim`` pointed at SIPp on ``uas_port``."""
    text = example_config(work, sip_port, 8 * lines + 200, top=60000, http_port=http_port)
    trunk = "[trunks.sim]\n"
    head, tail = text.split(trunk, 1)
    tail = tail.replace("port = 5080", f"port = {uas_port}", 1)
    text = head + trunk + tail
    campaign = f"[campaigns.{CAMPAIGN}]\n"
    head, tail = text.split(campaign, 1)
    retry = ", ".join(
        f"{o} = {{ max_attempts = 1 }}"
        for o in ("busy", "no_answer", "machine", "failed", "abandoned", "interrupted")
    )
    tail = tail.replace(
        "max_lines = 30\n",
        f"max_lines = {lines}\n"
        'hours = { start = "00:00", end = "23:59",'
        ' days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] }\n'
        f"retry = {{ {retry} }}\n",
        1,
    )
    text = head + campaign + tail
    if f"max_lines = {lines}\n" not in text or f"port = {uas_port}" not in text:
        raise RuntimeError("the example configuration changed: cannot set the campaign up")
    path = work / "cc.toml"
    path.write_text(text)
    return path


def lead_csv(count: int) -> str:
    """``count`` distinct New York numbers (valid for ``phonenumbers``), one lead each."""
    rows = ["phone,name,amount,due"]
    rows += [f"+1212{2000000 + i:07d},Lead {i},42.50,2026-01-15" for i in range(count)]
    return "\n".join(rows) + "\n"


def api_client(http_port: int) -> httpx.Client:
    """A client logged in to the pbx's control API as the example's admin."""
    client = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=60.0)
    deadline = time.monotonic() + 30.0
    while True:
        try:
            r = client.post("/api/login", json={"user": "admin", "password": "admin"})
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    r.raise_for_status()
    client.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return client


def late_ticks(api: httpx.Client) -> int:
    """The pbx's ``pbx_media_late_ticks`` (ticks skipped after a stall of 100 ms or more)."""
    text = api.get("/metrics").text
    match = re.search(r"^pbx_media_late_ticks (\S+)$", text, re.M)
    return int(float(match.group(1))) if match else -1


def lead_outcomes(db: Path) -> dict[str, Any]:
    """Dispositions, AMD verdicts and attempts per lead, from the store's ``lead`` rows."""
    dispositions: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    attempts = 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for disposition, body in conn.execute(
            "SELECT disposition, body FROM lead WHERE campaign = ?", (CAMPAIGN,)
        ):
            key = disposition or "none"
            dispositions[key] = dispositions.get(key, 0) + 1
            for attempt in json.loads(body)["attempts"]:
                attempts += 1
                verdict = str(attempt.get("amd") or "none")
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
    return {"dispositions": dispositions, "verdicts": verdicts, "attempts": attempts}


def message_frames() -> int:
    """The message's 20 ms frames: what the pbx sends each machine at least."""
    import soundfile as sf

    info = sf.info(str(MESSAGE))
    return int(info.frames / info.samplerate / 0.020)


# ------------------------------------------------------------------ one step
def step(lines: int, leads: int, root: Path, pin: bool = True) -> dict[str, Any]:
    """Dial ``leads`` numbers at ``lines`` concurrent lines until every lead is done."""
    cores = os.cpu_count() or 1
    pbx_cpus = "0" if pin and cores > 1 else None
    sipp_cpus = f"1-{cores - 1}" if pin and cores > 1 else None
    work = root / f"agentless_{lines}_{leads}"
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    samples: list[tuple[float, int, int, int]] = []
    """(seconds since start, lines in use, leads done, late ticks so far) at each poll."""
    procs: list[Process] = []
    wall = cpu = sipp_cpu = import_s = 0.0
    late0 = late1 = -1
    start_s = 0.0
    finished = False
    stat: dict[str, str] = {}
    with running(procs):
        uas_port = free_port()
        uas = spawn(
            "uas",
            pinned(
                sipp_argv(
                    UAS,
                    "uas_stat.csv",
                    UAS_MEDIA_IP,
                    ["-p", str(uas_port), "-mp", str(free_port()), "-recv_timeout", "60000"],
                ),
                sipp_cpus,
            ),
            work,
        )
        procs.append(uas)
        wait_udp_bound(uas_port, uas, timeout=15.0)
        sip_port, http_port = free_port(), free_port()
        config = write_config(work, sip_port, http_port, uas_port, lines)
        pbx = spawn("pbx", pinned([PYTHON, __file__, "--serve", str(config)], pbx_cpus), work)
        procs.append(pbx)
        wait_udp_bound(sip_port, pbx, timeout=30.0)
        api = api_client(http_port)
        try:
            t_import = time.monotonic()
            r = api.post(
                f"/api/campaigns/{CAMPAIGN}/leads",
                content=lead_csv(leads),
                headers={"Content-Type": "text/csv"},
            )
            r.raise_for_status()
            if r.json()["imported"] != leads:
                raise RuntimeError(f"imported {r.json()} of {leads} leads")
            import_s = time.monotonic() - t_import
            time.sleep(0.5)
            late0 = late_ticks(api)
            cpu0, uas0 = cpu_seconds(pbx.pid), cpu_seconds(uas.pid)
            t0 = time.monotonic()
            api.post(f"/api/campaigns/{CAMPAIGN}/start").raise_for_status()
            start_s = time.monotonic() - t0
            late1 = late_ticks(api)
            budget = 3.0 * CALL_SECONDS * max(1.0, leads / lines) + 60.0
            for _ in range(int(budget / POLL) + 1):
                if pbx.popen.poll() is not None:
                    break
                view = api.get(f"/api/campaigns/{CAMPAIGN}").json()
                done = int(view["leads"].get("done", 0))
                late = late_ticks(api) - late1
                samples.append((time.monotonic() - t0, int(view["lines_in_use"]), done, late))
                if done >= leads:
                    finished = True
                    break
                time.sleep(POLL)
            wall = time.monotonic() - t0
            cpu = cpu_seconds(pbx.pid) - cpu0
            sipp_cpu = cpu_seconds(uas.pid) - uas0
        finally:
            api.close()
        time.sleep(2.0)  # SIPp's timewait and its next statistics line
        stat = last_row(work / "uas_stat.csv")
        procs.remove(pbx)
        pbx.stop(grace=15.0)
    out = [ln for ln in pbx.stdout().splitlines() if ln.startswith("{")]
    counters = json.loads(out[-1]) if out else {}
    outcomes = lead_outcomes(work / "callcenter.db")
    answered = _int(stat.get("SuccessfulCall(C)"))
    sent = pcap_packets(PCAP) * answered
    busy = [s for s in samples if s[1] > 0]
    errors = [ln for ln in pbx.stderr_lines() if "Traceback" in ln or "error" in ln.lower()]
    return {
        "lines": lines,
        "leads": leads,
        "finished": finished,
        "wall": wall,
        "import_s": import_s,
        "calls_per_s": leads / wall if wall else 0.0,
        "late_before": late0,
        "late_start": late1 - late0,
        "start_s": start_s,
        "late_run": samples[-1][3] if samples else -1,
        "late_at": [
            round(b[0], 1) for a, b in zip(samples, samples[1:], strict=False) if b[3] > a[3]
        ],
        "max_lines_seen": max((s[1] for s in samples), default=0),
        "mean_lines": sum(s[1] for s in busy) / len(busy) if busy else 0.0,
        "cpu": cpu / wall if wall else 0.0,
        "cpu_ms_per_call": 1000.0 * cpu / leads,
        "sipp_cpu": sipp_cpu / wall if wall else 0.0,
        "sipp_ok": answered,
        "sipp_failed": _int(stat.get("FailedCall(C)")),
        "sipp_sent": sent,
        "unread": sent - counters.get("received", 0),
        "min_frames": message_frames() * answered,
        "load": load,
        "errors": errors[:3],
        **outcomes,
        **counters,
    }


def passed(r: dict[str, Any]) -> bool:
    """Every lead's message left after a ``machine`` verdict, and no media loss added."""
    return (
        r["finished"]
        and r["dispositions"].get("message_left", 0) == r["leads"]
        and r["attempts"] == r["leads"]
        and r["sipp_ok"] == r["leads"]
        and r.get("lost", 1) == 0
        and r["unread"] <= 0
        and r.get("late", 1) == 0
        and r["late_run"] == 0
        and r.get("send_errors", 1) == 0
        and r.get("packets_sent", 0) >= r["min_frames"]
    )


def describe(r: dict[str, Any]) -> str:
    """One table row."""
    verdict = "ok" if passed(r) else "NO"
    expected = r.get("expected", 0)
    lost_pct = 100 * r.get("lost", 0) / expected if expected else 0.0
    unread_pct = 100 * max(0, r["unread"]) / r["sipp_sent"] if r["sipp_sent"] else 0.0
    dispositions = ", ".join(f"{k} {v}" for k, v in sorted(r["dispositions"].items()))
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(r["verdicts"].items()))
    per_call = r.get("packets_sent", 0) / r["sipp_ok"] if r["sipp_ok"] else 0.0
    return (
        f"| {r['lines']} | {verdict} | {r['leads']:,} | {r['wall']:.1f} s"
        f"{'' if r['finished'] else ' (not finished)'} | {r['calls_per_s']:.1f}"
        f" | {r['max_lines_seen']} / {r['mean_lines']:.0f} | {dispositions} | {verdicts}"
        f" | {r['sipp_sent']:,} | {max(0, r['unread']):,} ({unread_pct:.3f}%)"
        f" | {r.get('lost', 0):,} ({lost_pct:.3f}%) | {r.get('late', 0):,}"
        f" | {per_call:.0f} | {r.get('tick_p50_ms', 0):.2f} / {r.get('tick_p99_ms', 0):.2f}"
        f" / {r.get('tick_max_ms', 0):.1f} | {r['late_before']}"
        f" / {r['late_start']} ({1000 * r['start_s']:.0f} ms) / {r['late_run']}"
        f"{' at ' + ', '.join(f'{t:g} s' for t in r['late_at']) if r['late_at'] else ''}"
        f" | {100 * r['cpu']:.0f}% | {r['cpu_ms_per_call']:.1f} | {100 * r['sipp_cpu']:.0f}%"
        f" | {r['load']:.2f} |" + (f" pbx stderr: {r['errors']}" if r["errors"] else "")
    )


HEADER = (
    "| lines (max_lines) | pass | leads | wall time, start to last lead done | calls/s"
    " | lines in use, max / mean | dispositions | AMD verdicts | RTP packets SIPp played"
    " | not read by pbx | gaps while read (A.3) | late for their frame"
    " | RTP packets pbx sent per call | tick + sends p50 / p99 / max ms"
    " | late ticks: import / start command (its time) / calls"
    " | pbx CPU | pbx CPU ms per lead | SIPp CPU | load |\n"
    "|---:|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short steps, no long run")
    parser.add_argument(
        "--lines", help="comma-separated max_lines steps (200,300,400,600,800,1000; quick 100,300)"
    )
    parser.add_argument(
        "--leads-per-line", type=float, help="leads per line in a step (3, quick 2)"
    )
    parser.add_argument(
        "--run-leads",
        type=int,
        help="leads of the long run at the highest passing step (10000, quick 0: none)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin pbx and SIPp to CPUs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    exit_on_sigterm()
    default = "100,300" if args.quick else "200,300,400,600,800,1000"
    counts = [int(c) for c in (args.lines or default).split(",")][:8]
    per_line = args.leads_per_line or (2.0 if args.quick else 3.0)
    run_leads = args.run_leads if args.run_leads is not None else (0 if args.quick else 10_000)
    root = Path(tempfile.mkdtemp(prefix="bench_agentless_"))
    t0 = time.monotonic()
    print(f"start: {uptime()}  ({os.cpu_count()} cores); {per_line:g} leads per line per step")
    rows: list[dict[str, Any]] = []
    try:
        for n in counts:
            rows.append(step(n, round(per_line * n), root, pin=not args.no_pin))
            print(describe(rows[-1]), flush=True)
            if not passed(rows[-1]):
                break
        good = [r for r in rows if passed(r)]
        best = max(good, key=lambda r: r["lines"]) if good else None
        if best is not None and run_leads:
            rows.append(step(best["lines"], run_leads, root, pin=not args.no_pin))
            print(describe(rows[-1]), flush=True)
        print(f"\nend: {uptime()}; {time.monotonic() - t0:.0f} s\n")
        print(HEADER)
        for r in rows:
            print(describe(r))
        if best is not None:
            print(
                f"\nhighest passing: {best['lines']} concurrent outbound lines with AMD and"
                f" a message left on every machine, at {100 * best['cpu']:.0f}% of a core"
                f" (target >= {TARGET})"
            )
        long_run = [r for r in rows[len(counts) :] if r["leads"] == run_leads]
        if long_run:
            r = long_run[0]
            print(
                f"{r['leads']:,} numbers at {r['lines']} lines: {r['wall']:.0f} s"
                f" ({r['calls_per_s']:.1f} calls/s), {'passed' if passed(r) else 'FAILED'}"
            )
        print(
            "\nSIPp played: the pcap's packets x calls SIPp completed. Not read by pbx: played"
            " minus what pbx's streams received. Gaps while read: RFC 3550 A.3 (expected -"
            " received) per leg when its channel closed. Late: packets that came after their"
            " frame was played. A step passes with every lead answered, judged a machine and"
            " its message left, every packet read, none late, no late tick or send error."
        )
        if not all(passed(r) for r in rows[-1:]) and not good:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
