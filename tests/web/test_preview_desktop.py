"""A preview campaign on the agent's desktop in a real Chromium: the lead's card, dial
from the page (the agent's phone rings, then the lead over the carrier), the call's
card, and a wrap-up that schedules the lead's callback."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from attrs import evolve

from pbx.config import AppConfig, load_config
from pbx.dialer.campaign import CallingHours
from pbx.dialer.leads import LeadState
from pbx.testing import Harness, Person, SimCarrier, Tone
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE
from tests.web.browser import artifact, chromium, log_in, require_browser

ALL_DAY = CallingHours(start=dt.time(0, 0), end=dt.time(23, 59), days=frozenset(range(7)))
NUMBER = "+12125550177"


@pytest.fixture
def pbx_config() -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    collections = evolve(config.campaigns["collections"], calling_hours=ALL_DAY)
    return evolve(config, campaigns={**config.campaigns, "collections": collections})


def test_the_agent_dials_a_preview_lead_from_the_page_and_schedules_its_callback(
    pbx_harness: Harness, pbx_carrier: SimCarrier
) -> None:
    binary = require_browser()
    h = pbx_harness
    phone = h.agent("2006", audio=Tone(660), answer_after=0.2)
    pbx_carrier.set_behaviour(NUMBER, Person(ring=0.5))
    service = h.app.campaigns
    report = service.import_leads(
        "collections", f"phone,name,balance\n{NUMBER},Ann Lee,310.75\n", h.now()
    )
    assert report.ok, report.errors
    lead_id = report.leads[0].id
    service.command("collections", "start", h.now())
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary)
    browser = h.run(browser_cm.__aenter__())
    try:
        page: Any = h.run(browser.new_page())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        async def sign_in() -> None:
            await log_in(page, f"{base}/agent", "2006", "pw2006")
            await page.wait_for_selector('#state[data-state="logged_out"]')
            await page.click("#queue-login")
            await page.wait_for_selector('#state[data-state="ready"]')

        h.run(sign_in())
        # The lead's card: nothing is dialled until the agent says so.
        h.run(page.wait_for_selector(f'#lead[data-lead="{lead_id}"]', state="visible"))
        assert h.run(page.inner_text("#lead-name")) == "Ann Lee"
        assert h.run(page.inner_text("#lead-number")) == NUMBER
        balance = h.run(page.inner_text('#lead-data tr[data-key="balance"] td'))
        assert balance == "310.75"
        assert pbx_carrier.calls_to(NUMBER) == []
        h.run(page.screenshot(path=artifact("agent-preview-lead.png")))

        h.run(page.click("#lead-dial"))
        ring = phone.wait_ringing(timeout=5)
        assert (ring.caller_id, ring.caller_name) == (NUMBER, "Ann Lee")
        person = pbx_carrier.wait_for_call(NUMBER, timeout=5)
        person.wait_answered(timeout=5)
        assert h.run(page.is_hidden("#lead"))
        h.run(page.wait_for_selector('#card[data-phase="connected"]', timeout=3000))
        assert NUMBER in h.run(page.inner_text("#card-caller"))
        assert h.run(page.inner_text("#card-queue")) == "collections"
        h.run(page.wait_for_selector('#state[data-state="on_call"]', timeout=3000))
        person.assert_heard_tone(660, min_seconds=0.4, since=person.answered_at)
        person.hang_up()
        h.run(page.wait_for_selector('#card[data-phase="ended"]', timeout=3000))
        h.run(page.wait_for_selector('#state[data-state="wrap_up"]', timeout=3000))

        # Wrap-up with the campaign's codes and a callback time for the lead.
        codes = h.run(page.eval_on_selector_all("#wrap-code option", "os => os.map(o => o.value)"))
        assert codes == ["promise_to_pay", "paid", "dispute", "call_back", "wrong_number"]
        when = (dt.datetime.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
        h.run(page.select_option("#wrap-code", "call_back"))
        h.run(page.fill("#wrap-callback", when.strftime("%Y-%m-%dT%H:%M")))
        h.run(page.fill("#wrap-notes", "Pays on Friday"))
        h.run(page.click("#wrap-save"))
        h.run(page.wait_for_selector('#wrapup[data-saved="call_back"]', timeout=3000))
        h.run(page.screenshot(path=artifact("agent-preview-wrap-up.png")))

        def scheduled() -> bool:
            lead = h.app.dialer.lead(lead_id)
            return lead is not None and lead.state is LeadState.PENDING

        h.wait_for(scheduled, timeout=3, what="the lead scheduled again")
        lead = h.app.dialer.lead(lead_id)
        assert lead is not None and lead.disposition == "call_back"
        assert lead.next_attempt_at == pytest.approx(when.timestamp(), abs=1)
        assert lead.data["notes"] == "Pays on Friday"
        [attempt] = lead.attempts
        assert (attempt.outcome, attempt.agent) == ("answered", "2006")
        stored = {row["id"]: row for row in h.app.store.leads("collections")}[lead_id]
        assert stored["disposition"] == "call_back"
        assert errors == []
    finally:
        h.run(browser_cm.__aexit__(None, None, None))
