"""Concurrent bridged calls with media and recording on one core, driven by SIPp with
pcap audio both ways.

Theory of operation
-------------------
Per step, on 127.0.0.1, each process started in its own session and stopped by PID:

* **pbx**: the example call center (``examples/callcenter.toml`` moved to free ports,
  its store and recordings in a temp dir) with one route added: DID ``900`` is
  forwarded over a trunk to the called party (``dial = "900"``) with ``record = true``,
  so every call is a B2BUA bridge of two legs with media anchored in the engine
  (jitter buffers, mixing, the stereo recording of both sides) and a CDR. It runs as
  ``pbx run`` does (uvloop, the same collector settings, warning logs) in this script's
  ``--serve`` mode, which adds a timer around the media tick and, per channel as it is
  removed, the RTP stream's counters (RFC 3550 A.3 loss, late and duplicate packets, packets sent).
* **the called party**: SIPp's uas (``scenarios/uas_pcap.xml``) answering with PCMA and
  playing SIPp's bundled ``g711a.pcap`` (7.05 s of PCMA in 30 ms packets) after the ACK.
* **the callers**: SIPp's uac (``scenarios/uac_pcap_900.xml``) calling 900, playing
  the same pcap after the ACK and hanging up after 7.3 s; at most N calls at once
  (``-l N``), started at N / 7.5 calls/s, so about N calls are up at any time.

"On one core": with two or more CPUs, pbx (all its threads) is pinned to CPU 0 and both
SIPp processes to the others (``taskset``), so the one-thread-per-call pcap players
never take the pbx's core; ``--no-pin`` leaves scheduling to the kernel.

Both directions of every call carry pcap audio through pbx; pbx re-frames the 30 ms
packets into its 20 ms ticks. A step passes when fewer than 0.1% of the calls failed
(SIPp's counts, caller side) and pbx added no packet loss: every packet SIPp's players
sent was read (the pcap's packet count × 2 × answered calls = what pbx's streams
received), none arrived too late for its frame, no tick was late and no send failed.
Every call's recording is checked: a readable stereo WAV of the call's length, no
``.part`` file left, and in the first 20 both sides carry speech (at least 2 s of 20 ms
frames above -50 dBFS each).

Run: ``.venv/bin/python benchmarks/bench_bridged_calls.py [--quick] [--concurrent 100,200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_app_calls import application_as_pbx_run, example_config  # noqa: E402
from bench_sip_load import (  # noqa: E402
    RECV_TIMEOUT_MS,
    Process,
    _int,
    cpu_seconds,
    exit_on_sigterm,
    free_port,
    last_row,
    running,
    sipp_binary,
    spawn,
    uptime,
    wait_udp_bound,
)

PYTHON = sys.executable
EXAMPLE = ROOT / "examples" / "callcenter.toml"
UAC = HERE / "scenarios" / "uac_pcap_900.xml"
UAS = HERE / "scenarios" / "uas_pcap.xml"
CALL_SECONDS = 7.5
"""A caller's call: set-up, 7.3 s of media, BYE."""
FAIL_LIMIT = 0.001
PCAP = Path("/usr/share/sip-tester/g711a.pcap")
UAC_MEDIA_IP = "127.0.0.2"
UAS_MEDIA_IP = "127.0.0.3"
"""SIPp's pcap player opens a raw UDP socket per playing call, and Linux hands every UDP
datagram to every raw UDP socket bound to its destination address: with the players on
addresses of their own, what pbx receives on 127.0.0.1 is not copied to them (what pbx
sends to a player's address still is, to that SIPp's sockets)."""


def pcap_packets(path: Path) -> int:
    """The number of packets in a libpcap file (what SIPp plays per call and direction)."""
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    count, pos = 0, 24
    while pos + 16 <= len(data):
        (incl,) = struct.unpack_from(order + "I", data, pos + 8)
        pos += 16 + incl
        count += 1
    return count


# ------------------------------------------------------------------ pbx
def write_config(work: Path, sip_port: int, uas_port: int, calls: int) -> Path:
    """The example configuration on ``sip_port`` with DID 900 → trunk ``callee``, recorded."""
    text = example_config(work, sip_port, 8 * calls + 200, top=60000)
    text += f"""
[trunks.callee]
host = "127.0.0.1"
port = {uas_port}

[[dialplan]]
number = "900"
from = "any"
target = "trunk"
trunk = "callee"
dial = "900"
record = true
"""
    path = work / "cc.toml"
    path.write_text(text)
    return path


