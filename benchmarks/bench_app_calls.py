"""The whole application under load: call set-up rate with media anchored, and concurrent
calls with media both ways, on the example call center's echo test (DID 600).

Theory of operation
-------------------
Every step starts a fresh pbx on a copy of ``examples/callcenter.toml`` moved to free
loopback ports, with its store, recordings and voicemail in a temp dir, in its own
session, and stops it by PID (SIGTERM, then SIGKILL) in a ``finally``.

* **Set-up rate** (``setup``): ``python -m pbx run CONFIG --log-level warning`` — the
  real command — and SIPp's uac (``scenarios/uac_txn.xml``: the stock uac with its INVITE
  and BYE tracked as transactions) calling 600 with 1 s calls (``-d 1000``), open loop at
  a fixed rate. Each call is a real application call: dial plan, a leg with an RTP port
  pair bound, an engine channel in echo, SDP offer/answer, a CDR row in SQLite. The rate
  doubles from ``--start`` until a step has 0.1% or more failed calls, then bisects; the
  best rate is repeated once. Reported: the highest rate with < 0.1% failed calls and
  the pbx process's CPU ms per call (utime+stime from /proc).
* **Concurrent calls with media** (``media``): the same application run by this script
  in ``--serve`` mode (exactly what ``pbx run`` does — uvloop, the same collector
  settings, warning logs — plus a timer around ``MediaEngine.tick`` and, on SIGTERM, one
  JSON line with the media counters). SIPp's uac places N calls to 600 within about a
  second and holds them; this script reads the pbx's RTP port of each call from the 200
  OK SDPs SIPp logged, and the sender of ``bench_media_path.py`` (another process) sends
  50 packets/s of PCMU to each port and counts which packets the echo sends back (pbx
  latches onto the sender's address, RFC 4961 symmetric RTP). SIPp's own pcap player is
  not used: its pcap is 4.7 s long in 30 ms packets, and one thread per call plays it.
  Reported per N: loss (packets sent that never came back), pbx packets in/out, the
  tick's p50/p99/max, late ticks, pbx CPU, and failed calls.

``--quick`` runs a short version of both in under 90 s. Loopback only; every loop is
bounded in steps and time.

Run: ``.venv/bin/python benchmarks/bench_app_calls.py [--quick] [--only setup|media]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_media_path import LOSS_LIMIT, wait_line  # noqa: E402
from bench_sip_load import (  # noqa: E402
    RECV_TIMEOUT_MS,
    Process,
    _int,
    cpu_seconds,
    duration_ms,
    exit_on_sigterm,
    free_port,
    last_row,
    retransmissions,
    running,
    sipp_binary,
    spawn,
    uptime,
    wait_udp_bound,
)

PYTHON = sys.executable
EXAMPLE = ROOT / "examples" / "callcenter.toml"
UAC_SCENARIO = HERE / "scenarios" / "uac_txn.xml"
FAIL_LIMIT = 0.001
MAX_STEPS = 10


# ------------------------------------------------------------------ the application
def example_config(
    work: Path, sip_port: int, rtp_ports: int, top: int = 30000, http_port: int = 0
) -> str:
    """The example configuration's text moved to ``sip_port`` (HTTP to ``http_port``, 0:
    any free one), its files under ``work``, ``rtp_ports`` RTP ports somewhere between
    20000 and ``top``."""
    text = EXAMPLE.read_text()
    text = text.replace('listen = "127.0.0.1:5060"', f'listen = "127.0.0.1:{sip_port}"')
    text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{http_port}"')
    text = text.replace('dir = "prompts"', f'dir = "{ROOT / "examples" / "prompts"}"')
    text = text.replace('file = "ivr/', f'file = "{ROOT / "examples" / "ivr"}/')
    text = text.replace('path = "callcenter.db"', f'path = "{work / "callcenter.db"}"')
    text = text.replace('recordings = "recordings"', f'recordings = "{work / "recordings"}"')
    low = 20000 + 2 * random.randrange(0, (top - 20000 - rtp_ports) // 2)
    return text.replace('ports = "20000-29999"', f'ports = "{low}-{low + rtp_ports}"')


def write_config(work: Path, sip_port: int, rtp_ports: int, http_port: int = 0) -> Path:
    """The example configuration moved to ``sip_port``, its files under ``work``."""
    path = work / "cc.toml"
    path.write_text(example_config(work, sip_port, rtp_ports, http_port=http_port))
    return path


def start_pbx(work: Path, serve: bool, http_port: int = 0) -> tuple[Process, int]:
    """Start pbx on a fresh configuration; return it and its SIP port once bound."""
    port = free_port()
    config = write_config(work, port, 6000, http_port)
    if serve:
        argv = [PYTHON, __file__, "--serve", str(config)]
    else:
        argv = [PYTHON, "-m", "pbx", "run", str(config), "--log-level", "warning"]
    proc = spawn("pbx", argv, work)
    wait_udp_bound(port, proc, timeout=30.0)
    time.sleep(0.3)
    return proc, port


def application_as_pbx_run(config_path: str) -> Any:
    """The :class:`pbx.Application` of ``config_path`` set up as ``pbx run`` does it:
    warning logs, uvloop when installed, the collector tuned and the start-up frozen."""
    import structlog

    from pbx.cli import _configure_logging, _install_fast_loop
    from pbx.config import load_config

    _configure_logging("warning")
    structlog.configure(cache_logger_on_first_use=True)
    from pbx.app import Application

    _install_fast_loop()
    gc.set_threshold(20_000, 20, 20)
    app = Application(load_config(config_path))
    gc.freeze()
    return app


def serve(config_path: str) -> None:
    """``pbx run`` plus a timer around the tick and a JSON line of counters at the end."""
    app = application_as_pbx_run(config_path)
    durations: list[float] = []
    media = app.media
    service_tick = media._tick

    def timed_tick() -> None:
        t = time.perf_counter()
        service_tick()
        if app.calls.calls:
            durations.append(time.perf_counter() - t)

    media._tick = timed_tick  # type: ignore[method-assign]
    asyncio.run(app.run())
    m = app.media
    ticks = sorted(durations) or [0.0]
    print(
        json.dumps(
            {
                "packets_in": m.packets_in,
                "packets_out": m.packets_out,
                "ticks": m.ticks,
                "late_ticks": m.late_ticks,
                "send_errors": m.send_errors,
                "busy_ticks": len(durations),
                "tick_p50_ms": 1000 * ticks[len(ticks) // 2],
                "tick_p99_ms": 1000 * ticks[min(len(ticks) - 1, int(0.99 * len(ticks)))],
                "tick_max_ms": 1000 * ticks[-1],
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------ SIPp
def sipp_uac(
    port: int, rate: int, calls: int, hold_ms: int, timeout: float, trace: bool
) -> list[str]:
    """SIPp's uac calling 600 at ``rate`` calls/s, each call held ``hold_ms``."""
    argv = [
        sipp_binary(),
        "-sf",
        str(UAC_SCENARIO),
        "-s",
        "600",
        f"127.0.0.1:{port}",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port()),
        "-r",
        str(rate),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-d",
        str(hold_ms),
        "-recv_timeout",
        str(RECV_TIMEOUT_MS + hold_ms),
        "-timeout",
        str(round(timeout)),
        "-nostdin",
        "-trace_stat",
        "-stf",
        "uac_stat.csv",
        "-trace_counts",
        "-fd",
        "1",
    ]
    if trace:
        argv += ["-trace_msg", "-message_file", "messages.log"]
    return argv


