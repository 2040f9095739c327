"""Slot tags: the shortest hash tag that lands in a given Redis Cluster hash slot.

A job's record, its webhook outbox, its completion channel and its tenant's row count share its
lane's hash slot, so one script can touch them all on Redis Cluster. The lane's own tag
({model:version}) is long; a slot tag is one to four characters, so a job id can carry it
(`<ULID>-<tag>`) and GET /v1/jobs/{id} finds the record's key without a lookup.

The tag of a slot is the first string, shortest first and then in ALPHABET order, whose CRC16
falls in that slot. This rule is part of the key layout: changing it would strand every key
already written under the old tags, so it never changes.
"""

import binascii
import functools
import itertools
import re

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_LENGTH = 4  # every one of the 16384 slots has a tag of at most 4 characters
TAG_PATTERN = re.compile(r"^[0-9a-z]{1,4}$")


@functools.lru_cache(maxsize=REDIS_CLUSTER_HASH_SLOTS)
def tag_of_slot(slot: int) -> str:
    """The slot's tag (found once per slot and process: at most ~0.3 s, mostly ~10 ms)."""
    for length in range(1, MAX_LENGTH + 1):
        for chars in itertools.product(ALPHABET, repeat=length):
            text = "".join(chars)
            if binascii.crc_hqx(text.encode(), 0) % REDIS_CLUSTER_HASH_SLOTS == slot:
                return text
    raise ValueError(f"no slot tag for slot {slot}")  # never: every slot has one (checked in tests)


def tag_of_key(key: str) -> str:
    """The tag of the slot `key` lands in (its own hash tag honoured, as Redis does)."""
    return tag_of_slot(key_slot(key.encode()))


def is_tag(text: str) -> bool:
    return bool(TAG_PATTERN.match(text))
