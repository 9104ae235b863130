"""SIP message parsing rate: pbx against the sippy and sipmessage parsers, side by side.

Two messages a softphone exchanges at call set-up — an INVITE with SDP and its 200 OK —
parsed in two ways by each library:

* ``parse``: the parser's entry point alone (pbx's parse_message is lazy);
* ``parse+fields``: what a UA does with every message — parse, then read Via, From, To,
  Contact, CSeq and Call-ID as typed values (pbx: ``parse_message`` + ``check()``).

The machine is shared, so each figure is the best of several rounds in which the
libraries take turns; ``peer/pbx`` is the peer's time over pbx's (above 1: pbx is faster).
``--quick`` keeps the whole run well under 30 s.

Run: ``.venv/bin/python benchmarks/bench_parse.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from pbx.sip.message import parse_message

INVITE = (
    b"INVITE sip:2001@192.0.2.10:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.55:5062;rport;branch=z9hG4bKPj4e1c8a9b2f6d4c0e8f1a2b3c4d5e6f70\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice Agent" <sip:1001@192.0.2.10>;tag=5a9e2c4b8d7f4e1a9c3b2d1e0f6a7b8c\r\n'
    b"To: <sip:2001@192.0.2.10>\r\n"
    b'Contact: <sip:1001@192.0.2.55:5062;ob>;+sip.instance="<urn:uuid:4f3d5a1e-9b2c-4d8e-a1f0'
    b'-3c2b1a0d9e8f>";expires=3600\r\n'
    b"Call-ID: 8f2d6c1b-4a3e-49d0-b7c5-1e2f3a4b5c6d\r\n"
    b"CSeq: 24680 INVITE\r\n"
    b"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE,"
    b" OPTIONS\r\n"
    b"Supported: replaces, 100rel, timer, norefersub\r\n"
    b"Session-Expires: 1800\r\n"
    b"Min-SE: 90\r\n"
    b"User-Agent: MicroSIP/3.21.3\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:   339\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=- 3912345678 3912345678 IN IP4 192.0.2.55\r\n"
    b"s=pjmedia\r\n"
    b"b=AS:84\r\n"
    b"t=0 0\r\n"
    b"a=X-nat:0\r\n"
    b"m=audio 4002 RTP/AVP 8 0 101\r\n"
    b"c=IN IP4 192.0.2.55\r\n"
    b"b=TIAS:64000\r\n"
    b"a=rtcp:4003 IN IP4 192.0.2.55\r\n"
    b"a=sendrecv\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ssrc:1187123450 cname:5b1e3a2c7d9f4e6a\r\n"
    b"a=ptime:20\r\n"
)

OK_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.55:5062;rport=5062;received=192.0.2.55;"
    b"branch=z9hG4bKPj4e1c8a9b2f6d4c0e8f1a2b3c4d5e6f70\r\n"
    b"Call-ID: 8f2d6c1b-4a3e-49d0-b7c5-1e2f3a4b5c6d\r\n"
    b'From: "Alice Agent" <sip:1001@192.0.2.10>;tag=5a9e2c4b8d7f4e1a9c3b2d1e0f6a7b8c\r\n'
    b"To: <sip:2001@192.0.2.10>;tag=as4f2b9c1d\r\n"
    b"CSeq: 24680 INVITE\r\n"
    b"Server: pbx/0.1\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH\r\n"
    b"Supported: replaces, timer\r\n"
    b"Contact: <sip:2001@192.0.2.10:5060>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def _check_fixtures() -> None:
    for data in (INVITE, OK_200):
        msg = parse_message(data)
        msg.check()
    assert len(parse_message(INVITE).body) == 339


def pbx_parse(data: bytes) -> Callable[[], object]:
    """parse_message alone (lazy)."""
    return lambda: parse_message(data)


def pbx_parse_fields(data: bytes) -> Callable[[], object]:
    """parse_message + check(): Via, From, To, Contact, Call-ID parsed as a UA does."""

    def run() -> object:
        msg = parse_message(data)
        msg.check()
        return msg.cseq

    return run


def sippy_parse(data: bytes, fields: bool) -> Callable[[], object] | None:
    """sippy's SipRequest/SipResponse (it takes str); fields read through getHFBody."""
    try:
        from sippy.SipRequest import SipRequest
        from sippy.SipResponse import SipResponse
    except ImportError:
        return None
    text = data.decode("utf-8")
    cls = SipResponse if data.startswith(b"SIP/") else SipRequest

    def parse() -> object:
        return cls(text)

    def parse_fields() -> object:
        msg = cls(text)
        msg.getHFBody("via")
        msg.getHFBody("from")
        msg.getHFBody("to")
        msg.getHFBody("contact")
        msg.getHFBody("call-id")
        return msg.getHFBody("cseq")

    return parse_fields if fields else parse


def sipmessage_parse(data: bytes, fields: bool) -> Callable[[], object] | None:
    """sipmessage's Message.parse; fields read through its typed properties."""
    try:
        from sipmessage import Message
    except ImportError:
        return None

    def parse() -> object:
        return Message.parse(data)

    def parse_fields() -> object:
        msg = Message.parse(data)
        _ = msg.via, msg.from_address, msg.to_address, msg.contact, msg.call_id
        return msg.cseq

    return parse_fields if fields else parse


def measure(cases: dict[str, Callable[[], object]], number: int, rounds: int) -> dict[str, float]:
    """Best µs per call of each case; cases take turns every round, so a busy moment of
    the shared machine hits them all alike."""
    best = dict.fromkeys(cases, float("inf"))
    for fn in cases.values():  # warm up caches and the CPU clock
        for _ in range(number):
            fn()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in cases.items():
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                best[name] = min(best[name], (time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return {name: t * 1e6 for name, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (< 30 s)")
    args = parser.parse_args()
    number, rounds = (300, 25) if args.quick else (1000, 40)
    _check_fixtures()

    print(f"{'message':8} {'row':13} {'library':11} {'µs/msg':>8} {'msg/s':>9} {'peer/pbx':>9}")
    for label, data in (("INVITE", INVITE), ("200 OK", OK_200)):
        for row, fields in (("parse", False), ("parse+fields", True)):
            cases: dict[str, Callable[[], object]] = {
                "pbx": pbx_parse_fields(data) if fields else pbx_parse(data)
            }
            for name, make in (("sippy", sippy_parse), ("sipmessage", sipmessage_parse)):
                fn = make(data, fields)
                if fn is not None:
                    cases[name] = fn
                else:
                    print(f"{label:8} {row:13} {name:11} {'not installed':>28}")
            times = measure(cases, number, rounds)
            ours = times["pbx"]
            for name, us in times.items():
                ratio = "" if name == "pbx" else f"{us / ours:8.2f}x"
                print(f"{label:8} {row:13} {name:11} {us:8.1f} {1e6 / us:9.0f} {ratio:>9}")


if __name__ == "__main__":
    main()
