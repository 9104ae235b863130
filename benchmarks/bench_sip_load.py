"""SIP call set-up rate: pbx as a UAS and as a B2BUA, side by side with the sippy B2BUA.

Three chains on 127.0.0.1, each driven by SIPp's uac scenario (INVITE, 100/180/200, ACK,
BYE at once) at a fixed rate:

* ``pbx UAS``:     SIPp uac -> ``uas_answer.py`` (one pbx process answering every call);
* ``pbx B2BUA``:   SIPp uac -> ``b2bua_bridge.py`` -> SIPp uas (two legs per call);
* ``sippy B2BUA``: SIPp uac -> sippy ``b2bua`` (``-f -u -A 0``, SIP log off) -> SIPp uas.

The uac is ``scenarios/uac_txn.xml``, SIPp's stock uac with its INVITE and BYE tracked as
transactions (the stock one counts a call as successful when a retransmitted 200 to the
INVITE arrives in place of the BYE's 200); the far end is ``scenarios/uas_b_leg.xml``,
SIPp's stock uas without ``;transport=UDP`` in Contact (which sippy cannot send its BYE
to). ``--stock-uac`` uses ``-sn uac`` instead.

Each step places ``rate x duration`` calls with ``sipp -r RATE -m N -l N`` (open loop:
SIPp does not slow down when the SUT falls behind) against freshly started processes.
A call fails when SIPp does not complete it on either leg: no answer after SIPp's
retransmissions, or any expected message more than ``-recv_timeout`` (2 s) late, so an
SUT slower than the offered rate fails once its backlog reaches 2 s. The search doubles
the rate from ``--start`` until a step has 0.1% or more failed calls, bisects between the
last good and the first bad rate, and repeats the best good step once to confirm it.

Reported per chain: the highest rate with < 0.1% failed calls, the CPU time the SUT
used per call at that rate and at the first (100/s) step (utime+stime from
/proc/PID/stat, all threads), the retransmissions SIPp sent (INVITE/BYE by the uac,
200 OK by the uas: the SUT answered > 500 ms late) and received (the SUT resent), and
SIPp's mean INVITE->200 time. The full run then holds half that rate for 45 s per
chain: server transactions outlive their call by 32 s (64·T1, Timers J and L), so a cost
that grows with live transactions shows only past 32 s, never in a 10 s step.

Every process is started in its own session and stopped by PID (its process group) in a
``finally``; every loop is bounded in count and time. The machine is shared and has 2
cores: the load average is printed with every step. ``--quick`` (3 s steps, coarser
search, no 45 s run) finishes in about a minute and a half, the full run in under ten.

Run: ``.venv/bin/python benchmarks/bench_sip_load.py [--quick]``. ``--profile RATE``
samples ``uas_answer.py`` (or ``--chain "pbx B2BUA"``) with py-spy over the second half
of a 60 s run at RATE calls/s (cProfile when py-spy is not installed) and prints its top
15 functions; ``--soak RATE`` prints the SUT's CPU per 5 s of one long step.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import define, evolve, frozen

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
SIPPY_B2BUA = Path(PYTHON).parent / "b2bua"
CHAINS = ("pbx UAS", "pbx B2BUA", "sippy B2BUA")
FAIL_LIMIT = 0.001
"""A step passes with fewer than 0.1% failed calls."""
MAX_STEPS = 12
"""Steps per chain, confirmation included: the search is bounded in count..."""


@frozen
class Step:
    """One rate step of one chain."""

    chain: str
    rate: int
    calls: int
    ok: int
    """Calls SIPp's uac completed (its BYE answered)."""
    b_leg_ok: int
    """B2BUA chains: calls the downstream SIPp uas completed (B leg ended by BYE)."""
    retrans_sent: int
    """Retransmissions SIPp sent (uac INVITE/BYE, uas 200): the SUT was late."""
    retrans_received: int
    """Retransmissions SIPp received: the SUT resent."""
    cpu_s: float
    """CPU seconds of the system under test during the step."""
    setup_ms: float
    """SIPp's mean INVITE -> 200 time (ResponseTime1)."""
    load: float
    """1-minute load average when the step started."""
    wall_s: float
    log_count: int
    """Lines the SUT logged beyond its start and counters lines (warnings, errors)."""
    sut_log: tuple[str, ...]
    """The first of those lines."""
    sut_counters: str
    cpu_trace: tuple[float, ...] = ()
    """CPU seconds the SUT used in each whole second while SIPp's uac ran."""

    @property
    def failed(self) -> int:
        """Calls that did not complete on either leg (failed, timed out or never ended)."""
        return self.calls - min(self.ok, self.b_leg_ok)

    @property
    def passed(self) -> bool:
        """Fewer than 0.1% failed calls."""
        return self.failed < FAIL_LIMIT * self.calls

    @property
    def cpu_ms_per_call(self) -> float:
        """CPU milliseconds of the SUT per call placed."""
        return 1000.0 * self.cpu_s / self.calls


