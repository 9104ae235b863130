"""Packet path: RTP packets/s received, jitter-buffered, mixed and sent per core by the real
asyncio media engine, expressed as concurrent two-party calls.

Theory of operation
-------------------
Two processes on 127.0.0.1, each started in its own session and stopped by PID:

* the *engine* (``--engine N``): one :class:`~pbx.net.media.MediaService` with its
  :class:`~pbx.media.engine.MediaEngine`, as the application builds them (uvloop when
  installed, the collector tuned like ``pbx run``), with N RTP channels. Channels are
  bridged in pairs (``--mode pairs``: what channel 2k says, channel 2k+1 sends, and back —
  a two-party call is one pair) or each echoes itself (``--mode echo``). Every datagram
  goes through the real path: socket read, ``RtpStream.receive`` (latching, jitter
  buffer), the tick (decode, mix, encode, packetize) and a ``sendto``. It prints its
  ports, runs until SIGTERM, then prints one JSON line: packets in and out, ticks, late
  ticks, send errors and the tick's own duration (p50, p99, max).
* the *sender* (``--sender``): N sockets, one per channel, each sending a G.711 packet
  every 20 ms (50 packets/s, 160 bytes of PCMU) for the step's duration, and reading
  what comes back. Each payload carries the packet's number in bytes that μ-law decode
  and re-encode unchanged (every code but 0x7F), so the sender knows exactly which of
  its packets came back out of the other channel of the pair: a packet that never
  comes back was lost in pbx (or in the kernel between the two), a fill frame the
  engine made up for a missing one counts as nothing.

Loss = 1 - (distinct packets returned / packets sent), over the packets sent up to
0.5 s before the end (those later may be in flight). Packets pbx never read (dropped by
the kernel: sent minus ``MediaService.packets_in``) are counted apart, and so are the
jitter buffer's own decisions (a packet later than its frame, a frame dropped when the
adaptive depth shrinks). A step passes when pbx read every packet and fewer than 0.1%
were lost end to end. The engine's CPU (utime+stime from /proc) per second is the core
share it needed.

Run: ``.venv/bin/python benchmarks/bench_media_path.py [--quick] [--channels 200,400,...]``
(``--profile N`` samples the engine at N channels with py-spy and prints its top
functions).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_sip_load import (  # noqa: E402
    Process,
    cpu_seconds,
    exit_on_sigterm,
    print_py_spy,
    py_spy,
    running,
    spawn,
    uptime,
)

PTIME = 0.020
PAYLOAD = 160
MAGIC = b"\x11\x22\x33\x44"
"""First payload bytes of every packet the sender makes (none is 0x7F)."""
LOSS_LIMIT = 0.001
"""A step passes when pbx read every packet sent and fewer than 0.1% did not come back."""
PYTHON = sys.executable


# ------------------------------------------------------------------ payloads
def encode_number(n: int) -> bytes:
    """``n`` as 5 base-127 digits: bytes 0..126 survive a μ-law decode and re-encode."""
    digits = []
    for _ in range(5):
        n, d = divmod(n, 127)
        digits.append(d)
    return bytes(digits)


def decode_number(data: bytes) -> int:
    """The inverse of :func:`encode_number`."""
    n = 0
    for d in reversed(data):
        n = n * 127 + d
    return n


def payload_of(channel: int, number: int) -> bytes:
    """160 bytes: MAGIC, the sending channel, the packet's number, a fixed filler."""
    head = MAGIC + encode_number(channel) + encode_number(number)
    return head + b"\x55" * (PAYLOAD - len(head))


