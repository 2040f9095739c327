"""Collects queued jobs into micro-batches under a BatchPolicy, from any source of items."""

import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from batching.policy import BatchPolicy


class BatchItem(Protocol):
    @property
    def rows(self) -> int: ...

    def age_s(self) -> float:
        """How long the item had already waited when it was read."""


# Generic in the item type: a lane's batches stay list[LaneEntry] for the worker, with no casts.
Item = TypeVar("Item", bound=BatchItem)


class ItemSource(Protocol[Item]):
    async def read(self, max_items: int, timeout_s: float) -> list[Item]:
        """Up to max_items new items; waits at most timeout_s for the first one."""


class BatchCollector(Generic[Item]):
    """Forms micro-batches; items read but left out of a batch open the next one."""

    def __init__(
        self,
        policy: BatchPolicy,
        source: ItemSource[Item],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.policy = policy
        self._source = source
        self._clock = clock
        self._held: list[tuple[float, Item]] = []  # (monotonic time it arrived, item)

    async def next_batch(self, idle_timeout_s: float) -> list[Item]:
        """The next micro-batch.

        Guarantees: at most max_batch_size rows (a lone larger job goes alone); a full batch
        leaves as soon as it is full; otherwise it leaves once its oldest item has waited
        max_queue_delay_s, counted from when that item was enqueued. Empty only when nothing at
        all arrived within idle_timeout_s, so the caller can check for shutdown.
        """
        if not self._held:
            self._admit(await self._source.read(self.policy.max_batch_size, idle_timeout_s))
            if not self._held:
                return []
        while True:
            rows = sum(item.rows for _, item in self._held)
            waited = self._clock() - self._held[0][0]
            if self.policy.ready(rows, waited):
                break
            remaining = self.policy.max_queue_delay_s - waited
            self._admit(await self._source.read(max(1, self.policy.max_batch_size - rows), remaining))
        return self.flush()

    def flush(self) -> list[Item]:
        """The next batch from held items only, without reading or waiting (for draining)."""
        taken = self.policy.take([item.rows for _, item in self._held])
        batch = [item for _, item in self._held[:taken]]
        del self._held[:taken]
        return batch

    def _admit(self, items: list[Item]) -> None:
        now = self._clock()
        for item in items:
            waited = min(max(item.age_s(), 0.0), self.policy.max_queue_delay_s)
            self._held.append((now - waited, item))
        self._held.sort(key=lambda pair: pair[0])

    def held(self) -> list[Item]:
        """Items read from the source but not yet handed out in a batch."""
        return [item for _, item in self._held]
