"""The dashboard in a real browser (Debian's chromium driven by Playwright, no browser download)
against real processes: it loads with no console error, shows a lane's depth rise while jobs
wait with no worker and fall once one runs, and a bulk job's progress bar advance to its end;
and its Redeliver button (an admin action) redeliver a bulk job's failed webhook.
With DASHBOARD_SCREENSHOT=docs/dashboard.png it also saves the README's screenshot there."""

import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.async_api import async_playwright

from maas.cli.redis_server import free_port
from tests.support.bulk_helpers import npy
from tests.support.processes import REPO_ROOT
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver

CHROMIUM = "/usr/bin/chromium"  # .ci/run installs Debian's chromium where it is missing
JOBS = 6
BULK_ROWS, CHUNK_ROWS = 400, 40


@pytest.fixture
def settings(settings):
    # One delivery attempt, no retry: a 500 fails the webhook for good at once.
    webhooks = {
        "webhook_secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "webhook_allow_http": True,
        "webhook_allowed_networks": ["127.0.0.0/8"],
        "webhook_retry_delays_s": [],
    }
    return settings.model_copy(update={"port": free_port(), **webhooks})


@pytest.fixture
async def browser_page():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1400, "height": 1100})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        yield page, problems
        await browser.close()


async def _text(page, selector: str) -> str | None:
    node = await page.query_selector(selector)
    return None if node is None else (await node.inner_text()).strip()


async def _progress(page, bulk_id: str) -> tuple[float, float] | None:
    bar = await page.query_selector(f'tr[data-bulk="{bulk_id}"] progress')
    if bar is None:
        return None
    return float(await bar.get_attribute("value") or 0), float(await bar.get_attribute("max") or 0)


async def test_the_dashboard_follows_a_lane_and_a_bulk_job(settings, processes, browser_page, tmp_path):
    page, problems = browser_page
    base = f"http://127.0.0.1:{settings.port}"
    await processes.ready("api")
    await processes.ready("rq-worker")  # splits the bulk job into chunks
    await page.goto(f"{base}/dashboard")
    depth = 'tr[data-lane="digits:1:online"] td.depth'
    await wait_until(lambda: _text(page, depth), 30, "the dashboard drew the digits v1 lane")
    assert await _text(page, depth) == "0"

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(JOBS):
            job = {"model": "digits", "version": 1, "inputs": [[0.0] * 64]}
            assert (await client.post("/v1/jobs", json=job)).status_code == 202
        rows = np.zeros((BULK_ROWS, 64), np.float32)
        files = {"file": ("rows.npy", npy(rows))}
        data = {"model": "digits", "version": "1", "chunk_rows": str(CHUNK_ROWS)}
        bulk = await client.post("/v1/bulk-jobs", data=data, files=files)
        assert bulk.status_code == 202, bulk.text
        bulk_id = bulk.json()["id"]

    async def depth_is(text: str):
        return await _text(page, depth) == text

    await wait_until(lambda: depth_is(str(JOBS)), 30, f"the lane's depth shown as {JOBS}")
    seen: list[tuple[float, float]] = []

    async def progress_is(done) -> bool:
        progress = await _progress(page, bulk_id)
        if progress is not None and (not seen or seen[-1] != progress):
            seen.append(progress)
        return progress is not None and done(*progress)

    await wait_until(lambda: progress_is(lambda value, top: value == 0 and top == BULK_ROWS), 30, "bulk at 0")

    await processes.ready("worker")
    await wait_until(lambda: depth_is("0"), 60, "the lane's depth back to 0 once a worker runs")
    await wait_until(lambda: progress_is(lambda value, top: value == top == BULK_ROWS), 90, "bulk at its end")
    assert seen[0] == (0, BULK_ROWS) and seen[-1] == (BULK_ROWS, BULK_ROWS)
    await wait_until(lambda: _text(page, "#workers tr td"), 30, "the worker listed")

    shot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(shot), full_page=True)
    if target := os.environ.get("DASHBOARD_SCREENSHOT"):
        shutil.copy(shot, Path(REPO_ROOT, target))
    assert problems == []


async def test_the_redeliver_button_redelivers_a_bulk_jobs_failed_webhook(settings, processes, browser_page):
    page, problems = browser_page
    base = f"http://127.0.0.1:{settings.port}"
    for role in ("api", "rq-worker", "worker"):
        await processes.ready(role)
    with Receiver(script=[500]) as receiver:  # fails the first POST, answers 200 after
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            files = {"file": ("rows.npy", npy(np.zeros((CHUNK_ROWS, 64), np.float32)))}
            webhook = f'{{"url": "http://127.0.0.1:{receiver.port}/hook"}}'
            data = {"model": "digits", "version": "1", "webhook": webhook}
            bulk = await client.post("/v1/bulk-jobs", data=data, files=files)
            assert bulk.status_code == 202, bulk.text
            bulk_id = bulk.json()["id"]
        await page.goto(f"{base}/dashboard")
        button = page.locator(f'tr[data-webhook="bulk:{bulk_id}"] button.redeliver')
        await wait_until(lambda: button.is_visible(), 60, "the bulk job's failed webhook listed")
        assert len(receiver.calls) == 1

        await button.click()
        row = page.locator(f'tr[data-webhook="bulk:{bulk_id}"]')
        await wait_until(lambda: len(receiver.calls) == 2, 30, "the webhook redelivered")
        await wait_until(lambda: _gone(row), 30, "the row gone once the redelivery succeeded")
        first, again = receiver.calls
        assert again.headers["webhook-id"] == first.headers["webhook-id"]  # the same event
        assert again.body["id"] == bulk_id and again.body["status"] == "succeeded"
    assert problems == []


async def _gone(locator) -> bool:
    return await locator.count() == 0
