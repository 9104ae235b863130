"""Run every benchmark script in its quick mode, one after another (``make bench``).

Each script prints its own table; this prints a line before each and a summary of
which ran, how long each took and which failed.  Scripts that need a peer (SIPp)
report it themselves.  ``--only NAME ...`` runs some of them.

Run: ``.venv/bin/python benchmarks/run_all.py [--quick] [--only bench_tick ...]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Scripts in the order they run; each takes ``--quick``.
SCRIPTS = [
    "bench_parse",
    "bench_codec",
    "bench_tick",
    "bench_rtp",
    "bench_acd",
    "acd_day",
    "bench_media_path",
    "bench_sip_load",
    "bench_app_calls",
    "bench_bridged_calls",
    "bench_webrtc",
    "bench_agentless",
    "bench_reports",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="each script's quick mode")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run just these")
    args = parser.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    results: list[tuple[str, int, float]] = []
    for name in args.only or SCRIPTS:
        cmd = [sys.executable, str(HERE / f"{name}.py")]
        if args.quick:
            cmd.append("--quick")
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        start = time.monotonic()
        code = subprocess.run(cmd, env=env, check=False).returncode
        results.append((name, code, time.monotonic() - start))
    print("\n=== summary")
    for name, code, seconds in results:
        print(f"{name:<22} {'ok' if code == 0 else f'exit {code}':<8} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
