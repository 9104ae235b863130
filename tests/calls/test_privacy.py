"""A caller who asks for privacy (RFC 3323 ``Privacy: id``) is shown as anonymous.

The agent's phone rings from ``anonymous`` (with ``Privacy: id`` passed on), the live
call and the screen pop over the API say anonymous, and the CDR keeps the number the
carrier sent, for the records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from pbx.config import AppConfig, load_config
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


@pytest.mark.parametrize(
    "headers",
    [
        [("Privacy", "id")],
        [("Privacy", "header; id"), ("P-Asserted-Identity", "<sip:5550911@carrier>")],
    ],
)
def test_a_private_caller_reaches_the_agent_as_anonymous(
    pbx_harness: Harness, headers: list[tuple[str, str]]
) -> None:
    h = pbx_harness
    agent = h.agent("2001", auto_answer=False, audio=Tone(660))
    h.login("2001")
    caller = h.call("200", caller_id="5550911", name="Jane Roe", headers=headers, audio=Tone(440))
    offer = agent.wait_ringing()
    assert offer.caller_id == "anonymous" and offer.caller_name == "Anonymous"
    assert "5550911" not in str(offer.request.headers.get("from"))
    assert offer.header("Privacy") == "id"
    assert "Jane Roe" not in bytes(offer.request).decode("utf-8", "replace")

    async def live_calls() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{h.app.http_port}") as client:
            login = await client.post("/api/login", json={"user": "admin", "password": "admin"})
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            return list((await client.get("/api/calls", headers=auth)).json())

    [live] = [c for c in h.run(live_calls()) if c["queue"]]
    assert live["caller"] == {"number": "anonymous", "name": "Anonymous"}
    assert live["privacy"] is True

    agent.answer()
    caller.assert_heard_tone(660, min_seconds=0.3)
    caller.hang_up()
    record = h.wait_for_cdr(caller)
    assert record["caller"] == "5550911"  # the records keep what the carrier sent


def test_a_caller_without_privacy_is_shown(pbx_harness: Harness) -> None:
    h = pbx_harness
    agent = h.agent("2001", auto_answer=False)
    h.login("2001")
    caller = h.call("200", caller_id="5550912", name="John Doe")
    offer = agent.wait_ringing()
    assert (offer.caller_id, offer.caller_name) == ("5550912", "John Doe")
    assert offer.header("Privacy") is None
    caller.hang_up()
