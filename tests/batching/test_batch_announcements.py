"""The jobs a worker's batch ends are announced in one frame per batch and slot, which each
listener splits: every waiter wakes with exactly its own record, whatever bytes the records hold,
the records of jobs nobody in the process waits on are skipped unread, and the single form (a
cancel, an older worker) is still understood. A listener of the previous release, which knows
only the single form, never receives a frame."""

import asyncio
import time

import numpy as np
import pytest

from batching import keys, slot_tags
from batching.entry import LaneEntry
from batching.jobs.announcement import announced_ids, batch_frame, record_bytes, waited_ends
from batching.jobs.events import PATTERNS, JobEvents
from batching.jobs.record import JobRecord, JobResult, JobStatus
from batching.jobs.scripts import ANNOUNCED_FRAME_MAX_BYTES
from batching.jobs.store import JobStore
from maas.core.ids import base_of, new_job_id, with_tag

LANE = keys.online_lane("digits", 1)
TAG = slot_tags.tag_of_key(LANE)
# Bytes a separator-based frame would trip on: newline, colon, space, the frame mark, digits.
AWKWARD = b"\n12:ab *\x00\xff: 3 \n*"


async def _queued(redis, job_id: str, note: bytes = AWKWARD) -> LaneEntry:
    now = time.time()
    record = JobRecord(job_id, JobStatus.QUEUED, "digits", 1, 1, now, now + 60, {"k": "a\nb: c"})
    await redis.hset(keys.job(job_id), mapping={**record.to_fields(), "note": note + job_id.encode()})
    return LaneEntry(job_id, 1, now, b"", stream_id="0-1")


def _result(rows: int = 1) -> JobResult:
    # float32 values whose bytes are '\n', ':', ' ' and '*' (0x0a, 0x3a, 0x20, 0x2a)
    outputs = {"p": np.frombuffer(AWKWARD[:8] * rows * 10, np.float32).reshape(rows, -1)}
    return JobResult(JobStatus.SUCCEEDED, time.time(), outputs)


async def _messages(pubsub, count: int) -> list[tuple[str, bytes]]:
    """The next `count` messages: (channel, data)."""
    found: list[tuple[str, bytes]] = []
    while len(found) < count:
        message = await pubsub.get_message(timeout=5.0)
        if message is not None:
            found.append((message["channel"].decode(), message["data"]))
    return found


def test_a_frame_gives_each_waited_job_its_own_record_and_skips_the_rest_unread():
    records = {f"{i:026d}-ab": {b"id": b"%d" % i, b"note": AWKWARD * i} for i in range(1, 5)}
    frame = batch_frame([(job_id, fields) for job_id, fields in records.items()] + [("0" * 26, None)])
    waited = {base_of(job_id) for job_id in list(records)[::2]} | {"0" * 26}
    assert waited_ends(frame, waited) == [
        (base_of(job_id), records[job_id]) for job_id in list(records)[::2]
    ] + [("0" * 26, None)]
    assert announced_ids(frame) == [*records, "0" * 26]
    # A record nobody here waits on is not parsed: garbage of the right length passes.
    garbage = frame.replace(
        record_bytes(records[f"{2:026d}-ab"]), b"x" * len(record_bytes(records[f"{2:026d}-ab"]))
    )
    assert waited_ends(garbage, {f"{1:026d}"}) == [(f"{1:026d}", records[f"{1:026d}-ab"])]
    single = f"{3:026d}-ab".encode() + b"\n" + record_bytes(records[f"{3:026d}-ab"])
    assert waited_ends(single, {f"{3:026d}"}) == [(f"{3:026d}", records[f"{3:026d}-ab"])]
    assert waited_ends(single, {f"{1:026d}"}) == [] and announced_ids(single) == [f"{3:026d}-ab"]


@pytest.mark.parametrize(
    "frame",
    [
        b"* a 5\n1:x1:y",
        b"* a 3\n1:x",
        b"* a 4 b\n1:x1:y",
        b"* a 4\n9:x1:y",
        b"* a 2\n1:",
        b"* a 6 b -2\n1:x1:y",
    ],
    ids=[
        "lengths-past-records",
        "records-past-lengths",
        "id-without-length",
        "item-overruns",
        "odd-items",
        "negative-length",
    ],
)
def test_a_frame_whose_lengths_do_not_hold_is_refused(frame):
    with pytest.raises(ValueError):
        waited_ends(frame, {"a"})


