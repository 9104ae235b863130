"""Transfer with data from the agent's desktop in a real Chromium: the caller goes to
the support queue, and the next agent's phone and card carry who sent them and why."""

from __future__ import annotations

from typing import Any

import pytest

from pbx.acd.models import AgentState
from pbx.config import AppConfig, load_config
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE
from tests.web.browser import artifact, chromium, log_in, require_browser


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


def test_the_agent_transfers_the_caller_to_support_with_a_note(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    phone = h.agent("2001", audio=Tone(660), answer_after=0.2)
    support = h.agent("2006", audio=Tone(880), auto_answer=False)
    h.login("2006")
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary)
    browser = h.run(browser_cm.__aenter__())
    try:
        page: Any = h.run(browser.new_page())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        async def sign_in() -> None:
            await log_in(page, f"{base}/agent", "2001", "pw2001")
            await page.wait_for_selector('#state[data-state="logged_out"]')
            await page.click("#queue-login")
            await page.wait_for_selector('#state[data-state="ready"]')

        h.run(sign_in())
        caller = h.call("200", caller_id="5550620", audio=Tone(440))
        caller.wait_answered()
        h.run(page.wait_for_selector('#card[data-phase="connected"]', timeout=5000))
        h.run(page.fill("#transfer-to", "queue:support"))
        h.run(page.fill("#transfer-note", "Billing question about invoice 1187"))
        h.run(page.click("#transfer"))
        offer = support.wait_ringing(timeout=5)
        assert offer.header("X-Queue") == "support"
        assert offer.header("X-Data-transfer_note") == "Billing question about invoice 1187"
        assert offer.header("X-Data-transferred_by") == "2001"
        phone.wait_ended(timeout=5)
        support.answer()
        support.wait_connected()
        caller.assert_heard_tone(
            880, min_seconds=0.4, since=support.incoming.at if support.incoming else None
        )
        h.wait_agent_state("2006", AgentState.ON_CALL)
        h.run(page.screenshot(path=artifact("agent-transferred.png")))
        assert errors == []
        caller.hang_up()
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_attended_transfer_consult_back_to_the_customer_then_complete(
    pbx_harness: Harness,
) -> None:
    binary = require_browser()
    h = pbx_harness
    phone = h.agent("2001", audio=Tone(660), answer_after=0.2)
    colleague = h.agent("2006", audio=Tone(880), answer_after=0.2)
    h.login("2006")
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary)
    browser = h.run(browser_cm.__aenter__())
    try:
        page: Any = h.run(browser.new_page())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        async def sign_in() -> None:
            await log_in(page, f"{base}/agent", "2001", "pw2001")
            await page.wait_for_selector('#state[data-state="logged_out"]')
            await page.click("#queue-login")
            await page.wait_for_selector('#state[data-state="ready"]')

        h.run(sign_in())
        caller = h.call("200", caller_id="5550621", audio=Tone(440))
        caller.wait_answered()
        h.run(page.wait_for_selector('#card[data-phase="connected"]', timeout=5000))
        phone.wait_connected()

        # Consult 2006: the customer is held (music), the agent talks to the colleague.
        h.run(page.fill("#transfer-to", "2006"))
        h.run(page.click("#consult"))
        h.run(page.wait_for_selector('#card[data-consulting="2006"]', timeout=3000))
        ring = colleague.wait_ringing(timeout=5)
        colleague.wait_connected()
        h.wait_for(lambda: caller.media is not None and not caller.media.sends, 3.0, "hold")
        phone.assert_heard_tone(880, min_seconds=0.3, since=ring.at)
        # Back to the customer: the colleague's leg ends, the customer hears the agent.
        h.run(page.click("#consult-cancel"))
        colleague.wait_ended(timeout=3)
        h.wait_for(lambda: caller.media is not None and caller.media.sends, 3.0, "unhold")
        back = h.now()
        caller.assert_heard_tone(660, min_seconds=0.3, since=back)

        # Consult again, then complete: the customer talks to the colleague.
        h.run(page.click("#consult"))
        colleague.wait_ringing(timeout=5)
        colleague.wait_connected()
        h.wait_agent_state("2006", AgentState.ON_CALL)  # busy: offered no queue call
        h.run(page.click("#consult-complete"))
        phone.wait_ended(timeout=3)
        done = h.now()
        caller.assert_heard_tone(880, min_seconds=0.3, since=done)
        colleague.assert_heard_tone(440, min_seconds=0.3, since=done)
        transfer = h.wait_for_queue_event("TRANSFER")
        assert (transfer["agent"], transfer["queue"]) == ("2001", "sales")
        assert errors == []
        caller.hang_up()
        colleague.wait_ended(timeout=3)
        h.wait_agent_state("2006", AgentState.READY)
    finally:
        h.run(browser_cm.__aexit__(None, None, None))
