"""SIP over WebSocket (RFC 7118) against the running example call center.

A hand-written WebSocket phone (the ``websockets`` client) registers as agent 2001 with
digest authentication, calls the echo test with a plain RTP/AVP offer, is called by a
trunk caller, sends garbage, and closes; JsSIP in a headless Chromium registers as a
peer we did not write. Every phone advertises a ``xxx.invalid`` Via and Contact host as
browsers do (§5): whatever reaches it must come over its connection.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from attrs import evolve
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pbx.app import Application
from pbx.config import AppConfig, config_from_dict
from pbx.errors import ConfigError
from pbx.sip.auth import Challenge, answer_challenge
from pbx.sip.message import Request, Response, parse_message
from tests.api.helpers import with_api
from tests.web.browser import artifact, chromium, require_browser

HOST = "127.0.0.1"


def ws_url(app: Application) -> str:
    return f"ws://{HOST}:{app.http_port}/sip"


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> bool:
    """True as soon as ``check()`` is, False after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


class WsPhone:
    """A SIP phone on one WebSocket, written the way a browser's SIP library is."""

    def __init__(self, ws: ClientConnection, user: str) -> None:
        self.ws = ws
        self.user = user
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.contact = f"<sip:{user}@{self.host};transport=ws>"
        self.tag = secrets.token_hex(4)
        self.inbox: list[Request | Response] = []

    @classmethod
    async def open(cls, app: Application, user: str = "2001") -> WsPhone:
        ws = await connect(ws_url(app), subprotocols=["sip"], open_timeout=5.0)  # type: ignore[list-item]
        assert ws.subprotocol == "sip"
        return cls(ws, user)

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), 5.0)

    def via(self) -> str:
        return f"SIP/2.0/WS {self.host};branch=z9hG4bK{secrets.token_hex(8)}"

    async def send(self, text: str) -> None:
        await self.ws.send(text.replace("\n", "\r\n"))

    async def recv_raw(self, timeout: float = 5.0) -> bytes:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        return data.encode() if isinstance(data, str) else data

    async def recv(self, timeout: float = 5.0) -> Request | Response:
        return parse_message(await self.recv_raw(timeout))

    async def response(self, method: str, timeout: float = 5.0) -> Response:
        """The next final response to a ``method`` request (provisional ones skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.recv(max(0.05, deadline - loop.time()))
            if isinstance(message, Response) and message.cseq.method == method:
                if message.status >= 200:
                    return message
            else:
                self.inbox.append(message)

    async def request(self, method: str, timeout: float = 5.0) -> Request:
        """The next request ``method`` the pbx sends this phone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for message in self.inbox:
            if isinstance(message, Request) and message.method == method:
                self.inbox.remove(message)
                return message
        while True:
            message = await self.recv(max(0.05, deadline - loop.time()))
            if isinstance(message, Request) and message.method == method:
                return message
            self.inbox.append(message)

    async def register(self, expires: int = 600, password: str | None = None) -> Response:
        """REGISTER, answering one digest challenge; the final response."""
        call_id = f"{secrets.token_hex(8)}@{self.host}"
        authorization = ""
        for cseq in (1, 2):
            await self.send(
                f"REGISTER sip:{HOST} SIP/2.0\n"
                f"Via: {self.via()}\n"
                "Max-Forwards: 70\n"
                f"From: <sip:{self.user}@{HOST}>;tag={self.tag}\n"
                f"To: <sip:{self.user}@{HOST}>\n"
                f"Call-ID: {call_id}\n"
                f"CSeq: {cseq} REGISTER\n"
                f"Contact: {self.contact};expires={expires}\n"
                f"{authorization}"
                "Content-Length: 0\n\n"
            )
            resp = await self.response("REGISTER")
            if resp.status != 401:
                return resp
            authorization = self.answer(resp, "REGISTER", f"sip:{HOST}", password)
        return resp

    def answer(self, resp: Response, method: str, uri: str, password: str | None = None) -> str:
        """The Authorization (or Proxy-Authorization) line answering ``resp``'s challenge."""
        name = "www-authenticate" if resp.status == 401 else "proxy-authenticate"
        challenge = Challenge.parse(resp.headers.get(name) or "")
        credentials = answer_challenge(
            challenge,
            username=self.user,
            password=password or f"pw{self.user}",
            method=method,
            uri=uri,
            cnonce=secrets.token_hex(4),
        )
        header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        return f"{header}: {credentials}\n"

    async def options(self) -> int:
        await self.send(
            f"OPTIONS sip:{HOST} SIP/2.0\n"
            f"Via: {self.via()}\n"
            "Max-Forwards: 70\n"
            f"From: <sip:{self.user}@{HOST}>;tag={self.tag}\n"
            f"To: <sip:{HOST}>\n"
            f"Call-ID: {secrets.token_hex(8)}@{self.host}\n"
            "CSeq: 1 OPTIONS\n"
            "Content-Length: 0\n\n"
        )
        return (await self.response("OPTIONS")).status

    async def reply(self, req: Request, status: int, *, to_tag: str = "", body: str = "") -> None:
        """Answer ``req`` (its Via, From, To, Call-ID and CSeq copied, §8.2.6)."""
        h = req.headers
        vias = "".join(f"Via: {v}\n" for v in h.get_all("via"))
        to = h.get("to") or ""
        if to_tag and ";tag=" not in to:
            to = f"{to};tag={to_tag}"
        extra = f"Contact: {self.contact}\n" if status < 300 and req.method == "INVITE" else ""
        if body:
            extra += "Content-Type: application/sdp\n"
        await self.send(
            f"SIP/2.0 {status} {'OK' if status == 200 else 'Ringing'}\n{vias}"
            f"From: {h.get('from')}\nTo: {to}\nCall-ID: {req.call_id}\n"
            f"CSeq: {req.cseq.seq} {req.cseq.method}\n{extra}"
            f"Content-Length: {len(body.replace(chr(10), chr(13) + chr(10)).encode())}\n\n{body}"
        )


