"""SIP traffic by method and status in ``/metrics``, over a real UDP socket."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pbx.app import Application
from tests.api.helpers import token, with_api

Counts = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Counts:
    """Every sample of the SIP families, by name and sorted labels."""
    r = await client.get("/metrics")
    assert r.status_code == 200
    out: Counts = {}
    for family in text_string_to_metric_families(r.text):
        if family.name.startswith("pbx_sip_"):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before: Counts, after: Counts) -> Counts:
    keys = before.keys() | after.keys()
    changed = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys}
    return {k: v for k, v in changed.items() if v}


def req(method: str, direction: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("pbx_sip_requests_total", (("direction", direction), ("method", method)))


def resp(method: str, status: str, direction: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = (("direction", direction), ("method", method), ("status", status))
    return ("pbx_sip_responses_total", labels)


BAD = ("pbx_sip_bad_messages", ())


def options(host: str, port: int, local_port: int) -> bytes:
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK-metrics-1;rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=probe1\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        "Call-ID: metrics-probe-1@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_an_options_and_a_malformed_datagram_show_in_the_sip_counters(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        assert await token(client, "admin", "admin")  # the API is up and serving
        loop = asyncio.get_running_loop()
        host, port = app.config.sip.host, app.config.sip.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            local_port = sock.getsockname()[1]

            before = await scrape(client)
            assert req("OPTIONS", "in") not in before
            sock.sendto(options(host, port, local_port), ("127.0.0.1", port))
            answer = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5.0)
            assert answer.startswith(b"SIP/2.0 200 ")
            after = await scrape(client)
            assert delta(before, after) == {
                req("OPTIONS", "in"): 1.0,
                resp("OPTIONS", "200", "out"): 1.0,
            }

            before = after
            sock.sendto(b"OPTIONS nonsense\r\n\r\n", ("127.0.0.1", port))
            deadline = time.monotonic() + 5.0
            while True:
                after = await scrape(client)
                if after.get(BAD, 0.0) > before.get(BAD, 0.0) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            changed = delta(before, after)
            assert changed.pop(BAD) == 1.0
            # Nothing parsed, so no request or response was counted in; a 400 the
            # endpoint may send back is counted out.
            assert all(
                name == "pbx_sip_responses_total" and dict(labels)["direction"] == "out"
                for name, labels in changed
            ), changed

    with_api(tmp_path, body)