# ------------------------------------------------------------------ processes
@define
class Process:
    """A child in its own session, stopped with its whole process group."""

    name: str
    popen: subprocess.Popen[bytes]
    workdir: Path

    @property
    def pid(self) -> int:
        """The child's PID (also its process group id)."""
        return self.popen.pid

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM the group, then SIGKILL it if it has not exited within ``grace`` s."""
        if self.popen.poll() is None:
            _killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        _killpg(self.pid, signal.SIGKILL)  # leftovers of the group, if any
        if self.popen.poll() is None:
            self.popen.wait(timeout=5)

    def stdout(self) -> str:
        """What the child printed."""
        return (self.workdir / f"{self.name}.out").read_text("utf-8", "replace")

    def stderr_lines(self) -> list[str]:
        """Non-empty lines the child wrote to stderr."""
        text = (self.workdir / f"{self.name}.err").read_text("utf-8", "replace")
        return [line for line in text.splitlines() if line.strip()]


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Process:
    """Start ``argv`` in a new session with stdout/stderr in ``workdir/name.{out,err}``."""
    with (
        open(workdir / f"{name}.out", "wb") as out,
        open(workdir / f"{name}.err", "wb") as err,
    ):
        popen = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return Process(name, popen, workdir)


def exit_on_sigterm() -> None:
    """Make SIGTERM (from ``timeout``, a CI runner) unwind like Ctrl-C, so that
    :func:`running` stops every process the script started (they run in sessions of
    their own and would otherwise outlive it)."""

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)


@contextmanager
def running(processes: list[Process]) -> Iterator[list[Process]]:
    """Stop every process of ``processes`` (appended to inside the block) on the way out."""
    try:
        yield processes
    finally:
        for proc in reversed(processes):
            proc.stop()


def free_port() -> int:
    """A loopback port free for both UDP and TCP just now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free loopback port found in 50 tries")


def wait_udp_bound(port: int, proc: Process, timeout: float = 15.0) -> None:
    """Wait until something listens on UDP 127.0.0.1:``port`` (read from /proc/net/udp)."""
    needle = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early: {proc.stderr_lines()[-5:]}")
        with open("/proc/net/udp") as f:
            if any(line.split()[1] == needle for line in f.readlines()[1:]):
                return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not bind UDP port {port} within {timeout} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ SIPp
def sipp_binary() -> str:
    """The ``sipp`` executable, or exit with a message."""
    path = shutil.which("sipp")
    if path is None:
        sys.exit("sipp is not installed (Debian package sip-tester)")
    return path


