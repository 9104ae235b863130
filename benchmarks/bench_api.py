"""The control API under load beside live media: does it cost the calls anything?

Theory of operation
-------------------
One step of ``bench_app_calls.py``'s media benchmark — a fresh ``pbx`` (the example
configuration, HTTP on a free port) holding N echo calls placed by SIPp, with 50 PCMU
packets/s sent into each call by another process and counted back — and, during the
media, a third process (this script with ``--client``) that logs in as the admin,
subscribes W WebSocket clients to ``/api/events`` and sends R API requests per second
(``GET /api/queues``, ``/api/agents``, ``/api/calls``, ``/api/queues/sales/calls``, in
turn, open loop). It reports the requests' latency p50/p99/max and errors, and the
events the clients received per second (the fan-out: every client gets every event it
may see, including ``QueueStats`` each second and the calls' own events).

The same step is run first without the API client, then with it, in one run, so the
media's loss, tick p99 and late ticks can be compared side by side. Targets (the
control API issue): with 500 calls, 50 clients and 200 requests/s, no added loss and
no late ticks.

Run: ``.venv/bin/python benchmarks/bench_api.py [--quick] [--calls 500] [--clients 50]
[--rate 200] [--seconds 20]``; ``--quick`` is 200 calls, 20 clients, 100/s for 8 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_app_calls import MEDIA_HEADER, describe_media, media_step  # noqa: E402
from bench_sip_load import PYTHON, Process, free_port, spawn  # noqa: E402

PATHS = ("/api/queues", "/api/agents", "/api/calls", "/api/queues/sales/calls")


async def client(port: int, clients: int, rate: float, seconds: float) -> dict[str, float]:
    """The load: ``clients`` subscribers and ``rate`` requests/s for ``seconds``."""
    import httpx
    import websockets

    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
        for _ in range(100):
            try:
                r = await http.post("/api/login", json={"user": "admin", "password": "admin"})
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        token = r.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        received = [0]
        stop = asyncio.Event()

        async def subscriber() -> None:
            url = f"ws://127.0.0.1:{port}/api/events?token={token}"
            async with websockets.connect(url, max_queue=None) as ws:
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=0.5)
                        received[0] += 1
                    except TimeoutError:
                        continue

        subs = [asyncio.ensure_future(subscriber()) for _ in range(clients)]
        await asyncio.sleep(0.5)
        latencies: list[float] = []
        errors = 0

        async def one(path: str) -> None:
            nonlocal errors
            t = time.perf_counter()
            try:
                response = await http.get(path, headers=headers)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t)

        start = time.monotonic()
        base_count = received[0]
        tasks = []
        n = 0
        while time.monotonic() - start < seconds:
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.ensure_future(one(PATHS[n % len(PATHS)])))
            n += 1
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
        events = received[0] - base_count
        stop.set()
        await asyncio.gather(*subs, return_exceptions=True)
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "errors": errors,
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max_ms": 1000 * ordered[-1],
        "events_per_s": events / elapsed,
        "clients": clients,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calls", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--client", nargs=4, metavar=("PORT", "CLIENTS", "RATE", "SECONDS"))
    args = parser.parse_args()
    if args.client:
        port, clients, rate, seconds = args.client
        result = asyncio.run(client(int(port), int(clients), float(rate), float(seconds)))
        print(json.dumps(result), flush=True)
        return
    calls = args.calls or (200 if args.quick else 500)
    clients = args.clients or (20 if args.quick else 50)
    rate = args.rate or (100.0 if args.quick else 200.0)
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        root = Path(tmp)
        plain = media_step(calls, seconds, root / "plain")
        http_port = free_port()

        def side(work: Path, length: float) -> Process:
            argv = [PYTHON, __file__, "--client", str(http_port), str(clients), str(rate)]
            return spawn("api-client", [*argv, str(length - 1.0)], work)

        loaded = media_step(calls, seconds, root / "api", side=side, http_port=http_port)
    print(MEDIA_HEADER)
    print(describe_media(plain) + "  (no API load)")
    print(describe_media(loaded) + f"  ({clients} WebSocket clients, {rate:.0f} requests/s)")
    a = loaded["side"]
    print()
    print("| API requests | errors | rate | latency p50 / p99 / max | events/s to clients |")
    print("|---:|---:|---:|---|---:|")
    print(
        f"| {a['requests']} | {a['errors']} | {a['rate']:.0f}/s"
        f" | {a['p50_ms']:.1f} / {a['p99_ms']:.1f} / {a['max_ms']:.1f} ms"
        f" | {a['events_per_s']:,.0f} ({a['clients']} clients) |"
    )


if __name__ == "__main__":
    main()
