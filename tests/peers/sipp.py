"""Running SIPp as a test peer: in the foreground, stopped by PID whatever happens."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.conftest import need_peer

SCENARIOS = Path(__file__).parent / "scenarios"


async def run_sipp(args: list[str], cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``sipp ARGS`` until it exits (or ``timeout``); return its exit code and screen.

    SIPp exits 0 when every call succeeded, 1 when some failed. The process group is
    killed when the wait ends for any reason.
    """
    sipp = need_peer("sipp")
    proc = await asyncio.create_subprocess_exec(
        sipp,
        *args,
        "-nostdin",
        "-trace_err",
        cwd=str(cwd),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
    text = out.decode("utf-8", "replace")
    errors = sorted(cwd.glob("*_errors.log"))
    if errors:
        text += "\n--- errors ---\n" + errors[-1].read_text("utf-8", "replace")[-4000:]
    assert proc.returncode is not None
    return proc.returncode, text


def counts(screen: str) -> tuple[int, int]:
    """(successful, failed) calls from SIPp's final statistics screen."""
    ok = failed = -1
    for line in screen.splitlines():
        if line.strip().startswith("Successful call"):
            ok = int(line.split("|")[2].split()[0])
        elif line.strip().startswith("Failed call"):
            failed = int(line.split("|")[2].split()[0])
    return ok, failed


async def wait_for_sip(port: int, timeout: float = 15.0) -> None:
    """Wait until something answers OPTIONS on 127.0.0.1:``port`` (a pbx starting up)."""
    import socket

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        local = sock.getsockname()[1]
        n = 0
        while loop.time() < deadline:
            n += 1
            sock.sendto(
                (
                    f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKping{n};rport\r\n"
                    f"From: <sip:ping@127.0.0.1>;tag=p{n}\r\nTo: <sip:ping@127.0.0.1>\r\n"
                    f"Call-ID: ping{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", port),
            )
            await asyncio.sleep(0.2)
            try:
                if sock.recv(65535).startswith(b"SIP/2.0 200"):
                    return
            except BlockingIOError:
                continue
    raise AssertionError(f"nothing answered OPTIONS on 127.0.0.1:{port} within {timeout} s")
