"""Job ids: unguessable (80 random bits) and time-ordered (48-bit millisecond prefix), ULID-style,
then `-` and the slot tag of the job's lane (batching.slot_tags), which names the Redis hash slot
its keys are in. Ids made before slot tags (26 characters, no suffix) stay valid: their keys are
the untagged ones of that time."""

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, sorts like the number
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)  # every 10-bit value, as 2 digits
JOB_ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}(-[0-9a-z]{1,4})?$")
BASE_LENGTH = 26


def crockford(value: int, digits: int) -> str:
    """The low `digits` (an even number) base32 digits of `value`, most significant first, two
    at a time (a third of the time of a divmod per digit)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range((digits - 2) * 5, -1, -10)])


def new_job_id(now_s: float | None = None) -> str:
    ms = int((time.time() if now_s is None else now_s) * 1000)
    return crockford((ms << 80) | secrets.randbits(80), 26)


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
    return crockford(int(now_s * 1000), 10)
