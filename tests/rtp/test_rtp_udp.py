"""Loopback tests of the asyncio RTP transport (127.0.0.1 and ::1 only)."""

from __future__ import annotations

import asyncio
import socket

from pbx.net.rtp_udp import DEFAULT_RCVBUF, RtpTransport, bind_from_pool
from pbx.rtp.ports import PortPool
from pbx.rtp.stream import RtpStream
from tests.conftest import need_ipv6_loopback

Received = list[tuple[bytes, tuple[str, int], float]]


async def wait_for(received: Received, count: int) -> None:
    for _ in range(200):
        if len(received) >= count:
            return
        await asyncio.sleep(0.005)


def test_two_streams_exchange_rtp_and_rtcp_over_loopback() -> None:
    async def main() -> None:
        pool = PortPool(31000, 31999)
        got_a: Received = []
        got_b: Received = []
        rtcp_b: Received = []
        a = await bind_from_pool(pool, "127.0.0.1", lambda *x: got_a.append(x))
        b = await bind_from_pool(
            pool, "127.0.0.1", lambda *x: got_b.append(x), lambda *x: rtcp_b.append(x)
        )
        try:
            assert a.port % 2 == 0 and a.rtcp_port == a.port + 1
            assert b.port != a.port
            assert a.receive_buffer_size >= 208 * 1024  # asked for 4 MiB; the kernel caps it
            alice = RtpStream(
                1, 0, initial_seq=1, initial_ts=0, cname="a", remote_addr=b.local_addr
            )
            bob = RtpStream(2, 0, initial_seq=9, initial_ts=0, cname="b")
            for n in range(5):
                assert alice.remote_addr is not None
                a.send(alice.packetize(bytes([n]) * 160), alice.remote_addr)
            await wait_for(got_b, 5)
            loop_now = asyncio.get_running_loop().time()
            for data, addr, now in got_b:
                assert addr == a.local_addr
                assert 0 <= loop_now - now < 5
                bob.receive(data, addr, now)
            assert bob.remote_addr == a.local_addr  # latched
            frames = [bob.pop_frame() for _ in range(5)]
            assert frames == [bytes([n]) * 160 for n in range(5)]
            assert bob.rtcp_addr == ("127.0.0.1", a.port + 1)
            a.send_rtcp(alice.build_rtcp(1.0, 3.9e9), ("127.0.0.1", b.port + 1))
            await wait_for(rtcp_b, 1)
            bob.receive_rtcp(rtcp_b[0][0], rtcp_b[0][1], rtcp_b[0][2])
            assert bob.rtcp_received == 1 and bob.malformed_rtcp == 0
        finally:
            a.close()
            b.close()
        assert pool.available == pool.size

    asyncio.run(main())


def test_bind_from_pool_skips_a_pair_in_use() -> None:
    async def main() -> None:
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.bind(("127.0.0.1", 0))
        port = blocker.getsockname()[1]
        try:
            start = port - (port & 1)  # the pair holding the blocked port comes first
            pool = PortPool(start, start + 5)
            t = await bind_from_pool(pool, "127.0.0.1", lambda *x: None, rcvbuf=DEFAULT_RCVBUF)
            try:
                assert t.port == start + 2
                assert pool.in_use == {start + 2}
            finally:
                t.close()
        finally:
            blocker.close()

    asyncio.run(main())


def test_ipv6_loopback_with_rtcp_mux() -> None:
    need_ipv6_loopback()

    async def main() -> None:
        got: Received = []
        receiver = await RtpTransport.bind("::1", 0, lambda *x: got.append(x), rtcp=False)
        sender = await RtpTransport.bind("::1", 0, lambda *x: None, rtcp=False)
        try:
            assert receiver.rtcp_port is None
            sender.send(b"\x80\x00" + bytes(10), receiver.local_addr)
            await wait_for(got, 1)
            data, addr, _ = got[0]
            assert data == b"\x80\x00" + bytes(10)
            assert addr == sender.local_addr and len(addr) == 2
        finally:
            receiver.close()
            sender.close()

    asyncio.run(main())
