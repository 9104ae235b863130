"""The agent's desktop in a real Chromium: pause and ready change the agent's ACD state,
an offer from the IVR's sales choice pops the customer's card with the IVR path, and the
card's controls act on the call."""

from __future__ import annotations

import datetime as dt
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


def test_the_desktop_changes_state_and_pops_the_card_from_the_ivr(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    phone = h.agent("2001", auto_answer=False)
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
        assert h.agent_state("2001").state is AgentState.READY

        async def pause_for_lunch() -> None:
            await page.select_option("#reason", "lunch")
            await page.click("#pause")
            await page.wait_for_selector('#state[data-state="not_ready"]')

        h.run(pause_for_lunch())
        state = h.agent_state("2001")
        assert state.state is AgentState.NOT_READY and state.reason == "lunch"
        h.run(page.click("#ready"))
        h.run(page.wait_for_selector('#state[data-state="ready"]'))
        assert h.agent_state("2001").state is AgentState.READY

        # The customer called before: another agent wrapped that call up with notes.
        h.app.store.execute(
            "INSERT INTO cdr (call_id, direction, caller, start_time, disposition, queue,"
            " agent, wrap_code, wrap_notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("earlier1", "inbound", "5550610", 1.7e9, "answered", "support", "2007",
             "escalated", "Router replaced under warranty"),
        )  # fmt: skip

        # A caller picks sales (1) in the main IVR: the offer pops the card.
        caller = h.call("100", caller_id="5550610", audio=Tone(440, level_dbov=-30))
        caller.wait_answered()
        welcome = caller.assert_heard_prompt("en/welcome", first_seconds=0.6)
        caller.assert_heard_prompt("en/menu", first_seconds=0.6, since=welcome)
        caller.send_dtmf("1")
        phone.wait_ringing()
        h.run(page.wait_for_selector('#card[data-phase="offered"]', timeout=3000))
        assert h.run(page.inner_text("#card-caller")) == "5550610"
        assert h.run(page.inner_text("#card-queue")) == "sales"
        path = h.run(page.inner_text("#card-ivr"))
        assert path.startswith("welcome → menu → sales"), path
        h.run(page.wait_for_selector("#card-history tr[data-call=earlier1]", timeout=3000))
        earlier = h.run(page.inner_text("#card-history tbody"))
        assert "2007" in earlier and "Router replaced under warranty" in earlier, earlier
        assert "escalated" in earlier and h.run(page.inner_text("#card-history-count")) == "1"
        h.run(page.screenshot(path=artifact("agent-offered.png")))

        phone.answer()
        caller.wait_answered()
        h.run(page.wait_for_selector('#card[data-phase="connected"]', timeout=3000))
        h.run(page.wait_for_selector('#state[data-state="on_call"]', timeout=3000))
        h.run(page.click("#hold"))
        h.run(page.wait_for_function("document.querySelector('#hold').textContent === 'Resume'"))
        # The pbx re-INVITEd the customer sendonly: their phone stops sending.
        h.wait_for(lambda: caller.media is not None and not caller.media.sends, 3.0, "hold")
        h.wait_agent_state("2001", AgentState.ON_HOLD)
        h.run(page.click("#hold"))
        h.run(page.wait_for_function("document.querySelector('#hold').textContent === 'Hold'"))
        h.wait_for(lambda: caller.media is not None and caller.media.sends, 3.0, "resume")
        h.wait_agent_state("2001", AgentState.ON_CALL)
        assert [e["event"] for e in h.events(agent="2001") if "HOLD" in e["event"]] == [
            "HOLD",
            "UNHOLD",
        ]
        h.run(page.screenshot(path=artifact("agent-connected.png")))
        h.run(page.click("#hangup"))
        caller.wait_ended()
        h.run(page.wait_for_selector('#card[data-phase="ended"]', timeout=3000))

        # Wrap-up: the queue's codes, notes, onto the call's record.
        codes = h.run(page.eval_on_selector_all("#wrap-code option", "os => os.map(o => o.value)"))
        assert codes == ["sale", "no_sale", "call_back", "wrong_number"]
        h.run(page.select_option("#wrap-code", "call_back"))
        h.run(page.fill("#wrap-notes", "Wants the premium plan; call after 5 pm"))
        when = (dt.datetime.now() + dt.timedelta(days=1)).replace(hour=17, minute=30, second=0)
        h.run(page.fill("#wrap-callback", when.strftime("%Y-%m-%dT%H:%M")))
        h.run(page.click("#wrap-save"))
        h.run(page.wait_for_selector('#wrapup[data-saved="call_back"]', timeout=3000))
        record = h.wait_for_cdr(caller)
        assert (record["wrap_code"], record["wrap_agent"]) == ("call_back", "2001")
        assert record["wrap_notes"] == "Wants the premium plan; call after 5 pm"
        [row] = h.events(event="DISPOSITION")
        assert (row["queue"], row["agent"], row["data"]) == ("sales", "2001", {"code": "call_back"})
        # ... and the customer gets a callback into sales at that time.
        [callback] = h.callbacks()
        assert (callback["number"], callback["queue"], callback["status"]) == (
            "5550610",
            "sales",
            "pending",
        )
        assert callback["due"] == pytest.approx(when.replace(microsecond=0).timestamp(), abs=1)
        h.run(page.screenshot(path=artifact("agent-wrap-up.png")))
        assert errors == []
    finally:
        h.run(browser_cm.__aexit__(None, None, None))
