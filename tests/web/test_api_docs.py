"""The browsable API description renders in a real Chromium from the pbx alone."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from pbx.app import Application
from tests.api.helpers import with_api
from tests.web.browser import artifact, chromium, require_browser


def test_api_docs_render_offline_with_every_resource(tmp_path: Path) -> None:
    binary = require_browser()

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        base = str(client.base_url).rstrip("/")
        async with chromium(binary) as browser:
            page = await browser.new_page()
            hosts: set[str] = set()
            page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            await page.goto(f"{base}/api/docs")
            # Swagger UI builds the operation list from /api/openapi.json.
            click = page.get_by_text("Click-to-call", exact=False).first
            await click.wait_for(timeout=15_000)
            summaries = await page.locator(".opblock-summary-path").all_inner_texts()
            await page.screenshot(path=artifact("api-docs.png"), full_page=False)
        assert "/api/calls" in summaries and "/api/login" in summaries
        assert len(summaries) >= 30
        # Nothing fetched from outside the pbx: the script and styles are vendored.
        assert hosts == {urlsplit(base).netloc}, hosts
        assert failed == []

    with_api(tmp_path, body)


def test_vendored_files_are_served_with_their_licence(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        script = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 1_000_000
        assert "javascript" in script.headers["content-type"]
        licence = await client.get("/static/vendor/swagger-ui/LICENSE")
        assert licence.status_code == 200 and "Apache License" in licence.text
        assert (await client.get("/static/vendor/nothing.js")).status_code == 404
        assert (await client.get("/static/vendor/../__init__.py")).status_code == 404

    with_api(tmp_path, body)
