"""Voicemail and recordings over the API: listing, streamed download, heard, delete,
scoping, and an audit row for every access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile

from pbx.config import AppConfig, load_config
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE, bearer, token


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


def test_a_voicemail_is_listed_downloaded_marked_heard_and_deleted(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    h = pbx_harness
    caller = h.call("800", caller_id="5550800", audio=Tone(440))
    caller.wait_answered()
    caller.assert_heard_prompt("en/voicemail-greeting", timeout=8)
    caller.talk(2.0)
    caller.send_dtmf("#")
    caller.wait_ended(timeout=3)
    port = h.app.http_port

    async def api() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            admin = bearer(await token(client, "admin", "admin"))
            agent = bearer(await token(client, "2001"))
            out["denied"] = (await client.get("/api/voicemail/800", headers=agent)).status_code
            listed = (await client.get("/api/voicemail/800", headers=admin)).json()
            out["listed"] = listed
            mid = listed[0]["id"]
            audio = await client.get(f"/api/voicemail/800/{mid}/audio", headers=admin)
            out["audio"] = (audio.status_code, audio.headers["content-type"], audio.content)
            heard = await client.post(
                f"/api/voicemail/800/{mid}/heard", json={"heard": True}, headers=admin
            )
            out["heard"] = heard.json()
            out["after"] = (await client.get("/api/voicemail/800", headers=admin)).json()
            out["deleted"] = (
                await client.delete(f"/api/voicemail/800/{mid}", headers=admin)
            ).json()
            out["gone"] = (
                await client.get(f"/api/voicemail/800/{mid}/audio", headers=admin)
            ).status_code
        return out

    out = h.run(api())
    assert out["denied"] == 403
    (message,) = out["listed"]
    assert message["caller"] == "5550800" and message["heard"] is False and message["seconds"] > 1
    status, kind, body = out["audio"]
    assert status == 200 and kind == "audio/wav"
    wav = tmp_path / "message.wav"
    wav.write_bytes(body)
    info = soundfile.info(str(wav))
    assert info.samplerate == 8000 and info.duration > 1
    assert out["heard"]["heard"] is True and out["after"][0]["heard"] is True
    assert out["deleted"]["deleted"] is True and out["gone"] == 404
    audit = h.app.store.query("SELECT user, action, resource FROM audit ORDER BY id")
    assert [(a["user"], a["action"]) for a in audit] == [("admin", "download"), ("admin", "delete")]


def test_a_recorded_queue_call_is_found_downloaded_by_its_people_only_and_deleted(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    h = pbx_harness
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    h.login("2001")
    caller = h.call("200", caller_id="5550200", audio=Tone(440))
    agent.wait_connected()
    caller.wait_answered()
    h.sleep(1.5)
    caller.hang_up()
    cdr = caller.cdr()
    assert cdr["recording"]
    port = h.app.http_port

    async def api() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            mine = bearer(await token(client, "2001"))
            other = bearer(await token(client, "2002"))
            sup = bearer(await token(client, "2099"))
            call = cdr["call_id"]
            out["listed"] = (await client.get("/api/recordings", headers=mine)).json()
            out["other"] = (await client.get("/api/recordings", headers=other)).json()
            out["other_audio"] = (
                await client.get(f"/api/recordings/{call}/audio", headers=other)
            ).status_code
            audio = await client.get(f"/api/recordings/{call}/audio", headers=mine)
            out["audio"] = audio.content
            out["agent_delete"] = (
                await client.delete(f"/api/recordings/{call}", headers=mine)
            ).status_code
            out["sup_delete"] = (await client.delete(f"/api/recordings/{call}", headers=sup)).json()
            out["after"] = (await client.get("/api/recordings?queue=sales", headers=sup)).json()
        return out

    out = h.run(api())
    assert [r["call"] for r in out["listed"]] == [cdr["call_id"]]
    assert out["other"] == [] and out["other_audio"] == 404
    wav = tmp_path / "call.wav"
    wav.write_bytes(out["audio"])
    assert soundfile.info(str(wav)).channels == 2
    assert out["agent_delete"] == 403 and out["sup_delete"]["deleted"] is True
    assert out["after"] == [] and not Path(cdr["recording"]).exists()
    audit = h.app.store.query("SELECT user, action FROM audit ORDER BY id")
    assert [(a["user"], a["action"]) for a in audit] == [("2001", "download"), ("2099", "delete")]


def test_dtmf_reaches_the_customer_and_a_paused_recording_holds_silence(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    import numpy as np

    h = pbx_harness
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    h.login("2001")
    caller = h.call("200", caller_id="5550201", audio=Tone(440))
    agent.wait_connected()
    caller.wait_answered()
    call_id = h.app.calls.legs[next(iter(h.app.calls.legs))].call
    port = h.app.http_port

    async def api(path: str, body: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            t = bearer(await token(client, "2001"))
            return await client.post(f"/api/calls/{call_id}{path}", json=body, headers=t)

    assert h.run(api("/dtmf", {"digits": "12#"})).status_code == 200
    assert h.run(api("/dtmf", {"digits": "x"})).status_code == 422
    h.wait_for(lambda: caller.digits_received == ["1", "2", "#"], what="the digits")
    h.sleep(1.0)
    assert h.run(api("/recording", {"paused": True})).json()["recording"] == "paused"
    h.sleep(1.5)
    assert h.run(api("/recording", {"paused": False})).json()["recording"] == "on"
    h.sleep(1.0)
    caller.hang_up()
    path = Path(caller.cdr()["recording"])
    audio, rate = soundfile.read(str(path), dtype="int16")
    block = rate // 10
    whole = len(audio) // block * block
    level = np.abs(audio[:whole].astype(np.int32)).reshape(-1, block, 2).max(axis=(1, 2))
    quiet = level < 50  # per 100 ms
    assert quiet.sum() >= 10  # the paused second and a half is silence
    assert (~quiet).sum() >= 15  # the rest is the conversation