def last_row(path: Path) -> dict[str, str]:
    """The last data row of a SIPp ``;``-separated CSV file, by column name."""
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text("utf-8", "replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def retransmissions(counts: dict[str, str]) -> tuple[int, int]:
    """(sent, received) retransmissions from a ``-trace_counts`` row.

    Columns come in groups ``N_MSG_Sent;N_MSG_Retrans`` (we resent) and
    ``N_MSG_Recv;N_MSG_Retrans`` (the peer resent).
    """
    sent = received = 0
    for key, value in counts.items():
        if not key.endswith("_Retrans") or not value.strip().isdigit():
            continue
        prefix = key[: -len("_Retrans")]
        if f"{prefix}_Sent" in counts:
            sent += int(value)
        elif f"{prefix}_Recv" in counts:
            received += int(value)
    return sent, received


def duration_ms(value: str) -> float:
    """SIPp's ``HH:MM:SS:uuuuuu`` as milliseconds (0 when absent)."""
    parts = value.strip().split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return 0.0
    h, m, s, us = (int(p) for p in parts)
    return ((h * 60 + m) * 60 + s) * 1000.0 + us / 1000.0


UAS_SCENARIO = HERE / "scenarios" / "uas_b_leg.xml"
RECV_TIMEOUT_MS = 2000
"""SIPp's -recv_timeout: a call whose next response or request is this late fails."""


def sipp_uas_argv(port: int | str, media_port: int | str) -> list[str]:
    """The downstream UAS of the B2BUA chains (the B leg's far end)."""
    return [
        sipp_binary(),
        "-sf",
        str(UAS_SCENARIO),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media_port),
        "-recv_timeout",
        str(RECV_TIMEOUT_MS),
        "-nostdin",
        "-trace_stat",
        "-stf",
        "uas_stat.csv",
        "-trace_err",
        "-trace_counts",
        "-fd",
        "1",
    ]


UAC_SCENARIO = HERE / "scenarios" / "uac_txn.xml"
STOCK_UAC = False
"""True: SIPp's stock ``-sn uac`` (its BYE's 200 can be matched by a 200 to the INVITE)."""


def sipp_uac_argv(
    target_port: int | str,
    local_port: int | str,
    media_port: int | str,
    rate: int | str,
    calls: int | str,
    timeout: float | str,
) -> list[str]:
    """The caller: the uac scenario, open loop (``-l calls``) at ``rate`` calls/s."""
    scenario = ["-sn", "uac"] if STOCK_UAC else ["-sf", str(UAC_SCENARIO)]
    return [
        sipp_binary(),
        *scenario,
        f"127.0.0.1:{target_port}",
        "-i",
        "127.0.0.1",
        "-p",
        str(local_port),
        "-mp",
        str(media_port),
        "-r",
        str(rate),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-recv_timeout",
        str(RECV_TIMEOUT_MS),
        "-timeout",
        str(timeout),
        "-nostdin",
        "-trace_stat",
        "-stf",
        "uac_stat.csv",
        "-trace_counts",
        "-fd",
        "1",
    ]


def sut_argv(chain: str, port: int | str, downstream: int | str, workdir: Path) -> list[str]:
    """The system under test of ``chain`` listening on ``port``."""
    if chain == "pbx UAS":
        return [PYTHON, str(HERE / "uas_answer.py"), "--port", str(port)]
    if chain == "pbx B2BUA":
        return [
            PYTHON,
            str(HERE / "b2bua_bridge.py"),
            "--port",
            str(port),
            "--target",
            f"127.0.0.1:{downstream}",
        ]
    return [
        str(SIPPY_B2BUA),
        "-f",
        "-u",
        "-A",
        "0",
        "-s",
        f"127.0.0.1:{downstream}",
        "-l",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        str(workdir / "b2bua.sock"),
        "-P",
        str(workdir / "b2bua.pid"),
        "-L",
        str(workdir / "b2bua.log"),
    ]


SIPPY_STOP_LINES = ("Signal 15 received", "executeStop is invoked")
"""What sippy prints when it is stopped: not a sign of trouble."""
# SIPLOG_BEND=none: sippy writes no SIP log (pbx runs at WARNING, so neither logs per call).
SIPPY_ENV = {"SIPLOG_BEND": "none"}


