"""The supervisor's wallboard in a real Chromium: a caller entering the sales queue shows
within a second, leaves when an agent answers, the agent grid follows, the monitor
buttons ring the supervisor's phone, and a reload keeps the session and the picture."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pbx.config import AppConfig, load_config
from pbx.testing import Harness
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE
from tests.web.browser import artifact, chromium, log_in, require_browser

WAITING = '.tile[data-id="sales"] dd[data-field="waiting"]'
RECENT_SL = '.tile[data-id="sales"] dd[data-field="service_level_30m"]'


@pytest.fixture
def pbx_config() -> AppConfig:
    return fast_queues(load_config(EXAMPLE))


async def text_becomes(page: Any, selector: str, text: str, timeout: float) -> float:
    """Wait until ``selector``'s text is ``text``; the seconds it took."""
    start = time.monotonic()
    await page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent === t",
        arg=[selector, text],
        timeout=timeout * 1000,
    )
    return time.monotonic() - start


def test_the_wallboard_follows_a_caller_through_the_sales_queue(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    agent = h.agent("2001", auto_answer=False)
    supervisor = h.agent("2099", answer_after=0.1)
    h.login("2001")
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary)
    browser = h.run(browser_cm.__aenter__())
    try:
        page = h.run(browser.new_page())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        async def sign_in() -> None:
            await log_in(page, f"{base}/wallboard", "2099", "pw2099")
            await text_becomes(page, WAITING, "0", 5.0)
            await text_becomes(page, RECENT_SL, "—", 1.0)  # nobody left the queue yet
            # The supervisor's campaigns: sales-out runs on the sales queue.
            await page.wait_for_selector('.tile[data-id="sales-out"]', timeout=3000)

        h.run(sign_in())
        caller = h.call("200", caller_id="5550200")
        entered = h.wait_for_queue_event("ENTERQUEUE")
        assert entered["queue"] == "sales"
        took = h.run(text_becomes(page, WAITING, "1", 1.5))
        assert took <= 1.2, took  # QueueStats goes out once a second
        h.run(page.screenshot(path=artifact("wallboard-waiting.png")))
        agent.wait_ringing()
        agent.answer()
        caller.wait_answered()
        h.run(text_becomes(page, WAITING, "0", 2.0))
        h.run(text_becomes(page, RECENT_SL, "100%", 2.0))  # answered within 20 s
        row = '#agents tr[data-agent="2001"]'
        h.run(page.wait_for_selector(f'{row}[data-state="on_call"]', timeout=2000))
        h.run(page.screenshot(path=artifact("wallboard-answered.png")))

        # Listen through the supervisor's own phone, from the agent's row.
        h.run(page.click(f'{row} button[data-mode="listen"]'))
        ring = supervisor.wait_ringing()
        assert ring is not None
        supervisor.wait_connected()

        # A reload keeps the session (no login form) and shows the same state.
        async def reload() -> str:
            await page.reload()
            await page.wait_for_selector('#status[data-state="live"]')
            await page.wait_for_selector(f'{row}[data-state="on_call"]', timeout=2000)
            return str(await page.is_hidden("#login"))

        assert h.run(reload()) == "True"
        assert errors == []
        caller.hang_up()
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_the_wallboard_is_in_russian_when_asked(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    base = f"http://127.0.0.1:{h.app.http_port}"

    async def body() -> tuple[str, str]:
        async with chromium(binary) as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/wallboard?lang=ru")
            await page.fill('input[name="user"]', "2099")
            await page.fill('input[name="password"]', "wrong")
            await page.click('button[type="submit"]')
            await page.wait_for_function("document.querySelector('#login-error').textContent")
            return await page.inner_text("h1"), await page.inner_text("#login-error")

    title, error = h.run(body())
    assert title == "Табло"
    assert error  # the API's refusal, shown
