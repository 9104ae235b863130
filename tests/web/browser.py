"""A headless Chromium for page tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download cannot run here; it is pointed at the system binary.
A missing browser (or Playwright) is a failure under CI=true and a skip elsewhere, like
the other peers. Screenshots go to ``test-artifacts/`` at the repository's root so a
person can look at what the test saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import need_module, need_peer

if TYPE_CHECKING:
    from playwright.async_api import Browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def require_browser() -> str:
    """The Chromium binary and Playwright, or a CI failure / local skip."""
    binary = need_peer("chromium")
    need_module("playwright")
    return binary


@asynccontextmanager
async def chromium(binary: str, args: tuple[str, ...] = ()) -> AsyncIterator[Browser]:
    """A headless Chromium, closed (and its process gone) when the block ends."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=binary, headless=True, args=["--no-sandbox", *args]
        )
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    """Where a test writes a screenshot named ``name``."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


async def log_in(page: Any, url: str, user: str, password: str) -> None:
    """Open ``url`` and sign in through its login form; return once the page's event
    stream is live."""
    await page.goto(url)
    await page.fill('input[name="user"]', user)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_selector('#status[data-state="live"]')
