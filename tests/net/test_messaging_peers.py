"""Text messages with softphones we did not write: two baresip phones registered as 2001
and 2002. A MESSAGE from the carrier's network reaches 2002 and baresip's 200 comes
back; baresip 2001 texts 2002 (answering the pbx's digest challenge itself) and the
pbx relays it; a text to an extension with no phone is refused 480 to baresip."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pbx.app import Application
from tests.conftest import free_port
from tests.net.test_app_peers import with_app
from tests.peers.baresip import Baresip


async def carrier_message(app: Application, to: str, text: str) -> int:
    """A MESSAGE from 127.0.0.1 (the example's trusted trunk "local"); its final status."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    probe.setblocking(False)
    own = probe.getsockname()[1]
    body = text.encode()
    probe.sendto(
        (
            f"MESSAGE sip:{to}@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{own};branch=z9hG4bKsms{own};rport\r\n"
            f"From: <sip:5551234@127.0.0.1>;tag=sms\r\nTo: <sip:{to}@127.0.0.1>\r\n"
            f"Call-ID: sms-{own}@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body,
        ("127.0.0.1", app.port),
    )
    try:
        for _ in range(250):
            await asyncio.sleep(0.02)
            try:
                status = int(probe.recv(65535).split(b" ", 2)[1])
            except BlockingIOError:
                continue
            if status >= 200:
                return status
    finally:
        probe.close()
    raise AssertionError("no final answer to the MESSAGE")


@pytest.mark.peer
def test_baresip_phones_send_and_receive_texts_through_the_pbx(tmp_path: Path) -> None:
    tone = tmp_path / "silence.wav"
    soundfile.write(tone, np.zeros(8000, np.int16), 8000)
    port = free_port()
    sender = Baresip(
        tmp_path / "b2001",
        user="2001",
        password="pw2001",
        registrar_port=port,
        audio=tone,
        modules=("menu.so", "contact.so"),
        contacts=(f"sip:2002@127.0.0.1:{port}",),
    )
    receiver = Baresip(
        tmp_path / "b2002",
        user="2002",
        password="pw2002",
        registrar_port=port,
        audio=tone,
        modules=("menu.so",),
    )
    lonely = Baresip(
        tmp_path / "b2003",
        user="2004",
        password="pw2004",
        registrar_port=port,
        audio=tone,
        modules=("menu.so", "contact.so"),
        contacts=(f"sip:2003@127.0.0.1:{port}",),
    )

    async def body(app: Application) -> tuple[int, dict[tuple[str, ...], int], int, int]:
        phones = (sender, receiver, lonely)
        for phone in phones:
            await phone.start()
        try:
            for _ in range(100):
                if all(app.location.lookup(e, app.sip.now()) for e in ("2001", "2002", "2004")):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("baresip did not register:\n" + sender.log())
            inbound = await carrier_message(app, "2002", "Your parcel is late")
            before = dict(app.endpoint.responses_in)
            await sender.command("message", "Can you take the Smith call?")
            await lonely.command("message", "anyone there?")
            for _ in range(100):
                relayed = app.endpoint.responses_in.get(("MESSAGE", "200"), 0)
                if relayed > before.get(("MESSAGE", "200"), 0) and "480" in lonely.log():
                    break
                await asyncio.sleep(0.05)
            challenged = app.endpoint.responses_out.get(("MESSAGE", "401"), 0)
            answered = app.endpoint.responses_out.get(("MESSAGE", "200"), 0)
            return inbound, dict(app.endpoint.responses_in), challenged, answered
        finally:
            for phone in phones:
                await phone.stop()

    inbound, responses_in, challenged, answered = with_app(tmp_path, body, port=port)
    assert inbound == 200  # baresip 2002 took the relayed text
    assert responses_in.get(("MESSAGE", "200"), 0) == 2  # ... and the one from baresip 2001
    assert challenged >= 2  # both baresip senders answered the digest challenge
    assert answered >= 2  # 200 to the carrier and to baresip 2001
    assert "480 Not Registered" in lonely.log()