def sdp_offer(rtp_port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


def sdp_media(body: bytes) -> tuple[str, int]:
    """The connection address and audio port of an SDP body."""
    host, port = "", 0
    for line in body.decode().splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    return host, port


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


def rtp(seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5EED) + payload


async def bye(phone: WsPhone, req_uri: str, call_id: str, to: str, cseq: int) -> int:
    await phone.send(
        f"BYE {req_uri} SIP/2.0\nVia: {phone.via()}\nMax-Forwards: 70\n"
        f"From: <sip:{phone.user}@{HOST}>;tag={phone.tag}\nTo: {to}\n"
        f"Call-ID: {call_id}\nCSeq: {cseq} BYE\nContent-Length: 0\n\n"
    )
    return (await phone.response("BYE")).status


def run(
    tmp_path: Path,
    body: Callable[[Application, httpx.AsyncClient], Awaitable[Any]],
    configure: Callable[[AppConfig], AppConfig] | None = None,
) -> Any:
    return with_api(tmp_path, body, configure)


# ------------------------------------------------------------------------- registration
def test_a_phone_registers_over_websocket_with_digest_and_the_acd_sees_its_device(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        phone = await WsPhone.open(app)
        try:
            resp = await phone.register()
            assert resp.status == 200, resp
            assert phone.contact.strip("<>") in (resp.headers.get("contact") or "")
            [binding] = app.location.lookup("2001", app.sip.now())
            assert binding.source.transport == "WS"
            assert binding.source.connection is not None
            assert binding.contact.uri.host == phone.host  # type: ignore[union-attr]
            assert app.acd.agent("2001").device_ok
            assert app.sip.ws.connections == 1
            # A wrong password is refused, and does not disturb the binding.
            other = await WsPhone.open(app)
            try:
                assert (await other.register(password="wrong")).status == 401
            finally:
                await other.close()
            assert len(app.location.lookup("2001", app.sip.now())) == 1
        finally:
            await phone.close()

    run(tmp_path, body)


def test_closing_the_websocket_removes_the_registration_at_once(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        phone = await WsPhone.open(app)
        try:
            assert (await phone.register()).status == 200
            assert app.location.lookup("2001", app.sip.now())
            assert app.acd.agent("2001").device_ok
        finally:
            await phone.close()
        assert await eventually(lambda: not app.location.lookup("2001", app.sip.now()))
        # DeviceRegistered with no bindings reached the ACD: DeviceUnavailable.
        assert await eventually(lambda: not app.acd.agent("2001").device_ok)
        assert await eventually(lambda: app.sip.ws.connections == 0)

    run(tmp_path, body)


# ------------------------------------------------------------------------- calls
def test_a_call_to_the_echo_test_over_websocket_echoes_rtp(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        loop = asyncio.get_running_loop()
        phone = await WsPhone.open(app)
        media = udp_socket()
        try:
            assert (await phone.register()).status == 200
            call_id = f"{secrets.token_hex(8)}@{phone.host}"
            offer = sdp_offer(media.getsockname()[1])
            uri = f"sip:600@{HOST}"
            authorization = ""
            for cseq in (1, 2):
                via = phone.via()
                await phone.send(
                    f"INVITE {uri} SIP/2.0\nVia: {via}\nMax-Forwards: 70\n"
                    f"From: <sip:2001@{HOST}>;tag={phone.tag}\nTo: <{uri}>\n"
                    f"Call-ID: {call_id}\nCSeq: {cseq} INVITE\nContact: {phone.contact}\n"
                    f"{authorization}Content-Type: application/sdp\n"
                    f"Content-Length: {len(offer)}\n\n" + offer.replace("\r\n", "\n")
                )
                resp = await phone.response("INVITE")
                if resp.status not in (401, 407):
                    break
                # §17.1.1.3: the non-2xx final response is ACKed in its transaction.
                await phone.send(
                    f"ACK {uri} SIP/2.0\nVia: {via}\nMax-Forwards: 70\n"
                    f"From: <sip:2001@{HOST}>;tag={phone.tag}\nTo: {resp.headers.get('to')}\n"
                    f"Call-ID: {call_id}\nCSeq: {cseq} ACK\nContent-Length: 0\n\n"
                )
                authorization = phone.answer(resp, "INVITE", uri)
            assert resp.status == 200, resp
            assert resp.content_type == "application/sdp"
            to = resp.headers.get("to") or ""
            target = str(resp.contacts[0].uri) if resp.contacts else uri
            assert ";transport=ws" in target
            await phone.send(
                f"ACK {target} SIP/2.0\nVia: {phone.via()}\nMax-Forwards: 70\n"
                f"From: <sip:2001@{HOST}>;tag={phone.tag}\nTo: {to}\n"
                f"Call-ID: {call_id}\nCSeq: {cseq} ACK\nContent-Length: 0\n\n"
            )
            rtp_host, rtp_port = sdp_media(resp.body)
            assert rtp_port > 0
            payloads = [bytes((16 + (n + i) % 96) for i in range(160)) for n in range(50)]
            echoed: list[bytes] = []

            async def receive() -> None:
                while len(echoed) < 20:
                    data, _ = await loop.sock_recvfrom(media, 2048)
                    if len(data) == 172 and data[1] & 0x7F == 0:
                        echoed.append(data[12:])

            receiver = asyncio.ensure_future(receive())
            try:
                for seq, payload in enumerate(payloads):
                    media.sendto(rtp(seq, payload), (rtp_host or HOST, rtp_port))
                    await asyncio.sleep(0.02)
                await asyncio.wait_for(receiver, 3.0)
            finally:
                receiver.cancel()
            assert len(echoed) >= 20
            assert set(echoed) & set(payloads), "the echo sends back what it receives"
            assert await bye(phone, target, call_id, to, cseq + 1) == 200
            assert await eventually(lambda: not app.calls.calls)
        finally:
            media.close()
            await phone.close()

    run(tmp_path, body)


def test_a_call_to_an_agent_registered_over_websocket_takes_its_connection(
    tmp_path: Path,
) -> None:
    """The agent's Contact host is ``.invalid``: the INVITE, its ACK and the BYE the pbx
    sends the agent go over the connection the agent registered on (RFC 7118 §5)."""

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        loop = asyncio.get_running_loop()
        phone = await WsPhone.open(app)
        caller = udp_socket()
        agent_media = udp_socket()
        try:
            assert (await phone.register()).status == 200
            port = caller.getsockname()[1]
            call_id = f"{secrets.token_hex(8)}@{HOST}"
            offer = sdp_offer(port + 2)
            head = (
                f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK{{branch}};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:5551234@{HOST}>;tag=trunk\r\n"
                f"To: <sip:2001@{HOST}>{{to_tag}}\r\nCall-ID: {call_id}\r\n"
            )
            pbx = (HOST, app.port)
            caller.sendto(
                (
                    f"INVITE sip:2001@{HOST}:{app.port} SIP/2.0\r\n"
                    + head.format(branch="inv", to_tag="")
                    + f"CSeq: 1 INVITE\r\nContact: <sip:5551234@{HOST}:{port}>\r\n"
                    f"Content-Type: application/sdp\r\nContent-Length: {len(offer)}\r\n\r\n" + offer
                ).encode(),
                pbx,
            )
            invite = await phone.request("INVITE")
            assert invite.top_via.transport == "WS"
            await phone.reply(invite, 180, to_tag="agent")
            answer = sdp_offer(agent_media.getsockname()[1])
            await phone.reply(invite, 200, to_tag="agent", body=answer.replace("\r\n", "\n"))
            ack = await phone.request("ACK")
            assert ack.call_id == invite.call_id

            async def final() -> bytes:
                while True:
                    data, _ = await loop.sock_recvfrom(caller, 65535)
                    if (
                        data.startswith(b"SIP/2.0 200")
                        and b"INVITE" in data.split(b"CSeq:")[1][:20]
                    ):
                        return data

            ok = await asyncio.wait_for(final(), 5.0)
            to_tag = ok.split(b"\r\nTo:", 1)[1].split(b"\r\n", 1)[0].split(b";tag=")[1].decode()
            caller.sendto(
                (
                    f"ACK sip:2001@{HOST}:{app.port} SIP/2.0\r\n"
                    + head.format(branch="ack", to_tag=f";tag={to_tag}")
                    + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                pbx,
            )
            caller.sendto(
                (
                    f"BYE sip:2001@{HOST}:{app.port} SIP/2.0\r\n"
                    + head.format(branch="bye", to_tag=f";tag={to_tag}")
                    + "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                pbx,
            )
            agent_bye = await phone.request("BYE")
            assert agent_bye.call_id == invite.call_id
            assert agent_bye.top_via.transport == "WS"
            await phone.reply(agent_bye, 200)
            assert await eventually(lambda: not app.calls.calls)
            assert app.sip.ws.unroutable == 0
        finally:
            caller.close()
            agent_media.close()
            await phone.close()

    run(tmp_path, body)


# ------------------------------------------------------------------------- hostile input
def test_garbage_and_wrong_subprotocols_are_refused_while_a_registered_phone_works(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        phone = await WsPhone.open(app)
        try:
            assert (await phone.register()).status == 200
            # Handshakes without the subprotocol sip are refused (RFC 7118 §4.1).
            for offered in (["xmpp"], None):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(ws_url(app), subprotocols=offered, open_timeout=5.0)  # type: ignore[arg-type]
                assert refused.value.response.status_code == 400
            assert app.sip.ws.wrong_subprotocol == 2
            bad = await WsPhone.open(app, "2002")
            try:
                # A frame that parses far enough to answer gets 400 ...
                await bad.send(
                    f"OPTIONS sip:{HOST} SIP/2.0\nVia: {bad.via()}\n"
                    f"From: <sip:x@{HOST}>;tag=1\nTo: <sip:{HOST}>\nCall-ID: bad\n"
                    "CSeq: nonsense\nContent-Length: 0\n\n"
                )
                raw = await bad.recv_raw()  # it copies the CSeq it could not parse
                assert raw.startswith(b"SIP/2.0 400 "), raw
                assert b"Call-ID: bad\r\n" in raw
                # ... and junk in text or binary frames is dropped: the connection lives on.
                await bad.ws.send("hello")
                await bad.ws.send(b"\xff\xfe\x00INVITE \x00\x01")
                await bad.ws.send("\r\n\r\n")
                assert await bad.options() == 200
                assert app.endpoint.bad_messages >= 3
                # A frame beyond the size limit closes that connection (1009).
                await bad.ws.send("X" * (app.sip.ws.limits.max_message + 1))
                with pytest.raises(ConnectionClosed):
                    for _ in range(10):
                        await bad.recv(2.0)
                assert bad.ws.close_code == 1009
            finally:
                await bad.close()
            # The registered phone never noticed.
            assert await phone.options() == 200
            assert app.location.lookup("2001", app.sip.now())
            assert app.acd.agent("2001").device_ok
        finally:
            await phone.close()

    run(tmp_path, body)


def test_connections_beyond_the_per_source_cap_are_refused(tmp_path: Path) -> None:
    def configure(config: AppConfig) -> AppConfig:
        return evolve(config, sip=evolve(config.sip, tcp_max_per_source=2))

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        first = await WsPhone.open(app)
        second = await WsPhone.open(app)
        try:
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url(app), subprotocols=["sip"], open_timeout=5.0)  # type: ignore[list-item]
            assert refused.value.response.status_code == 503
            assert app.sip.ws.refused == 1
            assert await first.options() == 200
        finally:
            await first.close()
            await second.close()
        assert await eventually(lambda: app.sip.ws.connections == 0)
        third = await WsPhone.open(app)
        try:
            assert await third.options() == 200
        finally:
            await third.close()

    run(tmp_path, body, configure)


def test_sip_websocket_can_be_turned_off(tmp_path: Path) -> None:
    def configure(config: AppConfig) -> AppConfig:
        return evolve(config, http=evolve(config.http, sip_websocket=False))

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        with pytest.raises(InvalidStatus):
            await connect(ws_url(app), subprotocols=["sip"], open_timeout=5.0)  # type: ignore[list-item]
        assert (await client.get("/api/health")).status_code in (200, 401)

    run(tmp_path, body, configure)


def test_a_frame_is_one_message_content_length_may_be_left_out(tmp_path: Path) -> None:
    """RFC 7118 §5: the frame delimits the message, not Content-Length as over TCP."""

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        phone = await WsPhone.open(app)
        try:
            await phone.send(
                f"OPTIONS sip:{HOST} SIP/2.0\nVia: {phone.via()}\nMax-Forwards: 70\n"
                f"From: <sip:2001@{HOST}>;tag={phone.tag}\nTo: <sip:{HOST}>\n"
                f"Call-ID: nolength@{phone.host}\nCSeq: 1 OPTIONS\n\n"
            )
            resp = await phone.response("OPTIONS")
            assert resp.status == 200
            assert resp.top_via.transport == "WS"
            assert resp.top_via.host == phone.host
        finally:
            await phone.close()

    run(tmp_path, body)


def test_sip_websocket_is_read_from_the_http_table() -> None:
    assert config_from_dict({"http": {}}).http.sip_websocket is True
    assert config_from_dict({"http": {"sip_websocket": False}}).http.sip_websocket is False
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"http": {"sip_websocket": "yes"}}, "t.toml")
    assert str(exc.value) == "t.toml: http.sip_websocket: expected bool, got 'yes'"


# ------------------------------------------------------------------------- JsSIP
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>JsSIP registration</title>
<script src="JSSIP_URL"></script></head>
<body><p id="state">starting</p>
<script>
  const state = document.getElementById("state");
  const params = new URLSearchParams(location.search);
  const socket = new JsSIP.WebSocketInterface(params.get("ws"));
  const ua = new JsSIP.UA({
    sockets: [socket], uri: "sip:2001@127.0.0.1", password: "pw2001",
    register: true, register_expires: 300, session_timers: false,
  });
  const show = (what, text) => { state.textContent = text || what; state.dataset.state = what; };
  ua.on("registered", () => show("registered"));
  ua.on("registrationFailed", (e) => show("failed", "failed: " + e.cause));
  ua.on("unregistered", () => show("unregistered"));
  window.ua = ua;
  ua.start();
</script></body></html>
"""


async def serve_page(html: str) -> asyncio.Server:
    """A one-page HTTP server on loopback (Chromium lets a loopback page, not one a test
    fulfils out of nowhere, open a WebSocket to loopback: Local Network Access)."""
    page = html.encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(page), page)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, HOST, 0)


def test_jssip_in_chromium_registers_over_websocket(tmp_path: Path) -> None:
    binary = require_browser()
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        # JsSIP is the vendored browser build the pbx serves; the page is the test's own.
        jssip = f"http://{HOST}:{app.http_port}/static/vendor/jssip/jssip.min.js"
        server = await serve_page(PAGE.replace("JSSIP_URL", jssip))
        page_port = server.sockets[0].getsockname()[1]
        try:
            await register_in_chromium(app, f"http://{HOST}:{page_port}/?ws={ws_url(app)}")
        finally:
            server.close()
            await server.wait_closed()
        # The browser is gone: so is its registration.
        assert await eventually(lambda: not app.location.lookup("2001", app.sip.now()), 5.0)
        assert await eventually(lambda: not app.acd.agent("2001").device_ok)

    async def register_in_chromium(app: Application, url: str) -> None:
        async with chromium(binary) as browser:
            page = await browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.on("pageerror", lambda e: console.append(f"error: {e}"))
            try:
                await page.goto(url)
                try:
                    await page.wait_for_selector("#state[data-state]", timeout=10_000)
                except PlaywrightTimeout:
                    pytest.fail(f"JsSIP did not register: {await page.content()} {console}")
                finally:
                    await page.screenshot(path=str(artifact("jssip-registered.png")))
                assert await page.text_content("#state") == "registered", console
                [binding] = app.location.lookup("2001", app.sip.now())
                assert binding.source.transport == "WS"
                assert str(binding.contact.uri.host).endswith(".invalid")  # type: ignore[union-attr]
                assert app.acd.agent("2001").device_ok
                assert await page.evaluate("window.ua.isRegistered()")
            finally:
                await page.close()

    run(tmp_path, body)
