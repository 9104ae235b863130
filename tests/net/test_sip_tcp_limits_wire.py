"""Resource limits over the wire: SIP/TCP connection caps and timeouts, and a 503 with
Retry-After when RTP resources run out, against the example application on loopback."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from attrs import evolve

from pbx.app import Application
from pbx.config import AppConfig, config_from_dict
from pbx.errors import ConfigError
from pbx.sip.auth import Challenge, answer_challenge
from pbx.sip.timers import TimerConfig
from tests.conftest import free_port
from tests.net.test_app_peers import with_app

HOST = "127.0.0.1"
T = TypeVar("T")


def run_app(
    tmp_path: Path,
    body: Callable[[Application], Awaitable[T]],
    *,
    sip: dict[str, Any] | None = None,
    rtp: dict[str, Any] | None = None,
) -> T:
    """The example application with some ``[sip]`` / ``[rtp]`` values replaced."""

    def configure(config: AppConfig) -> AppConfig:
        return evolve(
            config,
            sip=evolve(config.sip, **(sip or {})),
            rtp=evolve(config.rtp, **(rtp or {})),
        )

    return with_app(tmp_path, body, configure=configure)


def even_free_port() -> int:
    """An even port that is free on 127.0.0.1 with its odd companion (one RTP/RTCP pair)."""
    for _ in range(50):
        port = free_port()
        if port % 2 == 0:
            return port
    raise RuntimeError("no even free port pair on 127.0.0.1")


# -- a SIP/TCP connection ------------------------------------------------------------------
class TcpPeer:
    """One SIP/TCP connection to the pbx; every wait is bounded."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.port = int(writer.get_extra_info("sockname")[1])
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int, source: str = HOST) -> TcpPeer:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, local_addr=(source, 0)), 2.0
        )
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self, timeout: float) -> bytes:
        """What arrives within ``timeout``; b"" when the server closed the connection."""
        try:
            return await asyncio.wait_for(self.reader.read(65536), timeout)
        except ConnectionError:
            return b""

    async def closed_within(self, timeout: float) -> float | None:
        """Seconds until the server closes the connection, or None if it stays open."""
        start = time.monotonic()
        deadline = start + timeout
        for _ in range(1000):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                data = await self.read(left)
            except TimeoutError:
                return None
            if not data:
                return time.monotonic() - start
        return None

    async def options(self, tag: str, timeout: float = 3.0) -> int:
        """Send OPTIONS over this connection; the status of the answer."""
        self.send(
            (
                f"OPTIONS sip:pbx@{HOST} SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP {HOST}:{self.port};branch=z9hG4bK{tag}\r\n"
                f"From: <sip:probe@{HOST}>;tag={tag}\r\nTo: <sip:pbx@{HOST}>\r\n"
                f"Call-ID: {tag}@{HOST}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
        )
        head = await self.response_head(timeout)
        return int(head.split(b" ", 2)[1])

    async def response_head(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        for _ in range(100):
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith((b"content-length:", b"l:"))
                    ),
                    0,
                )
                self._buffer = self._buffer[length:]
                return head
            left = deadline - time.monotonic()
            assert left > 0, "no complete response over TCP in time"
            data = await self.read(left)
            assert data, "the server closed the connection instead of answering"
            self._buffer += data
        raise AssertionError("no complete response over TCP")

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except (ConnectionError, TimeoutError):
            pass


