"""A supervisor moves a waiting caller from sales to support over the API: the caller
leaves sales as an overflow would and is offered to a support agent with their data."""

from __future__ import annotations

from pathlib import Path

import httpx

from pbx.config import load_config
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE


def test_a_waiting_caller_is_moved_to_support_and_offered_there(tmp_path: Path) -> None:
    with Harness(fast_queues(load_config(EXAMPLE)), tmp_path=tmp_path) as h:
        support = h.agent("2006", audio=Tone(880), auto_answer=False)
        h.login("2006")
        caller = h.call("200", caller_id="5550630")  # sales: no agent logged in
        caller.wait_answered()
        h.wait_for_queue_event("ENTERQUEUE")
        base = f"http://127.0.0.1:{h.app.http_port}"

        async def move() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                login = await client.post("/api/login", json={"user": "2099", "password": "pw2099"})
                auth = {"Authorization": f"Bearer {login.json()['token']}"}
                [waiting] = (await client.get("/api/queues/sales/calls", headers=auth)).json()
                path = f"/api/queues/sales/calls/{waiting['call']}/move"
                bad = await client.post(path, json={"to": "queue:nope"}, headers=auth)
                assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to"
                moved = await client.post(path, json={"to": "queue:support"}, headers=auth)
                assert moved.status_code == 200, moved.text
                again = await client.post(path, json={"to": "queue:support"}, headers=auth)
                assert again.status_code == 404  # not waiting in sales any more

        h.run(move())
        offer = support.wait_ringing(timeout=5)
        assert offer.header("X-Queue") == "support"
        row = h.wait_for_queue_event("EXITMOVED")
        assert (row["queue"], row["data"]["to"]) == ("sales", "queue:support")
        support.answer()
        support.wait_connected()
        caller.assert_heard_tone(880, min_seconds=0.3, since=support.incoming.at)
        caller.hang_up()