def serve(config_path: str) -> None:
    """``pbx run`` plus a tick timer and each removed channel's RTP counters, as JSON."""
    app = application_as_pbx_run(config_path)
    durations: list[float] = []
    media = app.media
    service_tick = media._tick
    totals = {
        "legs": 0,
        "expected": 0,
        "received": 0,
        "lost": 0,
        "late": 0,
        "duplicates": 0,
        "packets_sent": 0,
        "max_concurrent_legs": 0,
    }

    def timed_tick() -> None:
        t = time.perf_counter()
        service_tick()
        if app.calls.calls:
            durations.append(time.perf_counter() - t)
            live = len(app.calls.legs)
            if live > totals["max_concurrent_legs"]:
                totals["max_concurrent_legs"] = live

    media._tick = timed_tick  # type: ignore[method-assign]
    pauses: list[float] = []
    gc_start = [0.0]

    def gc_timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - gc_start[0])

    gc.callbacks.append(gc_timer)
    scheduled_at: list[float] = []
    schedule = media._schedule

    def timed_schedule() -> None:
        schedule()
        handle = media._tick_handle
        if handle is not None:
            scheduled_at.append(media.loop.time())

    media._schedule = timed_schedule  # type: ignore[method-assign]
    # The longest single callbacks of the loop (a long one delays the next tick).
    slow: dict[str, list[float]] = {"sip": [], "sip_timer": [], "rtp": []}

    def timed(name: str, fn: Any) -> Any:
        def run(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                slow[name].append(time.perf_counter() - t)

        return run

    app.sip.udp._handler = timed("sip", app.sip.udp._handler)
    app.sip._on_timer = timed("sip_timer", app.sip._on_timer)  # type: ignore[method-assign]
    media._drain = timed("rtp", media._drain)  # type: ignore[method-assign]
    from pbx.media.engine import MediaEngine

    remove_channel = MediaEngine.remove_channel

    def counted_remove(engine: MediaEngine, ch: int) -> None:
        stream: Any = engine._streams[ch]
        stats = stream.stats()
        totals["legs"] += 1
        totals["received"] += stats.packets_received
        totals["lost"] += max(0, stats.lost)
        totals["expected"] += stats.packets_received + max(0, stats.lost)
        totals["late"] += stats.late
        totals["duplicates"] += stats.duplicates
        totals["packets_sent"] += stats.packets_sent
        remove_channel(engine, ch)

    # The engine is a slotted attrs class: its class gets the wrapper (this process only).
    MediaEngine.remove_channel = counted_remove  # type: ignore[method-assign]
    asyncio.run(app.run())
    ticks = sorted(durations) or [0.0]
    print(
        json.dumps(
            {
                **totals,
                "packets_in": media.packets_in,
                "packets_out": media.packets_out,
                "ticks": media.ticks,
                "late_ticks": media.late_ticks,
                "send_errors": media.send_errors,
                "tick_p50_ms": 1000 * ticks[len(ticks) // 2],
                "tick_p99_ms": 1000 * ticks[min(len(ticks) - 1, int(0.99 * len(ticks)))],
                "tick_max_ms": 1000 * ticks[-1],
                **{f"{name}_max_ms": 1000 * max(v, default=0.0) for name, v in slow.items()},
                **{f"{name}_total_s": sum(v) for name, v in slow.items()},
                "gc_pauses": len(pauses),
                "gc_max_ms": 1000 * max(pauses, default=0.0),
                "gc_total_ms": 1000 * sum(pauses),
                "max_gap_ms": 1000 * max(np.diff(scheduled_at), default=0.0),
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------ SIPp
def sipp_argv(scenario: Path, stat: str, media_ip: str, extra: list[str]) -> list[str]:
    """SIPp on 127.0.0.1 with its media (and its pcap players' raw sockets) on ``media_ip``."""
    return [
        sipp_binary(),
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-mi",
        media_ip,
        "-nostdin",
        "-trace_stat",
        "-stf",
        stat,
        "-trace_counts",
        "-fd",
        "1",
        *extra,
    ]


# ------------------------------------------------------------------ one step
def recordings_check(directory: Path) -> dict[str, Any]:
    """Count the recordings; the shortest and longest; any ``.part`` left."""
    import soundfile as sf

    files = sorted(directory.rglob("*.wav")) if directory.exists() else []
    parts = list(directory.rglob("*.part")) if directory.exists() else []
    lengths = []
    stereo = 0
    audible = 0
    for i, path in enumerate(files):
        info = sf.info(str(path))
        lengths.append(info.frames / info.samplerate)
        stereo += info.channels == 2
        if i < 20 and info.channels == 2:
            # Both sides carry the pcap's speech: 20 ms frames with energy, per channel.
            samples, _ = sf.read(str(path), dtype="int16")
            frames = samples[: len(samples) // 160 * 160].reshape(-1, 160, 2).astype(float)
            loud = (frames**2).mean(axis=1) > 100.0**2
            audible += bool(loud[:, 0].sum() >= 100 and loud[:, 1].sum() >= 100)
    return {
        "recordings": len(files),
        "stereo": stereo,
        "checked": min(20, len(files)),
        "audible": audible,
        "parts": len(parts),
        "rec_min_s": min(lengths, default=0.0),
        "rec_max_s": max(lengths, default=0.0),
    }


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """``argv`` run on ``cpus`` (taskset execs it: the PID stays the command's)."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *argv] if cpus and taskset else argv


def step(n: int, seconds: float, root: Path, pin: bool = True) -> dict[str, Any]:
    """About ``n`` concurrent bridged, recorded calls with pcap audio for ``seconds``."""
    cores = os.cpu_count() or 1
    pbx_cpus = "0" if pin and cores > 1 else None
    sipp_cpus = f"1-{cores - 1}" if pin and cores > 1 else None
    work = root / f"bridged_{n}"
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    rate = max(1.0, n / CALL_SECONDS)
    total = max(n, round(rate * seconds))
    procs: list[Process] = []
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
        sip_port = free_port()
        config = write_config(work, sip_port, uas_port, n)
        pbx = spawn("pbx", pinned([PYTHON, __file__, "--serve", str(config)], pbx_cpus), work)
        procs.append(pbx)
        wait_udp_bound(sip_port, pbx, timeout=30.0)
        time.sleep(0.3)
        cpu0 = cpu_seconds(pbx.pid)
        uas0 = cpu_seconds(uas.pid)
        t0 = time.monotonic()
        uac = spawn(
            "uac",
            pinned(
                sipp_argv(
                    UAC,
                    "uac_stat.csv",
                    UAC_MEDIA_IP,
                    [
                        "-s",
                        "900",
                        f"127.0.0.1:{sip_port}",
                        "-p",
                        str(free_port()),
                        "-mp",
                        str(free_port()),
                        "-r",
                        f"{rate:.2f}",
                        "-rp",
                        "1000",
                        "-l",
                        str(n),
                        "-m",
                        str(total),
                        "-recv_timeout",
                        str(RECV_TIMEOUT_MS + 10_000),
                        "-timeout",
                        str(round(seconds + 60)),
                    ],
                ),
                sipp_cpus,
            ),
            work,
        )
        procs.append(uac)
        uac_cpu = [0.0]
        deadline = time.monotonic() + seconds + 90
        while uac.popen.poll() is None and time.monotonic() < deadline:
            try:
                uac_cpu[0] = cpu_seconds(uac.pid)  # /proc/PID is gone once it is reaped
            except OSError:
                break
            time.sleep(0.25)
        try:
            uac.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
        except Exception:
            pass
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(pbx.pid)
        sipp_cpu = cpu_seconds(uas.pid) - uas0 + uac_cpu[0]
        time.sleep(1.0)  # the last BYEs, the last recording blocks
        procs.remove(pbx)
        pbx.stop(grace=15.0)
    stat = last_row(work / "uac_stat.csv")
    ok = _int(stat.get("SuccessfulCall(C)"))
    failed = _int(stat.get("FailedCall(C)"))
    lines = [ln for ln in pbx.stdout().splitlines() if ln.startswith("{")]
    counters = json.loads(lines[-1]) if lines else {}
    recs = recordings_check(work / "recordings")
    sent = 2 * pcap_packets(PCAP) * ok  # both players, every answered call
    errors = [ln for ln in pbx.stderr_lines() if "Traceback" in ln or "error" in ln.lower()]
    return {
        "concurrent": n,
        "calls": total,
        "ok": ok,
        "failed": max(failed, total - ok),
        "sipp_sent": sent,
        "unread": sent - counters.get("received", 0),
        "cpu": (cpu1 - cpu0) / wall,
        "sipp_cpu": sipp_cpu / wall,
        "load": load,
        "errors": errors[:3],
        **counters,
        **recs,
    }


def passed(r: dict[str, Any]) -> bool:
    """< 0.1% failed calls and no loss added by pbx."""
    return (
        r["failed"] <= FAIL_LIMIT * r["calls"]
        and r.get("lost", 1) == 0
        and r["unread"] <= 0
        and r.get("late", 1) == 0
        and r.get("late_ticks", 1) == 0
        and r.get("send_errors", 1) == 0
        and r.get("parts", 1) == 0
        and r["audible"] == r["checked"]
    )


def describe(r: dict[str, Any]) -> str:
    """One table row."""
    verdict = "ok" if passed(r) else "NO"
    expected = r.get("expected", 0)
    lost_pct = 100 * r.get("lost", 0) / expected if expected else 0.0
    unread_pct = 100 * max(0, r["unread"]) / r["sipp_sent"] if r["sipp_sent"] else 0.0
    return (
        f"| {r['concurrent']} | {verdict} | {r['ok']}/{r['calls']}"
        f" | {r.get('max_concurrent_legs', 0) // 2}"
        f" | {r['sipp_sent']:,} | {r.get('received', 0):,}"
        f" | {max(0, r['unread']):,} ({unread_pct:.3f}%) | {r.get('lost', 0):,} ({lost_pct:.3f}%)"
        f" | {r.get('late', 0):,} | {r.get('packets_sent', 0):,}"
        f" | {r.get('tick_p50_ms', 0):.2f} / {r.get('tick_p99_ms', 0):.2f}"
        f" / {r.get('tick_max_ms', 0):.1f} | {r.get('late_ticks', '?')}"
        f" | {r['recordings']} ({r['stereo']} stereo, {r['rec_min_s']:.1f}–{r['rec_max_s']:.1f} s,"
        f" {r['audible']}/{r['checked']} with both sides heard,"
        f" {r['parts']} .part) | {100 * r['cpu']:.0f}% | {100 * r['sipp_cpu']:.0f}%"
        f" | {r['load']:.2f} |" + (f" pbx stderr: {r['errors']}" if r["errors"] else "")
    )


HEADER = (
    "| concurrent calls (-l) | pass | SIPp ok/calls | most calls up at once"
    " | RTP packets SIPp played | pbx read | not read by pbx | gaps while read (A.3)"
    " | late for their frame"
    " | RTP packets pbx sent | tick + sends p50 / p99 / max ms | late ticks"
    " | recordings | pbx CPU | SIPp CPU (both) | load |\n"
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short steps")
    parser.add_argument("--concurrent", help="comma-separated concurrent-call counts")
    parser.add_argument("--seconds", type=float, help="seconds of calls per step (30, quick 12)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin pbx and SIPp to CPUs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    exit_on_sigterm()
    seconds = args.seconds or (12.0 if args.quick else 30.0)
    default = "50,100" if args.quick else "100,200,300,400,500"
    counts = [int(c) for c in (args.concurrent or default).split(",")][:8]
    root = Path(tempfile.mkdtemp(prefix="bench_bridged_"))
    t0 = time.monotonic()
    print(f"start: {uptime()}  ({os.cpu_count()} cores); {seconds:g} s of calls per step")
    rows = []
    try:
        for n in counts:
            rows.append(step(n, seconds, root, pin=not args.no_pin))
            print(describe(rows[-1]), flush=True)
            if rows[-1]["failed"] > 0.05 * rows[-1]["calls"]:
                break
        print(f"\nend: {uptime()}; {time.monotonic() - t0:.0f} s\n")
        print(HEADER)
        for r in rows:
            print(describe(r))
        good = [r for r in rows if passed(r)]
        if good:
            best = max(good, key=lambda r: r["concurrent"])
            print(
                f"\nhighest passing: {best['concurrent']} concurrent bridged calls, recorded,"
                f" pcap audio both ways, at {100 * best['cpu']:.0f}% of a core"
            )
        print(
            "\nSIPp played: the pcap's packets x 2 directions x answered calls. Not read by pbx:"
            " played minus what pbx's streams received (dropped by the kernel or still queued"
            " when the call ended). Gaps while read: RFC 3550 A.3 (expected - received) per"
            " leg when its channel closed. Late: packets that came after their frame was"
            " played. A step passes with < 0.1% failed calls, every packet read, none late,"
            " no late tick or send error, and no .part file."
        )
    finally:
        if args.keep:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
