"""Job ids: unguessable (80 random bits) and time-ordered (48-bit millisecond prefix), ULID-style."""

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, sorts like the number
JOB_ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


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


def id_floor(now_s: float) -> str:
    """The 10-character time prefix of ids made at `now_s`: every id made earlier sorts below it."""
    value = int(now_s * 1000)
    chars = []
    for _ in range(10):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))