# ------------------------------------------------------------------ set-up rate
def setup_step(rate: int, duration: float, root: Path, tag: str) -> dict:
    """``rate x duration`` calls of 1 s to 600 through a fresh ``pbx run``."""
    calls = max(1, round(rate * duration))
    work = root / f"setup_{rate}_{tag}"
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    procs: list[Process] = []
    with running(procs):
        pbx, port = start_pbx(work, serve=False)
        procs.append(pbx)
        cpu0 = cpu_seconds(pbx.pid)
        t0 = time.monotonic()
        uac = spawn("sipp", sipp_uac(port, rate, calls, 1000, duration + 30, False), work)
        procs.append(uac)
        try:
            uac.popen.wait(timeout=duration + 60)
        except Exception:
            pass
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(pbx.pid)
    stat = last_row(work / "uac_stat.csv")
    sent, received = retransmissions(last_row(next(iter(work.glob("*_counts.csv")), work / "x")))
    ok = _int(stat.get("SuccessfulCall(C)"))
    errors = [ln for ln in pbx.stderr_lines() if "Traceback" in ln or "error" in ln.lower()]
    return {
        "rate": rate,
        "calls": calls,
        "ok": ok,
        "failed": calls - ok,
        "passed": calls - ok < FAIL_LIMIT * calls,
        "cpu_ms": 1000 * (cpu1 - cpu0) / calls,
        "core": (cpu1 - cpu0) / wall,
        "retrans": f"{sent}/{received}",
        "setup_ms": duration_ms(stat.get("ResponseTime1(C)", "")),
        "load": load,
        "errors": errors[:3],
    }


