"""Wrap-up over the API: the disposition code and notes land on the call's record, for
the agent who talked to the caller (after the hang-up too) or their supervisor; a code
the queue does not list is a 422 naming ``code``; someone else's call is a 404."""

from __future__ import annotations

from pathlib import Path

import httpx

from pbx.app import Application
from tests.api.helpers import bearer, token, with_api


def test_a_disposition_lands_on_the_record_of_an_ended_call(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        store = app.store
        store.cdr_insert(
            {
                "call_id": "c1",
                "direction": "inbound",
                "start_time": 1.0,
                "disposition": "answered",
                "agent": "2002",
                "queue": "sales",
            }
        )
        store.queue_log(2.0, "CONNECT", call_id="c1", queue="sales", agent="2001")
        store.queue_log(9.0, "TRANSFER", call_id="c1", queue="sales", agent="2001")
        agent = bearer(await token(client, "2001"))
        other = bearer(await token(client, "2003"))
        boss = bearer(await token(client, "2099"))
        path = "/api/calls/c1/disposition"
        r = await client.post(path, json={"code": "sale", "notes": "two seats"}, headers=agent)
        assert r.status_code == 200, r.text
        row = store.cdr_of("c1")
        assert row is not None
        assert (row["wrap_code"], row["wrap_notes"], row["wrap_agent"]) == (
            "sale",
            "two seats",
            "2001",
        )
        [logged] = store.events(event="DISPOSITION")
        assert (logged["agent"], logged["queue"], logged["data"]) == (
            "2001",
            "sales",
            {"code": "sale"},
        )
        bad = await client.post(path, json={"code": "maybe"}, headers=agent)
        assert bad.status_code == 422 and "code" in bad.text and "no_sale" in bad.text
        empty = await client.post(path, json={"code": ""}, headers=agent)
        assert empty.status_code == 422 and "code" in empty.text
        assert (await client.post(path, json={"code": "sale"}, headers=other)).status_code == 404
        nope = await client.post("/api/calls/nope/disposition", json={"code": "sale"}, headers=boss)
        assert nope.status_code == 404
        r = await client.post(path, json={"code": "no_sale", "notes": ""}, headers=boss)
        assert r.status_code == 200 and r.json()["agent"] == "2001"
        assert store.cdr_of("c1")["wrap_code"] == "no_sale"  # type: ignore[index]
        unauth = await client.post(path, json={"code": "sale"})
        assert unauth.status_code == 401

    with_api(tmp_path, body)
