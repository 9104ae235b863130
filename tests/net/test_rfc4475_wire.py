"""RFC 4475 torture messages sent over UDP to a running endpoint: each invalid one is
answered as the RFC says (or dropped when no response can be built), nothing crashes,
and the server still answers OPTIONS afterwards."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pbx.sip.errors import SipParseError
from pbx.sip.message import Response, error_response_for, parse_message
from pbx.sip.transport import Destination
from tests.conftest import free_port
from tests.net.test_sip_interop import AnsweringUas
from tests.sip.test_rfc4475 import INVALID, load

OPTIONS = (
    "OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKafter;rport\r\n"
    "From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:pbx@127.0.0.1>\r\n"
    "Call-ID: after-torture\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def expected_answer(data: bytes) -> int | None:
    """The status the parser says to answer with, or None when it must be dropped."""
    try:
        parse_message(data).check()
    except SipParseError as exc:
        response = error_response_for(exc)
        return None if response is None else response.status
    raise AssertionError("expected an invalid message")


def test_invalid_torture_messages_over_udp_then_options_still_answered() -> None:
    port = free_port()
    names = [name for name, _, _ in INVALID]

    async def scenario() -> tuple[dict[str, list[tuple[int, Destination]]], list[bytes]]:
        async with AnsweringUas(port) as uas:
            sent: list[tuple[bytes, Destination]] = []
            real_send = uas.service.udp.send

            def capture(data: bytes, dest: Destination) -> None:
                sent.append((data, dest))
                if dest.port == probe_port:
                    real_send(data, dest)

            uas.service.udp.send = capture  # type: ignore[method-assign]
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            probe.setblocking(False)
            probe_port = probe.getsockname()[1]
            answers: dict[str, list[tuple[int, Destination]]] = {}
            try:
                for name in names:
                    del sent[:]
                    probe.sendto(load(name), ("127.0.0.1", port))
                    await asyncio.sleep(0.02)
                    # A 400 echoes the request's fields as they came, bad ones included, so
                    # read just the status line.
                    answers[name] = [(int(d.split(b" ", 2)[1]), dest) for d, dest in sent]
                probe.sendto(OPTIONS.format(port=probe_port).encode(), ("127.0.0.1", port))
                replies: list[bytes] = []
                loop = asyncio.get_running_loop()
                for _ in range(50):
                    await asyncio.sleep(0.02)
                    try:
                        replies.append(probe.recv(65535))
                    except BlockingIOError:
                        continue
                    break
                del loop
            finally:
                probe.close()
            return answers, replies

    answers, replies = asyncio.run(scenario())
    for name in names:
        want = expected_answer(load(name))
        got = answers[name]
        if want is None:
            assert got == [], f"{name}: expected to be dropped, got {got}"
        else:
            assert [s for s, _ in got] == [want], f"{name}: expected {want}, got {got}"
            assert all(dest.host == "127.0.0.1" for _, dest in got)
    assert replies, "OPTIONS was not answered after the torture messages"
    reply = parse_message(replies[0])
    assert isinstance(reply, Response) and reply.status == 200


@pytest.mark.parametrize(
    ("name", "status"),
    [("unkscm", 416), ("novelsc", 416), ("bext01", 420), ("zeromf", None)],
)
def test_application_layer_torture_messages_3_3(name: str, status: int | None) -> None:
    """§3.3: messages that parse but must be answered by the UA layer."""
    import random

    from pbx.sip.endpoint import EndpointConfig, SipEndpoint

    ep = SipEndpoint(EndpointConfig(), random.Random(1))
    ep.receive_datagram(load(name), Destination("UDP", "127.0.0.1", 5070), 0.0)
    statuses = [parse_message(d).status for d, _ in ep.datagrams_to_send()]  # type: ignore[union-attr]
    if status is None:
        # zeromf is an OPTIONS with Max-Forwards: 0, which a UAS answers (RFC 3261 §11).
        assert statuses and statuses[-1] in (200, 483)
    else:
        assert statuses[-1] == status