def describe_setup(s: dict) -> str:
    """One line per set-up step."""
    verdict = "ok  " if s["passed"] else "FAIL"
    return (
        f"  setup {s['rate']:4d}/s {verdict} ok {s['ok']}/{s['calls']}"
        f" cpu {s['cpu_ms']:.2f} ms/call"
        f" ({100 * s['core']:.0f}% of a core) retrans {s['retrans']}"
        f" INVITE->200 {s['setup_ms']:.0f} ms load {s['load']:.2f}"
        + (f" pbx stderr: {s['errors']}" if s["errors"] else "")
    )


def setup_search(start: int, duration: float, quick: bool, root: Path, budget: float) -> list[dict]:
    """Double from ``start`` to the first failing rate, bisect, confirm the best once."""
    steps: list[dict] = []
    good: dict | None = None
    bad: int | None = None
    rate = start
    deadline = time.monotonic() + budget
    while len(steps) < MAX_STEPS - 1 and time.monotonic() < deadline:
        s = setup_step(rate, duration, root, f"s{len(steps)}")
        steps.append(s)
        print(describe_setup(s), flush=True)
        if s["passed"]:
            good = s
        else:
            bad = rate
        if bad is None:
            rate *= 2
            continue
        low = good["rate"] if good else 0
        if bad - low <= max(10, (0.3 if quick else 0.1) * max(low, 1)):
            break
        rate = (low + bad) // 2
    if good is not None and not quick:
        s = setup_step(good["rate"], duration, root, "confirm")
        steps.append(s)
        print(describe_setup(s), "(confirm)", flush=True)
        if not s["passed"]:
            # The machine is shared: step down once, to 85% of the rate, and confirm that.
            s = setup_step(round(0.85 * good["rate"]), duration, root, "confirm2")
            steps.append(s)
            print(describe_setup(s), "(confirm)", flush=True)
    return steps


# ------------------------------------------------------------------ concurrent media
SDP_PORT = re.compile(r"^m=audio (\d+) ", re.M)
CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.M | re.I)


def answered_ports(log: Path) -> dict[str, int]:
    """Call-ID -> the pbx's RTP port, from the 200 OK SDPs in SIPp's message log."""
    if not log.exists():
        return {}
    ports: dict[str, int] = {}
    for message in log.read_text("utf-8", "replace").split("SIP/2.0 200 OK")[1:]:
        message = message.split("----------------------------------------------- ")[0]
        m = SDP_PORT.search(message)
        c = CALL_ID.search(message)
        if m and c:
            ports[c.group(1)] = int(m.group(1))
    return ports


SideLoad = Callable[[Path, float], Process]
"""Started beside the media sender (``work``, ``seconds``): another load on the pbx; its
last stdout line starting with ``{`` is JSON merged into the step's result as ``side``."""


def media_step(
    n: int,
    seconds: float,
    root: Path,
    side: SideLoad | None = None,
    http_port: int = 0,
) -> dict:
    """Hold ``n`` calls to 600 and send media into each for ``seconds``."""
    work = root / f"media_{n}"
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    procs: list[Process] = []
    rate = max(10, min(n, 200))
    hold_ms = round(1000 * (n / rate + seconds + 4.0))
    side_result: dict[str, Any] = {}
    with running(procs):
        pbx, port = start_pbx(work, serve=True, http_port=http_port)
        procs.append(pbx)
        uac = spawn("sipp", sipp_uac(port, rate, n, hold_ms, hold_ms / 1000 + 40, True), work)
        procs.append(uac)
        ports: dict[str, int] = {}
        deadline = time.monotonic() + n / rate + 10.0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            ports = answered_ports(work / "messages.log")
            if len(ports) >= n:
                break
        (work / "ports.json").write_text(json.dumps(sorted(set(ports.values()))))
        cpu0 = cpu_seconds(pbx.pid)
        t0 = time.monotonic()
        sender = spawn(
            "sender",
            [
                PYTHON,
                str(HERE / "bench_media_path.py"),
                "--sender",
                str(work / "ports.json"),
                "--duration",
                str(seconds),
            ],
            work,
        )
        procs.append(sender)
        extra = side(work, seconds) if side is not None else None
        if extra is not None:
            procs.append(extra)
        sender.popen.wait(timeout=seconds + 60)
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(pbx.pid)
        result = json.loads(wait_line(sender, "{", 5.0))
        if extra is not None:
            side_result = json.loads(wait_line(extra, "{", seconds + 30))
        uac.popen.wait(timeout=hold_ms / 1000 + 60)
        procs.remove(pbx)
        pbx.stop(grace=15.0)
    stat = last_row(work / "uac_stat.csv")
    ok = _int(stat.get("SuccessfulCall(C)"))
    lines = [ln for ln in pbx.stdout().splitlines() if ln.startswith("{")]
    counters = json.loads(lines[-1]) if lines else {}
    counted = result["counted_sent"]
    return {
        "unread": result["sent"] - counters.get("packets_in", 0),
        "calls": n,
        "answered": len(ports),
        "ok": ok,
        "failed": n - ok,
        "loss": 1.0 - result["returned"] / counted if counted else 1.0,
        "pps": result["sent"] / seconds,
        "cpu": (cpu1 - cpu0) / wall,
        "sender_cpu": result["cpu_s"] / wall,
        "load": load,
        "side": side_result,
        **counters,
    }


