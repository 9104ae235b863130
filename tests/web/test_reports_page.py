"""The reports and staffing pages in a real Chromium, against the figures of a scripted
day: agent 2001 answers one caller to sales (200) while a second caller waits past the
short-abandon threshold and hangs up. The page's table, totals, CSV and chart must say
what the API says for the same query, and what the scenario makes them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from pbx.config import AppConfig, load_config
from pbx.reports.custom import custom_report
from pbx.testing import Harness
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE, bearer, token
from tests.web.browser import artifact, chromium, log_in, require_browser

SHORT_ABANDON = 5.0  # seconds; a shorter wait is neither offered nor abandoned
QUEUE_FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answered_within",
    "abandoned_within",
    "service_level",
    "asa",
    "aht",
    "talk",
    "hold",
    "wrap",
    "wait_answered",
    "wait_abandoned",
    "longest_wait",
    "handled",
    "transferred_in",
    "transferred_out",
    "overflow_in",
    "overflow_out",
    "callbacks_requested",
    "callbacks_completed",
    "exited",
)
STAFFING_FIELDS = (
    "calls",
    "aht",
    "patience",
    "staffed",
    "needed_erlang_a",
    "needed_erlang_c",
    "service_level_staffed",
)
CELLS = """() => [...document.querySelectorAll('#table td[data-value]')].map((td) => ({
    field: td.dataset.field, key: td.dataset.key ?? null, start: td.dataset.start ?? null,
    total: td.dataset.total ?? null, row: td.dataset.row ?? null, value: td.dataset.value,
    text: td.textContent }))"""
INKED = """() => {
    const c = document.querySelector('#chart');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
    return n;
}"""


BUSIEST_DIDS = custom_report(
    "busiest-dids",
    """SELECT did, COUNT(*) AS calls, SUM(talk_seconds) AS talk FROM cdr
       WHERE start_time >= :from AND start_time < :to
       GROUP BY did HAVING COUNT(*) >= :min_calls ORDER BY calls DESC""",
    {"from": "time", "to": "time", "min_calls": "number"},
    "Busiest DIDs",
)


@pytest.fixture
def pbx_config() -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    reports = attrs.evolve(config.reports, custom={BUSIEST_DIDS.name: BUSIEST_DIDS})
    return attrs.evolve(config, reports=reports)


def one_answered_one_abandoned(h: Harness) -> None:
    """Agent 2001 answers the first caller; the second waits behind them for longer than
    the short-abandon threshold, then hangs up."""
    agent = h.agent("2001", answer_after=0.2)
    h.login("2001")
    first = h.call("200", caller_id="5550301")
    first.wait_answered()
    agent.wait_connected()
    second = h.call("200", caller_id="5550302")
    h.wait_for(lambda: len(h.events(event="ENTERQUEUE")) == 2, 5.0, "the second caller queued")
    h.sleep(SHORT_ABANDON + 1.5)
    second.hang_up()
    h.wait_for_queue_event("ABANDON")
    first.hang_up()
    agent.wait_ended()
    h.wait_for_cdr(first)
    h.wait_for_cdr(second)


async def api_get(base: str, path: str) -> httpx.Response:
    """``path`` as the supervisor 2099 asks for it."""
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        value = await token(client, "2099")
        return await client.get(path, headers=bearer(value))


def number(value: str) -> Any:
    """A cell's data-value as the figure it is (JSON: numbers, null)."""
    return json.loads(value)