def run_step(chain: str, rate: int, duration: float, root: Path, tag: str) -> Step:
    """Place ``rate x duration`` calls through ``chain`` at ``rate`` calls/s."""
    calls = max(1, round(rate * duration))
    workdir = root / f"{chain.replace(' ', '_')}_{rate}_{tag}"
    workdir.mkdir(parents=True)
    load = os.getloadavg()[0]
    started = time.monotonic()
    chained = chain != "pbx UAS"
    procs: list[Process] = []
    with running(procs):
        downstream = 0
        if chained:
            downstream = free_port()
            procs.append(spawn("sipp_uas", sipp_uas_argv(downstream, free_port()), workdir))
            wait_udp_bound(downstream, procs[-1])
        port = free_port()
        env = SIPPY_ENV if chain == "sippy B2BUA" else None
        sut = spawn("sut", sut_argv(chain, port, downstream, workdir), workdir, env)
        procs.append(sut)
        wait_udp_bound(port, sut)
        time.sleep(0.2)
        cpu0 = cpu_seconds(sut.pid)
        # -timeout is a safety net only: past it SIPp stops placing calls but still waits
        # up to ~10 s for the running ones; -recv_timeout is what fails a late call.
        timeout = round(duration + 30.0)
        uac_argv = sipp_uac_argv(port, free_port(), free_port(), rate, calls, timeout)
        uac = spawn("sipp_uac", uac_argv, workdir)
        procs.append(uac)
        cpu_trace = trace_cpu_until_exit(uac, sut.pid, timeout + 20.0)
        if chained:
            wait_calls_done(workdir / "uas_stat.csv", calls, RECV_TIMEOUT_MS / 1000 + 2.5)
        cpu1 = cpu_seconds(sut.pid)
    stat = last_row(workdir / "uac_stat.csv")
    sent, received = retransmissions(last_row(_first(workdir.glob("uac_*_counts.csv"))))
    uas_ok = calls
    if chained:
        uas_sent, uas_received = retransmissions(last_row(_first(workdir.glob("uas_*_counts.csv"))))
        sent += uas_sent
        received += uas_received
        uas_ok = _int(last_row(workdir / "uas_stat.csv").get("SuccessfulCall(C)"))
    out = sut.stdout().splitlines()
    counters = [line for line in out if line.startswith("{")]
    log_lines = [
        line
        for line in out + sut.stderr_lines()
        if line.strip()
        and not line.startswith(("{", "listening"))
        and not any(stop in line for stop in SIPPY_STOP_LINES)
    ]
    return Step(
        chain=chain,
        rate=rate,
        calls=calls,
        ok=_int(stat.get("SuccessfulCall(C)")),
        b_leg_ok=uas_ok,
        retrans_sent=sent,
        retrans_received=received,
        cpu_s=cpu1 - cpu0,
        setup_ms=duration_ms(stat.get("ResponseTime1(C)", "")),
        load=load,
        wall_s=time.monotonic() - started,
        log_count=len(log_lines),
        sut_log=tuple(log_lines[:5]),
        sut_counters=counters[-1] if counters else "",
        cpu_trace=cpu_trace,
    )


