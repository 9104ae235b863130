"""baresip as a scripted softphone: its own config directory, auto-answer, audio from a WAV
file, what it hears written to WAV files by its sndfile module; stopped by PID."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import numpy as np
import soundfile

from tests.conftest import free_port, need_peer


class Baresip:
    """One baresip process registered as ``user`` at ``127.0.0.1:registrar_port``."""

    def __init__(
        self,
        directory: Path,
        *,
        user: str,
        password: str,
        registrar_port: int,
        audio: Path,
        answermode: str = "auto",
        modules: tuple[str, ...] = (),
        contacts: tuple[str, ...] = (),
    ) -> None:
        """``modules``: more application modules (``menu.so`` prints received texts,
        ``contact.so`` texts the first of ``contacts``, SIP URIs)."""
        self.dir = directory
        self.snd = directory / "snd"
        self.snd.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        rtp = free_port()
        self.dir.joinpath("config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    "net_interface 127.0.0.1",
                    "dns_server 127.0.0.1:53",
                    f"audio_source aufile,{audio}",
                    f"audio_player aufile,{self.snd / 'player.wav'}",
                    f"audio_alert aufile,{audio}",
                    "audio_srate 8000",
                    "audio_channels 1",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module sndfile.so",
                    "module_app account.so",
                    "module_app ctrl_tcp.so",
                    *(f"module_app {m}" for m in modules),
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    f"snd_path {self.snd}",
                    f"rtp_ports {rtp + 10}-{rtp + 60}",
                    "",
                ]
            )
        )
        self.dir.joinpath("accounts").write_text(
            f"<sip:{user}@127.0.0.1:{registrar_port};transport=udp>;auth_user={user};"
            f"auth_pass={password};answermode={answermode};regint=60\n"
        )
        if contacts:
            self.dir.joinpath("contacts").write_text("".join(f"<{c}>\n" for c in contacts))
            self.dir.joinpath("current_contact").write_text(contacts[0])
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = need_peer("baresip")
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            "-4",
            "-f",
            str(self.dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=open(self.dir / "baresip.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def command(self, command: str, params: str = "") -> str:
        """Run a baresip command over ctrl_tcp (a netstring of JSON); its response."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
        try:
            payload = json.dumps({"command": command, "params": params, "token": "1"}).encode()
            writer.write(f"{len(payload)}:".encode() + payload + b",")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b":"), 5)
            body = await asyncio.wait_for(reader.readexactly(int(head[:-1]) + 1), 5)
            return body[:-1].decode("utf-8", "replace")
        finally:
            writer.close()

    def log(self) -> str:
        path = self.dir / "baresip.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def heard(self) -> np.ndarray:
        """Everything baresip received and decoded in its calls (the ``-dec`` recordings)."""
        parts = []
        for path in sorted(self.snd.glob("dump-*-dec.wav")):
            data, _ = soundfile.read(path, dtype="int16")
            parts.append(data if data.ndim == 1 else data[:, 0])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
