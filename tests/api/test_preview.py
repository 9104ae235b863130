"""Preview over the API: the lead offered to an agent, dial or skip, and what is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
from attrs import evolve

from pbx.app import Application
from pbx.config import AppConfig
from pbx.dialer.campaign import CallingHours
from pbx.dialer.leads import LeadState
from tests.api.helpers import bearer, token, with_api

ALL_DAY = CallingHours(start=dt.time(0, 0), end=dt.time(23, 59), days=frozenset(range(7)))


def all_day(config: AppConfig) -> AppConfig:
    collections = evolve(config.campaigns["collections"], calling_hours=ALL_DAY)
    return evolve(config, campaigns={**config.campaigns, "collections": collections})


async def offer_of(client: httpx.AsyncClient, agent: str, auth: dict[str, str]) -> object:
    for _ in range(50):
        r = await client.get(f"/api/agents/{agent}/preview", headers=auth)
        assert r.status_code == 200, r.text
        if r.json()["offer"] is not None:
            return r.json()["offer"]
        await asyncio.sleep(0.05)
    raise AssertionError("no lead was offered")


def test_an_agent_skips_and_dials_the_leads_offered_and_is_refused_the_rest(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        me = bearer(await token(client, "2006"))
        other = bearer(await token(client, "2007"))
        sup = bearer(await token(client, "2099"))
        csv = "phone,name\n+12125550131,First Lead\n+12125550132,Second Lead\n"
        r = await client.post(
            "/api/campaigns/collections/leads",
            content=csv,
            headers={**sup, "Content-Type": "text/csv"},
        )
        assert r.json()["imported"] == 2
        assert (await client.post("/api/campaigns/collections/start", headers=sup)).is_success
        r = await client.post("/api/agents/2006/state", json={"state": "logged_in"}, headers=me)
        assert r.json()["state"] == "ready"
        first = await offer_of(client, "2006", me)
        assert isinstance(first, dict)
        assert (first["campaign"], first["number"]) == ("collections", "+12125550131")
        assert first["data"]["name"] == "First Lead"
        # Another agent may neither see nor decide it; a bad body names the field.
        assert (await client.get("/api/agents/2006/preview", headers=other)).status_code == 403
        decide = {"lead": first["lead"], "action": "dial"}
        r = await client.post("/api/agents/2006/preview", json=decide, headers=other)
        assert r.status_code == 403
        r = await client.post(
            "/api/agents/2006/preview", json={**decide, "action": "call"}, headers=me
        )
        assert r.status_code == 422 and "action" in r.text
        # Skip: the next lead; the skipped one waits for the campaign's skip delay.
        skip = {"lead": first["lead"], "action": "skip"}
        r = await client.post("/api/agents/2006/preview", json=skip, headers=me)
        assert r.json() == {"agent": "2006", "lead": first["lead"], "action": "skip"}
        r = await client.post("/api/agents/2006/preview", json=skip, headers=me)
        assert r.status_code == 409 and r.json()["errors"][0]["field"] == "lead"
        second = await offer_of(client, "2006", me)
        assert isinstance(second, dict) and second["number"] == "+12125550132"
        skipped = app.dialer.lead(first["lead"])
        assert skipped is not None and skipped.state is LeadState.PENDING
        # Dial with no phone registered: the lead is not called, the attempt failed.
        dial = {"lead": second["lead"], "action": "dial"}
        assert (await client.post("/api/agents/2006/preview", json=dial, headers=me)).is_success
        lead = app.dialer.lead(second["lead"])
        assert lead is not None and lead.attempts[-1].outcome == "failed"
        assert lead.attempts[-1].sip_status == 0

    with_api(tmp_path, body, all_day)
