"""Take docs/dashboard.png: the dashboard over the demo system, in headless Chromium.

Needs Debian's ``chromium`` and Playwright's Python package (the dev extra);
Playwright's own browser download is not used::

    python docs/dashboard_screenshot.py [--out docs/dashboard.png] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

from asyncactors import dashboard
from asyncactors.dashboard._demo import demo_system

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_BUSY = """() =>
    document.querySelector("#stuck li[data-actor-id]") !== null
    && document.querySelector("#blocks li:not(.empty)") !== null
    && [...document.querySelectorAll("#tree .depth")].some(
        (e) => parseInt(e.textContent.replace(/,/g, "")) >= 40)
"""


async def main(out: Path, chromium: str, settle_s: float) -> None:
    async with (
        demo_system(block_every_s=4.0) as system,
        dashboard.DashboardServer(dashboard.app(system, interval_s=0.5)) as server,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 720})
            await page.goto(server.url)
            await asyncio.sleep(settle_s)
            # A moment that shows it all: a stuck call, a loop block, a filling mailbox.
            await page.wait_for_function(_BUSY, timeout=30_000)
            await page.click("#stuck details summary")  # show a stuck call's stack
            await asyncio.sleep(0.3)
            await page.screenshot(path=str(out), type="png")
        finally:
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("dashboard.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds of demo before waiting for a busy moment"
    )
    args = parser.parse_args()
    asyncio.run(main(args.out, args.chromium, args.settle))
