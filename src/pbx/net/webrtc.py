"""WebRTC media for browser legs: ICE, DTLS and SRTP with aiortc around the engine's RTP.

A browser's leg is an ordinary engine channel: its payload is PCMU or PCMA with
telephone-event, as negotiated by :mod:`pbx.sip.webrtc_sdp`, so the engine's jitter
buffer, mixer, recorder, DTMF receiver and prompts treat it like a desk phone's. What
differs is the transport, and that is aiortc's: an ``aioice`` connection on the RTP port
the call layer bound (its one host candidate is the one our SDP announced), an
:class:`aiortc.RTCDtlsTransport` with the service's certificate, and the SRTP sessions
the DTLS handshake keys (RFC 5764). Decrypted RTP and RTCP go straight to the channel's
stream (no aiortc jitter buffer or decoder in between, so pbx adds no latency of its
own); the RTP the engine's tick produces for the channel is protected and sent to the
nominated ICE pair synchronously, within the tick, like a datagram from a UDP port.
An Opus leg (a browser that offered no G.711) is the exception: its packets are
transcoded to and from PCMU here, one by one (:mod:`pbx.media.opus`).

A session that cannot connect (ICE fails, DTLS fails or the browser's certificate does
not match its fingerprint) simply carries no media: the call layer's media watchdog ends
the call as for any silent leg. Every session runs as tasks on the application's loop.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

import structlog
from aioice import Candidate
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import Connection, StunProtocol
from aiortc import (
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsParameters,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceParameters,
    RTCIceTransport,
)
from aiortc.sdp import candidate_from_sdp

from pbx.media.opus import SCALE, OpusTranscoder
from pbx.sip.webrtc_sdp import WebRtcLocal, WebRtcNegotiated

log = structlog.get_logger(__name__)

Receive = Callable[[bytes, Any, float], None]


class _BoundConnection(Connection):
    """ICE on the socket pbx bound for the leg: its host candidate is the one the SDP
    announced before any task ran, so the offer or answer could be written at once."""

    def __init__(self, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sock = sock

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[Candidate]:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(self), sock=self._sock
        )
        host, port = self._sock.getsockname()[:2]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        self._protocols.append(protocol)
        return [protocol.local_candidate]


class _EngineDtls(RTCDtlsTransport):
    """DTLS-SRTP whose decrypted packets go to the leg's engine channel."""

    def __init__(
        self, transport: RTCIceTransport, certificates: list[RTCCertificate], session: Session
    ) -> None:
        super().__init__(transport, certificates)
        self._session = session

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self._session.rtp_in(data)

    async def _handle_rtcp_data(self, data: bytes) -> None:
        self._session.rtcp_in(data)


