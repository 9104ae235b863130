"""``kill -9`` of the example call center mid-call, then a restart: the records are whole.

An agent's phone registers and logs in (``*1``), a caller reaches queue 200 and is
connected to the agent (the call is recorded), a second caller waits; both talk RTP over
raw UDP sockets. The process is killed with SIGKILL and started again: start-up must
have completed both CDR rows (end time, agent, queue, the recovered recording), closed
both queue visits in the queue log, left a recording that libsndfile reads, and a
further recovery must change nothing.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from pbx.sip import auth
from pbx.sip.message import Request, Response, parse_message
from pbx.store import Store
from pbx.store.recovery import COMPLETE_INTERRUPTED
from tests.conftest import Processes, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "callcenter.toml"
HOST = "127.0.0.1"
WAIT = 15.0


def sdp(rtp_port: int) -> bytes:
    return (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio " + str(rtp_port).encode() + b" RTP/AVP 0\r\n"
        b"a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


def media_port(body: bytes) -> int:
    for line in body.decode("ascii", "replace").splitlines():
        if line.startswith("m=audio"):
            return int(line.split()[1])
    raise AssertionError("the SDP has no m=audio line")


class Phone:
    """A SIP UDP socket and an RTP socket on 127.0.0.1, driven by hand with bounded waits.

    Requests from the pbx are answered as a phone would: an INVITE with 180 and then
    200 (with our SDP) when ``answer_calls``, BYE and anything else with 200.
    """

    def __init__(self, pbx_port: int, user: str, *, answer_calls: bool = False) -> None:
        self.pbx = (HOST, pbx_port)
        self.user = user
        self.answer_calls = answer_calls
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, 0))
        self.rtp.setblocking(False)
        self.port = self.sip.getsockname()[1]
        self.rtp_port = self.rtp.getsockname()[1]
        self.incoming: list[Request] = []
        self.byes: list[Request] = []
        self.remote_rtp: list[tuple[str, int]] = []
        self._n = 0
        self._seq = 0

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def _next(self) -> int:
        self._n += 1
        return self._n

    # -- receiving -----------------------------------------------------------------------
    def poll(self, seconds: float) -> list[Response]:
        """Read for up to ``seconds``; answer the pbx's requests, return the responses."""
        responses: list[Response] = []
        deadline = time.monotonic() + seconds
        for _ in range(10_000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sip.settimeout(left)
            try:
                data = self.sip.recv(65535)
            except (TimeoutError, BlockingIOError):
                break
            message = parse_message(data)
            if isinstance(message, Response):
                responses.append(message)
            else:
                self._answer(message)
        return responses

    def wait_for(self, what: str, check: Callable[[list[Response]], Response | None]) -> Response:
        seen: list[Response] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            seen += self.poll(0.05)
            found = check(seen)
            if found is not None:
                return found
        raise AssertionError(f"{self.user}: no {what} within {WAIT} s")

    def wait_until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user}: no {what} within {WAIT} s")
            self.poll(0.05)

    def _answer(self, request: Request) -> None:
        if request.method == "ACK":
            return
        if request.method == "INVITE" and self.answer_calls:
            if not any(r.call_id == request.call_id for r in self.incoming):
                self.incoming.append(request)
                self.remote_rtp.append((HOST, media_port(request.body)))
            self.sip.sendto(self._response(request, 180, "Ringing"), self.pbx)
            self.sip.sendto(self._response(request, 200, "OK", sdp(self.rtp_port)), self.pbx)
            return
        if request.method == "BYE":
            self.byes.append(request)
        self.sip.sendto(self._response(request, 200, "OK"), self.pbx)

    def _response(self, request: Request, status: int, reason: str, body: bytes = b"") -> bytes:
        head = [f"SIP/2.0 {status} {reason}"]
        head += [f"Via: {v}" for v in request.headers.get_all("Via")]
        to = request.headers.get("To") or ""
        if ";tag=" not in to:
            to += f";tag={self.user}-{abs(hash(request.call_id)) % 10**8}"
        head += [
            f"From: {request.headers.get('From')}",
            f"To: {to}",
            f"Call-ID: {request.call_id}",
            f"CSeq: {request.headers.get('CSeq')}",
            f"Contact: <sip:{self.user}@{HOST}:{self.port}>",
        ]
        if body:
            head.append("Content-Type: application/sdp")
        head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    # -- sending -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        uri: str,
        call_id: str,
        cseq: int,
        *,
        to: str,
        branch: str,
        body: bytes = b"",
        extra: tuple[str, ...] = (),
    ) -> None:
        head = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport",
            f"From: <sip:{self.user}@{HOST}>;tag={self.user}-tag",
            f"To: {to}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            "Max-Forwards: 70",
            f"Contact: <sip:{self.user}@{HOST}:{self.port}>",
            *extra,
        ]
        if body:
            head.append("Content-Type: application/sdp")
        head.append(f"Content-Length: {len(body)}")
        self.sip.sendto(("\r\n".join(head) + "\r\n\r\n").encode() + body, self.pbx)

    def transaction(
        self,
        method: str,
        uri: str,
        call_id: str,
        *,
        to: str,
        password: str | None = None,
        body: bytes = b"",
        extra: tuple[str, ...] = (),
    ) -> Response:
        """Send a request until its final response, answering one digest challenge;
        ACK an INVITE's final response (RFC 3261 §17.1.1.3, §13.2.2.4)."""
        authorization: tuple[str, ...] = ()
        for _ in range(2):
            cseq, branch = self._next(), f"z9hG4bK-{self.user}-{self._next()}"
            self.request(
                method,
                uri,
                call_id,
                cseq,
                to=to,
                branch=branch,
                body=body,
                extra=extra + authorization,
            )

            def final(seen: list[Response], cseq: int = cseq) -> Response | None:
                return next((r for r in seen if r.status >= 200 and r.cseq.seq == cseq), None)

            response = self.wait_for(f"final response to {method} {cseq}", final)
            if method == "INVITE":
                self._ack(response, uri, call_id, cseq, branch)
            if response.status not in (401, 407) or password is None:
                return response
            name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            challenge = auth.Challenge.parse(response.headers.get(name) or "")
            credentials = auth.answer_challenge(
                challenge,
                username=self.user,
                password=password,
                method=method,
                uri=uri,
                cnonce=f"cn{self._next()}",
            )
            header = "Authorization" if response.status == 401 else "Proxy-Authorization"
            authorization = (f"{header}: {credentials}",)
        raise AssertionError(f"{self.user}: {method} is challenged again after answering")

    def _ack(self, response: Response, uri: str, call_id: str, cseq: int, branch: str) -> None:
        to = response.headers.get("To") or ""
        if response.status < 300:
            self.remote_rtp.append((HOST, media_port(response.body)))
            branch = f"z9hG4bK-{self.user}-ack{cseq}"  # a 2xx ACK is a new transaction
        self.request("ACK", uri, call_id, cseq, to=to, branch=branch)

    def send_rtp(self, seed: int) -> None:
        """One 20 ms PCMU frame of noise to every media address the pbx gave us."""
        payload = np.random.default_rng(seed).integers(0, 0x7E, 160, dtype=np.uint8).tobytes()
        header = struct.pack("!BBHII", 0x80, 0, self._seq & 0xFFFF, self._seq * 160, 0x5150)
        self._seq += 1
        for address in self.remote_rtp:
            self.rtp.sendto(header + payload, address)
        for _ in range(100):  # what the pbx sends us back is not looked at
            try:
                self.rtp.recv(2048)
            except BlockingIOError:
                break


