"""Log lines a sender can trigger at will are rate-limited, and nothing goes uncounted."""

from __future__ import annotations

import random
from typing import Any

from structlog.testing import capture_logs

from pbx.loglimit import LogLimiter, bounded
from pbx.sip import auth
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.message import Response, parse_message
from pbx.sip.registration import LocationService, Registrar
from pbx.sip.transport import Destination


def test_burst_per_window_then_the_next_line_carries_the_suppressed_count() -> None:
    lines: list[dict[str, Any]] = []
    limiter = LogLimiter(burst=3, window=10.0)

    def sink(event: str, **fields: Any) -> None:
        lines.append({"event": event, **fields})

    logged = [limiter.log(sink, "x", 0.1 * i, n=i) for i in range(50)]  # 5 s of 10/s
    assert logged == [True] * 3 + [False] * 47
    assert limiter.suppressed_total == 47
    # Another event has its own budget.
    assert limiter.log(sink, "y", 5.0)
    # The next window lets lines through again; the first says how many were held back.
    assert limiter.log(sink, "x", 10.0, n=99)
    assert lines[-1] == {"event": "x", "n": 99, "suppressed": 47}
    assert limiter.log(sink, "x", 10.1, n=100)
    assert "suppressed" not in lines[-1]


def test_bounded_cuts_long_text_and_says_how_long_it_was() -> None:
    assert bounded("short") == "short"
    assert bounded("a" * 1000, 10) == "aaaaaaaaaa… (1000 characters)"


def test_a_password_guessing_burst_logs_a_bounded_number_of_lines() -> None:
    users = {"2001": "pw2001"}
    ep = SipEndpoint(
        EndpointConfig(host="127.0.0.1", port=5060),
        random.Random(5),
        registrar=Registrar(LocationService(), lambda u: u in users),
        authenticator=auth.DigestAuthenticator(
            realm="pbx", lookup=users.get, nonces=auth.NonceManager(secret=b"k" * 32)
        ),
    )
    source = Destination("UDP", "192.0.2.9", 5070)

    def register(i: int, authorization: str = "") -> Response:
        data = (
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKguess{i}\r\n"
            "From: <sip:2001@127.0.0.1>;tag=g\r\nTo: <sip:2001@127.0.0.1>\r\n"
            f"Call-ID: guess@192.0.2.9\r\nCSeq: {i} REGISTER\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:2001@192.0.2.9:5070>\r\n{authorization}Content-Length: 0\r\n\r\n"
        ).encode()
        ep.receive_datagram(data, source, 1.0 + i * 0.001)
        [(out, _)] = ep.datagrams_to_send()
        resp = parse_message(out)
        assert isinstance(resp, Response)
        return resp

    challenge = auth.Challenge.parse(register(0).headers.get("www-authenticate") or "")
    with capture_logs() as logs:
        for i in range(1, 301):
            creds = auth.answer_challenge(
                challenge,
                username="2001",
                password=f"guess{i}",
                method="REGISTER",
                uri="sip:127.0.0.1",
                cnonce=f"{i:08x}",
            )
            assert register(i, f"Authorization: {creds}\r\n").status == 401
    failed = [line for line in logs if line["event"] == "sip_auth_failed"]
    assert len(failed) == ep.log_limit.burst
    assert "192.0.2.9" in failed[0]["peer"]
    assert ep.log_limit.suppressed_total == 300 - ep.log_limit.burst