# ------------------------------------------------------------------ sender process
def run_sender(ports: list[int], duration: float) -> dict[str, float]:
    """Send 50 packets/s from one socket per port for ``duration`` s; count returns."""
    n = len(ports)
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    dests = [("127.0.0.1", p) for p in ports]
    ssrcs = [random.getrandbits(32) for _ in range(n)]
    returned: list[set[int]] = [set() for _ in range(n)]
    fill = 0
    sent = 0
    late = 0
    t0 = time.monotonic()
    k = 0
    count_until = duration - 0.5
    counted_sent = 0
    end = t0 + duration + 0.5
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = t0 + k * PTIME
        if now >= due and k * PTIME < duration:
            if now - due > PTIME:
                late += 1
            hdr_ts = (k * PAYLOAD) & 0xFFFFFFFF
            seq = k & 0xFFFF
            for i, s in enumerate(socks):
                packet = struct.pack("!BBHII", 0x80, 0, seq, hdr_ts, ssrcs[i]) + payload_of(i, k)
                try:
                    s.sendto(packet, dests[i])
                    sent += 1
                except BlockingIOError:
                    pass
            if k * PTIME < count_until:
                counted_sent += n
            k += 1
            continue
        timeout = max(0.0, min(due if k * PTIME < duration else end, end) - now)
        for key, _ in sel.select(timeout):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            for _ in range(64):
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                body = data[12:]
                if body[:4] == MAGIC:
                    src = decode_number(body[4:9])
                    number = decode_number(body[9:14])
                    if src < n:
                        returned[src].add(number)
                else:
                    fill += 1
    limit = int(count_until / PTIME)
    back = sum(sum(1 for x in r if x < limit) for r in returned)
    for s in socks:
        s.close()
    return {
        "sent": sent,
        "counted_sent": counted_sent,
        "returned": back,
        "fill": fill,
        "late_ticks": late,
        "cpu_s": time.process_time(),
    }