def start_pbx(processes: Processes, work: Path, port: int) -> subprocess.Popen[bytes]:
    """``python -m pbx run examples/callcenter.toml --sip 127.0.0.1:PORT`` in ``work``
    (the example's store and recordings paths are relative to the working directory)."""
    output = open(work / "pbx.log", "ab")  # the child writes to it; ours is closed below
    try:
        return processes.start(
            [
                sys.executable,
                "-m",
                "pbx",
                "run",
                str(EXAMPLE),
                "--sip",
                f"{HOST}:{port}",
                "--http",
                f"{HOST}:0",
            ],
            cwd=work,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    finally:
        output.close()


def wait_for_sip(proc: subprocess.Popen[bytes], port: int, work: Path) -> None:
    """OPTIONS every 100 ms until the pbx answers (bounded in count and time)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        probe.settimeout(0.1)
        me = probe.getsockname()[1]
        for n in range(int(WAIT / 0.1)):
            assert proc.poll() is None, (work / "pbx.log").read_text(errors="replace")
            probe.sendto(
                (
                    f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {HOST}:{me};branch=z9hG4bK-probe{n};rport\r\n"
                    f"From: <sip:probe@{HOST}>;tag=probe\r\nTo: <sip:{HOST}>\r\n"
                    f"Call-ID: probe-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode(),
                (HOST, port),
            )
            try:
                probe.recv(65535)
                return
            except TimeoutError:
                continue
    raise AssertionError(f"the pbx did not answer OPTIONS within {WAIT} s")


def read_only(db: Path, sql: str) -> list[sqlite3.Row]:
    """Rows read without opening a Store (which would run its recovery)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []  # not created yet


def snapshot(db: Path, recordings: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rows = [tuple(r) for r in read_only(db, "SELECT * FROM cdr ORDER BY id")]
    rows += [tuple(r) for r in read_only(db, "SELECT * FROM queue_log ORDER BY id")]
    listing = sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in recordings.rglob("*")
    )
    return rows, listing


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_kill_9_mid_call_then_restart_completes_cdrs_recording_and_queue_log(
    tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    db, recordings = tmp_path / "callcenter.db", tmp_path / "recordings"
    proc = start_pbx(processes, tmp_path, port)
    agent = Phone(port, "2001", answer_calls=True)
    talker, waiter = Phone(port, "5551001"), Phone(port, "5551002")
    try:
        wait_for_sip(proc, port, tmp_path)
        aor = f"<sip:2001@{HOST}>"
        registered = agent.transaction(
            "REGISTER",
            f"sip:{HOST}:{port}",
            "reg-2001",
            to=aor,
            password="pw2001",
            extra=("Expires: 600",),
        )
        assert registered.status == 200
        login = agent.transaction(
            "INVITE",
            f"sip:*1@{HOST}:{port}",
            "login-2001",
            to=f"<sip:*1@{HOST}>",
            password="pw2001",
            body=sdp(agent.rtp_port),
        )
        assert login.status == 200
        agent.wait_until("the BYE after the login beep", lambda: bool(agent.byes))
        agent.remote_rtp.clear()
        agent.poll(0.3)  # the login takes effect once the feature call is over

        # The first caller is connected to 2001 (queue sales records), the second waits.
        for caller, call_id in ((talker, "crash-talking"), (waiter, "crash-waiting")):
            answered = caller.transaction(
                "INVITE",
                f"sip:200@{HOST}:{port}",
                call_id,
                to=f"<sip:200@{HOST}>",
                body=sdp(caller.rtp_port),
            )
            assert answered.status == 200
            for _ in range(15):  # 300 ms of RTP so the queue hears us
                caller.send_rtp(_)
                agent.poll(0.02)
        for tick in range(int(WAIT / 0.02)):
            for phone in (talker, waiter, agent):
                phone.send_rtp(tick)
            agent.poll(0.02)
            parts = list(recordings.glob("*/*.wav.part"))
            # Wait for the second one-second block, written about 2 s after the connect.
            if parts and parts[0].stat().st_size >= 44 + 2 * 8000 * 4:
                break
        else:
            raise AssertionError("the call was not recorded within the time allowed")
        connected = read_only(db, "SELECT * FROM queue_log WHERE event='CONNECT'")
        assert [r["agent"] for r in connected] == ["2001"]
        assert len(read_only(db, "SELECT * FROM cdr WHERE disposition='in_progress'")) == 2
        kill(proc)
    finally:
        for phone in (agent, talker, waiter):
            phone.close()
    [part] = recordings.glob("*/*.wav.part")

    # Restart: start-up recovers the store before it listens; then a clean stop.
    proc = start_pbx(processes, tmp_path, port)
    wait_for_sip(proc, port, tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0

    cdr = {r["sip_call_id"]: r for r in read_only(db, "SELECT * FROM cdr ORDER BY id")}
    talking, waiting = cdr["crash-talking"], cdr["crash-waiting"]
    assert cdr["login-2001"]["disposition"] == "answered"
    for row in (talking, waiting):
        assert row["disposition"] == "interrupted"
        assert row["end_time"] is not None and row["end_time"] >= row["answer_time"]
        assert row["queue"] == "sales"
    assert talking["agent"] == "2001" and waiting["agent"] is None
    assert waiting["recording"] is None
    final = part.with_name(part.name.removesuffix(".part"))
    # Named as the call manager names a finished call's: relative to the working directory.
    assert talking["recording"] == str(final.relative_to(tmp_path))
    assert final.name == f"{talking['call_id']}.wav" and not part.exists()
    audio, rate = sf.read(str(tmp_path / talking["recording"]), dtype="int16")
    assert rate == 8000 and audio.ndim == 2 and audio.shape[1] == 2
    assert len(audio) >= 2 * 8000
    # The call lasted at least as long as what was recorded of it.
    assert talking["end_time"] - talking["answer_time"] >= len(audio) / 8000

    events = read_only(db, "SELECT * FROM queue_log ORDER BY id")
    by_call: dict[str, list[str]] = {}
    for e in events:
        if e["call_id"]:
            by_call.setdefault(e["call_id"], []).append(e["event"])
    closing = {r["call_id"]: r for r in events if '"interrupted"' in r["data"]}
    assert by_call[talking["call_id"]][0] == "ENTERQUEUE"
    assert by_call[talking["call_id"]][-2:] == ["CONNECT", COMPLETE_INTERRUPTED]
    assert closing[talking["call_id"]]["agent"] == "2001"
    assert closing[talking["call_id"]]["time"] == talking["end_time"]
    assert by_call[waiting["call_id"]] == ["ENTERQUEUE", "ABANDON"]
    assert closing[waiting["call_id"]]["time"] == waiting["end_time"]
    entered = sum(e["event"] == "ENTERQUEUE" for e in events)
    connected = sum(e["event"] == "CONNECT" for e in events)
    abandoned = sum(e["event"] == "ABANDON" for e in events)
    assert entered == connected + abandoned == 2

    # Recovering again (as start-up does) changes nothing.
    before = snapshot(db, recordings)
    store = Store(db, recordings=recordings)
    assert store.interrupted == 0
    store.close()
    assert snapshot(db, recordings) == before
