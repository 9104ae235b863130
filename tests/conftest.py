"""Shared fixtures: free loopback ports, external test peers, processes stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests search new inputs on every local run; under CI they replay one fixed
# search, so a landing never depends on luck (cases found locally go in as @example).
settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (and port+1, as baresip wants)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        if port > 64000:
            continue
        try:
            for p in (port, port + 1):
                for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, k) as s:
                        s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def need_peer(binary: str) -> str:
    """The path of an external peer; a failure under CI=true, a skip elsewhere."""
    path = shutil.which(binary)
    if path is None:
        message = f"test peer {binary!r} is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def need_module(name: str) -> object:
    """Import a Python test peer (pyVoIP); a failure under CI=true, a skip elsewhere."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"test peer module {name!r} is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def need_ipv6_loopback() -> None:
    """IPv6 on ::1 for a test that runs over it; a failure under CI=true, a skip elsewhere."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        message = "IPv6 loopback (::1) is not available on this machine"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


class Processes:
    """Processes a test started; every one is stopped by PID when the test ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop_all()
