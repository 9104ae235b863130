"""The SIP stack against SIPp on 127.0.0.1, over UDP and TCP (a peer we did not write)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from pbx.app import Application
from pbx.config import AppConfig, SipConfig, UserConfig
from pbx.net.pump import SipService
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import CallAnswered, CallFailed, DialogEnded, EndpointEvent, IncomingCall
from pbx.sip.transport import Destination
from tests.conftest import free_port
from tests.peers.sipp import SCENARIOS, counts, run_sipp

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class AnsweringUas:
    """Our endpoint answering every call at once, as the load and interop tests need."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.endpoint = SipEndpoint(EndpointConfig(host="127.0.0.1", port=port), random.Random(7))
        self.service = SipService(self.endpoint, self.on_event)
        self.answered = 0
        self.ended = 0
        self.sent: list[tuple[float, bytes]] = []

    def on_event(self, event: EndpointEvent, now: float) -> None:
        if isinstance(event, IncomingCall):
            self.endpoint.answer(event.leg, SDP, now)
            self.answered += 1
        elif isinstance(event, DialogEnded):
            self.ended += 1

    async def __aenter__(self) -> AnsweringUas:
        await self.service.start("127.0.0.1", self.port)
        send = self.service.udp.send

        def recording_send(data: bytes, dest: Destination) -> None:
            self.sent.append((self.service.now(), data))
            send(data, dest)

        self.service.udp.send = recording_send  # type: ignore[method-assign]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.service.close()


@pytest.mark.peer
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_uac_calls_pbx_uas(tmp_path: Path, transport: str) -> None:
    port = free_port()

    async def scenario() -> tuple[int, str, int, int]:
        async with AnsweringUas(port) as uas:
            rc, screen = await run_sipp(
                [
                    "-sn",
                    "uac",
                    f"127.0.0.1:{port}",
                    "-t",
                    transport,
                    "-m",
                    "30",
                    "-r",
                    "30",
                    "-timeout",
                    "20",
                ],
                tmp_path,
            )
            await asyncio.sleep(0.1)
            return rc, screen, uas.answered, uas.ended

    rc, screen, answered, ended = asyncio.run(scenario())
    assert rc == 0, screen
    assert counts(screen) == (30, 0)
    assert answered == 30 and ended == 30


@pytest.mark.peer
def test_pbx_uac_calls_sipp_uas(tmp_path: Path) -> None:
    sipp_port = free_port()
    port = free_port()
    calls = 10

    async def scenario() -> tuple[int, str, list[object]]:
        endpoint = SipEndpoint(EndpointConfig(host="127.0.0.1", port=port), random.Random(8))
        outcomes: list[object] = []

        def on_event(event: EndpointEvent, now: float) -> None:
            if isinstance(event, CallAnswered):
                outcomes.append(event)
                loop.call_later(0.2, hang_up, event.leg)
            elif isinstance(event, (CallFailed, DialogEnded)):
                outcomes.append(event)

        def hang_up(leg: str) -> None:
            endpoint.bye(leg, service.now())
            service.flush()

        service = SipService(endpoint, on_event)
        loop = asyncio.get_running_loop()
        await service.start("127.0.0.1", port)
        sipp = asyncio.ensure_future(
            run_sipp(
                ["-sn", "uas", "-i", "127.0.0.1", "-p", str(sipp_port), "-m", str(calls)],
                tmp_path,
                timeout=30,
            )
        )
        await asyncio.sleep(0.5)
        for i in range(calls):
            endpoint.invite(
                f"sip:service@127.0.0.1:{sipp_port}", service.now(), from_user=f"pbx{i}", sdp=SDP
            )
            service.flush()
            await asyncio.sleep(0.05)
        rc, screen = await sipp
        service.close()
        return rc, screen, outcomes

    rc, screen, outcomes = asyncio.run(scenario())
    assert rc == 0, screen
    assert sum(isinstance(o, CallAnswered) for o in outcomes) == calls
    assert sum(isinstance(o, DialogEnded) and o.by == "local" for o in outcomes) == calls


def _app_config(port: int) -> AppConfig:
    return AppConfig(
        sip=SipConfig(host="127.0.0.1", port=port, auth_algorithms=("MD5", "SHA-256")),
        users=(UserConfig("2001", "pw2001"), UserConfig("2002", "pw2002")),
    )


@pytest.mark.peer
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_registers_with_digest_auth(tmp_path: Path, transport: str) -> None:
    port = free_port()

    async def scenario() -> tuple[int, str, list[str]]:
        app = Application(_app_config(port))
        await app.start()
        try:
            rc, screen = await run_sipp(
                [
                    "-sf",
                    str(SCENARIOS / "register_auth.xml"),
                    f"127.0.0.1:{port}",
                    "-t",
                    transport,
                    "-s",
                    "2001",
                    "-au",
                    "2001",
                    "-ap",
                    "pw2001",
                    "-m",
                    "1",
                    "-timeout",
                    "10",
                ],
                tmp_path,
            )
            bound = [b.aor for b in app.location.lookup("2001", app.sip.now())]
        finally:
            await app.close()
        return rc, screen, bound

    rc, screen, bound = asyncio.run(scenario())
    assert rc == 0, screen
    assert bound == ["2001"]


@pytest.mark.peer
def test_sipp_register_with_wrong_password_is_refused(tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> tuple[int, str, int]:
        app = Application(_app_config(port))
        await app.start()
        try:
            rc, screen = await run_sipp(
                [
                    "-sf",
                    str(SCENARIOS / "register_wrong_password.xml"),
                    f"127.0.0.1:{port}",
                    "-s",
                    "2001",
                    "-au",
                    "2001",
                    "-ap",
                    "wrong",
                    "-m",
                    "1",
                    "-timeout",
                    "10",
                ],
                tmp_path,
            )
            bound = len(app.location.lookup("2001", app.sip.now()))
        finally:
            await app.close()
        return rc, screen, bound

    rc, screen, bound = asyncio.run(scenario())
    assert rc == 0, screen
    assert bound == 0


@pytest.mark.peer
def test_pbx_retransmits_200_ok_until_the_late_ack_13_3_1_4(tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> tuple[int, str, list[float]]:
        async with AnsweringUas(port) as uas:
            rc, screen = await run_sipp(
                [
                    "-sf",
                    str(SCENARIOS / "uac_late_ack.xml"),
                    f"127.0.0.1:{port}",
                    "-s",
                    "100",
                    "-m",
                    "1",
                    "-timeout",
                    "15",
                ],
                tmp_path,
            )
            times = [
                t
                for t, data in uas.sent
                if data.startswith(b"SIP/2.0 200") and b"INVITE" in data.split(b"CSeq:", 1)[1][:20]
            ]
            return rc, screen, times

    rc, screen, times = asyncio.run(scenario())
    assert rc == 0, screen
    gaps = [round(b - a, 1) for a, b in zip(times, times[1:], strict=False)]
    # First send, then T1 = 0.5 s, 1 s, 2 s; the ACK comes at 4 s and stops them.
    assert gaps[:3] == pytest.approx([0.5, 1.0, 2.0], abs=0.15)
    assert len(times) == 4
