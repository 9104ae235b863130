"""Staffing at run time over the API: queue membership, tiers and skills, kept across
a restart, with the ACD acting on them at once."""

from __future__ import annotations

from pathlib import Path

import httpx

from pbx.app import Application
from tests.api.helpers import bearer, token, with_api


def test_a_supervisor_moves_an_agent_into_support_and_changes_their_skills(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        sup = bearer(await token(client, "2099"))
        agent = bearer(await token(client, "2001"))
        r = await client.post("/api/agents/2001/state", json={"state": "logged_in"}, headers=agent)
        assert r.json()["state"] == "ready"
        # An agent may not staff queues, even their own.
        r = await client.put("/api/agents/2001/queues/support", json={}, headers=agent)
        assert r.status_code == 403
        r = await client.put("/api/agents/2001/queues/support", json={"penalty": 2}, headers=sup)
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["queues"] == ["sales", "support"]
        assert {"queue": "support", "penalty": 2} in view["members"]
        assert app.acd.agent("2001").queues == ("sales", "support")  # logged in to it now
        support = [q for q in (await client.get("/api/queues", headers=sup)).json()][1]
        assert support["name"] == "support" and support["agents"].get("ready", 0) >= 1
        rows = app.store.events(event="ADDMEMBER")
        assert [(r["agent"], r["queue"]) for r in rows] == [("2001", "support")]
        # Out of sales: a sales caller is not theirs any more.
        r = await client.delete("/api/agents/2001/queues/sales", headers=sup)
        assert r.json()["queues"] == ["support"]
        again = await client.delete("/api/agents/2001/queues/sales", headers=sup)
        assert again.status_code == 404
        assert (await client.delete("/api/agents/2001/queues/nope", headers=sup)).status_code == 404
        # Skills: replaced, named field errors for bad names and levels.
        r = await client.put(
            "/api/agents/2001/skills", json={"skills": {"support": 7, "russian": 3}}, headers=sup
        )
        assert r.json()["skills"] == {"support": 7, "russian": 3}
        assert dict(app.acd.agent("2001").config.skills) == {"support": 7, "russian": 3}
        bad = await client.put("/api/agents/2001/skills", json={"skills": {"a b": 1}}, headers=sup)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "skills.a b"
        high = await client.put(
            "/api/agents/2001/skills", json={"skills": {"support": 101}}, headers=sup
        )
        assert high.status_code == 422 and "skills.support" in high.json()["detail"]
        [audit] = [
            a for a in app.store.query("SELECT * FROM audit") if "agent:2001" in a["resource"]
        ][-1:]
        assert audit["user"] == "2099"

    with_api(tmp_path, body)

    async def after_restart(app: Application, client: httpx.AsyncClient) -> None:
        sup = bearer(await token(client, "2099"))
        view = (await client.get("/api/agents/2001", headers=sup)).json()
        assert view["members"] == [{"queue": "support", "penalty": 2}]
        assert view["skills"] == {"support": 7, "russian": 3}

    with_api(tmp_path, after_restart)
