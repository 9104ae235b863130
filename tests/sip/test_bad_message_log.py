"""Bad input is logged bounded, at debug, and counted (no log amplification)."""

from __future__ import annotations

import random

from structlog.testing import capture_logs

from pbx.loglimit import LOG_TEXT_LIMIT
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.transport import Destination

SOURCE = Destination("UDP", "127.0.0.1", 5070)


def bad_invite(size: int) -> bytes:
    return (
        b"INVITE sip:600@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbad\r\n"
        b"From: <sip:" + b"\xff" * size + b"@127.0.0.1>;tag=x\r\nTo: <sip:600@127.0.0.1>\r\n"
        b"Call-ID: bad\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )


def test_a_huge_bad_message_logs_one_bounded_debug_line_and_is_counted() -> None:
    ep = SipEndpoint(EndpointConfig(), random.Random(1))
    with capture_logs() as logs:
        for _ in range(1000):
            ep.receive_datagram(bad_invite(60_000), SOURCE, 0.0)
            ep.datagrams_to_send()
            while ep.next_event() is not None:
                pass
    assert ep.bad_messages == 1000
    bad = [entry for entry in logs if entry["event"] == "sip_bad_message"]
    assert bad and all(entry["log_level"] == "debug" for entry in bad)
    assert max(len(str(entry)) for entry in bad) < LOG_TEXT_LIMIT + 300
    assert not [e for e in logs if e["log_level"] in ("info", "warning", "error")]