def describe_media(r: dict) -> str:
    """One table row per concurrency step."""
    failed_ok = r["failed"] < FAIL_LIMIT * r["calls"] or r["failed"] == 0
    verdict = "ok" if r["loss"] < LOSS_LIMIT and r["unread"] <= 0 and failed_ok else "NO"
    return (
        f"| {r['calls']} | {verdict} | {r['ok']}/{r['calls']} | {r['pps']:,.0f}"
        f" | {100 * r['loss']:.3f}% | {max(0, r['unread']):,}"
        f" | {r.get('packets_in', 0):,} / {r.get('packets_out', 0):,}"
        f" | {r.get('tick_p50_ms', 0):.2f} / {r.get('tick_p99_ms', 0):.2f}"
        f" / {r.get('tick_max_ms', 0):.1f}"
        f" | {r.get('late_ticks', '?')} | {100 * r['cpu']:.0f}% | {100 * r['sender_cpu']:.0f}%"
        f" | {r['load']:.2f} |"
    )


MEDIA_HEADER = (
    "| concurrent calls to 600 | pass | SIPp ok/calls | RTP packets/s in | lost | not read by pbx"
    " | pbx packets in / out | tick + sends p50 / p99 / max ms | late ticks | pbx CPU | sender CPU"
    " | load |\n|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps (< 90 s in all)")
    parser.add_argument("--only", choices=("setup", "media"), help="run one part")
    parser.add_argument("--start", type=int, default=100, help="first set-up rate, calls/s")
    parser.add_argument("--rates", help="comma-separated set-up rates instead of the search")
    parser.add_argument("--concurrent", help="comma-separated concurrent-call counts")
    parser.add_argument("--media-seconds", type=float, help="media per step (20, or 5 quick)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    exit_on_sigterm()
    root = Path(tempfile.mkdtemp(prefix="bench_app_calls_"))
    t0 = time.monotonic()
    print(f"start: {uptime()}  ({os.cpu_count()} cores)", flush=True)
    setup: list[dict] = []
    media: list[dict] = []
    try:
        if args.only in (None, "setup"):
            duration = 3.0 if args.quick else 10.0
            if args.rates:
                for r in args.rates.split(",")[:MAX_STEPS]:
                    setup.append(setup_step(int(r), duration, root, "f"))
                    print(describe_setup(setup[-1]), flush=True)
            elif args.quick:
                for r in (150, 300, 450):
                    setup.append(setup_step(r, duration, root, "q"))
                    print(describe_setup(setup[-1]), flush=True)
            else:
                setup = setup_search(args.start, duration, False, root, 420.0)
        if args.only in (None, "media"):
            seconds = args.media_seconds or (5.0 if args.quick else 20.0)
            default = "100,400" if args.quick else "100,200,400,600,800"
            for n in [int(c) for c in (args.concurrent or default).split(",")][:8]:
                media.append(media_step(n, seconds, root))
                print(describe_media(media[-1]), flush=True)
                if media[-1]["loss"] >= 0.05:
                    break
        print(f"\nend: {uptime()}; {time.monotonic() - t0:.0f} s\n")
        if setup:
            good = [s for s in setup if s["passed"]]
            print(
                "| set-up rate, 1 s calls to 600 (echo) | ok/calls | pbx CPU ms/call | pbx core |"
            )
            print("|---:|---:|---:|---:|")
            for s in setup:
                verdict = "" if s["passed"] else " FAIL"
                print(
                    f"| {s['rate']}/s{verdict} | {s['ok']}/{s['calls']} | {s['cpu_ms']:.2f}"
                    f" | {100 * s['core']:.0f}% |"
                )
            if good:
                best = max(good, key=lambda s: s["rate"])
                print(f"\nhighest set-up rate with < 0.1% failed: {best['rate']} calls/s")
        if media:
            print()
            print(MEDIA_HEADER)
            for r in media:
                print(describe_media(r))
            print(
                "\nLost: packets the sender sent into a call (up to 0.5 s before the end) that"
                " the echo never sent back. Tick: MediaService's whole tick (engine tick, sends,"
                " hand-offs) while calls were up."
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
