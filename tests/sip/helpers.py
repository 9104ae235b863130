"""Builders of small SIP messages for tests."""

from __future__ import annotations

from pbx.sip.message import Request, Response, parse_message
from pbx.sip.transport import Destination

UAC = Destination("UDP", "127.0.0.1", 5070)
UAS = Destination("UDP", "127.0.0.1", 5060)


def request(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKabc1",
    cseq: int = 1,
    call_id: str = "call-1@127.0.0.1",
    from_tag: str = "ft1",
    to_tag: str | None = None,
    uri: str = "sip:100@127.0.0.1",
    via_host: str = "127.0.0.1:5070",
    extra: str = "",
    body: bytes = b"",
) -> Request:
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:caller@127.0.0.1>;tag={from_tag}\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method if method != 'CANCEL_FOR_INVITE' else 'CANCEL'}\r\n"
        "Contact: <sip:caller@127.0.0.1:5070>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(text)
    assert isinstance(msg, Request)
    return msg


def response_to(req: Request, status: int, to_tag: str | None = "tt1") -> Response:
    from pbx.sip.message import build_response

    return build_response(req, status, to_tag=to_tag)


def reparse(msg: Request | Response) -> Request | Response:
    """Serialize and parse again, as the wire would."""
    return parse_message(bytes(msg))
