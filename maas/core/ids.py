"""Job ids: unguessable (80 random bits) and time-ordered (48-bit millisecond prefix), ULID-style,
then `-` and the slot tag of the job's lane (batching.slot_tags), which names the Redis hash slot
its keys are in. Ids made before slot tags (26 characters, no suffix) stay valid: their keys are
the untagged ones of that time."""

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, sorts like the number
JOB_ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}(-[0-9a-z]{1,4})?$")
BASE_LENGTH = 26


def new_job_id(now_s: float | None = None) -> str:
    ms = int((time.time() if now_s is None else now_s) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def is_job_id(text: str) -> bool:
    return bool(JOB_ID_PATTERN.match(text))


def with_tag(job_id: str, tag: str) -> str:
    """The id `job_id` (untagged) carrying the slot tag `tag`."""
    return f"{job_id[:BASE_LENGTH]}-{tag}"


def tag_of(job_id: str) -> str | None:
    """The slot tag a job id carries; None for an id made before slot tags (or not ours)."""
    match = JOB_ID_PATTERN.match(job_id)
    return match.group(1)[1:] if match and match.group(1) else None


def base_of(job_id: str) -> str:
    """The id without its slot tag: unique on its own (the tag only locates the record)."""
    return job_id[:BASE_LENGTH] if tag_of(job_id) else job_id


def id_floor(now_s: float) -> str:
    """The 10-character time prefix of ids made at `now_s`: every id made earlier sorts below it."""
    value = int(now_s * 1000)
    chars = []
    for _ in range(10):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))