def trace_cpu_until_exit(proc: Process, pid: int, timeout: float) -> tuple[float, ...]:
    """Wait for ``proc`` to exit (at most ``timeout`` s), sampling the CPU seconds of
    ``pid`` once a second: entry k is the CPU used in second k of the wait."""
    samples = [cpu_seconds(pid)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            proc.popen.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            samples.append(cpu_seconds(pid))
    return tuple(round(b - a, 3) for a, b in zip(samples, samples[1:], strict=False))


def _first(paths: Iterator[Path]) -> Path:
    return next(iter(paths), Path("/nonexistent"))


def _int(text: str | None) -> int:
    return int(text) if text and text.strip().isdigit() else 0


def wait_calls_done(stat_csv: Path, calls: int, timeout: float) -> None:
    """Wait until SIPp's stat file counts ``calls`` finished calls, or ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = last_row(stat_csv)
        if _int(row.get("SuccessfulCall(C)")) + _int(row.get("FailedCall(C)")) >= calls:
            return
        time.sleep(0.25)


# ------------------------------------------------------------------ search
def describe(step: Step) -> str:
    """One line per step."""
    verdict = "ok  " if step.passed else "FAIL"
    b_leg = f" B-leg ok {step.b_leg_ok}" if step.chain != "pbx UAS" else ""
    return (
        f"  {step.chain:11} {step.rate:5d}/s {verdict} ok {step.ok}/{step.calls}{b_leg}"
        f" retrans {step.retrans_sent}/{step.retrans_received}"
        f" cpu {step.cpu_ms_per_call:.2f} ms/call setup {step.setup_ms:.1f} ms"
        f" load {step.load:.2f} {step.wall_s:.1f}s"
        + (f" [{step.log_count} log lines]" if step.log_count else "")
    )


@frozen
class Result:
    """The outcome of the search on one chain."""

    chain: str
    best: Step | None
    confirm: Step | None
    steps: tuple[Step, ...]
    soak: Step | None = None
    """A long step at half the best rate: does the SUT hold it past 32 s?"""


def search(
    chain: str,
    start: int,
    duration: float,
    max_rate: int,
    resolution: float,
    root: Path,
    deadline: float,
) -> Result:
    """Double the rate up to the first failing one, bisect until the gap between good and
    bad is within ``resolution`` (a fraction of the good rate), then repeat the best
    step once. Bounded by MAX_STEPS and, for the search (not the repeat), ``deadline``."""
    steps: list[Step] = []
    good: Step | None = None
    bad_rate: int | None = None
    rate = start

    def step(r: int, tag: str) -> Step:
        s = run_step(chain, r, duration, root, tag)
        steps.append(s)
        print(describe(s), flush=True)
        return s

    while len(steps) < MAX_STEPS - 1 and time.monotonic() < deadline:
        s = step(rate, f"s{len(steps)}")
        if s.passed:
            good = s
        else:
            bad_rate = rate
        if bad_rate is None:
            if rate >= max_rate:
                break
            rate = min(max_rate, rate * 2)
            continue
        low = good.rate if good is not None else 0
        if bad_rate - low <= max(10, resolution * max(low, 1)):
            break
        rate = (low + bad_rate) // 2
    confirm = None
    if good is not None:
        confirm = step(good.rate, "confirm")
        if not confirm.passed:
            # The repeat failed (the machine is shared): step down once, to 85% of the
            # rate or the next good rate below when that is higher, and confirm that.
            lower = [st.rate for st in steps if st.passed and st.rate < good.rate]
            rate = max([round(0.85 * good.rate), *lower])
            confirm = step(rate, "confirm2")
            if confirm.passed:
                good = confirm
    return Result(chain, good, confirm, tuple(steps))


def fixed(chain: str, rates: str, duration: float, root: Path) -> Result:
    """Run the given rates (at most MAX_STEPS) in order; the best is the highest good one."""
    steps = []
    for i, text in enumerate(rates.split(",")[:MAX_STEPS]):
        s = run_step(chain, int(text), duration, root, f"f{i}")
        steps.append(s)
        print(describe(s), flush=True)
    good = [s for s in steps if s.passed]
    best = max(good, key=lambda s: s.rate) if good else None
    return Result(chain, best, None, tuple(steps))


# ------------------------------------------------------------------ report
def uptime() -> str:
    """The output of ``uptime`` (load averages over 1, 5, 15 minutes)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def table(results: list[Result]) -> str:
    """The markdown table: one row per chain, pbx/sippy ratios of rate and CPU."""
    sippy = next((r.best for r in results if r.chain == "sippy B2BUA"), None)
    lines = [
        "| chain | max calls/s, < 0.1% failed | pbx/sippy | confirmed (ok/calls, CPU)"
        " | CPU ms/call | sippy/pbx CPU | CPU ms/call, 1st step | retrans sent/recv"
        " | mean INVITE->200 ms | load | SOAK_TITLE |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        b = r.best
        if b is None:
            lines.append(f"| {r.chain} | none passed | | | | | | | | | |")
            continue
        c = r.confirm
        confirmed = "not run" if c is None else ("yes" if c.passed else "NO")
        if c is not None:
            ok = min(c.ok, c.b_leg_ok)
            confirmed += f" ({ok}/{c.calls} at {c.rate}/s, {c.cpu_ms_per_call:.2f} ms)"
        peer = sippy is not None and r.chain != "sippy B2BUA"
        ratio = f"{b.rate / sippy.rate:.2f}x" if peer and sippy else ""
        cpu_ratio = f"{sippy.cpu_ms_per_call / b.cpu_ms_per_call:.2f}x" if peer and sippy else ""
        first = r.steps[0]
        lines.append(
            f"| {r.chain} | {b.rate} | {ratio} | {confirmed} | {b.cpu_ms_per_call:.2f}"
            f" | {cpu_ratio} | {first.cpu_ms_per_call:.2f} @{first.rate}/s"
            f" | {b.retrans_sent}/{b.retrans_received} | {b.setup_ms:.1f} | {b.load:.2f}"
            f" | {soak_summary(r.soak)} |"
        )
    title = f"{SOAK_SECONDS:g} s at half that rate: ok/calls, CPU first 25 s -> last 10 s"
    lines[0] = lines[0].replace("SOAK_TITLE", title)
    return "\n".join(lines)


SOAK_SECONDS = 45.0
"""Longer than the 32 s (64·T1) for which server transactions outlive their call."""


def soak_summary(step: Step | None) -> str:
    """``ok/calls, CPU a% -> b%`` of a soak step, or ``not run``."""
    if step is None:
        return "not run"
    trace = step.cpu_trace
    first, last = trace[:25], trace[-10:]
    if not first or not last:
        return f"{min(step.ok, step.b_leg_ok)}/{step.calls}"
    a = 100.0 * sum(first) / len(first)
    b = 100.0 * sum(last) / len(last)
    verdict = "" if step.passed else " FAIL"
    return f"{min(step.ok, step.b_leg_ok)}/{step.calls}{verdict}, CPU {a:.0f}% -> {b:.0f}%"


def commands() -> str:
    """The exact commands of one step (ports and counts as placeholders)."""
    rows = [
        ("pbx UAS", sut_argv("pbx UAS", "SUT", "DOWN", Path("DIR"))),
        ("pbx B2BUA", sut_argv("pbx B2BUA", "SUT", "DOWN", Path("DIR"))),
        ("sippy B2BUA", ["SIPLOG_BEND=none", *sut_argv("sippy B2BUA", "SUT", "DOWN", Path("DIR"))]),
        ("B leg far end", sipp_uas_argv("DOWN", "FREE")),
        ("caller", sipp_uac_argv("SUT", "FREE", "FREE", "RATE", "RATE*DURATION", "DURATION+30")),
    ]
    return "\n".join(f"  {name + ':':14} {' '.join(argv)}" for name, argv in rows)


def py_spy() -> str | None:
    """The py-spy sampling profiler beside this Python or on PATH (it is no dependency)."""
    beside = Path(PYTHON).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile(chain: str, rate: int, duration: float, root: Path, top: int = 15) -> None:
    """Profile the pbx SUT of ``chain`` at ``rate`` calls/s for ``duration`` s.

    With py-spy: the SUT runs as in a step and py-spy samples its second half (no
    overhead in the SUT; with a 60 s run that half is past the 32 s after which the
    first server transactions end). Without it: the whole run under cProfile, which
    slows the SUT several fold.
    """
    spy = py_spy()
    calls = round(rate * duration)
    workdir = root / f"profile_{rate}"
    workdir.mkdir(parents=True)
    prof = workdir / "sut.prof"
    raw = workdir / "py-spy.txt"
    procs: list[Process] = []
    with running(procs):
        port = free_port()
        downstream = 0
        if chain != "pbx UAS":
            downstream = free_port()
            procs.append(spawn("sipp_uas", sipp_uas_argv(downstream, free_port()), workdir))
            wait_udp_bound(downstream, procs[-1])
        argv = sut_argv(chain, port, downstream, workdir)
        if spy is None:
            argv = [PYTHON, "-m", "cProfile", "-o", str(prof), *argv[1:]]
        sut = spawn("sut", argv, workdir)
        procs.append(sut)
        wait_udp_bound(port, sut)
        time.sleep(0.2)
        cpu0 = cpu_seconds(sut.pid)
        timeout = round(duration + 30.0)
        uac_argv = sipp_uac_argv(port, free_port(), free_port(), rate, calls, timeout)
        uac = spawn("sipp_uac", uac_argv, workdir)
        procs.append(uac)
        if spy is not None:
            time.sleep(duration / 2)
            record = [spy, "record", "-d", f"{max(1, round(duration / 2) - 1)}", "-r", "200"]
            record += ["-f", "raw", "-o", str(raw), "--pid", str(sut.pid)]
            spy_proc = spawn("py-spy", record, workdir)
            procs.append(spy_proc)
            try:
                spy_proc.popen.wait(timeout=duration)
            except subprocess.TimeoutExpired:
                pass
        try:
            uac.popen.wait(timeout=timeout + 20.0)
        except subprocess.TimeoutExpired:
            pass
        cpu1 = cpu_seconds(sut.pid)
        procs.remove(sut)
        sut.stop(grace=20.0)  # SIGTERM: the SUT returns from main() and cProfile writes
    stat = last_row(workdir / "uac_stat.csv")
    how = "py-spy, second half sampled" if spy else "cProfile (slows it several fold)"
    print(
        f"profile of {chain} under {how}: {rate} calls/s x {duration:g} s,"
        f" ok {_int(stat.get('SuccessfulCall(C)'))}/{calls},"
        f" {1000 * (cpu1 - cpu0) / calls:.2f} CPU ms/call",
        flush=True,
    )
    if spy is not None:
        print_py_spy(raw, top)
        return
    if not prof.exists():
        print("profile: no profile was written")
        return
    stats = pstats.Stats(str(prof))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def print_py_spy(raw: Path, top: int) -> None:
    """Top functions by own samples and by samples with them on the stack.

    py-spy's raw format is one ``frame;frame;...;leaf COUNT`` line per distinct stack,
    a frame being ``function (file:line)``; lines are folded into their function.
    """
    if not raw.exists():
        print("profile: py-spy wrote nothing")
        return
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text("utf-8", "replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_function_of(f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n
    print(f"{total} samples; own time (the function itself), top {top}:")
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"with callees (on the stack), top {top} below the event loop:")
    shown = [kv for kv in sorted(inclusive.items(), key=lambda kv: -kv[1]) if "pbx/" in kv[0]]
    for name, n in shown[:top]:
        print(f"  {100 * n / total:5.1f}%  {name}")


def _function_of(frame: str) -> str:
    """``f (path/file.py:123)`` -> ``f (path/file.py)``."""
    name, sep, where = frame.rpartition(" (")
    if not sep:
        return frame
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})"


