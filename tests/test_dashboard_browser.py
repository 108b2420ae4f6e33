"""The dashboard page in a real browser: headless Chromium (Debian's ``chromium``), driven by
Playwright's Python API, against a running actor system.

Skipped, saying why, where Chromium or Playwright is missing; ``.ci/run`` installs Chromium.
Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorSystem, dashboard
from asyncactors.dashboard import DashboardServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright's Python package is not installed (dev extra)"
)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: Chromium starts slowly on two busy cores.
TIMEOUT_MS = 20_000


@asyncactors.remote
class Inbox:
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def take(self) -> str:
        await self.gate.wait()
        return "taken"


@pytest.mark.timeout(90)
async def test_a_new_actor_and_its_mailbox_depth_show_up_live() -> None:
    """Chromium loads the page; an actor created after that appears in the tree, and its
    mailbox depth follows the calls queued and then taken, with no reload."""
    async with (
        ActorSystem() as system,
        DashboardServer(dashboard.app(system, interval_s=0.1)) as server,
        playwright_api.async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[Any] = []
            page.on("pageerror", lambda error: errors.append(error))
            await page.goto(server.url, timeout=TIMEOUT_MS)
            await page.wait_for_function("document.body.dataset.updates >= 1", timeout=TIMEOUT_MS)
            assert await page.locator("tr.actor").count() == 0
            loads: list[Any] = []
            page.on("load", lambda page: loads.append(page))

            inbox = Inbox.options(name="late-comer", max_concurrency=1, mailbox_size=20).remote()
            row = page.locator('tr[data-actor-name="late-comer"]')
            await row.wait_for(timeout=TIMEOUT_MS)
            assert await row.locator(".cls").text_content() == "Inbox"
            assert await row.locator(".badge").text_content() == "ALIVE"

            refs = [inbox.take.remote() for _ in range(5)]  # one runs, four wait
            depth = row.locator(".depth")
            await _until_text(depth, "4 / 20")
            inbox._core.instance.gate.set()
            await asyncactors.get(refs)
            await _until_text(depth, "0 / 20")
            assert await row.locator(".processed").text_content() == "5"
            assert loads == []  # updated in place, never reloaded
            assert errors == []
        finally:
            await browser.close()


async def _until_text(locator: Any, text: str) -> None:
    for _ in range(TIMEOUT_MS // 50):
        if await locator.text_content() == text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the page never showed {text!r}: {await locator.text_content()!r}")
