"""Campaigns over the API: counters, CSV import with its per-row report, commands."""

from __future__ import annotations

from pathlib import Path

import httpx

from pbx.app import Application
from tests.api.helpers import bearer, token, with_api


def test_a_supervisor_imports_leads_and_starts_their_queues_campaign(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        sup = bearer(await token(client, "2099"))
        admin = bearer(await token(client, "admin", "admin"))
        agent = bearer(await token(client, "2001"))
        seen = {c["name"] for c in (await client.get("/api/campaigns", headers=sup)).json()}
        # reminders has no queue nor agents: an admin's; collections' agents are 2099's
        assert seen == {"sales-out", "collections"}
        assert {c["name"] for c in (await client.get("/api/campaigns", headers=admin)).json()} == {
            "reminders",
            "sales-out",
            "collections",
        }
        assert (await client.get("/api/campaigns/reminders", headers=sup)).status_code == 403
        assert (await client.get("/api/campaigns/sales-out", headers=agent)).status_code == 403
        bad = "phone,name\n+12125550123,Jane\nnot-a-number,Bob\n+12125550123,Dup\n"
        r = await client.post(
            "/api/campaigns/sales-out/leads",
            content=bad,
            headers={**sup, "Content-Type": "text/csv"},
        )
        assert r.status_code == 422
        rows = [e["field"] for e in r.json()["errors"]]
        assert any(f.startswith("row 3") for f in rows) and any(f.startswith("row 4") for f in rows)
        assert app.dialer.leads("sales-out") == [] and app.store.leads("sales-out") == []
        good = "phone,name,amount\n+12125550123,Jane,10\n+12125550124,Bob,20\n"
        r = await client.post(
            "/api/campaigns/sales-out/leads",
            content=good,
            headers={**sup, "Content-Type": "text/csv"},
        )
        assert r.json() == {"campaign": "sales-out", "rows": 2, "imported": 2}
        assert len(app.store.leads("sales-out")) == 2
        started = (await client.post("/api/campaigns/sales-out/start", headers=sup)).json()
        assert started["state"] == "running"
        view = (await client.get("/api/campaigns/sales-out", headers=sup)).json()
        assert sum(view["leads"].values()) == 2
        paused = (await client.post("/api/campaigns/sales-out/pause", headers=sup)).json()
        assert paused["state"] == "paused"
        assert (
            await client.post("/api/campaigns/sales-out/explode", headers=sup)
        ).status_code == 422
        assert app.store.campaign_states()["sales-out"] == "paused"
        idle = await client.post("/api/campaigns/reminders/pause", headers=admin)
        assert idle.status_code == 409 and "idle" in idle.json()["detail"]

    with_api(tmp_path, body)