def test_the_queue_report_shows_what_the_api_counts(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    one_answered_one_abandoned(h)
    base = f"http://127.0.0.1:{h.app.http_port}"
    browser_cm = chromium(binary)
    browser = h.run(browser_cm.__aenter__())
    try:
        page = h.run(
            browser.new_page(accept_downloads=True, viewport={"width": 1400, "height": 900})
        )
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        async def run_report() -> tuple[str, list[dict[str, Any]], int]:
            await log_in(page, f"{base}/reports", "2099", "pw2099")
            await page.select_option("#report", "queues")
            await page.select_option("#interval", "60")
            await page.select_option("#treatment", "against")
            await page.click("#run")
            await page.wait_for_selector('#result[data-state="done"]', timeout=10_000)
            await page.screenshot(path=artifact("reports-queues.png"), full_page=True)
            query = await page.get_attribute("#result", "data-query")
            return str(query), await page.evaluate(CELLS), await page.evaluate(INKED)

        query, cells, inked = h.run(run_report())
        assert query.startswith("/api/reports/queues?")
        assert "interval=60" in query and "treatment=against" in query
        r = h.run(api_get(base, query))
        assert r.status_code == 200, r.text
        report = r.json()

        # Every figure of every row and total, as the API has it.
        shown = {(c["field"], c["key"], c["start"], c["total"]): c for c in cells}
        for row in report["rows"]:
            for field in QUEUE_FIELDS:
                c = shown[(field, row["queue"], row["start"], None)]
                assert number(c["value"]) == row[field], (field, row, c)
        for row in report["totals"]:
            for field in QUEUE_FIELDS:
                c = shown[(field, None, None, row["queue"])]
                assert number(c["value"]) == row[field], (field, row, c)
        figures = [c for c in cells if c["field"] in QUEUE_FIELDS]
        assert len(figures) == len(QUEUE_FIELDS) * (len(report["rows"]) + len(report["totals"]))

        # And what the scenario made: two calls offered to sales, one answered, one
        # abandoned (within the 20 s threshold, so the service level is 1 of 2).
        total = {
            c["field"]: c["text"]
            for c in cells
            if c["total"] == "sales" and c["field"] in QUEUE_FIELDS
        }
        assert (total["offered"], total["answered"], total["abandoned"]) == ("2", "1", "1")
        assert total["short_abandoned"] == "0"
        assert total["service_level"] == "50%"
        assert total["longest_wait"].count(":") == 1  # seconds shown as m:ss
        sales = [c for c in cells if c["key"] == "sales" and c["field"] == "offered"]
        assert sum(number(c["value"]) for c in sales) == 2

        # The CSV of the same query says the same.
        async def download_csv() -> str:
            async with page.expect_download() as info:
                await page.click("#csv")
            download = await info.value
            path = Path(await download.path())
            return path.read_text(encoding="utf-8")

        text = h.run(download_csv())
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows and "offered" in rows[0]
        for c in sales:
            (line,) = [
                r
                for r in rows
                if (r["row"], r["queue"], r["start"]) == ("interval", "sales", c["start"])
            ]
            assert int(line["offered"]) == number(c["value"])
        (line,) = [r for r in rows if (r["row"], r["queue"]) == ("total", "sales")]
        assert line["offered"] == total["offered"]

        # The chart is drawn: offered/answered/abandoned bars for sales.
        assert inked > 1000, inked
        offered = h.run(page.evaluate("Chart.getChart('chart').data.datasets[0].data"))
        assert sum(offered) == 2
        assert errors == []
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_a_custom_report_takes_its_parameters_from_the_page(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    h.agent("2001", answer_after=0.2)
    h.login("2001")
    caller = h.call("200", caller_id="5550401")
    caller.wait_answered()
    h.sleep(0.5)
    caller.hang_up()
    h.wait_for_cdr(caller)
    base = f"http://127.0.0.1:{h.app.http_port}"

    async def body() -> tuple[str, str, list[dict[str, Any]], str]:
        async with chromium(binary) as browser:
            page = await browser.new_page(accept_downloads=True)
            await log_in(page, f"{base}/reports", "admin", "admin")
            await page.wait_for_selector('#custom option[value="busiest-dids"]', state="attached")
            await page.select_option("#report", "custom")
            await page.fill('#custom-params input[data-param="min_calls"]', "1")
            await page.click("#run")
            await page.wait_for_selector('#result[data-state="done"]', timeout=10_000)
            await page.screenshot(path=artifact("reports-custom.png"))
            async with page.expect_download() as info:
                await page.click("#csv")
            download = await info.value
            text = Path(await download.path()).read_text(encoding="utf-8")
            query = str(await page.get_attribute("#result", "data-query"))
            return query, await page.inner_text("#result-title"), await page.evaluate(CELLS), text

    query, title, cells, text = h.run(body())
    assert query.startswith("/api/reports/custom/busiest-dids?") and "min_calls=1" in query
    assert title == "Busiest DIDs"

    async def as_admin() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
            value = await token(client, "admin", "admin")
            return await client.get(query, headers=bearer(value))

    r = h.run(as_admin())
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["columns"] == ["did", "calls", "talk"]
    shown = [[number(c["value"]) for c in cells if c["row"] == str(i)] for i in range(len(cells))]
    assert [row for row in shown if row] == report["rows"]
    assert ["200", 1] == report["rows"][0][:2]
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["did", "calls", "talk"] and lines[1][:2] == ["200", "1"]


def test_the_reports_page_shows_the_apis_refusal(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    base = f"http://127.0.0.1:{h.app.http_port}"

    async def body() -> tuple[bool, str]:
        async with chromium(binary) as browser:
            page = await browser.new_page()
            await log_in(page, f"{base}/reports", "2099", "pw2099")
            # A period that ends before it begins.
            await page.fill("#from", "2026-01-02T00:00")
            await page.fill("#to", "2026-01-01T00:00")
            await page.click("#run")
            await page.wait_for_selector(
                '#result[data-state="failed"]', state="attached", timeout=10_000
            )
            await page.screenshot(path=artifact("reports-refused.png"))
            return await page.is_visible("#error"), await page.inner_text("#error")

    visible, text = h.run(body())
    assert visible and text.strip()


def test_the_staffing_page_shows_every_interval_of_the_day(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    one_answered_one_abandoned(h)
    base = f"http://127.0.0.1:{h.app.http_port}"

    async def body() -> tuple[str, list[dict[str, Any]], int, int]:
        async with chromium(binary) as browser:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await log_in(page, f"{base}/staffing", "2099", "pw2099")
            await page.wait_for_selector('#queue option[value="sales"]', state="attached")
            await page.select_option("#queue", "sales")
            await page.select_option("#interval", "30")
            await page.click("#run")
            await page.wait_for_selector('#result[data-state="done"]', timeout=10_000)
            await page.screenshot(path=artifact("staffing.png"), full_page=True)
            query = str(await page.get_attribute("#result", "data-query"))
            rows = await page.locator("#table tbody tr").count()
            assert errors == []
            return query, await page.evaluate(CELLS), rows, await page.evaluate(INKED)

    query, cells, rows, inked = h.run(body())
    assert query.startswith("/api/staffing?") and "queue=sales" in query
    r = h.run(api_get(base, query))
    assert r.status_code == 200, r.text
    staffing = r.json()
    assert rows == len(staffing["rows"]) == 48  # a day of half hours
    shown = {(c["field"], c["start"]): c for c in cells}
    now = datetime.now(UTC)
    for row in staffing["rows"]:
        for field in STAFFING_FIELDS:
            value = number(shown[(field, row["start"])]["value"])
            running = (
                datetime.fromisoformat(row["start"]) <= now < datetime.fromisoformat(row["end"])
            )
            if field in ("staffed", "service_level_staffed") and running:
                # Agent 2001 is still logged in: the interval's staffing grows by the second.
                assert value == pytest.approx(row[field], abs=0.05), (field, row)
            else:
                assert value == row[field], (field, row)
    calls = {c["start"]: number(c["value"]) for c in cells if c["field"] == "calls"}
    assert sum(calls.values()) == 2  # the scenario's two callers
    assert any(row["staffed"] > 0 for row in staffing["rows"])
    assert inked > 1000, inked


def test_the_reports_page_is_in_russian_when_asked(pbx_harness: Harness) -> None:
    binary = require_browser()
    h = pbx_harness
    base = f"http://127.0.0.1:{h.app.http_port}"

    async def body() -> dict[str, str]:
        async with chromium(binary) as browser:
            page = await browser.new_page()
            await log_in(page, f"{base}/reports?lang=ru", "2099", "pw2099")
            seen = {
                "title": await page.inner_text("h1"),
                "run": await page.inner_text("#run"),
                "print": await page.inner_text("#print"),
                "report": await page.inner_text("label:has(#report) > span"),
                "interval": await page.inner_text("label:has(#interval) > span"),
                "queues": await page.inner_text('#report option[value="queues"]'),
                "nav": await page.inner_text('#nav a[href^="/staffing"]'),
                "nav_link": str(await page.get_attribute('#nav a[href^="/staffing"]', "href")),
            }
            await page.screenshot(path=artifact("reports-ru.png"))
            await page.goto(f"{base}/staffing?lang=ru")
            await page.wait_for_selector('#status[data-state="live"]')
            seen["staffing"] = await page.inner_text("h1")
            seen["needed"] = await page.inner_text('th[data-t="needed_erlang_a"]')
            return seen

    seen = h.run(body())
    assert seen["title"] == "Отчёты"
    assert seen["run"] == "Показать" and seen["print"] == "Печать"
    assert seen["report"] == "Отчёт" and seen["interval"] == "Интервал"
    assert seen["queues"] == "Очереди"
    assert seen["nav"] == "Планирование смен" and seen["nav_link"].endswith("?lang=ru")
    assert seen["staffing"] == "Планирование смен"
    assert seen["needed"] == "Нужно (Эрланг A)"
