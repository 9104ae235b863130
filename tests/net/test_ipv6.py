"""SIP over IPv6 loopback (::1), UDP and TCP: a call is set up, answered and ended."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from pbx.net.pump import SipService
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import CallAnswered, DialogEnded, EndpointEvent, IncomingCall
from pbx.sip.uri import SipUri
from tests.conftest import need_ipv6_loopback

SDP = (
    b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def free_port6() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_over_ipv6_loopback(transport: str) -> None:
    need_ipv6_loopback()
    uas_port, uac_port = free_port6(), free_port6()

    async def scenario() -> list[str]:
        seen: list[str] = []
        uas = SipEndpoint(EndpointConfig(host="::1", port=uas_port), random.Random(1))
        uac = SipEndpoint(
            EndpointConfig(host="::1", port=uac_port, transport=transport.upper()),
            random.Random(2),
        )
        done = asyncio.get_running_loop().create_future()

        def on_uas(event: EndpointEvent, now: float) -> None:
            if isinstance(event, IncomingCall):
                seen.append(f"incoming from {event.source.host}")
                uas.answer(event.leg, SDP, now)
            elif isinstance(event, DialogEnded):
                seen.append("uas ended")
                if not done.done():
                    done.set_result(None)

        def on_uac(event: EndpointEvent, now: float) -> None:
            if isinstance(event, CallAnswered):
                seen.append("answered")
                uac.bye(event.leg, now)

        uas_service = SipService(uas, on_uas)
        uac_service = SipService(uac, on_uac)
        await uas_service.start("::1", uas_port)
        await uac_service.start("::1", uac_port)
        try:
            params = (("transport", "tcp"),) if transport == "tcp" else ()
            uac.invite(
                SipUri("sip", "100", None, "[::1]", uas_port, params),
                uac_service.now(),
                from_user="caller",
                sdp=SDP,
            )
            uac_service.flush()
            await asyncio.wait_for(done, 5)
        finally:
            uas_service.close()
            uac_service.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen == ["incoming from ::1", "answered", "uas ended"]
