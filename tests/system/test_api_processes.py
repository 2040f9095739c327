"""`maas api --workers 2`: two processes on one port, each with its own completion-event
listener, answering jobs that a real worker computes; one that dies is replaced."""

import asyncio
import os
import signal
from pathlib import Path

import httpx

from maas.cli.redis_server import free_port
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until

ONE_ROW = [[0.0] * 64]


def api_children(pid: int) -> set[int]:
    """The API processes uvicorn started (its multiprocessing helpers hold no socket)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == pid and b"resource_tracker" not in cmdline:
                children.add(int(entry.name))
    return children


async def jobs_all_answered(url: str, count: int) -> list[dict]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=count)) as client:

        async def one() -> dict:
            body = {"model": "digits", "inputs": ONE_ROW}
            response = await client.post(f"{url}/v1/jobs", json=body, headers={"Prefer": "wait=20"})
            assert response.status_code == 200, response.text
            return response.json()

        return await asyncio.gather(*(one() for _ in range(count)))


async def test_two_api_processes_share_one_port_and_answer_waiting_jobs(processes, settings, redis, tmp_path):
    settings = settings.model_copy(update={"port": free_port()})
    api = MaasProcess("api", tmp_path / "api.log", settings, args=("--workers", "2"))
    with api:
        await processes.ready("worker")
        await wait_until(lambda: len(api_children(api.pid)) == 2, 30, "two API processes")
        url = f"http://127.0.0.1:{settings.port}"
        # Fresh connections, many at once: the kernel spreads them over both processes, and each
        # wakes its own waiting requests from its own event subscription.
        jobs = await jobs_all_answered(url, 16)
        assert all(job["status"] == "succeeded" for job in jobs)
        first = min(api_children(api.pid))
        os.kill(first, signal.SIGKILL)
        await wait_until(
            lambda: first not in api_children(api.pid) and len(api_children(api.pid)) == 2,
            30,
            "the killed API process replaced",
        )
        jobs = await jobs_all_answered(url, 8)
        assert all(job["status"] == "succeeded" for job in jobs)
