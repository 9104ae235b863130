"""Fixture loading and packet builders shared by the RTP tests."""

from __future__ import annotations

import struct
from pathlib import Path

DATA = Path(__file__).parent / "data"


def load(name: str) -> bytes:
    """The bytes of a fixture file under tests/rtp/data."""
    return (DATA / name).read_bytes()


def rtp(
    seq: int,
    ts: int,
    payload: bytes = b"\xff" * 160,
    *,
    pt: int = 0,
    ssrc: int = 0x11223344,
    marker: bool = False,
) -> bytes:
    """An RTP datagram built with struct alone (independent of the code under test)."""
    return (
        struct.pack(
            "!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def event(code: int, end: bool, volume: int, duration: int) -> bytes:
    """An RFC 4733 telephone-event payload."""
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


def read_pcap_udp_payloads(path: Path) -> list[tuple[float, bytes]]:
    """The UDP payloads of an Ethernet/IPv4 libpcap file with their capture times."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and link == 1
    pos = 24
    out = []
    while pos < len(data):
        sec, usec, incl, _ = struct.unpack("<IIII", data[pos : pos + 16])
        pos += 16
        frame = data[pos : pos + incl]
        pos += incl
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        out.append((sec + usec / 1e6, bytes(ip[ihl + 8 :])))
    return out
