"""Live events over the WebSocket: scoping by role, reconnect with the last sequence
number, and the screen pop on an agent's socket when a caller enters the sales queue."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from pbx.api.hub import Scope
from pbx.app import Application
from pbx.config import AppConfig, load_config
from pbx.testing import Harness
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE, bearer, token, with_api


async def next_of(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of type ``kind`` (others skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def nothing_of(ws: Any, kind: str, seconds: float = 0.5) -> None:
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = json.loads(await ws.recv())
                assert message["type"] != kind, message
    except TimeoutError:
        pass


def test_an_agents_socket_sees_its_own_state_only_and_replays_after_reconnect(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        base = f"ws://127.0.0.1:{app.http_port}/api/events"
        admin = bearer(await token(client, "admin", "admin"))
        mine, other = await token(client, "2001"), await token(client, "2002")

        async def set_state(state: str, reason: str = "pause") -> None:
            r = await client.post(
                "/api/agents/2001/state", json={"state": state, "reason": reason}, headers=admin
            )
            assert r.status_code == 200, r.text

        async with (
            websockets.connect(f"{base}?token={mine}") as ws1,
            websockets.connect(f"{base}?token={other}") as ws2,
        ):
            await set_state("paused", "lunch")
            first = await next_of(ws1, "AgentStateChanged")
            assert first["agent"] == "2001" and first["seq"] > 0
            last = first["seq"]
            while True:  # the login and the pause: read up to the pause
                if first["state"] == "not_ready":
                    break
                first = await next_of(ws1, "AgentStateChanged")
                last = first["seq"]
            assert first["reason"] == "lunch"
            await nothing_of(ws2, "AgentStateChanged")
        # Disconnected: two more changes happen meanwhile.
        await set_state("ready")
        await set_state("logged_out")
        async with websockets.connect(f"{base}?token={mine}&since={last}") as ws:
            ready = await next_of(ws, "AgentStateChanged")
            gone = await next_of(ws, "AgentStateChanged")
            assert (ready["state"], gone["state"]) == ("ready", "logged_out")
            assert last < ready["seq"] < gone["seq"]
        # A bad token is refused before the stream starts.
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(f"{base}?token=nope") as ws:
                await ws.recv()

    with_api(tmp_path, body)


def test_a_client_that_asks_for_more_than_the_ring_holds_is_told_of_the_gap(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        admin = await token(client, "admin", "admin")
        for n in range(30):
            app.hub.publish("Test", {"n": n}, Scope(), app.wall(app.sip.now()))
        url = f"ws://127.0.0.1:{app.http_port}/api/events?token={admin}&since=0&type=Test"
        async with websockets.connect(url) as ws:
            gap = json.loads(await ws.recv())
            assert gap["type"] == "Gap" and gap["since"] == 0 and gap["first"] > 1
            rest = [json.loads(await ws.recv()) for _ in range(20)]
            assert [m["n"] for m in rest] == list(range(10, 30))

    def small_ring(config: AppConfig) -> AppConfig:
        from attrs import evolve

        return evolve(config, http=evolve(config.http, replay=20))

    with_api(tmp_path, body, small_ring)


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


def test_the_screen_pop_reaches_the_agents_socket_when_a_caller_enters_sales(
    pbx_harness: Harness,
) -> None:
    h = pbx_harness
    agent = h.agent("2001")
    h.login("2001")
    port = h.app.http_port

    async def connect() -> Any:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            t = await token(client, "2001")
        return await websockets.connect(f"ws://127.0.0.1:{port}/api/events?token={t}")

    ws = h.run(connect())
    try:
        caller = h.call("200", caller_id="5550200")
        agent.wait_ringing()
        pop = h.run(next_of(ws, "OfferToAgent"))
        assert pop["agent"] == "2001" and pop["queue"] == "sales"
        assert pop["caller"]["number"] == "5550200" and pop["did"] == "200"
        assert pop["data"]["queue"] == "sales"
        agent.answer()
        caller.wait_answered()
        connected = h.run(next_of(ws, "ConnectCall"))
        assert connected["call"] == pop["call"]
    finally:
        h.run(ws.close())


def test_a_live_call_is_listed_annotated_and_hung_up_over_the_api(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = h.call("600", caller_id="5550600")
    caller.wait_answered()
    port = h.app.http_port

    async def api() -> tuple[list[dict[str, Any]], dict[str, Any], int]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            admin = bearer(await token(client, "admin", "admin"))
            agent = bearer(await token(client, "2001"))
            listed = (await client.get("/api/calls", headers=admin)).json()
            hidden = (await client.get("/api/calls", headers=agent)).json()
            assert hidden == []
            call_id = listed[0]["id"]
            assert (await client.get(f"/api/calls/{call_id}", headers=agent)).status_code == 404
            patched = await client.patch(
                f"/api/calls/{call_id}/data", json={"ticket": "T-42"}, headers=admin
            )
            r = await client.post(f"/api/calls/{call_id}/hangup", headers=admin)
            return listed, patched.json(), r.status_code

    listed, patched, status = h.run(api())
    (view,) = listed
    assert view["caller"]["number"] == "5550600" and view["number"] == "600"
    assert view["legs"][0]["state"] == "answered"
    assert patched["data"]["ticket"] == "T-42" and status == 200
    caller.wait_ended()
    assert caller.ended_by == "pbx"
    assert caller.cdr()["data"]["ticket"] == "T-42"


def test_click_to_call_rings_the_agent_then_the_number_and_bridges_them(
    pbx_harness: Harness,
) -> None:
    from pbx.testing import Tone

    h = pbx_harness
    agent = h.agent("2001", audio=Tone(440))
    callee = h.agent("2002", audio=Tone(660))
    port = h.app.http_port

    async def originate(body: dict[str, Any], user: str = "2001") -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            t = bearer(await token(client, user))
            return await client.post("/api/calls", json=body, headers=t)

    refused = h.run(originate({"agent": "2002", "to": "2003"}))
    assert refused.status_code == 403  # an agent clicks to call for themselves only
    r = h.run(originate({"agent": "2001", "to": "2002", "data": {"ticket": "T-7"}}))
    assert r.status_code == 201, r.text
    first = agent.wait_ringing()
    assert first.caller_id == "2002"  # the phone shows whom it is calling
    agent.answer()
    second = callee.wait_ringing()
    assert second.caller_id == "2001"
    callee.answer()
    h.sleep(0.8)
    agent.assert_heard_tone(660, min_seconds=0.3)
    callee.assert_heard_tone(440, min_seconds=0.3)
    assert h.app.calls.call(r.json()["call"]).data["ticket"] == "T-7"
    unknown = h.run(originate({"agent": "2001", "to": "nowhere-42"}))
    assert unknown.status_code == 409 and "no route" in unknown.json()["detail"]


def _share(phone: Any, freq: float, since: float) -> float:
    import numpy as np

    from pbx.testing.audio import frames_of, tone_share

    frames = frames_of(np.asarray(phone.heard_timeline.since(since)))
    assert len(frames) >= 25, "less than half a second heard"
    return float(np.median(tone_share(frames, freq)))


def test_a_supervisor_whispers_then_barges_over_the_api_through_their_phone(
    pbx_harness: Harness,
) -> None:
    from pbx.testing import Tone

    h = pbx_harness
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    h.login("2001")
    caller = h.call("200", caller_id="5550500", audio=Tone(440))
    agent.wait_ringing()
    agent.wait_connected()
    caller.wait_answered()
    supervisor = h.agent("2099", audio=Tone(880, level_dbov=-6.0), answer_after=0.1)
    port = h.app.http_port

    async def monitor(mode: str, user: str = "2099", agent_id: str = "2001") -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            t = bearer(await token(client, user))
            return await client.post(
                f"/api/agents/{agent_id}/monitor", json={"mode": mode}, headers=t
            )

    assert h.run(monitor("listen", user="2002")).status_code == 403  # agents may not
    assert h.run(monitor("listen", agent_id="2005")).status_code == 409  # on no call
    r = h.run(monitor("whisper"))
    assert r.status_code == 200, r.text
    supervisor.wait_ringing()
    supervisor.wait_connected()
    h.sleep(0.4)
    t = h.now()
    h.sleep(1.0)
    assert _share(agent, 880, t) > 0.6 and _share(caller, 880, t) < 0.05
    assert h.run(monitor("barge")).json()["leg"] == r.json()["leg"]  # the same phone call
    h.sleep(0.4)
    t = h.now()
    h.sleep(1.0)
    assert _share(caller, 880, t) > 0.6


def test_a_supervisor_listens_to_an_agents_direct_call_with_the_feature_code(
    pbx_harness: Harness,
) -> None:
    from pbx.testing import Tone

    h = pbx_harness
    a = h.agent("2001", audio=Tone(440))
    b = h.agent("2002", audio=Tone(660), answer_after=0.1)
    call = a.dial("2002")
    b.wait_ringing()
    call.wait_answered()
    supervisor = h.agent("2099", audio=Tone(880, level_dbov=-6.0))
    listening = supervisor.dial("*52002")
    listening.wait_answered()
    h.sleep(0.4)
    t = h.now()
    h.sleep(1.0)
    assert _share(supervisor, 440, t) > 0.2 and _share(supervisor, 660, t) > 0.2
    assert _share(a, 880, t) < 0.05 and _share(b, 880, t) < 0.05


def test_a_supervisor_sees_the_waiting_callers_and_moves_one_ahead(pbx_harness: Harness) -> None:
    h = pbx_harness
    first = h.call("200", caller_id="5550301")
    first.wait_answered()
    second = h.call("200", caller_id="5550302")
    second.wait_answered()
    port = h.app.http_port

    async def api() -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], int]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            sup = bearer(await token(client, "2099"))
            before = (await client.get("/api/queues/sales/calls", headers=sup)).json()
            moved = await client.post(
                f"/api/queues/sales/calls/{before[1]['call']}/priority",
                json={"priority": 5},
                headers=sup,
            )
            after = (await client.get("/api/queues/sales/calls", headers=sup)).json()
            agent = bearer(await token(client, "2001"))
            denied = (await client.get("/api/queues/sales/calls", headers=agent)).status_code
            return before, moved.json(), after, denied

    before, moved, after, denied = h.run(api())
    assert [c["caller"] for c in before] == ["5550301", "5550302"]
    assert [c["position"] for c in before] == [1, 2] and before[0]["wait"] > before[1]["wait"]
    assert moved == {"call": before[1]["call"], "priority": 5, "position": 1}
    assert [c["caller"] for c in after] == ["5550302", "5550301"]
    assert denied == 403
