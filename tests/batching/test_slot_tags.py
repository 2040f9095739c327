"""Every script and transaction touches one Redis Cluster hash slot: the keys a job's, a lane's
and a bulk job's scripts are given hash to the slot their id's tag names (checked with redis-py's
key_slot, the Cluster's own CRC16), and ids made before slot tags still find their records."""

import itertools

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from batching import keys, slot_tags
from batching.jobs.store import job_keys
from maas.core.ids import base_of, is_job_id, new_job_id, tag_of, with_tag

LANES = [("digits", 1), ("heavy", 1), ("a-much-longer-model-name_2", 37), ("x", 999)]


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_every_slot_has_a_tag_of_at_most_four_characters():
    seen = set()
    for length in range(1, slot_tags.MAX_LENGTH + 1):
        for chars in itertools.product(slot_tags.ALPHABET, repeat=length):
            seen.add(slot("".join(chars)))
    assert len(seen) == REDIS_CLUSTER_HASH_SLOTS  # so tag_of_slot never fails
    for s in (0, 1, 5461, 10922, REDIS_CLUSTER_HASH_SLOTS - 1):
        assert slot(f"{{{slot_tags.tag_of_slot(s)}}}") == s


@pytest.mark.parametrize(("model", "version"), LANES)
def test_a_jobs_keys_and_its_lanes_share_one_slot(model, version):
    lane = keys.online_lane(model, version)
    tag = slot_tags.tag_of_key(lane)
    job_id = with_tag(new_job_id(), tag)
    assert is_job_id(job_id) and tag_of(job_id) == tag and len(base_of(job_id)) == 26
    lane_keys = [
        lane,
        keys.lane_stream(lane, "acme"),
        keys.lane_rows(lane),
        keys.lane_tenants(lane),
        keys.lane_wake(lane),
        keys.lane_stats(lane),
        keys.dead_letters(lane),
    ]
    per_slot = [keys.slot_tenant_rows(tag), keys.webhook_outbox(tag), keys.job_events(tag)]
    scripted = [*job_keys(job_id, "SPUBLISH").values()][:3]  # TRANSITION and CLAIM: job, outbox, channel
    assert {slot(k) for k in [*lane_keys, *per_slot, *scripted]} == {slot(lane)}


@pytest.mark.parametrize(("model", "version"), LANES)
def test_a_bulk_jobs_keys_share_its_bulk_lanes_slot(model, version):
    lane = keys.bulk_lane(model, version)
    tag = slot_tags.tag_of_key(lane)
    bulk_id = with_tag(new_job_id(), tag)
    bulk_keys = [
        keys.bulk_job(bulk_id),
        keys.bulk_chunks_done(bulk_id),
        keys.bulk_sweep(tag),
        keys.webhook_outbox(tag),
    ]
    assert {slot(k) for k in [lane, *bulk_keys]} == {slot(lane)} == {slot(keys.online_lane(model, version))}


def test_ids_made_before_slot_tags_keep_their_keys():
    old = new_job_id()
    assert is_job_id(old) and tag_of(old) is None and base_of(old) == old
    assert keys.job(old) == f"maas:job:{old}"
    assert (
        keys.webhook_outbox(None) == keys.WEBHOOK_OUTBOX and keys.job_events(None) == keys.JOB_EVENTS_CHANNEL
    )
    assert keys.bulk_job(old) == f"maas:bulk:{{{old}}}" and keys.bulk_sweep(None) == keys.BULK_SWEEP
    assert not is_job_id(old + "-") and not is_job_id(old + "-toolong") and not is_job_id(old + "-AB")