class Session:
    """One browser leg's ICE + DTLS-SRTP, bridged to engine channel ``channel``."""

    def __init__(
        self,
        channel: int,
        sock: socket.socket,
        local: WebRtcLocal,
        negotiated: WebRtcNegotiated,
        certificate: RTCCertificate,
        receive: Receive,
        receive_rtcp: Receive,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.channel = channel
        self.local = local
        self.negotiated = negotiated
        self._receive = receive
        self._receive_rtcp = receive_rtcp
        self._loop = loop
        media = negotiated.media
        #: What the engine's stream takes as the peer's address (ICE says where it is).
        self.addr = (media.remote_address, media.remote_port)
        gatherer = RTCIceGatherer(
            iceServers=[], local_username=local.ufrag, local_password=local.pwd
        )
        self._ice_connection = _BoundConnection(
            sock,
            ice_controlling=negotiated.controlling,
            local_username=local.ufrag,
            local_password=local.pwd,
        )
        gatherer._connection = self._ice_connection
        self.ice = RTCIceTransport(gatherer)
        self.dtls = _EngineDtls(self.ice, [certificate], self)
        self.connected = False
        self.closed = False
        self.packets_in = 0
        self.packets_out = 0
        self.send_errors = 0
        self.opus: OpusTranscoder | None = None
        """The leg's Opus transcoder (an Opus leg: the engine sees PCMU)."""
        if negotiated.opus is not None:
            self.opus = OpusTranscoder(negotiated.opus, media.telephone_event)
        self._task: asyncio.Task[None] | None = loop.create_task(self._run())

    async def _run(self) -> None:
        remote = self.negotiated.remote
        try:
            await self.ice.iceGatherer.gather()
            for text in remote.candidates:
                try:
                    await self.ice.addRemoteCandidate(candidate_from_sdp(text))
                except (ValueError, IndexError):
                    log.info("webrtc_bad_candidate", channel=self.channel, candidate=text[:80])
            await self.ice.addRemoteCandidate(None)
            await self.ice.start(RTCIceParameters(remote.ufrag, remote.pwd))
            self.dtls._set_role("client" if self.negotiated.dtls_client else "server")
            prints = [RTCDtlsFingerprint(a, v) for a, v in remote.fingerprints]
            await self.dtls.start(RTCDtlsParameters(fingerprints=prints))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ICE or DTLS failed: no media; the watchdog ends it
            log.info("webrtc_failed", channel=self.channel, error=str(exc)[:200])
            return
        self.connected = self.dtls.state == "connected"
        log.info("webrtc_connected", channel=self.channel, connected=self.connected)

    # -- media -------------------------------------------------------------------------
    def rtp_in(self, data: bytes) -> None:
        self.packets_in += 1
        if self.opus is None:
            self._receive(data, self.addr, self._loop.time())
            return
        now = self._loop.time()
        for packet in self.opus.to_engine(data):
            self._receive(packet, self.addr, now)

    def rtcp_in(self, data: bytes) -> None:
        self._receive_rtcp(data, self.addr, self._loop.time())

    def send(self, data: bytes, rtcp: bool = False) -> None:
        """Protect and send one RTP (or RTCP) packet now; dropped until DTLS is up."""
        if not self.connected or self.closed:
            return
        srtp = self.dtls._tx_srtp
        pair = self._ice_connection._nominated.get(1)
        if srtp is None or pair is None or pair.protocol.transport is None:
            return
        if self.opus is not None:
            if not rtcp:
                coded = self.opus.to_browser(data)
                if coded is None:
                    return
                data = coded
            elif len(data) >= 20 and data[1] == 200:
                # A sender report's RTP timestamp at Opus's clock (RFC 3550 §6.4.1).
                (ts,) = struct.unpack_from("!I", data, 16)
                data = data[:16] + struct.pack("!I", (ts * SCALE) & 0xFFFFFFFF) + data[20:]
        try:
            packet = srtp.protect_rtcp(data) if rtcp else srtp.protect(data)
            pair.protocol.transport.sendto(packet, pair.remote_addr)
        except Exception:  # a full buffer, a closed socket, an SRTP error
            self.send_errors += 1
            return
        self.packets_out += 1

    def close(self) -> None:
        """Stop DTLS and ICE (closing the leg's socket)."""
        if self.closed:
            return
        self.closed = True
        self.connected = False
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._loop.create_task(self._stop())

    async def _stop(self) -> None:
        try:
            await self.dtls.stop()
        except Exception:
            pass
        try:
            await self.ice.stop()
        except Exception:
            pass
        await self._ice_connection.close()


class WebRtcMedia:
    """The DTLS certificate and the sessions of every browser leg."""

    def __init__(self) -> None:
        self.certificate = RTCCertificate.generateCertificate()
        fingerprint = next(
            f for f in self.certificate.getFingerprints() if f.algorithm == "sha-256"
        )
        self.fingerprint = f"{fingerprint.algorithm} {fingerprint.value}"
        """``a=fingerprint`` of our certificate (RFC 8122)."""
        self.sessions: dict[int, Session] = {}
        """Engine channel → its session."""

    def start(
        self,
        channel: int,
        sock: socket.socket,
        local: WebRtcLocal,
        negotiated: WebRtcNegotiated,
        receive: Receive,
        receive_rtcp: Receive,
        loop: asyncio.AbstractEventLoop,
    ) -> Session:
        session = Session(
            channel, sock, local, negotiated, self.certificate, receive, receive_rtcp, loop
        )
        self.sessions[channel] = session
        return session

    def close(self, channel: int) -> None:
        session = self.sessions.pop(channel, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        for channel in list(self.sessions):
            self.close(channel)
