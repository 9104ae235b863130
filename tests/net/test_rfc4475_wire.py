"""RFC 4475 torture messages sent over UDP to a running endpoint: each invalid one is
answered as the RFC says (or dropped when no response can be built), nothing crashes,
and the server still answers OPTIONS afterwards."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest

from pbx.sip.errors import SipParseError
from pbx.sip.message import Response, error_response_for, parse_message
from pbx.sip.transport import Destination
from tests.conftest import free_port
from tests.net.test_sip_interop import AnsweringUas
from tests.sip.test_rfc4475 import DATA, INVALID, load

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


# What the example call center answers to each of the 49 messages, sent over UDP from a
# trusted trunk address (127.0.0.1). Requests the parser rejects get the parser's status
# (``expected_answer``); None means nothing at all comes back (responses with no
# transaction, requests no response can be built for).
APPLICATION_ANSWERS: dict[str, int | None] = {
    # §3.1.1 valid messages
    "wsinv": 481,  # a To tag for a dialog that does not exist
    "intmeth": 501,
    "esc01": 404,  # routed: no such number in the dial plan
    "escnull": 401,  # REGISTER is always challenged
    "esc02": 501,  # RE%47IST%45R is not REGISTER
    "lwsdisp": 200,
    "longreq": 404,
    "dblreq": 401,  # only the first message of the datagram counts
    "semiuri": 200,
    "transports": 200,
    "mpart01": 415,  # MESSAGE with multipart/mixed: text/plain only (RFC 3428 §7)
    "unreason": None,
    "noreason": None,
    # §3.2 / §3.3 valid messages left to the application
    "badbranch": 200,
    "unkscm": 416,
    "novelsc": 416,
    "unksm2": 400,  # the To of a REGISTER must be a SIP or SIPS URI
    "bext01": 420,
    "invut": 415,
    "regaut01": 401,  # an unknown auth scheme is ignored: a fresh challenge
    "bcast": None,
    "zeromf": 200,
    "cparam01": 401,
    "cparam02": 401,
    "regescrt": 401,
    "sdp01": 406,  # Accept excludes application/sdp
    "inv2543": 404,
}


def test_all_49_torture_messages_against_the_example_application(tmp_path: Path) -> None:
    """Each of RFC 4475's 49 messages, as bytes over UDP to the running example: the
    answer the RFC names (one final response, or none), and OPTIONS still answered."""
    from pbx.app import Application
    from pbx.sip.timers import TimerConfig
    from tests.net.test_app_peers import with_app

    names = sorted(p.stem for p in DATA.glob("*.sip"))
    assert len(names) == 49
    want: dict[str, int | None] = {}
    for name in names:
        want[name] = (
            APPLICATION_ANSWERS[name]
            if name in APPLICATION_ANSWERS
            else (expected_answer(load(name)))
        )
    t1 = 0.01  # transactions, retransmissions and Timer H/J end within 64·T1 = 0.64 s

    async def body(app: Application) -> dict[str, list[int]]:
        sent: list[bytes] = []
        real_send = app.sip.udp.send

        def capture(data: bytes, dest: Destination) -> None:
            sent.append(data)
            if dest.host == "127.0.0.1":
                real_send(data, dest)

        app.sip.udp.send = capture  # type: ignore[method-assign]
        answers: dict[str, list[int]] = {}
        seen_vias: set[bytes] = set()
        for name in names:
            data = load(name)
            first_via = next(
                (line for line in data.split(b"\r\n") if line.lower().startswith((b"via", b"v:"))),
                b"",
            )
            if first_via in seen_vias:
                # Same branch and sent-by as an earlier message: let that transaction end.
                await asyncio.sleep(64 * t1 + 0.1)
            seen_vias.add(first_via)
            # Answers are told apart by Call-ID (insuf has none: by its branch).
            match = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)", data) or re.search(
                rb"branch=([^;\s]+)", first_via
            )
            call_id = match.group(1) if match else b"\x00"
            del sent[:]
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            try:
                probe.sendto(data, ("127.0.0.1", app.port))
                for _ in range(25):
                    await asyncio.sleep(0.02)
                    finals = [d for d in sent if call_id in d and not d.startswith(b"SIP/2.0 1")]
                    if finals:
                        break
                await asyncio.sleep(0.05)
            finally:
                probe.close()
            statuses: list[int] = []
            for d in sent:
                if call_id in d:
                    assert d.startswith(b"SIP/2.0 "), f"{name}: sent a request {d[:40]!r}"
                    status = int(d.split(b" ", 2)[1])
                    if status >= 200 and status not in statuses:
                        statuses.append(status)
            answers[name] = statuses
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(0)
        try:
            probe.sendto(
                OPTIONS.format(port=probe.getsockname()[1]).encode(), ("127.0.0.1", app.port)
            )
            for _ in range(50):
                await asyncio.sleep(0.02)
                try:
                    reply = probe.recv(65535)
                except BlockingIOError:
                    continue
                answers["after"] = [int(reply.split(b" ", 2)[1])]
                break
        finally:
            probe.close()
        return answers

    answers = with_app(tmp_path, body, timers=TimerConfig(t1=t1))
    wrong = {
        name: (want[name], answers[name])
        for name in names
        if answers[name] != ([] if want[name] is None else [want[name]])
    }
    assert wrong == {}, f"(expected, got) per message: {wrong}"
    assert answers.get("after") == [200], "OPTIONS not answered after the torture messages"


@pytest.mark.parametrize(
    ("method", "content_type", "status"),
    [
        ("MESSAGE", "text/plain", 480),  # 2001 has no phone registered
        ("MESSAGE", "application/im-iscomposing+xml", 415),
        ("NOTIFY", "text/plain", 481),  # no subscription
        ("INFO", "application/dtmf-relay", 481),  # no INVITE dialog
        ("REFER", "text/plain", 403),  # a transfer needs a call
    ],
)
def test_every_out_of_dialog_request_to_the_example_is_answered(
    tmp_path: Path, method: str, content_type: str, status: int
) -> None:
    from pbx.app import Application
    from tests.net.test_app_peers import with_app

    async def body(app: Application) -> int:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        probe.setblocking(False)
        port = probe.getsockname()[1]
        text = b"hello"
        extra = "Event: dialog\r\n" if method == "NOTIFY" else ""
        extra += "Refer-To: <sip:2001@127.0.0.1>\r\n" if method == "REFER" else ""
        try:
            probe.sendto(
                (
                    f"{method} sip:2001@127.0.0.1 SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKood;rport\r\n"
                    "From: <sip:5551234@127.0.0.1>;tag=ood\r\nTo: <sip:2001@127.0.0.1>\r\n"
                    f"Call-ID: ood-{method}@127.0.0.1\r\nCSeq: 1 {method}\r\n"
                    f"Max-Forwards: 70\r\n{extra}Content-Type: {content_type}\r\n"
                    f"Content-Length: {len(text)}\r\n\r\n"
                ).encode()
                + text,
                ("127.0.0.1", app.port),
            )
            for _ in range(100):
                await asyncio.sleep(0.02)
                try:
                    reply = probe.recv(65535)
                except BlockingIOError:
                    continue
                return int(reply.split(b" ", 2)[1])
        finally:
            probe.close()
        raise AssertionError(f"no answer to an out-of-dialog {method}")

    assert with_app(tmp_path, body) == status
