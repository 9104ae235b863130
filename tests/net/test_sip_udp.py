"""The SIP UDP transport's socket: one owner per port."""

from __future__ import annotations

import asyncio

import pytest

from pbx.net.sip_udp import SipUdpTransport


def test_ephemeral_ports_are_never_shared_and_a_taken_port_is_refused() -> None:
    async def run() -> None:
        transports = [SipUdpTransport(lambda data, source: None) for _ in range(300)]
        try:
            for t in transports:
                await t.start("127.0.0.1", 0)
            ports = [t.local[1] for t in transports if t.local is not None]
            assert len(ports) == 300 and len(set(ports)) == 300
            second = SipUdpTransport(lambda data, source: None)
            with pytest.raises(OSError):
                await second.start("127.0.0.1", ports[0])
        finally:
            for t in transports:
                t.close()

    asyncio.run(run())
