"""The batching policy (pure) and the collector (with an in-memory source and a fake clock)."""

import asyncio
from dataclasses import dataclass

from batching.collector import BatchCollector
from batching.policy import BatchPolicy
from maas.core.ids import is_job_id, new_job_id

POLICY = BatchPolicy(max_batch_size=8, max_queue_delay_s=0.010)


def test_a_full_batch_dispatches_at_once():
    assert POLICY.ready(rows=8, oldest_waited_s=0.0)
    assert POLICY.ready(rows=12, oldest_waited_s=0.0)


def test_a_partial_batch_waits_for_the_delay():
    assert not POLICY.ready(rows=1, oldest_waited_s=0.009)
    assert POLICY.ready(rows=1, oldest_waited_s=0.010)
    assert not POLICY.ready(rows=0, oldest_waited_s=1.0)


def test_take_stays_within_max_batch_size():
    assert POLICY.take([3, 3, 3]) == 2
    assert POLICY.take([1] * 20) == 8
    assert POLICY.take([]) == 0


def test_a_lone_job_larger_than_the_batch_runs_alone():
    assert POLICY.take([20, 1]) == 1


def test_preferred_sizes_dispatch_early_and_cut_the_batch():
    policy = BatchPolicy(max_batch_size=16, max_queue_delay_s=0.010, preferred_batch_sizes=(4, 8))
    assert policy.ready(rows=8, oldest_waited_s=0.0)  # the largest preferred size: go now
    assert not policy.ready(rows=5, oldest_waited_s=0.0)
    assert policy.take([1] * 6) == 4  # after the delay, 6 queued rows leave as a batch of 4
    assert policy.take([2, 2, 2, 2, 2]) == 4  # 8 rows
    assert policy.take([3, 3]) == 2  # no prefix is a preferred size: take what fits


def test_job_ids_are_time_ordered_and_unguessable():
    ids = [new_job_id(1_700_000_000 + i) for i in range(50)]
    assert ids == sorted(ids)
    assert all(is_job_id(i) for i in ids)
    assert len({new_job_id(1.0) for _ in range(1000)}) == 1000
    assert not is_job_id("../../etc") and not is_job_id("01m8jgkp0d4tvq7rhstbynm2rk")


@dataclass
class Item:
    rows: int
    waited: float = 0.0

    def age_s(self) -> float:
        return self.waited


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedSource:
    """Hands out scripted arrivals; a read with nothing to give advances the fake clock."""

    def __init__(self, clock: FakeClock, arrivals: list[tuple[float, Item]]):
        self.clock = clock
        self.arrivals = arrivals  # (time it arrives, item)
        self.reads: list[tuple[int, float]] = []

    async def read(self, max_items: int, timeout_s: float) -> list[Item]:
        self.reads.append((max_items, timeout_s))
        await asyncio.sleep(0)
        due = [a for a in self.arrivals if a[0] <= self.clock.now + timeout_s][:max_items]
        if not due:
            self.clock.now += timeout_s
            return []
        self.clock.now = max(self.clock.now, due[-1][0])
        for arrival in due:
            self.arrivals.remove(arrival)
        return [item for _, item in due]


async def test_collector_sends_a_lone_item_after_the_delay_and_never_empty():
    clock = FakeClock()
    source = ScriptedSource(clock, [(100.0, Item(1))])
    collector = BatchCollector(POLICY, source, clock)
    batch = await collector.next_batch(idle_timeout_s=1.0)
    assert [item.rows for item in batch] == [1]
    assert abs(clock.now - 100.010) < 1e-9  # it waited exactly the delay for company
    assert await collector.next_batch(idle_timeout_s=1.0) == []
    assert abs(clock.now - 101.010) < 1e-9


async def test_collector_sends_a_full_batch_without_waiting():
    clock = FakeClock()
    source = ScriptedSource(clock, [(100.0, Item(1)) for _ in range(8)])
    batch = await BatchCollector(POLICY, source, clock).next_batch(idle_timeout_s=1.0)
    assert len(batch) == 8
    assert clock.now == 100.0


async def test_collector_counts_the_delay_from_enqueue_not_from_read():
    clock = FakeClock()
    source = ScriptedSource(clock, [(100.0, Item(1, waited=0.007))])
    await BatchCollector(POLICY, source, clock).next_batch(idle_timeout_s=1.0)
    assert abs(clock.now - 100.003) < 1e-9


async def test_collector_keeps_leftovers_for_the_next_batch():
    clock = FakeClock()
    source = ScriptedSource(clock, [(100.0, Item(5)), (100.0, Item(5)), (100.0, Item(2))])
    collector = BatchCollector(POLICY, source, clock)
    first = await collector.next_batch(idle_timeout_s=1.0)
    second = await collector.next_batch(idle_timeout_s=1.0)
    assert [i.rows for i in first] == [5]
    assert [i.rows for i in second] == [5, 2]
    assert collector.flush() == []
