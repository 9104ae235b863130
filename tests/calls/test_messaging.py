"""Text messages (SIP MESSAGE, RFC 3428) through the pbx: phone to phone, from a trunk to
a phone, from a phone out over a trunk (an SMS), and the refusals in between."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from pbx.config import load_config
from pbx.testing import Harness
from tests.test_config_validation import example_copy

SMS_OUT = (
    '\n[[dialplan]]\nnumber = "re:^9(\\\\d{7,})$"\nfrom = "user"\ntarget = "trunk"\ntrunk = "sim"\n'
)


def from_the_carrier_network(h: Harness, to: str, text: str, ctype: str = "text/plain") -> int:
    """A MESSAGE from 127.0.0.1 (the example's trusted trunk "local"); its final status."""

    async def send() -> int:
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
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body,
            ("127.0.0.1", h.app.port),
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

    return h.run(send())


def test_texts_between_phones_from_a_trunk_and_out_over_one(tmp_path: Path) -> None:
    config = load_config(example_copy(tmp_path, append=SMS_OUT))
    with Harness(config, tmp_path=tmp_path, carrier="sim") as h:
        a, b = h.agent("2001"), h.agent("2002")
        assert a.send_text("2002", "Can you take the Smith call?") == 200
        h.wait_for(lambda: len(b.texts) == 1, 3, "2002 to get the text")
        assert (b.texts[0].sender, b.texts[0].text) == ("2001", "Can you take the Smith call?")
        assert b.send_text("2001", "Да, беру") == 200  # UTF-8 both ways
        assert a.texts[-1].text == "Да, беру"

        # Refusals: no phone registered, no route, a queue (chats are not queued).
        assert a.send_text("2003", "anyone?") == 480
        assert a.send_text("4444", "nobody") == 404
        assert from_the_carrier_network(h, "200", "to the sales queue") == 480

        # From the carrier's network to a phone, and a body that is not text.
        assert from_the_carrier_network(h, "2002", "Your parcel is late") == 200
        h.wait_for(lambda: len(b.texts) == 2, 3, "2002 to get the SMS")
        assert (b.texts[1].sender, b.texts[1].text) == ("5551234", "Your parcel is late")
        assert from_the_carrier_network(h, "2002", "<x/>", "application/xml") == 415
        assert len(b.texts) == 2

        # Out over the trunk: the carrier gets the MESSAGE for the number dialled.
        assert a.send_text("95550199", "Your appointment is at 3 pm") == 200
        (sms,) = [r for r in h.carrier.requests if r.method == "MESSAGE"]
        assert sms.uri.user == "5550199" and sms.body == b"Your appointment is at 3 pm"
        # From the carrier's side, an unauthenticated sender cannot send out over it.
        assert from_the_carrier_network(h, "95550199", "spam") == 404