# ------------------------------------------------------------------ engine process
async def serve_engine(channels: int, mode: str, port_min: int) -> None:
    """Open ``channels`` RTP channels, bridge them, print the ports, tick until SIGTERM."""
    from pbx.media.engine import MediaEngine, TickOutput
    from pbx.net.media import MediaService
    from pbx.rtp.ports import PortPool
    from pbx.rtp.stream import RtpStream

    durations: list[float] = []
    """MediaEngine.tick alone."""
    whole: list[float] = []
    """The service's whole tick: engine tick, sends, event and recording hand-off."""

    class TimedEngine(MediaEngine):
        def tick(self, now: float) -> TickOutput:
            t = time.perf_counter()
            out = super().tick(now)
            durations.append(time.perf_counter() - t)
            return out

    engine = TimedEngine()
    service = MediaService(engine, PortPool(port_min, port_min + 4 * channels + 200), "127.0.0.1")
    service_tick = service._tick

    def timed_service_tick() -> None:
        t = time.perf_counter()
        service_tick()
        whole.append(time.perf_counter() - t)

    service._tick = timed_service_tick  # type: ignore[method-assign]
    rng = random.Random(7)
    ports = []
    chans = []
    streams = []
    for i in range(channels):
        port = service.open()
        stream = RtpStream(
            rng.getrandbits(32),
            0,
            clock_rate=8000,
            telephone_event_pt=101,
            initial_seq=rng.getrandbits(16),
            initial_ts=rng.getrandbits(32),
            cname=f"bench{i}@127.0.0.1",
            rng=rng,
        )
        streams.append(stream)
        ch = engine.add_channel(stream, "PCMU")
        service.attach(port, ch)
        ports.append(port)
        chans.append(ch)
    if mode == "echo":
        for ch in chans:
            engine.echo(ch, True)
    else:
        for a, b in zip(chans[0::2], chans[1::2], strict=False):
            bridge = engine.bridge_create()
            engine.bridge_join(bridge, a)
            engine.bridge_join(bridge, b)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gc.freeze()
    service.start()
    print(json.dumps({"ports": ports}), flush=True)
    await stop.wait()
    service.stop()
    buffers = [st._jitter for st in streams]
    jb = {
        name: sum(getattr(b, name) for b in buffers)
        for name in ("late", "dropped", "underruns", "lost")
    }
    ticks = sorted(durations[50:]) or [0.0]
    full = sorted(whole[50:]) or [0.0]
    print(
        json.dumps(
            {
                "packets_in": service.packets_in,
                "packets_out": service.packets_out,
                "ticks": service.ticks,
                "late_ticks": service.late_ticks,
                "send_errors": service.send_errors,
                "tick_p50_ms": 1000 * ticks[len(ticks) // 2],
                "tick_p99_ms": 1000 * ticks[min(len(ticks) - 1, int(0.99 * len(ticks)))],
                "tick_max_ms": 1000 * ticks[-1],
                "jitter_buffer": jb,
                "service_tick_p50_ms": 1000 * full[len(full) // 2],
                "service_tick_p99_ms": 1000 * full[min(len(full) - 1, int(0.99 * len(full)))],
            }
        ),
        flush=True,
    )


def engine_main(channels: int, mode: str, port_min: int) -> None:
    """The engine process: uvloop when installed, the collector tuned like ``pbx run``."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    gc.set_threshold(20_000, 20, 20)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(serve_engine(channels, mode, port_min))


# ------------------------------------------------------------------ orchestration
def wait_line(proc: Process, prefix: str, timeout: float) -> str:
    """The first stdout line of ``proc`` starting with ``prefix`` (waits ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in proc.stdout().splitlines():
            if line.startswith(prefix):
                return line
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited: {proc.stderr_lines()[-5:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} printed no {prefix!r} line within {timeout} s")


def step(channels: int, mode: str, duration: float, root: Path, spy_seconds: float = 0.0) -> dict:
    """One step: ``channels`` channels for ``duration`` s; returns the measured figures."""
    work = root / f"{mode}_{channels}"
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    port_min = 20000 + random.randrange(0, 8000, 2)
    procs: list[Process] = []
    with running(procs):
        engine = spawn(
            "engine",
            [
                PYTHON,
                __file__,
                "--engine",
                str(channels),
                "--mode",
                mode,
                "--port-min",
                str(port_min),
            ],
            work,
        )
        procs.append(engine)
        ports = json.loads(wait_line(engine, '{"ports"', 30.0))["ports"]
        (work / "ports.json").write_text(json.dumps(ports))
        cpu0 = cpu_seconds(engine.pid)
        t0 = time.monotonic()
        sender = spawn(
            "sender",
            [PYTHON, __file__, "--sender", str(work / "ports.json"), "--duration", str(duration)],
            work,
        )
        procs.append(sender)
        if spy_seconds and (spy := py_spy()) is not None:
            time.sleep(1.0)
            record = [spy, "record", "-d", str(round(spy_seconds)), "-r", "200", "-f", "raw"]
            record += ["-o", str(work / "py-spy.txt"), "--pid", str(engine.pid)]
            spy_proc = spawn("py-spy", record, work)
            procs.append(spy_proc)
        sender.popen.wait(timeout=duration + 60)
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(engine.pid)
        sent_line = wait_line(sender, "{", 5.0)
        procs.remove(engine)
        engine.stop(grace=10.0)
    result = json.loads(sent_line)
    counters = json.loads([ln for ln in engine.stdout().splitlines() if ln.startswith("{")][-1])
    if spy_seconds:
        print_py_spy(work / "py-spy.txt", 15)
    counted = result["counted_sent"]
    loss = 1.0 - result["returned"] / counted if counted else 1.0
    unread = result["sent"] - counters["packets_in"]
    return {
        "unread": unread,
        "passed": unread <= 0 and loss < LOSS_LIMIT,
        "channels": channels,
        "calls": channels // 2 if mode == "pairs" else channels,
        "pps_in": result["sent"] / duration,
        "loss": loss,
        "fill": result["fill"],
        "cpu": (cpu1 - cpu0) / wall,
        "sender_cpu": result["cpu_s"] / wall,
        "sender_late": result["late_ticks"],
        "load": load,
        **counters,
    }


def describe(r: dict) -> str:
    """One table row."""
    verdict = "ok  " if r["passed"] else "LOSS"
    jb = r["jitter_buffer"]
    return (
        f"| {r['calls']} | {r['channels']} | {r['pps_in']:,.0f} | {verdict} {100 * r['loss']:.3f}%"
        f" | {max(0, r['unread']):,} | {jb['late']:,} / {jb['dropped']:,} / {jb['underruns']:,}"
        f" | {r['packets_in']:,} / {r['packets_out']:,} | {100 * r['cpu']:.0f}%"
        f" | {r['tick_p50_ms']:.2f} / {r['tick_p99_ms']:.2f} / {r['tick_max_ms']:.1f}"
        f" | {r['service_tick_p50_ms']:.2f} / {r['service_tick_p99_ms']:.2f}"
        f" | {r['late_ticks']} | {100 * r['sender_cpu']:.0f}% ({r['sender_late']} late)"
        f" | {r['load']:.2f} |"
    )


HEADER = (
    "| two-party calls | channels | RTP packets/s in | lost end to end | not read by pbx"
    " | jitter buffer late / dropped / underruns | pbx packets in / out | pbx CPU"
    " | engine tick p50 / p99 / max ms | tick + sends p50 / p99 ms | late ticks | sender CPU"
    " | load |\n"
    "|---:|---:|---:|---|---:|---|---:|---:|---|---|---:|---|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s steps, fewer of them")
    parser.add_argument("--channels", help="comma-separated channel counts to step through")
    parser.add_argument("--duration", type=float, help="seconds per step (15, or 5 with --quick)")
    parser.add_argument("--mode", choices=("pairs", "echo"), default="pairs")
    parser.add_argument("--profile", type=int, metavar="N", help="py-spy the engine at N channels")
    parser.add_argument("--engine", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port-min", type=int, default=20000, help=argparse.SUPPRESS)
    parser.add_argument("--sender", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        engine_main(args.engine, args.mode, args.port_min)
        return
    if args.sender:
        ports = json.loads(Path(args.sender).read_text())
        print(json.dumps(run_sender(ports, args.duration)), flush=True)
        return
    exit_on_sigterm()
    duration = args.duration or (5.0 if args.quick else 15.0)
    default = "200,600,1000,1400" if args.quick else "200,400,600,800,1000,1200,1400,1600,2000"
    counts = [int(c) for c in (args.channels or default).split(",")][:12]
    root = Path(tempfile.mkdtemp(prefix="bench_media_path_"))
    print(f"start: {uptime()}  ({os.cpu_count()} cores); {duration:g} s per step, mode {args.mode}")
    try:
        if args.profile:
            r = step(args.profile, args.mode, max(duration, 12.0), root, spy_seconds=8.0)
            print(HEADER)
            print(describe(r))
            return
        rows = []
        for n in counts:
            r = step(n, args.mode, duration, root)
            rows.append(r)
            print(describe(r), flush=True)
            if r["loss"] >= 0.05:
                break  # far past the ceiling: the next step would only lose more
        best = [r for r in rows if r["passed"]]
        print(f"\nend: {uptime()}\n")
        print(HEADER)
        for r in rows:
            print(describe(r))
        if best:
            top = max(best, key=lambda r: r["calls"])
            print(
                f"\nhighest without loss: {top['calls']} two-party calls"
                f" ({top['pps_in']:,.0f} RTP packets/s in and out) at {100 * top['cpu']:.0f}%"
                " of a core for the engine process"
            )
        print(
            "Lost end to end: packets the sender sent (up to 0.5 s before the end) that never"
            " came back out of the other channel of the pair. Not read by pbx: sent minus"
            " MediaService.packets_in (dropped by the kernel before pbx read them). Jitter"
            " buffer: packets that came after their frame was played, frames dropped when the"
            " adaptive depth shrinks, underruns (summed over channels). A step passes when pbx"
            " read every packet and < 0.1% were lost end to end. CPU: the engine process's"
            " utime+stime per wall second. Engine tick: MediaEngine.tick alone; tick + sends:"
            " the service's whole tick."
        )
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
