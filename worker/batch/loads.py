"""Version loads in flight, side by side: each in a task of its own, at most
MAAS_WORKER_MAX_CONCURRENT_LOADS at a time, so an on-demand load of a small version never waits
for a large one to finish. Each load reserves its expected size in the memory budget before it
starts (the reservation is given back once the version serves and is charged what it took), so
two loads running together cannot overshoot the budget. Each reports its progress: the bytes of
its files read (model and external data: its weights' way into memory), then `building` (the
runtime's session) and `warming` (its warm-up batch)."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
Key = tuple[str, int]
READ_BLOCK_BYTES = 8 << 20  # a progress step: small enough to move on a large file, few calls


@dataclass
class LoadProgress:
    """Written by the loading thread, read by the heartbeat: plain ints and a str, each
    assignment atomic, so a reader sees a step late at worst."""

    phase: str = "queued"  # queued -> rehearsing -> reading -> building -> warming
    bytes_read: int = 0
    bytes_total: int = 0

    def report(self) -> dict:
        done = self.bytes_read / self.bytes_total if self.bytes_total else 0.0
        if self.phase in ("building", "warming"):
            done = 1.0
        return {
            "phase": self.phase,
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "progress": round(done, 3),
        }


def read_through(files: list[Path], progress: LoadProgress) -> None:
    """Reads the files once, counting the bytes: the runtime then builds its session from the
    page cache, and the read is the part of a large load whose progress can be told. One
    buffer is reused, so this costs no resident memory."""
    progress.bytes_total = sum(p.stat().st_size for p in files)
    progress.phase = "reading"
    buffer = bytearray(READ_BLOCK_BYTES)
    for path in files:
        with path.open("rb", buffering=0) as f:
            while count := f.readinto(buffer):
                progress.bytes_read += count


class LoadSlots:
    """The loads in flight: their tasks, their budget reservations and their progress."""

    def __init__(self, max_concurrent: int):
        self._slots = asyncio.Semaphore(max_concurrent)
        self.budget_lock = asyncio.Lock()  # a budget check and its reservation are one step
        self.tasks: dict[Key, asyncio.Task] = {}
        self.reserved: dict[Key, int] = {}
        self.progress: dict[Key, LoadProgress] = {}
        self._running: set[Key] = set()
        self._overlapped: set[Key] = set()
        self._aside: set[asyncio.Task] = set()

    def start(self, key: Key, load: Callable[[], Coroutine]) -> None:
        """Runs `load` in a task of its own, unless `key` is loading already."""
        if key in self.tasks:
            return
        self.progress[key] = LoadProgress()
        task = asyncio.create_task(load(), name=f"load-{key[0]}:{key[1]}")
        self.tasks[key] = task
        task.add_done_callback(lambda t: self._done(key, t))

    def aside(self, work: Coroutine) -> asyncio.Task:
        """Work that loads wait for (a batch of rehearsals), run in a task of its own."""
        task = asyncio.create_task(work)
        self._aside.add(task)
        task.add_done_callback(self._aside_done)
        return task

    def _aside_done(self, task: asyncio.Task) -> None:
        self._aside.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("work before loads ended with %r", error)

    def _done(self, key: Key, task: asyncio.Task) -> None:
        self.tasks.pop(key, None)
        self.progress.pop(key, None)
        self.reserved.pop(key, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("load of %s:%s ended with %r", *key, error)

    @contextlib.asynccontextmanager
    async def slot(self, key: Key):
        """One of the concurrent loads; notes the loads that ran while another did, whose growth
        of the process's memory cannot be told apart."""
        async with self._slots:
            if self._running:
                self._overlapped.update({key, *self._running})
            self._running.add(key)
            try:
                yield
            finally:
                self._running.discard(key)

    def ran_alone(self, key: Key) -> bool:
        """Whether the load of `key` ran with no other beside it (and forgets the answer)."""
        overlapped = key in self._overlapped
        self._overlapped.discard(key)
        return not overlapped

    def with_progress(self, states: dict[str, dict], fetching: dict[Key, list[int]]) -> dict[str, dict]:
        """Versions' states ("name:version" -> state), each loading one with its progress, and
        those being fetched from an object-store repository (key -> [bytes fetched, in all])."""
        states = dict(states)
        for (name, version), (done, total) in list(fetching.items()):
            fetched = LoadProgress("fetching", done, total).report()
            states[f"{name}:{version}"] = {"state": "loading", "error": None, **fetched}
        for (name, version), progress in list(self.progress.items()):
            state = states.get(f"{name}:{version}")
            if state is not None and state["state"] == "loading":
                states[f"{name}:{version}"] = {**state, **progress.report()}
        return states

    def reserved_bytes(self) -> int:
        return sum(self.reserved.values())

    def loading(self, key: Key) -> bool:
        return key in self.tasks

    async def cancel_all(self) -> None:
        tasks = [*self.tasks.values(), *self._aside]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
