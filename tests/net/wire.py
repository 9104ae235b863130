"""A raw SIP/RTP client for wire tests: it sends exactly the bytes a test gives it.

:class:`RawCaller` owns one UDP socket for SIP and one for RTP on 127.0.0.1; the test
writes the INVITE (so a malformed header or SDP goes out byte for byte), and the helper
reads responses, acknowledges a final one, sends and receives RTP, and hangs up. Every
wait is bounded in time; :meth:`close` closes both sockets.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time

from pbx.sip.message import Request, Response, parse_message

HOST = "127.0.0.1"


def sdp(rtp_port: int, address: bytes = b"127.0.0.1") -> bytes:
    """A PCMU offer whose ``c=`` line carries ``address`` as given."""
    return (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 " + address + b"\r\n"
        b"t=0 0\r\nm=audio " + str(rtp_port).encode() + b" RTP/AVP 0 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\na=sendrecv\r\n"
    )


_CODES = [c for c in range(256) if c not in (0x7F, 0xFF)]  # the two zeros re-encode as one


def noise_frame(seed: int) -> bytes:
    """160 bytes of μ-law noise, the same for the same seed, that re-encode unchanged."""
    return bytes(random.Random(seed).choices(_CODES, k=160))


class RawCaller:
    """One SIP socket and one RTP socket; the test writes the INVITE's bytes itself."""

    def __init__(self, pbx_port: int) -> None:
        self.pbx = (HOST, pbx_port)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, 0))
        self.sip.setblocking(False)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, 0))
        self.rtp.setblocking(False)
        self.sip_port = self.sip.getsockname()[1]
        self.rtp_port = self.rtp.getsockname()[1]
        self.final: Response | None = None
        self.last_offer = b""
        self.requests: list[Request] = []
        self.remote_rtp: tuple[str, int] | None = None
        self._seq = 0
        self._ts = 0
        self._cseq = 1

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    # -- SIP ---------------------------------------------------------------------------
    def invite(
        self,
        did: str,
        call_id: bytes,
        *,
        from_user: bytes = b"5551234",
        from_name: bytes = b"",
        body: bytes | None = None,
        branch: bytes = b"z9hG4bKwire1",
        extra: bytes = b"",
    ) -> bytes:
        """Send an INVITE built from these exact bytes (``extra``: more header lines,
        each ending in CRLF); return what was sent."""
        self.call_id = call_id
        self.did = did
        self.from_user = from_user
        self.from_name = from_name
        payload = sdp(self.rtp_port) if body is None else body
        self.last_offer = payload
        head = (
            (
                f"INVITE sip:{did}@{HOST}:{self.pbx[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{self.sip_port};branch="
            ).encode()
            + branch
            + (
                b";rport\r\nFrom: " + from_name + b"<sip:" + from_user + b"@127.0.0.1>;tag=wire\r\n"
                b"To: <sip:" + did.encode() + b"@127.0.0.1>\r\n"
                b"Call-ID: " + call_id + b"\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                b"Contact: <sip:"
                + from_user
                + f"@{HOST}:{self.sip_port}>\r\n".encode()
                + extra
                + b"Content-Type: application/sdp\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            )
        )
        data = head + payload
        self.sip.sendto(data, self.pbx)
        return data

    def read(self) -> list[Request | Response]:
        """Every SIP message waiting on the socket, parsed."""
        out: list[Request | Response] = []
        for _ in range(100):
            try:
                data = self.sip.recv(65535)
            except BlockingIOError:
                break
            message = parse_message(data)
            if isinstance(message, Request):
                self.requests.append(message)
            out.append(message)
        return out

    async def final_response(self, timeout: float = 3.0) -> Response:
        """Wait for the INVITE's final response; ACK it (RFC 3261 §17.1.1.3, §13.2.2.4)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.read():
                if isinstance(message, Response) and message.status >= 200:
                    self.final = message
                    self._ack(message)
                    return message
            await asyncio.sleep(0.005)
        raise AssertionError(f"no final response to the INVITE within {timeout} s")

    def _ack(self, response: Response) -> None:
        to = response.headers.get("To") or ""
        if response.status >= 300:
            via = f"SIP/2.0/UDP {HOST}:{self.sip_port};branch=z9hG4bKwire1;rport"
        else:
            via = f"SIP/2.0/UDP {HOST}:{self.sip_port};branch=z9hG4bKwireack;rport"
            body = response.body.decode("ascii", "replace")
            port = next(
                int(line.split()[1]) for line in body.splitlines() if line.startswith("m=audio")
            )
            self.remote_rtp = (HOST, port)
        self.to = to
        self.sip.sendto(self._request("ACK", 1, via), self.pbx)

    def _request(self, method: str, cseq: int, via: str) -> bytes:
        return (
            f"{method} sip:{self.did}@{HOST}:{self.pbx[1]} SIP/2.0\r\nVia: {via}\r\n".encode()
            + b"From: "
            + self.from_name
            + b"<sip:"
            + self.from_user
            + b"@127.0.0.1>;tag=wire\r\n"
            + f"To: {self.to}\r\n".encode()
            + b"Call-ID: "
            + self.call_id
            + f"\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode()
        )

    async def next_request(self, method: str, timeout: float) -> tuple[Request, float]:
        """Wait for a request ``method`` from the pbx; it and when it came (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.read():
                if isinstance(message, Request) and message.method == method:
                    return message, time.monotonic()
            await asyncio.sleep(0.005)
        raise AssertionError(f"no {method} from the pbx within {timeout} s")

    def answer(self, request: Request, status: int, extra: str = "", body: bytes = b"") -> None:
        """Answer a request from the pbx, copying Via, From, To, Call-ID and CSeq."""
        h = request.headers
        vias = "".join(f"Via: {v}\r\n" for v in h.values("via"))
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        self.sip.sendto(
            (
                f"SIP/2.0 {status} Whatever\r\n{vias}From: {h.get('from')}\r\n"
                f"To: {h.get('to')}\r\nCall-ID: {h.get('call-id')}\r\n"
                f"CSeq: {h.get('cseq')}\r\n{extra}{ctype}Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body,
            self.pbx,
        )

    async def bye(self, timeout: float = 3.0) -> int:
        """Hang up; return the status of the BYE's response."""
        self._cseq += 1
        via = f"SIP/2.0/UDP {HOST}:{self.sip_port};branch=z9hG4bKwirebye{self._cseq};rport"
        self.sip.sendto(self._request("BYE", self._cseq, via), self.pbx)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.read():
                if isinstance(message, Response) and message.cseq.method == "BYE":
                    return message.status
            await asyncio.sleep(0.005)
        raise AssertionError("no response to BYE")

    # -- RTP ---------------------------------------------------------------------------
    def send_rtp(self, payload: bytes, *, ssrc: int = 0x1234, marker: bool = False) -> None:
        assert self.remote_rtp is not None
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | 0, self._seq & 0xFFFF, self._ts, ssrc
        )
        self._seq += 1
        self._ts += 160
        self.rtp.sendto(header + payload, self.remote_rtp)

    def received_payloads(self) -> list[bytes]:
        out = []
        for _ in range(10_000):
            try:
                data = self.rtp.recv(2048)
            except BlockingIOError:
                break
            if len(data) >= 12:
                out.append(data[12:])
        return out

    async def echo_ratio(self, frames: int = 100, tag: int = 0) -> float:
        """Send ``frames`` distinct frames every 20 ms; the share that comes back."""
        sent = {noise_frame(tag * 1000 + i) for i in range(frames)}
        back: set[bytes] = set()
        for i in range(frames):
            self.send_rtp(noise_frame(tag * 1000 + i))
            await asyncio.sleep(0.02)
            back.update(self.received_payloads())
        for _ in range(10):
            await asyncio.sleep(0.02)
            back.update(self.received_payloads())
        return len(sent & back) / len(sent)
