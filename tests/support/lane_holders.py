"""Fault tests choose their victim by what it holds, not by start order: on a loaded machine
the worker started first may not have read a single entry when the test strikes."""

import asyncio
import signal
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from batching import keys
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until

SETTLE_S = 0.02  # frozen this long before the recount, so what it sent before has reached Redis


async def pending_of(redis: aioredis.Redis, lane: str, pid: int) -> int:
    """Entries of `lane` handed to the worker process `pid` and not acknowledged (XPENDING per
    consumer: consumer names hold the worker id, `host-PID-random`)."""
    try:
        consumers = await redis.xinfo_consumers(lane, keys.LANE_GROUP)
    except ResponseError as e:  # the lane or its group does not exist yet: nobody holds anything
        if "no such key" in str(e) or "NOGROUP" in str(e):
            return 0
        raise
    return sum(c["pending"] for c in consumers if f"-{pid}-" in c["name"].decode())


def _stopped(pid: int) -> bool:
    """Whether the kernel has stopped the process (state T in /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


async def _freeze_if_holding(redis: aioredis.Redis, lane: str, process: MaasProcess) -> bool:
    """SIGSTOPs `process` if it holds entries of `lane`; True if it still holds some once
    frozen (it cannot acknowledge them any more), else it is let go on (SIGCONT)."""
    if not process.alive() or not await pending_of(redis, lane, process.pid):
        return False
    process.send_signal(signal.SIGSTOP)
    await wait_until(lambda: not process.alive() or _stopped(process.pid), 5, "it stops", 0.001)
    await asyncio.sleep(SETTLE_S)
    if process.alive() and await pending_of(redis, lane, process.pid):
        return True
    if process.alive():
        process.send_signal(signal.SIGCONT)
    return False


async def signal_a_holder(
    redis: aioredis.Redis, lane: str, candidates: list[MaasProcess], sig: int, timeout_s: float = 30
) -> MaasProcess:
    """Sends `sig` to one of `candidates` while it holds unacknowledged entries of `lane`, and
    returns it. SIGKILL also waits for it to die."""

    async def frozen_holder() -> MaasProcess | None:
        for process in candidates:
            if await _freeze_if_holding(redis, lane, process):
                return process
        return None

    victim = await wait_until(frozen_holder, timeout_s, f"a worker holds entries of {lane}", 0.01)
    if sig == signal.SIGKILL:
        victim.kill()
    else:
        victim.send_signal(sig)
        victim.send_signal(signal.SIGCONT)  # a stopped process acts on `sig` once it runs again
    return victim