# -- a SIP/UDP caller ------------------------------------------------------------------------
class UdpCaller:
    """A caller over UDP with its own SIP and RTP sockets; every wait is bounded."""

    def __init__(self, pbx_port: int, name: str) -> None:
        self.pbx = (HOST, pbx_port)
        self.name = name
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, 0))
        self.sip.setblocking(False)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, 0))
        self.port = self.sip.getsockname()[1]
        self.to = ""

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def _send(self, method: str, cseq: int, branch: str, body: bytes = b"") -> None:
        sdp_headers = "Content-Type: application/sdp\r\n" if body else ""
        to = self.to or f"<sip:600@{HOST}>"
        head = (
            f"{method} sip:600@{HOST}:{self.pbx[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport\r\n"
            f"From: <sip:5551234@{HOST}>;tag={self.name}\r\nTo: {to}\r\n"
            f"Call-ID: {self.name}@{HOST}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:5551234@{HOST}:{self.port}>\r\n{sdp_headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sip.sendto(head.encode() + body, self.pbx)

    def invite(self) -> None:
        """INVITE the example's DID 600 (echo) with a PCMU offer."""
        rtp = self.rtp.getsockname()[1]
        sdp = (
            f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        ).encode()
        self._send("INVITE", 1, f"z9hG4bK{self.name}inv", sdp)

    async def _responses(self, method: str, timeout: float) -> list[tuple[int, bytes]]:
        """(status, head) of every response to ``method`` up to the final one."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        out: list[tuple[int, bytes]] = []
        for _ in range(100):
            left = deadline - time.monotonic()
            assert left > 0, f"no final response to {method} within {timeout} s: {out}"
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sip, 65535), left)
            except TimeoutError:
                continue
            head = data.split(b"\r\n\r\n", 1)[0]
            if not head.startswith(b"SIP/2.0 ") or f" {method}\r\n".encode() not in head + b"\r\n":
                continue  # a request from the pbx, or a response to something else
            status = int(head.split(b" ", 2)[1])
            out.append((status, head))
            if status >= 200:
                return out
        raise AssertionError(f"no final response to {method}: {out}")

    async def call(self, timeout: float = 5.0) -> list[tuple[int, bytes]]:
        """INVITE, wait for the final response and ACK it; every response to the INVITE."""
        self.invite()
        out = await self._responses("INVITE", timeout)
        status, head = out[-1]
        self.to = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"to:")
        )
        # RFC 3261 §17.1.1.3: the ACK to a non-2xx shares the INVITE's branch.
        self._send("ACK", 1, f"z9hG4bK{self.name}{'inv' if status >= 300 else 'ack'}")
        return out

    async def bye(self, timeout: float = 3.0) -> int:
        self._send("BYE", 2, f"z9hG4bK{self.name}bye")
        return (await self._responses("BYE", timeout))[-1][0]


def header(head: bytes, name: str) -> str | None:
    """The value of the first header field ``name`` in a response head."""
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name.lower().encode():
            return value.strip().decode()
    return None


def assert_nothing_held(app: Application) -> None:
    """No call, no leg in the call manager or the SIP endpoint, every RTP port free."""
    assert app.calls.calls == {}
    assert app.calls.legs == {}
    assert app.endpoint.legs == {}
    assert app.media.pool.available == app.media.pool.size


# -- connection caps -----------------------------------------------------------------------
def test_connections_beyond_the_per_source_cap_are_closed_and_the_first_still_answer(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> None:
        tcp = app.sip.tcp
        peers: list[TcpPeer] = []
        try:
            for _ in range(3):
                peers.append(await TcpPeer.connect(app.port))
            for _ in range(50):
                if tcp.connections_from(HOST) == 3:
                    break
                await asyncio.sleep(0.02)
            assert tcp.connections_from(HOST) == 3
            extra = [await TcpPeer.connect(app.port) for _ in range(2)]
            peers.extend(extra)
            for peer in extra:
                assert await peer.closed_within(2.0) is not None
            assert tcp.refused == 2
            assert tcp.connections_from(HOST) == 3
            for i, peer in enumerate(peers[:3]):
                assert await peer.options(f"capped{i}") == 200
        finally:
            for peer in peers:
                await peer.close()

    run_app(tmp_path, body, sip={"tcp_max_per_source": 3, "tcp_max_connections": 10})


def test_a_connection_beyond_the_total_cap_is_closed_whatever_its_source(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> None:
        tcp = app.sip.tcp
        peers: list[TcpPeer] = []
        try:
            for source in ("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"):
                peers.append(await TcpPeer.connect(app.port, source))
            for _ in range(50):
                if tcp.connections == 4:
                    break
                await asyncio.sleep(0.02)
            assert tcp.connections == 4
            late = await TcpPeer.connect(app.port, "127.0.0.3")
            peers.append(late)
            assert await late.closed_within(2.0) is not None
            assert tcp.refused == 1
            assert tcp.connections_from("127.0.0.3") == 0
            assert await peers[2].options("total") == 200
            await peers[0].close()
            for _ in range(50):  # a freed place is taken again
                if tcp.connections == 3:
                    break
                await asyncio.sleep(0.02)
            again = await TcpPeer.connect(app.port, "127.0.0.3")
            peers.append(again)
            assert await again.options("again") == 200
            assert tcp.refused == 1
        finally:
            for peer in peers:
                await peer.close()

    run_app(tmp_path, body, sip={"tcp_max_per_source": 2, "tcp_max_connections": 4})


# -- timeouts ------------------------------------------------------------------------------
def test_half_an_invite_is_closed_after_the_header_timeout(tmp_path: Path) -> None:
    async def body(app: Application) -> tuple[float | None, float | None]:
        slow = await TcpPeer.connect(app.port)
        steady = await TcpPeer.connect(app.port)
        try:
            slow.send(
                f"INVITE sip:600@{HOST} SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP {HOST}:{slow.port};branch=z9hG4bKslow\r\n".encode()
            )
            closed = asyncio.ensure_future(slow.closed_within(3.0))
            # A header line every 0.2 s for 2 s: trickling does not move the deadline.
            for i in range(10):
                await asyncio.wait({closed}, timeout=0.2)
                if closed.done():
                    break
                slow.send(f"X-Slow-{i}: {i}\r\n".encode())
            slow_closed = await closed
            assert await steady.options("steady") == 200
            steady_closed = await steady.closed_within(0.2)
            assert app.sip.tcp.header_timeouts == 1
            assert app.sip.tcp.connections == 1
            return slow_closed, steady_closed
        finally:
            await slow.close()
            await steady.close()

    slow_closed, steady_closed = run_app(
        tmp_path, body, sip={"tcp_header_timeout": 0.5, "tcp_idle_timeout": 30.0}
    )
    assert slow_closed is not None and 0.4 <= slow_closed <= 1.5
    assert steady_closed is None


def test_an_idle_connection_is_closed_but_one_sending_keepalive_pings_stays_open(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> tuple[float | None, float | None]:
        idle = await TcpPeer.connect(app.port)
        pinging = await TcpPeer.connect(app.port)
        try:
            start = time.monotonic()
            idle_task = asyncio.ensure_future(idle.closed_within(3.0))
            for _ in range(8):  # 2.4 s, four idle timeouts, a ping every 0.3 s
                pinging.send(b"\r\n\r\n")  # RFC 5626 §3.5.1 ping
                assert await pinging.read(1.0) == b"\r\n"  # its pong
                await asyncio.sleep(0.3)
            idle_closed = await idle_task
            assert time.monotonic() - start >= 2.4
            assert await pinging.options("pinged") == 200
            assert app.sip.tcp.idle_timeouts == 1
            # Once the pings stop, the idle timeout closes it too.
            return idle_closed, await pinging.closed_within(3.0)
        finally:
            await idle.close()
            await pinging.close()

    idle_closed, pinging_closed = run_app(
        tmp_path, body, sip={"tcp_idle_timeout": 0.6, "tcp_header_timeout": 5.0}
    )
    assert idle_closed is not None and 0.5 <= idle_closed <= 1.5
    assert pinging_closed is not None and 0.5 <= pinging_closed <= 1.5


def test_a_registration_keeps_its_connection_open_past_the_idle_timeout(
    tmp_path: Path,
) -> None:
    async def register(peer: TcpPeer, cseq: int, authorization: str = "") -> bytes:
        peer.send(
            (
                f"REGISTER sip:{HOST} SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP {HOST}:{peer.port};branch=z9hG4bKreg{cseq}\r\n"
                f"From: <sip:2001@{HOST}>;tag=reg\r\nTo: <sip:2001@{HOST}>\r\n"
                f"Call-ID: reg@{HOST}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:2001@{HOST}:{peer.port};transport=tcp>;expires=60\r\n"
                f"{authorization}Content-Length: 0\r\n\r\n"
            ).encode()
        )
        return await peer.response_head(3.0)

    async def body(app: Application) -> tuple[float | None, float | None]:
        phone = await TcpPeer.connect(app.port)
        other = await TcpPeer.connect(app.port)
        try:
            assert await other.options("other") == 200
            head = await register(phone, 1)
            if head.startswith(b"SIP/2.0 401"):
                challenge = Challenge.parse(header(head, "WWW-Authenticate") or "")
                credentials = answer_challenge(
                    challenge,
                    username="2001",
                    password="pw2001",
                    method="REGISTER",
                    uri=f"sip:{HOST}",
                    cnonce="0a4f113b",
                )
                head = await register(phone, 2, f"Authorization: {credentials}\r\n")
            assert head.startswith(b"SIP/2.0 200"), head
            assert app.location.lookup("2001", app.sip.now())
            # Four idle timeouts later the registered phone is still connected; the
            # connection that only sent OPTIONS is not.
            other_closed = await other.closed_within(1.5)
            phone_closed = await phone.closed_within(1.0)
            assert app.sip.tcp.connections == 1
            return other_closed, phone_closed
        finally:
            await phone.close()
            await other.close()

    other_closed, phone_closed = run_app(
        tmp_path, body, sip={"tcp_idle_timeout": 0.4, "tcp_header_timeout": 5.0}
    )
    assert other_closed is not None
    assert phone_closed is None


# -- RTP resources run out -----------------------------------------------------------------
def test_invite_is_answered_503_with_retry_after_when_the_rtp_ports_are_used_up(
    tmp_path: Path,
) -> None:
    port = even_free_port()

    async def body(app: Application) -> tuple[list[int], str | None]:
        assert app.media.pool.size == 1
        first = UdpCaller(app.port, "first")
        second = UdpCaller(app.port, "second")
        try:
            answered = await first.call()
            assert answered[-1][0] == 200
            assert app.media.pool.available == 0
            refused = await second.call()
            assert len(app.calls.calls) == 1
            assert len(app.calls.legs) == 1
            assert await first.bye() == 200
            for _ in range(50):
                if not app.calls.calls:
                    break
                await asyncio.sleep(0.02)
            assert_nothing_held(app)
            return [s for s, _ in refused], header(refused[-1][1], "Retry-After")
        finally:
            first.close()
            second.close()

    statuses, retry_after = run_app(tmp_path, body, rtp={"port_min": port, "port_max": port + 1})
    assert statuses[-1] == 503
    assert set(statuses[:-1]) <= {100}
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0


def test_invite_is_answered_503_when_no_descriptor_is_left_then_calls_work_again(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> tuple[int, str | None, int]:
        caller = UdpCaller(app.port, "emfile")
        again = UdpCaller(app.port, "again")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        lowest_free = os.dup(0)
        os.close(lowest_free)
        try:
            # No new descriptor can be opened: the RTP sockets fail with EMFILE.
            resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
            try:
                with pytest.raises(OSError):
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
                refused = await caller.call()
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert_nothing_held(app)
            answered = await again.call()
            assert await again.bye() == 200
            status, head = refused[-1]
            return status, header(head, "Retry-After"), answered[-1][0]
        finally:
            caller.close()
            again.close()

    status, retry_after, later = with_app(tmp_path, body)
    assert status == 503
    assert retry_after is not None and int(retry_after) > 0
    assert later == 200


# -- configuration -------------------------------------------------------------------------
def test_tcp_limits_are_read_from_the_sip_table() -> None:
    sip = config_from_dict(
        {
            "sip": {
                "tcp_max_connections": 100,
                "tcp_max_per_source": 10,
                "tcp_idle_timeout": 0,
                "tcp_header_timeout": 2.5,
            }
        }
    ).sip
    assert (sip.tcp_max_connections, sip.tcp_max_per_source) == (100, 10)
    assert (sip.tcp_idle_timeout, sip.tcp_header_timeout) == (0.0, 2.5)
    defaults = config_from_dict({}).sip
    assert (defaults.tcp_max_connections, defaults.tcp_max_per_source) == (4096, 64)
    assert (defaults.tcp_idle_timeout, defaults.tcp_header_timeout) == (300.0, 10.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"tcp_max_connections": 0},
            "t.toml: sip.tcp_max_connections: expected an integer >= 1, got 0",
        ),
        (
            {"tcp_max_per_source": True},
            "t.toml: sip.tcp_max_per_source: expected an integer, got True",
        ),
        ({"tcp_idle_timeout": -1}, "t.toml: sip.tcp_idle_timeout: expected seconds >= 0, got -1"),
        (
            {"tcp_header_timeout": "10"},
            "t.toml: sip.tcp_header_timeout: expected int/float, got '10'",
        ),
        (
            {"tcp_header_timeout": float("inf")},
            "t.toml: sip.tcp_header_timeout: expected seconds >= 0, got inf",
        ),
        (
            {"tcp_max_connections": 8, "tcp_max_per_source": 9},
            "t.toml: sip.tcp_max_per_source: expected at most tcp_max_connections (8), got 9",
        ),
    ],
)
def test_a_bad_tcp_limit_names_its_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"sip": values}, "t.toml")
    assert str(exc.value) == message


# -- a 2xx over TCP that is never ACKed ----------------------------------------------------
def test_a_2xx_over_tcp_never_acked_ends_with_bye_after_64_t1(tmp_path: Path) -> None:
    """RFC 3261 §13.3.1.4 on a reliable transport: nothing is resent, but after 64·T1
    without an ACK the pbx sends BYE on the caller's connection and frees the call."""
    t1 = 0.05  # 64·T1 = 3.2 s

    async def body(app: Application) -> tuple[float, bytes, bytes]:
        peer = await TcpPeer.connect(app.port)
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((HOST, 0))
        try:
            offer = (
                f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
                f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            ).encode()
            peer.send(
                (
                    f"INVITE sip:600@{HOST}:{app.port};transport=tcp SIP/2.0\r\n"
                    f"Via: SIP/2.0/TCP {HOST}:{peer.port};branch=z9hG4bKnoack\r\n"
                    f"From: <sip:5551234@{HOST}>;tag=noack\r\nTo: <sip:600@{HOST}>\r\n"
                    f"Call-ID: noack@{HOST}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                    f"Contact: <sip:5551234@{HOST}:{peer.port};transport=tcp>\r\n"
                    f"Content-Type: application/sdp\r\nContent-Length: {len(offer)}\r\n\r\n"
                ).encode()
                + offer
            )
            head = await peer.response_head(3.0)
            while head.startswith(b"SIP/2.0 1"):
                head = await peer.response_head(3.0)
            assert head.startswith(b"SIP/2.0 200"), head[:60]
            answered = time.monotonic()
            assert app.calls.calls, "the answered call is live while the ACK is awaited"
            # No ACK: the next message on the connection is the pbx's BYE.
            bye = await peer.response_head(10.0)
            waited = time.monotonic() - answered
            assert bye.startswith(b"BYE "), bye[:60]
            via = header(bye, "Via") or ""
            cseq = header(bye, "CSeq") or ""
            peer.send(
                (
                    f"SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {header(bye, 'From')}\r\n"
                    f"To: {header(bye, 'To')}\r\nCall-ID: {header(bye, 'Call-ID')}\r\n"
                    f"CSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
                ).encode()
            )
            for _ in range(40):
                if not app.calls.calls and not app.endpoint.legs:
                    break
                await asyncio.sleep(0.05)
            assert_nothing_held(app)
            return waited, head, bye
        finally:
            rtp.close()
            await peer.close()

    waited, _, bye = with_app(tmp_path, body, timers=TimerConfig(t1=t1))
    assert 64 * t1 - 0.3 <= waited <= 64 * t1 + 1.5
    assert b"SIP/2.0/TCP" in bye
