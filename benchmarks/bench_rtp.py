"""Per-packet cost of pbx's RTP layer, with aiortc's parser side by side when installed.

What is timed (each figure is the best of several rounds; the machine is shared):

* ``parse``: ``RtpPacket.parse`` of a 172-byte G.711 packet, and of one with CSRCs, a
  header extension and padding; ``struct unpack`` is the floor (the 12-byte header alone);
* ``build``: ``build_rtp_header`` and ``bytes(RtpPacket)``;
* ``RtpStream``: ``packetize``, ``receive`` + ``pop_frame`` of an in-order stream, and one
  call leg's whole per-tick Python work (receive + pop_frame + packetize);
* the jitter buffer alone (put + pop), RTCP SR+SDES parse and an RFC 4733 packet.

``aiortc/pbx`` is aiortc's ``RtpPacket.parse`` time over pbx's (above 1: pbx is faster);
the column is left out when aiortc is not importable (it is not a dependency).
``legs/core`` divides one second by 50 ticks times the per-tick cost.
Run: ``.venv/bin/python benchmarks/bench_rtp.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import struct
import time
from collections.abc import Callable

from pbx.rtp.dtmf import TelephoneEventReceiver
from pbx.rtp.jitter import JitterBuffer
from pbx.rtp.packet import RtpPacket, build_rtp_header
from pbx.rtp.rtcp import (
    RtcpReportBlock,
    RtcpSdes,
    RtcpSenderReport,
    SdesChunk,
    build_compound,
    parse_rtcp,
)
from pbx.rtp.stream import RtpStream

try:  # a peer for comparison only, never a dependency
    from aiortc.rtp import RtpPacket as AiortcRtpPacket  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    AiortcRtpPacket = None

PCMU = build_rtp_header(0, 4660, 160_000, 0x12345678) + b"\xff" * 160
FULL = bytes(
    RtpPacket(
        8,
        65535,
        1,
        0xCAFEBABE,
        bytes(160),
        padding=4,
        csrc=(1, 2),
        extension_profile=0xBEDE,
        extension=bytes(8),
    )
)
SR = build_compound(
    [
        RtcpSenderReport(1, 2**63, 160_000, 1000, 160_000, (RtcpReportBlock(2, 1, 3, 4, 5, 6, 7),)),
        RtcpSdes((SdesChunk(1, ((1, b"agent-7@pbx.example"),)),)),
    ]
)
EVENT = build_rtp_header(101, 9, 8000, 0x12345678) + struct.pack("!BBH", 5, 10, 320)


def best_per_call(fn: Callable[[], object], number: int, rounds: int) -> float:
    """Best time of one call in seconds over ``rounds`` rounds of ``number`` calls."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, (time.perf_counter() - start) / number)
    finally:
        gc.enable()
    return best


def best_per_item(run: Callable[[], int], rounds: int) -> float:
    """Best time per item of ``run()``, which does its own loop and returns its item count."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            items = run()
            best = min(best, (time.perf_counter() - start) / items)
    finally:
        gc.enable()
    return best


def stream_packets(count: int) -> list[bytes]:
    return [build_rtp_header(0, n, 160 * n, 0x5EED) + b"\xd5" * 160 for n in range(count)]


def new_stream() -> RtpStream:
    return RtpStream(0x1234, 0, initial_seq=1, initial_ts=0, cname="bench@pbx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (< 30 s)")
    args = parser.parse_args()
    number = 20_000 if args.quick else 200_000
    rounds = 7 if args.quick else 9
    addr = ("127.0.0.1", 40000)
    packets = stream_packets(number)
    payload = b"\xd5" * 160
    unpack = struct.Struct("!BBHII").unpack_from

    def receive_run() -> int:
        s = new_stream()
        receive = s.receive
        pop = s.pop_frame
        now = 0.0
        for data in packets:
            receive(data, addr, now)
            pop()
            now += 0.02
        return len(packets)

    def leg_tick_run() -> int:
        s = new_stream()
        receive = s.receive
        pop = s.pop_frame
        packetize = s.packetize
        now = 0.0
        for data in packets:
            receive(data, addr, now)
            pop()
            packetize(payload)
            now += 0.02
        return len(packets)

    def jitter_run() -> int:
        jb = JitterBuffer()
        put = jb.put
        pop = jb.pop
        for n in range(number):
            put(payload, n, 160 * n, 0.0)
            pop()
        return number

    def dtmf_run() -> int:
        rx = TelephoneEventReceiver()
        body = EVENT[12:]
        for n in range(number):
            rx.receive(body, n // 8, False, 0.0)
        return number

    sender = new_stream()
    rows: list[tuple[str, float, float | None]] = []
    aiortc_parse = None
    if AiortcRtpPacket is not None:
        aiortc_parse = best_per_call(lambda: AiortcRtpPacket.parse(PCMU), number, rounds)
    rows.append(
        ("struct unpack (header floor)", best_per_call(lambda: unpack(PCMU), number, rounds), None)
    )
    rows.append(
        (
            "RtpPacket.parse G.711",
            best_per_call(lambda: RtpPacket.parse(PCMU), number, rounds),
            aiortc_parse,
        )
    )
    aiortc_full = None
    if AiortcRtpPacket is not None:
        aiortc_full = best_per_call(lambda: AiortcRtpPacket.parse(FULL), number, rounds)
    rows.append(
        (
            "RtpPacket.parse CSRC+ext+pad",
            best_per_call(lambda: RtpPacket.parse(FULL), number, rounds),
            aiortc_full,
        )
    )
    rows.append(
        (
            "build_rtp_header",
            best_per_call(lambda: build_rtp_header(0, 1, 2, 3), number, rounds),
            None,
        )
    )
    parsed = RtpPacket.parse(FULL)
    rows.append(
        (
            "bytes(RtpPacket) CSRC+ext+pad",
            best_per_call(lambda: bytes(parsed), number, rounds),
            None,
        )
    )
    rows.append(
        (
            "RtpStream.packetize",
            best_per_call(lambda: sender.packetize(payload), number, rounds),
            None,
        )
    )
    rows.append(("RtpStream.receive + pop_frame", best_per_item(receive_run, rounds), None))
    leg = best_per_item(leg_tick_run, rounds)
    rows.append(("receive + pop_frame + packetize", leg, None))
    rows.append(("JitterBuffer.put + pop", best_per_item(jitter_run, rounds), None))
    rows.append(("TelephoneEventReceiver.receive", best_per_item(dtmf_run, rounds), None))
    rows.append(("parse_rtcp SR+SDES", best_per_call(lambda: parse_rtcp(SR), number, rounds), None))

    peer = AiortcRtpPacket is not None
    header = f"{'operation':34} {'µs':>7} {'per s':>11}"
    if peer:
        header += f" {'aiortc µs':>10} {'aiortc/pbx':>10}"
    print(header)
    print("-" * len(header))
    for name, seconds, peer_seconds in rows:
        line = f"{name:34} {seconds * 1e6:7.2f} {1 / seconds:11,.0f}"
        if peer:
            if peer_seconds is not None:
                line += f" {peer_seconds * 1e6:10.2f} {peer_seconds / seconds:10.2f}"
            else:
                line += f" {'':>10} {'':>10}"
        print(line)
    if not peer:
        print("(aiortc is not installed: no side-by-side parse column)")
    legs = 1 / (leg * 50)
    print(f"one leg per 20 ms tick: {leg * 1e6:.2f} µs → {legs:,.0f} legs/core (RTP work only)")


if __name__ == "__main__":
    main()
