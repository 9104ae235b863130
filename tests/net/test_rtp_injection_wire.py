"""Injected RTP and RTCP over the wire (RFC 3550 §8.2, A.1; RTCP latching).

A raw UDP caller calls the example's echo test (DID 600) and sends a steady G.711 stream,
each frame a different noise pattern. After every real packet the same socket sends an
injected one: a foreign SSRC, or the real SSRC with a random sequence number and
timestamp. A third socket keeps sending RTCP to pbx's RTCP port. The echo must bring back
at least 90% of the real frames, and pbx's RTCP must keep going to the real peer's RTP
port + 1, never to the third socket.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from pathlib import Path

from pbx.app import Application
from pbx.rtp.rtcp import RtcpReceiverReport, build_compound
from pbx.sip.message import Request, Response, parse_message
from tests.net.test_app_peers import with_app

HOST = "127.0.0.1"
REAL_SSRC = 0x5EED0001
FRAMES = 150  # 3 s of 20 ms frames
# μ-law codes that decode and re-encode to themselves (0x7F and 0xFF are both zero).
_CODES = [c for c in range(256) if c not in (0x7F, 0xFF)]


def noise(seed: int) -> bytes:
    return bytes(random.Random(seed).choices(_CODES, k=160))


def udp(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def rtp_pair() -> tuple[socket.socket, socket.socket]:
    """An RTP socket on an even port and its RTCP socket on port + 1 (RFC 3550 §11)."""
    for _ in range(100):
        rtp = udp()
        port = rtp.getsockname()[1]
        if port % 2 == 0 and port < 65000:
            try:
                return rtp, udp(port + 1)
            except OSError:
                pass
        rtp.close()
    raise AssertionError("no free RTP/RTCP port pair on 127.0.0.1")


def drain(sock: socket.socket) -> list[tuple[bytes, tuple[str, int]]]:
    out = []
    for _ in range(10_000):
        try:
            data, addr = sock.recvfrom(2048)
        except BlockingIOError:
            break
        out.append((data, addr))
    return out


def invite(pbx_port: int, sip_port: int, rtp_port: int) -> bytes:
    body = (
        f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    ).encode()
    return (
        f"INVITE sip:600@{HOST}:{pbx_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{sip_port};branch=z9hG4bKinject1;rport\r\n"
        f"From: <sip:5551234@{HOST}>;tag=inject\r\nTo: <sip:600@{HOST}>\r\n"
        f"Call-ID: rtp-injection\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:5551234@{HOST}:{sip_port}>\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def in_dialog(method: str, cseq: int, branch: str, to: str, pbx_port: int, sip_port: int) -> bytes:
    return (
        f"{method} sip:600@{HOST}:{pbx_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{sip_port};branch={branch};rport\r\n"
        f"From: <sip:5551234@{HOST}>;tag=inject\r\nTo: {to}\r\n"
        f"Call-ID: rtp-injection\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def response_to(sip: socket.socket, method: str, timeout: float = 3.0) -> Response:
    """The final response to ``method`` on ``sip``, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for data, _ in drain(sip):
            message = parse_message(data)
            if (
                isinstance(message, Response)
                and message.status >= 200
                and message.cseq.method == method
            ):
                return message
            assert not isinstance(message, Request) or message.method != "BYE"
        await asyncio.sleep(0.005)
    raise AssertionError(f"no final response to {method} within {timeout} s")


def test_injected_rtp_and_rtcp_neither_cut_the_echo_nor_redirect_rtcp(tmp_path: Path) -> None:
    async def body(app: Application) -> None:
        sip = udp()
        rtp, rtcp = rtp_pair()
        intruder = udp()
        try:
            sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
            pbx = (HOST, app.port)
            sip.sendto(invite(app.port, sip_port, rtp_port), pbx)
            answer = await response_to(sip, "INVITE")
            assert answer.status == 200
            to = answer.headers.get("To") or ""
            sip.sendto(in_dialog("ACK", 1, "z9hG4bKinjectack", to, app.port, sip_port), pbx)
            sdp = answer.body.decode("ascii")
            media_port = next(
                int(line.split()[1]) for line in sdp.splitlines() if line.startswith("m=audio")
            )
            media = (HOST, media_port)
            pbx_rtcp = (HOST, media_port + 1)

            rng = random.Random(600)
            sent = [noise(n) for n in range(FRAMES)]
            echoed: set[bytes] = set()
            reports_to_peer = 0
            reports_to_intruder = 0
            stray_rr = build_compound([RtcpReceiverReport(0xBAD0BAD0, ())])
            seq0, ts0 = 1000, 160_000
            for n in range(FRAMES):
                header = struct.pack("!BBHII", 0x80, 0, seq0 + n, ts0 + 160 * n, REAL_SSRC)
                rtp.sendto(header + sent[n], media)
                # The injected packet, from the very same socket.
                if n % 2:
                    ssrc, seq = rng.getrandbits(32), rng.getrandbits(16)
                else:
                    ssrc, seq = REAL_SSRC, rng.getrandbits(16)
                fake = struct.pack("!BBHII", 0x80, 0, seq, rng.getrandbits(32), ssrc)
                rtp.sendto(fake + noise(100_000 + n), media)
                if n % 10 == 0:  # RTCP from a third party, from before pbx's first report on
                    intruder.sendto(stray_rr, pbx_rtcp)
                await asyncio.sleep(0.02)
                echoed.update(data[12:] for data, _ in drain(rtp))
                reports_to_peer += len(drain(rtcp))
                reports_to_intruder += len(drain(intruder))
            # pbx's first report comes 1–3.1 s after media starts (RFC 3550 A.7): wait
            # for it, and for the last echoes.
            settle = time.monotonic() + 0.5
            deadline = settle + 5.5
            while time.monotonic() < deadline and (
                reports_to_peer == 0 or time.monotonic() < settle
            ):
                await asyncio.sleep(0.02)
                echoed.update(data[12:] for data, _ in drain(rtp))
                reports_to_peer += len(drain(rtcp))
                reports_to_intruder += len(drain(intruder))

            back = sum(1 for frame in sent if frame in echoed)
            assert back >= 0.9 * FRAMES, f"{back} of {FRAMES} real frames echoed"
            assert reports_to_peer >= 1, "pbx sent no RTCP to the peer's RTP port + 1"
            assert reports_to_intruder == 0, f"{reports_to_intruder} RTCP reports went astray"
            [stream] = [leg.stream for leg in app.calls.legs.values() if leg.stream is not None]
            assert stream.rtcp_addr == (HOST, rtp_port + 1)
            assert stream.remote_ssrc == REAL_SSRC

            sip.sendto(in_dialog("BYE", 2, "z9hG4bKinjectbye", to, app.port, sip_port), pbx)
            assert (await response_to(sip, "BYE")).status == 200
        finally:
            for sock in (sip, rtp, rtcp, intruder):
                sock.close()

    with_app(tmp_path, body)