def soak(chain: str, rate: int, duration: float, root: Path) -> None:
    """One long step: does the SUT's CPU per second stay flat at a constant call rate?

    Server transactions live 32 s after their final response (Timers J and L), so a
    cost that grows with the number of live transactions shows only in steps longer
    than that.
    """
    step = run_step(chain, rate, duration, root, "soak")
    print(describe(step))
    window = 5
    trace = step.cpu_trace
    for start in range(0, len(trace), window):
        chunk = trace[start : start + window]
        busy = 100.0 * sum(chunk) / len(chunk)
        print(
            f"  {chain} {rate}/s t={start:3d}-{start + len(chunk):3d} s: CPU {busy:5.1f}% of a core"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s steps, coarse search (~90 s)")
    parser.add_argument("--duration", type=float, help="seconds per step (10, or 3 with --quick)")
    parser.add_argument("--start", type=int, default=100, help="first rate, calls/s")
    parser.add_argument("--max-rate", type=int, default=4000, help="highest rate tried")
    parser.add_argument("--chain", choices=CHAINS, action="append", help="only this chain")
    parser.add_argument("--rates", help="comma-separated rates to run instead of the search")
    parser.add_argument("--stock-uac", action="store_true", help="SIPp's -sn uac, not uac_txn")
    parser.add_argument("--profile", type=int, metavar="RATE", help="profile a pbx SUT (60 s)")
    parser.add_argument(
        "--soak", type=int, metavar="RATE", help="one long step per chain (--duration, 60 s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the SIPp and SUT work files")
    args = parser.parse_args()
    exit_on_sigterm()
    global STOCK_UAC
    STOCK_UAC = args.stock_uac
    duration = args.duration or (3.0 if args.quick else 10.0)
    resolution = 0.3 if args.quick else 0.05
    budget = 70.0 if args.quick else 370.0
    root = Path(tempfile.mkdtemp(prefix="bench_sip_load_"))
    try:
        print(f"start: {uptime()}  ({os.cpu_count()} cores)", flush=True)
        if args.profile:
            for chain in args.chain or ["pbx UAS"]:
                profile(chain, args.profile, args.duration or 60.0, root)
            return
        if args.soak:
            for chain in args.chain or ["pbx UAS"]:
                soak(chain, args.soak, args.duration or 60.0, root)
            return
        chains = args.chain or list(CHAINS)
        t0 = time.monotonic()
        results = []
        for i, chain in enumerate(chains):
            if args.rates:
                results.append(fixed(chain, args.rates, duration, root))
                continue
            share = (budget - (time.monotonic() - t0)) / (len(chains) - i)
            deadline = time.monotonic() + share
            results.append(
                search(chain, args.start, duration, args.max_rate, resolution, root, deadline)
            )
        if not args.quick and not args.rates:
            for i, r in enumerate(results):
                if r.best is not None:
                    rate = max(1, r.best.rate // 2)
                    st = run_step(r.chain, rate, SOAK_SECONDS, root, "soak")
                    print(describe(st), "(soak)", flush=True)
                    results[i] = evolve(r, soak=st)
        print(f"\nend: {uptime()}; {time.monotonic() - t0:.0f} s; {duration:g} s per step\n")
        print(table(results))
        print(
            f"\nA call fails when SIPp's uac (or, for a B2BUA, its uas) does not complete it:"
            f" no answer after its retransmissions, or a message more than {RECV_TIMEOUT_MS} ms"
            " late (-recv_timeout). CPU: utime+stime of the SUT process per call placed."
            " Retransmissions: sent by SIPp (the SUT was > 500 ms late) / received by SIPp."
        )
        print("\ncommands:")
        print(commands())
        for r in results:
            for st in r.steps:
                if st.log_count:
                    print(f"\n{r.chain} at {st.rate}/s logged {st.log_count} lines, first:")
                    print("\n".join(f"  {line[:200]}" for line in st.sut_log))
        print("\nSUT counters per step:")
        for r in results:
            for st in r.steps:
                if st.sut_counters:
                    print(f"  {r.chain} {st.rate}/s {json.loads(st.sut_counters)}")
    finally:
        if args.keep:
            print(f"work files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