async def test_one_frame_per_batch_and_slot_wakes_each_waiter_with_its_own_record(redis):
    store, events = JobStore(redis, 60), JobEvents(redis)
    events.start()
    await asyncio.wait_for(events.subscribed.wait(), 5)
    tagged = [with_tag(new_job_id(), TAG) for _ in range(4)]
    old = new_job_id()  # made before slot tags: its own FINISH, on the untagged channel
    gone, cancelled = with_tag(new_job_id(), TAG), tagged[3]
    entries = [await _queued(redis, job_id) for job_id in [*tagged, old]]
    entries.append(LaneEntry(gone, 1, time.time(), b""))  # its record is gone
    big = _result(rows=1024)  # 80 kB of outputs: over the announced size, carried by id alone
    results = [(entries[0], _result()), (entries[1], big), (entries[4], _result()), (entries[5], _result())]
    results.append((entries[2], _result()))
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.psubscribe(*PATTERNS)
        with events.watch(tagged[0]) as first, events.watch(tagged[1]) as second, events.watch(old) as third:
            await store.cancel(cancelled)  # announced alone, on the slot's job_events channel
            results.append((entries[3], _result()))  # already ended: not announced again
            assert await store.finish(LANE, results, []) == [True, True, True, False, True, False]
            await asyncio.wait_for(asyncio.gather(first.wait(), second.wait(), third.wait()), 5)
        messages = await _messages(pubsub, 3)
    await events.stop()
    assert first.fields == await redis.hgetall(keys.job(tagged[0]))
    assert JobRecord.from_fields(first.fields).metadata == {"k": "a\nb: c"}
    assert second.fields is None  # too large to carry: its waiter reads the record
    assert third.fields == await redis.hgetall(keys.job(old))
    ends = {channel: data for channel, data in messages}
    assert ends[keys.job_events(TAG)].startswith(cancelled.encode() + b"\n")
    tagged_frame = [
        (tagged[0], first.fields),
        (tagged[1], None),
        (tagged[2], await redis.hgetall(keys.job(tagged[2]))),
    ]
    assert ends[keys.job_ends(TAG)] == batch_frame(tagged_frame)  # Lua's bytes, in the results' order
    assert ends[keys.JOB_ENDS_CHANNEL] == batch_frame([(old, third.fields)])


async def test_a_listener_wakes_only_its_own_jobs_and_in_announcement_order(redis):
    """Two API processes' listeners: each wakes its waiters on the one frame; a job neither waits
    on wakes nobody; a later announcement wakes its waiter after the frame was handled."""
    store, mine, theirs = JobStore(redis, 60), JobEvents(redis), JobEvents(redis)
    for events in (mine, theirs):
        events.start()
        await asyncio.wait_for(events.subscribed.wait(), 5)
    ids = [with_tag(new_job_id(), TAG) for _ in range(4)]
    entries = [await _queued(redis, job_id) for job_id in ids]
    later = with_tag(new_job_id(), TAG)
    await _queued(redis, later)
    with (
        mine.watch(ids[0]) as a,
        theirs.watch(ids[1]) as b,
        mine.watch(later) as after,
        theirs.watch(later) as c,
    ):
        await store.finish(LANE, [(entry, _result()) for entry in entries], [])
        await asyncio.wait_for(asyncio.gather(a.wait(), b.wait()), 5)
        assert not after.is_set() and not c.is_set()  # the frame held no record for `later`
        await store.cancel(later)
        await asyncio.wait_for(asyncio.gather(after.wait(), c.wait()), 5)
    assert a.fields == await redis.hgetall(keys.job(ids[0]))
    assert b.fields == await redis.hgetall(keys.job(ids[1]))
    assert after.fields == c.fields == await redis.hgetall(keys.job(later))
    for events in (mine, theirs):
        await events.stop()


async def test_a_listener_of_the_previous_release_hears_singles_and_never_a_frame(redis):
    """An API process of the previous release subscribes to `maas:events:job*` and reads every
    message as `<id>\\n<record>`: it must not receive frames (so it is upgraded first), and the
    singles an older worker still publishes wake a new listener."""
    store, events = JobStore(redis, 60), JobEvents(redis)
    events.start()
    await asyncio.wait_for(events.subscribed.wait(), 5)
    ids = [with_tag(new_job_id(), TAG) for _ in range(3)]
    entries = [await _queued(redis, job_id) for job_id in ids]
    async with redis.pubsub(ignore_subscribe_messages=True) as old_listener:
        await old_listener.psubscribe(keys.JOB_EVENTS_CHANNEL + "*")
        with events.watch(ids[2]) as ended:
            await store.finish(LANE, [(entry, _result()) for entry in entries[:2]], [])
            fields = {b"status": b"succeeded", b"id": ids[2].encode(), b"note": AWKWARD}
            single = ids[2].encode() + b"\n" + record_bytes(fields)  # as an older worker's FINISH
            await redis.publish(keys.job_events(TAG), single)
            await asyncio.wait_for(ended.wait(), 5)
        [(_, heard)] = await _messages(old_listener, 1)  # the batch frame went elsewhere
    await events.stop()
    assert heard == single and ended.fields == fields


async def test_a_large_batch_is_cut_into_frames_of_bounded_size(redis):
    store = JobStore(redis, 60)
    ids = [with_tag(new_job_id(), TAG) for _ in range(24)]
    entries = [await _queued(redis, job_id) for job_id in ids]
    big = _result(rows=700)  # 56 kB of outputs each: just under the announced size
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(keys.job_ends(TAG))
        await store.finish(LANE, [(entry, big) for entry in entries], [])
        frames = [data for _, data in await _messages(pubsub, 2)]
    assert [job_id for frame in frames for job_id in announced_ids(frame)] == ids
    assert all(len(frame) < ANNOUNCED_FRAME_MAX_BYTES + 70_000 for frame in frames)
    assert all(
        fields is not None for frame in frames for _, fields in waited_ends(frame, {i[:26] for i in ids})
    )


@pytest.mark.parametrize("record", [b"2:id", b"2:id1:", b"-2:id1:x", b"x:id1:x", b"3:id1:x"])
def test_a_record_whose_lengths_do_not_hold_is_refused(record):
    with pytest.raises(ValueError):
        waited_ends(b"a\n" + record, {"a"})
